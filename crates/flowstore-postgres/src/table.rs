//! The table name rule, and every SQL statement the store sends.

use std::fmt;

use flowstore_core::{Error, Result};

/// A validated PostgreSQL table name.
///
/// Allowed: 1 to 63 bytes of lower-case ASCII letters, digits and `_`, not
/// starting with a digit (`^[a-z_][a-z0-9_]{0,62}$`). PostgreSQL silently
/// truncates identifiers longer than 63 bytes, so a longer name would quietly
/// refer to another table; it is refused instead. The name is still always
/// double-quoted in SQL, so reserved words such as `user` work too.
/// `flowstore_meta` is reserved for the schema-version table.
///
/// ```
/// use flowstore_postgres::TableName;
/// use flowstore_core::ErrorKind;
///
/// assert!(TableName::new("flow_state").is_ok());
/// assert_eq!(TableName::new("Flow").unwrap_err().kind(), ErrorKind::Config);
/// assert_eq!(TableName::new("a\"; DROP TABLE x; --").unwrap_err().kind(), ErrorKind::Config);
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TableName(Box<str>);

impl TableName {
    /// The table used when none is given.
    pub const DEFAULT: &'static str = "flowstore";

    /// The longest name PostgreSQL keeps without truncating it, in bytes.
    pub const MAX_LEN: usize = 63;

    /// Checks `name` against the allowlist; anything else is a `Config` error.
    pub fn new(name: &str) -> Result<TableName> {
        let bad = |why: &str| {
            // The name is echoed only when it is short and printable, so a
            // hostile name cannot smuggle control characters into a log line.
            let shown = if name.len() <= 80 && name.chars().all(|c| !c.is_control()) {
                format!(" {name:?}")
            } else {
                String::new()
            };
            Error::config(format!(
                "invalid table name{shown}: {why} (allowed: 1 to 63 bytes of a-z, 0-9 and _, not starting with a digit)"
            ))
        };
        if name.is_empty() {
            return Err(bad("it is empty"));
        }
        if name.len() > TableName::MAX_LEN {
            return Err(bad(
                "it is longer than 63 bytes, which PostgreSQL would truncate",
            ));
        }
        let mut bytes = name.bytes();
        let first_ok = bytes
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b == b'_');
        if !first_ok {
            return Err(bad("it must start with a-z or _"));
        }
        if !bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
            return Err(bad("it contains a character outside a-z, 0-9 and _"));
        }
        if name == META_TABLE {
            return Err(bad(
                "`flowstore_meta` is reserved for flowstore's schema versions",
            ));
        }
        Ok(TableName(name.into()))
    }

    /// The name, unquoted.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name double-quoted for SQL. The allowlist admits no `"`, so quoting
    /// cannot be escaped from.
    pub(crate) fn quoted(&self) -> String {
        format!("\"{}\"", self.0)
    }
}

impl Default for TableName {
    fn default() -> Self {
        TableName(TableName::DEFAULT.into())
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TableName({:?})", &*self.0)
    }
}

impl TryFrom<&str> for TableName {
    type Error = Error;

    fn try_from(name: &str) -> Result<TableName> {
        TableName::new(name)
    }
}

impl std::str::FromStr for TableName {
    type Err = Error;

    fn from_str(name: &str) -> Result<TableName> {
        TableName::new(name)
    }
}

/// The table recording each flowstore table's schema version.
pub(crate) const META_TABLE: &str = "flowstore_meta";

/// The schema version this build creates and understands: 2 added the
/// `version` column (entry versions, SPEC §8); 1 is migrated on open.
pub(crate) const SCHEMA_VERSION: i32 = 2;

/// What a row's entry version reads as when its `version` column is NULL: a
/// row written by schema-1 code (before the migration, or by a process still
/// running it). `xmin` is the transaction that wrote this row version, so the
/// pseudo-version stays put while the row does and changes with every write;
/// the `.` keeps it apart from generated versions, which hold none.
pub(crate) const PSEUDO_VERSION_PREFIX: &str = "pg.xmin.";

