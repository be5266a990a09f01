//! The file setup (open flags, pragmas, schema) and the statements the store
//! uses. Public: [`open_connection`], for tools that open the same file with
//! plain `rusqlite` (inspection, tests that play another process), and
//! [`SCHEMA_VERSION`]. The statements are the store's own; they are not part
//! of the API.
//!
//! Not needed to use the store. The table layout is versioned (see
//! [`SCHEMA_VERSION`]); write to it only through the store.

use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags, OptionalExtension};

use crate::builder::{DEFAULT_BUSY_TIMEOUT, DEFAULT_WAL_SIZE_LIMIT, Synchronous};
use crate::error::is_busy;

/// The schema version this release writes and understands. It is stored in the
/// `flowstore_meta` table under `schema_version`; a file with a newer version is
/// refused, a file with an older one is migrated when the store opens.
///
/// - 1: `flowstore_entries (id, namespace, key, value, expires_at)`.
/// - 2: adds the `version` column (the entry version, SPEC §8), the prefix of
///   the pseudo-versions of rows written before (`legacy_version_prefix` in
///   `flowstore_meta`), and triggers that give a fresh version to a row written
///   without one (by a process of the previous release still running).
pub const SCHEMA_VERSION: i64 = 2;

/// Inserts or replaces one entry. Parameters: namespace (text), key (text), value
/// (blob), expires_at (integer milliseconds since the Unix epoch, or NULL for
/// "never"), version (the entry version, text).
pub(crate) const UPSERT: &str = "INSERT INTO flowstore_entries (namespace, key, value, expires_at, version) \
     VALUES (?1, ?2, ?3, ?4, ?5) \
     ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at, \
     version = excluded.version";

/// A row's entry version: its `version` column, or for a row written before
/// schema version 2 (NULL there) its stable pseudo-version
/// `<legacy_version_prefix>.<row id>`. The prefix (`legacy.` and 16 random hex
/// digits, drawn when the file got schema version 2) holds a `.` and letters
/// that are not hex digits, so it never equals a [`Version::generate`]d version
/// (`hex-hex-hex`); the random part differs for each upgraded file, so a copy
/// of the old file upgraded again does not repeat the versions of the first
/// upgrade.
///
/// [`Version::generate`]: flowstore_core::Version::generate
macro_rules! entry_version {
    () => {
        "coalesce(version, (SELECT value FROM flowstore_meta WHERE name = 'legacy_version_prefix') \
         || '.' || id)"
    };
}

/// Reads one unexpired entry with its version and expiry. Parameters:
/// namespace, key, now (milliseconds since the Unix epoch). Returns value
/// (blob), version (text), expires_at (integer or NULL), or no row.
pub(crate) const SELECT_ENTRY: &str = concat!(
    "SELECT value, ",
    entry_version!(),
    ", expires_at FROM flowstore_entries \
     WHERE namespace = ?1 AND key = ?2 AND (expires_at IS NULL OR expires_at > ?3)"
);

/// The version of one unexpired entry, read by the writer inside its write
/// transaction to decide a conditional write. Parameters: namespace, key, now.
/// Returns version (text), or no row (absent or expired).
pub(crate) const SELECT_VERSION: &str = concat!(
    "SELECT ",
    entry_version!(),
    " FROM flowstore_entries \
     WHERE namespace = ?1 AND key = ?2 AND (expires_at IS NULL OR expires_at > ?3)"
);

/// Reads one unexpired entry. Parameters: namespace, key, now (milliseconds since
/// the Unix epoch). Returns the value blob, or no row.
pub(crate) const SELECT: &str = "SELECT value FROM flowstore_entries \
     WHERE namespace = ?1 AND key = ?2 AND (expires_at IS NULL OR expires_at > ?3)";