/// The entry version of the row `alias`, real or pseudo.
fn entry_version(alias: &str) -> String {
    format!("COALESCE({alias}.version, '{PSEUDO_VERSION_PREFIX}' || {alias}.xmin::text)")
}

/// The row `alias` has not expired, by the server's clock.
fn live(alias: &str) -> String {
    format!("({alias}.expires_at IS NULL OR {alias}.expires_at > now())")
}

/// The trigger (on each table) and the function (one per schema) that clear a
/// version an update by schema-1 code left behind.
pub(crate) const FORGET_VERSION: &str = "flowstore_forget_version";

/// The statements for one table, built once per store from the validated name.
#[derive(Debug)]
pub(crate) struct Sql {
    pub(crate) get: String,
    pub(crate) get_entry: String,
    pub(crate) set_if_matches: String,
    pub(crate) set_if_upsert: String,
    pub(crate) delete_if: String,
    pub(crate) current_version: String,
    pub(crate) upsert_one: String,
    pub(crate) upsert_many: String,
    pub(crate) delete_one: String,
    pub(crate) delete_many: String,
    pub(crate) clear_batch: String,
    pub(crate) sweep_batch: String,
    pub(crate) create_table: String,
    pub(crate) create_index: String,
    pub(crate) add_version_column: String,
    pub(crate) get_many: String,
    pub(crate) delete_keys: String,
    pub(crate) touch: String,
    table: String,
}

/// How the statements compare keys for listing: the key column's own
/// collation when it sorts in byte order, else an explicit `COLLATE "C"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KeyOrder {
    /// The column's collation is `C`/`POSIX` (a table this release created,
    /// or a database whose default is `C`): plain comparisons sort in byte
    /// order and are range scans of the primary key index.
    Column,
    /// Another collation (say `en_US.UTF-8`, where `a` < `B`): every listing
    /// comparison and the `ORDER BY` say `COLLATE "C"`, which the primary key
    /// index (in the column's collation) cannot serve as a range, so a page
    /// reads the namespace's part of the index and sorts; correct, slower.
    CollateC,
}

impl KeyOrder {
    /// The key of row `alias` as listing compares it.
    fn key(self, alias: &str) -> String {
        match self {
            KeyOrder::Column => format!("{alias}.key"),
            KeyOrder::CollateC => format!("{alias}.key COLLATE \"C\""),
        }
    }
}

/// The body of the function behind every table's [`FORGET_VERSION`] trigger,
/// as `pg_proc.prosrc` holds it (compared before an existing one is used).
pub(crate) const FORGET_VERSION_BODY: &str = " BEGIN NEW.version := NULL; RETURN NEW; END ";

/// Creates the [`FORGET_VERSION`] function in `schema` (already quoted); one
/// per schema, shared by the tables in it.
pub(crate) fn forget_version_function(schema: &str) -> String {
    format!(
        "CREATE FUNCTION {schema}.{FORGET_VERSION}() RETURNS trigger LANGUAGE plpgsql \
         AS ${FORGET_VERSION}${FORGET_VERSION_BODY}${FORGET_VERSION}$"
    )
}

impl Sql {
    pub(crate) fn new(table: &TableName) -> Sql {
        let t = table.quoted();
        // `now()` is the server's clock at the start of the statement's
        // transaction: expiry is judged by the server, never by our clock.
        // `NULL * interval` is NULL, so a NULL TTL means "no expiry".
        let expires = "now() + ms * interval '1 millisecond'";
        let (version, live_row) = (entry_version("t"), live("t"));
        Sql {
            get: format!(
                "SELECT value FROM {t} WHERE namespace = $1 AND key = $2 \
                 AND (expires_at IS NULL OR expires_at > now())"
            ),
            get_entry: format!(
                "SELECT t.value, {version}, t.expires_at FROM {t} AS t \
                 WHERE t.namespace = $1 AND t.key = $2 AND {live_row}"
            ),
            // `set_if` is one statement deciding on the server, chosen by the
            // condition; see `conditional.rs` for how its answer is read.
            // Parameters: namespace, key, value, TTL ms, new version, and for
            // `Matches` the expected version.
            //
            // - `cur` is the row as the statement's snapshot sees it, so a
            //   failed condition can name the version that failed it.
            // - Every WHERE refuses a row already at the new version (the
            //   caller's own earlier attempt); an expired row counts as
            //   absent.
            // - Under READ COMMITTED, both the UPDATE and the DO UPDATE lock
            //   the newest committed row version and judge their WHERE on it
            //   (not on the snapshot), so of racing writers expecting the
            //   same version exactly one matches.
            //
            // `Matches`: an UPDATE, so an absent key is never created.
            set_if_matches: format!(
                "WITH cur AS (\
                   SELECT {version} AS version, {live_row} AS live FROM {t} AS t \
                   WHERE t.namespace = $1 AND t.key = $2), \
                 up AS (\
                   UPDATE {t} AS t SET value = $3, \
                     expires_at = now() + $4::int8 * interval '1 millisecond', version = $5 \
                   WHERE t.namespace = $1 AND t.key = $2 AND {live_row} \
                   AND {version} = $6::text AND {version} <> $5 \
                   RETURNING 1) \
                 SELECT EXISTS (SELECT 1 FROM up), \
                   (SELECT version FROM cur), coalesce((SELECT live FROM cur), false)"
            ),
            // `Always` and `Absent` ($6 = true): an upsert. A row already
            // there (committed, or committing concurrently: the INSERT waits
            // for it) goes to DO UPDATE.
            set_if_upsert: format!(
                "WITH cur AS (\
                   SELECT {version} AS version, {live_row} AS live FROM {t} AS t \
                   WHERE t.namespace = $1 AND t.key = $2), \
                 up AS (\
                   INSERT INTO {t} AS t (namespace, key, value, expires_at, version) \
                   VALUES ($1, $2, $3, now() + $4::int8 * interval '1 millisecond', $5) \
                   ON CONFLICT (namespace, key) DO UPDATE \
                   SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at, \
                       version = EXCLUDED.version \
                   WHERE NOT ({live_row} AND {version} = $5) \
                   AND NOT ($6::bool AND {live_row}) \
                   RETURNING 1) \
                 SELECT EXISTS (SELECT 1 FROM up), \
                   (SELECT version FROM cur), coalesce((SELECT live FROM cur), false)"
            ),
            // Like `set_if`: DELETE re-checks its WHERE on the newest row
            // version when a concurrent write got there first.
            delete_if: format!(
                "WITH cur AS (\
                   SELECT {version} AS version, {live_row} AS live FROM {t} AS t \
                   WHERE t.namespace = $1 AND t.key = $2), \
                 gone AS (\
                   DELETE FROM {t} AS t WHERE t.namespace = $1 AND t.key = $2 \
                   AND {live_row} AND {version} = $3 RETURNING 1) \
                 SELECT EXISTS (SELECT 1 FROM gone), \
                   (SELECT version FROM cur), coalesce((SELECT live FROM cur), false)"
            ),
            current_version: format!(
                "SELECT {version} FROM {t} AS t \
                 WHERE t.namespace = $1 AND t.key = $2 AND {live_row}"
            ),
            upsert_one: format!(
                "INSERT INTO {t} (namespace, key, value, expires_at, version) \
                 VALUES ($1, $2, $3, now() + $4::int8 * interval '1 millisecond', $5) \
                 ON CONFLICT (namespace, key) DO UPDATE \
                 SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at, \
                 version = EXCLUDED.version"
            ),
            upsert_many: format!(
                "INSERT INTO {t} (namespace, key, value, expires_at, version) \
                 SELECT n, k, v, {expires}, ver \
                 FROM unnest($1::text[], $2::text[], $3::bytea[], $4::int8[], $5::text[]) \
                 AS b(n, k, v, ms, ver) \
                 ON CONFLICT (namespace, key) DO UPDATE \
                 SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at, \
                 version = EXCLUDED.version"
            ),
            delete_one: format!("DELETE FROM {t} WHERE namespace = $1 AND key = $2"),
            delete_many: format!(
                "DELETE FROM {t} AS t USING unnest($1::text[], $2::text[]) AS b(n, k) \
                 WHERE t.namespace = b.n AND t.key = b.k"
            ),
            clear_batch: format!(
                "DELETE FROM {t} WHERE namespace = $1 AND key IN \
                 (SELECT key FROM {t} WHERE namespace = $1 LIMIT $2)"
            ),
            // SKIP LOCKED: several processes sweeping the same table, or a
            // writer holding a row, never make the sweep wait.
            sweep_batch: format!(
                "DELETE FROM {t} WHERE (namespace, key) IN \
                 (SELECT namespace, key FROM {t} WHERE expires_at <= now() \
                  LIMIT $1 FOR UPDATE SKIP LOCKED)"
            ),
            // `key` sorts in byte order (`COLLATE "C"`) whatever the
            // database's default, so listing is a range scan of the primary
            // key. Equality, all other statements use, is the same in every
            // deterministic collation, so writers of the previous release
            // work on such a table unchanged; a table created before (in the
            // database's collation) is used as it is (see `KeyOrder`).
            create_table: format!(
                "CREATE TABLE {t} (\
                 namespace text NOT NULL, \
                 key text COLLATE \"C\" NOT NULL, \
                 value bytea NOT NULL, \
                 expires_at timestamptz NULL, \
                 version text NULL, \
                 PRIMARY KEY (namespace, key))"
            ),
            // No index name: PostgreSQL picks a free one, so a 63-byte table
            // name cannot make a derived index name collide or truncate.
            create_index: format!("CREATE INDEX ON {t} (expires_at) WHERE expires_at IS NOT NULL"),
            // Nullable and without default: PostgreSQL adds it without
            // rewriting the table, and existing rows read as pseudo-versions.
            add_version_column: format!("ALTER TABLE {t} ADD COLUMN version text NULL"),
            // One statement for the whole batch; the caller maps the rows
            // back to the request order. Parameters: namespace, keys.
            get_many: format!(
                "SELECT t.key, t.value FROM {t} AS t \
                 WHERE t.namespace = $1 AND t.key = ANY($2::text[]) AND {live_row}"
            ),
            delete_keys: format!("DELETE FROM {t} WHERE namespace = $1 AND key = ANY($2::text[])"),
            // Only an unexpired row; the new version makes the trigger's WHEN
            // false. Parameters: namespace, key, TTL ms (NULL: no expiry),
            // new version. Answers with the number of rows changed.
            touch: format!(
                "UPDATE {t} AS t SET expires_at = now() + $3::int8 * interval '1 millisecond', \
                 version = $4 WHERE t.namespace = $1 AND t.key = $2 AND {live_row}"
            ),
            table: t,
        }
    }