/// The keys of a listing page, in key order. `key` is `TEXT` with SQLite's
/// default `BINARY` collation, which compares with `memcmp`: UTF-8 byte order,
/// the order `list` promises. The prefix is a range on the `(namespace, key)`
/// unique index (`key >= prefix AND key < upper`), never a `LIKE`, so `%`, `_`
/// and `\` in a prefix mean themselves and the scan starts at the prefix.
/// Parameters: namespace, the lower bound (the prefix, or the cursor's last
/// key with `after`), now, the row limit, and with `upper` the upper bound.
/// Returns key, entry version, expires_at, stored size (`length` of the value
/// blob: its bytes).
pub(crate) fn list_sql(after: bool, upper: bool) -> String {
    format!(
        concat!(
            "SELECT key, ",
            entry_version!(),
            ", expires_at, length(value) FROM flowstore_entries \
             WHERE namespace = ?1 AND key {} ?2{} \
             AND (expires_at IS NULL OR expires_at > ?3) ORDER BY key LIMIT ?4"
        ),
        if after { ">" } else { ">=" },
        if upper { " AND key < ?5" } else { "" },
    )
}

/// How many unexpired entries a prefix holds, then removes all of them
/// (expired ones too, as `clear` does). Parameters: namespace, prefix, now
/// (count only), and with `upper` the upper bound as ?4 (count) / ?3 (delete).
pub(crate) fn count_prefix_sql(upper: bool) -> String {
    format!(
        "SELECT count(*) FROM flowstore_entries WHERE namespace = ?1 AND key >= ?2{} \
         AND (expires_at IS NULL OR expires_at > ?3)",
        if upper { " AND key < ?4" } else { "" },
    )
}

/// See [`count_prefix_sql`].
pub(crate) fn delete_prefix_sql(upper: bool) -> String {
    format!(
        "DELETE FROM flowstore_entries WHERE namespace = ?1 AND key >= ?2{}",
        if upper { " AND key < ?3" } else { "" },
    )
}

/// The unexpired entries among a list of keys, in one statement. The keys come
/// bound as one JSON array of strings (?2), unpacked by `json_each`: one
/// statement text whatever the batch length, and no key is ever part of the
/// SQL. Parameters: namespace, keys (JSON), now. Returns key, value.
pub(crate) const SELECT_MANY: &str = "SELECT key, value FROM flowstore_entries \
     WHERE namespace = ?1 AND key IN (SELECT value FROM json_each(?2)) \
     AND (expires_at IS NULL OR expires_at > ?3)";

/// Removes a list of keys (a JSON array, as for [`SELECT_MANY`]). Parameters:
/// namespace, keys.
pub(crate) const DELETE_MANY: &str = "DELETE FROM flowstore_entries \
     WHERE namespace = ?1 AND key IN (SELECT value FROM json_each(?2))";

/// Gives an unexpired entry a new expiry and a new version, leaving its value
/// alone; changes no row when the key is absent or expired. Parameters:
/// namespace, key, expires_at (or NULL), version, now.
pub(crate) const TOUCH: &str = "UPDATE flowstore_entries SET expires_at = ?3, version = ?4 \
     WHERE namespace = ?1 AND key = ?2 AND (expires_at IS NULL OR expires_at > ?5)";

/// Removes one entry. Parameters: namespace, key.
pub(crate) const DELETE: &str = "DELETE FROM flowstore_entries WHERE namespace = ?1 AND key = ?2";

/// Removes every entry of a namespace. Parameter: namespace. (Exact comparison:
/// no `LIKE`, no `GLOB`, so no namespace can match another.)
pub(crate) const CLEAR: &str = "DELETE FROM flowstore_entries WHERE namespace = ?1";

/// Whether anything has expired. Parameter: now. Used by the sweep to avoid a
/// write transaction when there is nothing to delete.
pub(crate) const ANY_EXPIRED: &str =
    "SELECT 1 FROM flowstore_entries WHERE expires_at <= ?1 LIMIT 1";

/// Deletes up to ?2 entries that expired at or before ?1, via the expiry index.
pub(crate) const SWEEP: &str = "DELETE FROM flowstore_entries WHERE id IN \
     (SELECT id FROM flowstore_entries WHERE expires_at <= ?1 LIMIT ?2)";