    /// One listing page: the unexpired keys from the lower bound ($2;
    /// strictly after it with `after`, the cursor's key) below the upper
    /// bound ($4, with `upper`), in byte order, at most $3 rows. The prefix is
    /// a range (`Prefix::upper_bound`), never a `LIKE`. Returns key, entry
    /// version, expiry, and `octet_length(value)`: the value's bytes (as
    /// stored before TOAST compression).
    pub(crate) fn list(&self, order: KeyOrder, after: bool, upper: bool) -> String {
        let (t, k) = (&self.table, order.key("t"));
        let (version, live_row) = (entry_version("t"), live("t"));
        let op = if after { ">" } else { ">=" };
        let upper = if upper {
            format!(" AND {k} < $4")
        } else {
            String::new()
        };
        format!(
            "SELECT t.key, {version}, t.expires_at, octet_length(t.value) FROM {t} AS t \
             WHERE t.namespace = $1 AND {k} {op} $2{upper} AND {live_row} \
             ORDER BY {k} LIMIT $3"
        )
    }

    /// Deletes up to $3 rows of the prefix ($2, upper bound $4 with `upper`)
    /// and answers how many went and how many of those were unexpired. In
    /// batches like `clear`, so no single transaction grows with the prefix.
    pub(crate) fn delete_prefix_batch(&self, order: KeyOrder, upper: bool) -> String {
        let (t, k) = (&self.table, order.key("s"));
        let live_row = live("t");
        let upper = if upper {
            format!(" AND {k} < $4")
        } else {
            String::new()
        };
        format!(
            "WITH gone AS (\
               DELETE FROM {t} AS t WHERE t.namespace = $1 AND t.key IN \
               (SELECT s.key FROM {t} AS s WHERE s.namespace = $1 AND {k} >= $2{upper} LIMIT $3) \
               RETURNING {live_row} AS live) \
             SELECT count(*), count(*) FILTER (WHERE live) FROM gone"
        )
    }