const META_TABLE: &str = "CREATE TABLE IF NOT EXISTS flowstore_meta (\
     name TEXT PRIMARY KEY NOT NULL, \
     value ANY NOT NULL\
     ) STRICT, WITHOUT ROWID";

/// Version 1 of the schema. A rowid table (values of a few KiB stay on the
/// row's page), a unique index for lookups, and a partial index over the entries
/// that have an expiry, for the sweep. A new file is created with it and then
/// migrated like a file of the previous release, so both end with one layout.
const SCHEMA_V1: &str = "\
     CREATE TABLE IF NOT EXISTS flowstore_entries (\
         id INTEGER PRIMARY KEY, \
         namespace TEXT NOT NULL, \
         key TEXT NOT NULL, \
         value BLOB NOT NULL, \
         expires_at INTEGER, \
         UNIQUE (namespace, key)\
     ) STRICT; \
     CREATE INDEX IF NOT EXISTS flowstore_entries_expiry \
         ON flowstore_entries (expires_at) WHERE expires_at IS NOT NULL;";

/// Version 1 → 2: entry versions.
///
/// - `version TEXT`, NULL in the rows written before: adding a nullable column
///   changes only the table's definition, not its rows, so the upgrade takes
///   the same time whatever the file holds. Such a row reads with its
///   pseudo-version (see `entry_version!`), whose prefix is drawn here.
/// - Two triggers for writers that do not know the column: a process of the
///   previous release that opened the file before it was upgraded keeps
///   writing with its old statements, which would otherwise leave a changed
///   row at its old version (and a conditional write from a reader of that
///   version would then succeed over a change it never saw). They give such a
///   write a fresh random version (`old.` and 32 hex digits). This release
///   always writes a new version itself, so for its own writes the `WHEN`
///   clauses are false and nothing more runs.
const MIGRATE_TO_V2: &str = "\
     ALTER TABLE flowstore_entries ADD COLUMN version TEXT; \
     INSERT INTO flowstore_meta (name, value) \
         VALUES ('legacy_version_prefix', 'legacy.' || lower(hex(randomblob(8)))); \
     UPDATE flowstore_meta SET value = 2 WHERE name = 'schema_version';";

/// The triggers of schema version 2 (see [`MIGRATE_TO_V2`]), created with it
/// and re-created if missing whenever a store opens the file.
const V2_TRIGGERS: &str = "\
     CREATE TRIGGER IF NOT EXISTS flowstore_entries_version_on_insert \
         AFTER INSERT ON flowstore_entries WHEN NEW.version IS NULL \
     BEGIN \
         UPDATE flowstore_entries SET version = 'old.' || lower(hex(randomblob(16))) WHERE id = NEW.id; \
     END; \
     CREATE TRIGGER IF NOT EXISTS flowstore_entries_version_on_update \
         AFTER UPDATE OF value, expires_at ON flowstore_entries WHEN NEW.version IS OLD.version \
     BEGIN \
         UPDATE flowstore_entries SET version = 'old.' || lower(hex(randomblob(16))) WHERE id = NEW.id; \
     END;";

/// Why a file could not be prepared.
#[derive(Debug)]
pub(crate) enum SetupError {
    Sqlite(rusqlite::Error),
    /// The file's schema is newer than this release understands.
    NewerSchema(i64),
    /// The schema version is not a positive integer.
    BadSchemaVersion,
    /// SQLite would not switch the file to WAL (e.g. `:memory:`).
    NotWal(String),
}

impl From<rusqlite::Error> for SetupError {
    fn from(err: rusqlite::Error) -> Self {
        SetupError::Sqlite(err)
    }
}

impl SetupError {
    fn into_rusqlite(self) -> rusqlite::Error {
        match self {
            SetupError::Sqlite(err) => err,
            other => rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ERROR),
                Some(other.describe()),
            ),
        }
    }

    pub(crate) fn describe(&self) -> String {
        match self {
            SetupError::Sqlite(err) => err.to_string(),
            SetupError::NewerSchema(version) => format!(
                "the database has flowstore schema version {version}, this release understands up to {SCHEMA_VERSION}; upgrade flowstore"
            ),
            SetupError::BadSchemaVersion => {
                "the database's flowstore_meta.schema_version is not a positive integer".to_string()
            }
            SetupError::NotWal(mode) => format!(
                "SQLite would not switch the database to WAL mode (journal mode is {mode:?}); use a file on a local disk"
            ),
        }
    }
}

/// Opens a connection on `path` (creating the file) with the store's open flags
/// (no URI interpretation, no SQLite-level mutex) and busy timeout.
pub(crate) fn open_plain(path: &Path, busy_timeout: Duration) -> rusqlite::Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(busy_timeout)?;
    Ok(conn)
}

/// Switches the file to WAL (waiting up to `busy_timeout` for other processes),
/// sets `synchronous`, and creates or checks the schema in one `BEGIN IMMEDIATE`
/// transaction, so several processes opening a new file at once agree.
pub(crate) fn prepare(
    conn: &Connection,
    synchronous: Synchronous,
    busy_timeout: Duration,
) -> Result<(), SetupError> {
    // Changing the journal mode can report "busy" without calling the busy
    // handler while another process is setting the file up: retry until the
    // busy timeout.
    let deadline = Instant::now() + busy_timeout;
    loop {
        match conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get::<_, String>(0))
        {
            Ok(mode) if mode.eq_ignore_ascii_case("wal") => break,
            Ok(mode) => return Err(SetupError::NotWal(mode)),
            Err(err) if is_busy(&err) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(err) => return Err(err.into()),
        }
    }
    conn.pragma_update(None, "synchronous", synchronous.as_str())?;

    conn.execute_batch("BEGIN IMMEDIATE")?;
    let result = create_or_check_schema(conn);
    match result {
        Ok(()) => conn.execute_batch("COMMIT")?,
        Err(_) => {
            let _ = conn.execute_batch("ROLLBACK");
        }
    }
    result
}

fn create_or_check_schema(conn: &Connection) -> Result<(), SetupError> {
    conn.execute_batch(META_TABLE)?;
    let version: Option<rusqlite::types::Value> = conn
        .query_row(
            "SELECT value FROM flowstore_meta WHERE name = 'schema_version'",
            [],
            |row| row.get(0),
        )
        .optional()?;
    let version = match version {
        None => {
            // A new file: created as version 1, then migrated below.
            conn.execute_batch(SCHEMA_V1)?;
            conn.execute(
                "INSERT INTO flowstore_meta (name, value) VALUES ('schema_version', 1)",
                [],
            )?;
            1
        }
        Some(rusqlite::types::Value::Integer(version)) if version > SCHEMA_VERSION => {
            return Err(SetupError::NewerSchema(version));
        }
        Some(rusqlite::types::Value::Integer(version)) if version >= 1 => version,
        Some(_) => return Err(SetupError::BadSchemaVersion),
    };
    // Re-creates an index or trigger someone dropped (every statement is
    // `IF NOT EXISTS`), then migrates step by step, all in the caller's
    // transaction: a failed step leaves the file as it was.
    conn.execute_batch(SCHEMA_V1)?;
    if version < 2 {
        conn.execute_batch(MIGRATE_TO_V2)?;
    }
    conn.execute_batch(V2_TRIGGERS)?;
    Ok(())
}

/// Sets `journal_size_limit`: whenever SQLite starts the write-ahead log over
/// (after a checkpoint copied all of it), it truncates the file to `bytes`, so
/// one large transaction does not leave a large log behind for good.
pub(crate) fn limit_wal(conn: &Connection, bytes: u64) -> rusqlite::Result<()> {
    let bytes = i64::try_from(bytes).unwrap_or(i64::MAX);
    // This pragma answers with the new limit (a row), which `pragma_update` refuses.
    conn.pragma_update_and_check(None, "journal_size_limit", bytes, |_| Ok(()))
}