    /// The trigger that calls `schema`'s (quoted) [`FORGET_VERSION`] function.
    pub(crate) fn forget_version_trigger(&self, schema: &str) -> String {
        // A process still running schema-1 code updates rows without
        // naming `version`, which would keep a version that no longer
        // describes the value. Every flowstore write of this schema sets a
        // new version, so an update that keeps a non-NULL one is such a
        // write: the trigger clears it, and the row reads as a
        // pseudo-version that changed with the write. The WHEN clause is
        // evaluated without calling the function, so current writes pay
        // one comparison. (One schema-2 write also keeps a version: a
        // `set_if` retried after its own write expired rewrites the same
        // new version; the trigger then clears it, and the caller's later
        // condition on that version fails with `Conflict` — safe.)
        // `EXECUTE PROCEDURE`: the spelling PostgreSQL 9.6 and 10 know too.
        format!(
            "CREATE TRIGGER {FORGET_VERSION} BEFORE UPDATE ON {} FOR EACH ROW \
             WHEN (NEW.version IS NOT NULL AND NEW.version = OLD.version) \
             EXECUTE PROCEDURE {schema}.{FORGET_VERSION}()",
            self.table
        )
    }
}

#[cfg(test)]
mod tests {
    use flowstore_core::ErrorKind;

    use super::*;

    #[test]
    fn accepts_the_allowlist() {
        for name in [
            "flowstore",
            "_x",
            "a",
            "state_2",
            &"a".repeat(63),
            "user",
            "select",
        ] {
            let table = TableName::new(name).unwrap();
            assert_eq!(table.as_str(), name);
            assert_eq!(table.quoted(), format!("\"{name}\""));
        }
    }

    #[test]
    fn refuses_everything_else_with_config() {
        let long = "a".repeat(64);
        for name in [
            "",
            &long,
            "Flow",
            "1abc",
            "a-b",
            "a b",
            "a.b",
            "public.flow",
            "a\"b",
            "a'b",
            "x; DROP TABLE y",
            "é",
            "a\0b",
            "flowstore_meta",
            "ﬂow",
        ] {
            let err = TableName::new(name).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config, "{name:?}");
        }
    }

    #[test]
    fn multibyte_names_are_measured_in_bytes() {
        // 32 two-byte characters: 64 bytes, and not ASCII anyway.
        assert!(TableName::new(&"é".repeat(32)).is_err());
    }

    #[test]
    fn statements_quote_the_table() {
        let sql = Sql::new(&TableName::new("user").unwrap());
        assert!(sql.get.contains("FROM \"user\" WHERE"));
        assert!(sql.create_table.starts_with("CREATE TABLE \"user\" ("));
    }
}