/// Opens `path` exactly as the store's writer does: the same open flags, WAL,
/// `synchronous`, the default busy timeout (5 s), the default write-ahead log
/// size limit, and the schema created, migrated (an older file is upgraded to
/// [`SCHEMA_VERSION`]) or checked. A file whose schema is newer than this
/// release is an error.
pub fn open_connection(path: &Path, synchronous: Synchronous) -> rusqlite::Result<Connection> {
    let conn = open_plain(path, DEFAULT_BUSY_TIMEOUT)?;
    prepare(&conn, synchronous, DEFAULT_BUSY_TIMEOUT).map_err(SetupError::into_rusqlite)?;
    limit_wal(&conn, DEFAULT_WAL_SIZE_LIMIT)?;
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plan SQLite picks for a statement, one detail line per step.
    fn plan(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> Vec<String> {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        stmt.query_map(params, |row| row.get::<_, String>(3))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    #[test]
    fn listing_is_a_range_search_of_the_key_index_without_a_sort() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open_connection(&dir.path().join("plan.db"), Synchronous::Full).unwrap();
        // Enough rows, in several namespaces, that a scan would be a choice.
        for i in 0..500 {
            conn.execute(
                UPSERT,
                rusqlite::params![
                    format!("ns{}", i % 5),
                    format!("k{i:04}"),
                    b"v",
                    None::<i64>,
                    "v-v-v"
                ],
            )
            .unwrap();
        }
        conn.execute_batch("ANALYZE").unwrap();
        for (after, upper) in [(false, true), (true, true), (false, false), (true, false)] {
            let sql = list_sql(after, upper);
            let steps = if upper {
                plan(&conn, &sql, rusqlite::params!["ns1", "k1", 0, 10, "k2"])
            } else {
                plan(&conn, &sql, rusqlite::params!["ns1", "k1", 0, 10])
            };
            let joined = steps.join(" | ");
            // SQLite writes both `>` and `>=` as `key>?` in a plan.
            let range = "key>?";
            assert!(
                joined.contains("SEARCH flowstore_entries USING INDEX sqlite_autoindex_flowstore_entries_1 (namespace=? AND ")
                    && joined.contains(range)
                    && (!upper || joined.contains("key<?")),
                "not an index range search: {joined}"
            );
            // Rows come out of the index in key order: no sort step.
            assert!(!joined.contains("TEMP B-TREE"), "sorts: {joined}");
            assert!(
                !joined.contains("SCAN flowstore_entries"),
                "scans: {joined}"
            );
        }
        let joined = plan(
            &conn,
            &delete_prefix_sql(true),
            rusqlite::params!["ns1", "k1", "k2"],
        )
        .join(" | ");
        assert!(
            joined.contains("USING INDEX sqlite_autoindex_flowstore_entries_1"),
            "{joined}"
        );
        let joined = plan(&conn, SELECT_MANY, rusqlite::params!["ns1", "[\"k1\"]", 0]).join(" | ");
        assert!(
            joined.contains("USING INDEX sqlite_autoindex_flowstore_entries_1"),
            "{joined}"
        );
    }

    /// The `key` column compares with `memcmp` (the `BINARY` collation), which
    /// for UTF-8 text is code point order: what `list` promises.
    #[test]
    fn keys_compare_in_utf8_byte_order() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open_connection(&dir.path().join("order.db"), Synchronous::Full).unwrap();
        let keys = ["B", "a", "é", "z", "\u{FFFD}", "😀", "a\u{7F}", "ab", "A"];
        for key in keys {
            conn.execute(
                UPSERT,
                rusqlite::params!["ns", key, b"v", None::<i64>, "v-v-v"],
            )
            .unwrap();
        }
        let listed: Vec<String> = conn
            .prepare("SELECT key FROM flowstore_entries WHERE namespace = 'ns' ORDER BY key")
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        let mut expected: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
        expected.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        assert_eq!(listed, expected);
    }
}
