//! The plain way to use SQLite from async code, as the baseline for
//! `flowstore-sqlite`: ONE rusqlite connection behind a `std::sync::Mutex`, each
//! operation on `tokio::task::spawn_blocking`, one transaction per write (an
//! autocommit upsert), cached prepared statements, on the same file, with the
//! same pragmas (WAL, the URL's `synchronous` and busy timeout) and the same
//! statements as the store. The store under test is opened first and creates
//! the table; the baseline only reads and writes it.

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use flowstore::{Error, Namespace, async_trait};
use flowstore_cli::Failure;
use flowstore_cli::bench::{Target, Workload, stamped};
use flowstore_sqlite::rusqlite::{self, OpenFlags, OptionalExtension, params};
use flowstore_sqlite::{SqliteBuilder, Synchronous};

/// flowstore-sqlite's single-row upsert (schema version 2): namespace, key,
/// value, expires_at (Unix milliseconds or NULL), entry version. The version
/// must change on every write, as the store's does: a write that kept it would
/// run the schema's trigger for writers of the previous release (one more
/// `UPDATE` per write) and make the baseline look slower than it is.
const UPSERT: &str = "INSERT INTO flowstore_entries (namespace, key, value, expires_at, version) \
     VALUES (?1, ?2, ?3, ?4, ?5) \
     ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at, \
     version = excluded.version";

/// flowstore-sqlite's read of one unexpired entry: namespace, key, now (Unix
/// milliseconds).
const SELECT: &str = "SELECT value FROM flowstore_entries \
     WHERE namespace = ?1 AND key = ?2 AND (expires_at IS NULL OR expires_at > ?3)";

/// One connection, one mutex, `spawn_blocking` per operation.
#[derive(Debug)]
pub(crate) struct RawSqlite {
    conn: Arc<Mutex<rusqlite::Connection>>,
    namespace: Arc<str>,
    keys: Arc<Vec<String>>,
    value: Arc<Vec<u8>>,
}

impl RawSqlite {
    pub(crate) const DESCRIPTION: &'static str = "one rusqlite connection behind a mutex, spawn_blocking per operation, one autocommit upsert per write, cached statements";

    pub(crate) fn open(
        url: &str,
        namespace: &Namespace,
        workload: &Workload,
    ) -> Result<Self, Failure> {
        let builder = SqliteBuilder::from_url(url)
            .map_err(|err| Failure::store("bench: raw SQLite baseline", &err))?;
        let conn = open_connection(
            builder.path(),
            builder.get_synchronous(),
            builder.get_busy_timeout(),
        )?;
        Ok(RawSqlite {
            conn: Arc::new(Mutex::new(conn)),
            namespace: namespace.as_str().into(),
            keys: Arc::new((0..workload.keys).map(Workload::key_name).collect()),
            value: Arc::new(workload.value()),
        })
    }

    async fn with_conn<T: Send + 'static>(
        &self,
        work: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, Error> {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            let conn = conn.lock().unwrap_or_else(PoisonError::into_inner);
            work(&conn)
        })
        .await
        .map_err(|err| Error::backend("raw SQLite task failed").with_source(err))?
        .map_err(|err| Error::backend("raw SQLite").with_source(err))
    }
}

/// Opens `path` the way the store's connections are opened: read-write, no
/// URI interpretation, no SQLite-level mutex (the baseline's own mutex guards
/// it), the busy timeout, WAL and `synchronous`.
fn open_connection(
    path: &Path,
    synchronous: Synchronous,
    busy_timeout: Duration,
) -> Result<rusqlite::Connection, Failure> {
    let fail = |err: rusqlite::Error| Failure::new(format!("bench: raw SQLite baseline: {err}"));
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = rusqlite::Connection::open_with_flags(path, flags).map_err(fail)?;
    conn.busy_timeout(busy_timeout).map_err(fail)?;
    // The store already switched the file to WAL (a setting of the file);
    // this only confirms it.
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .map_err(fail)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(Failure::new(format!(
            "bench: raw SQLite baseline: the file is not in WAL mode ({mode:?})"
        )));
    }
    conn.pragma_update(None, "synchronous", synchronous.as_str())
        .map_err(fail)?;
    Ok(conn)
}

#[async_trait]
impl Target for RawSqlite {
    async fn set(&self, key: usize, stamp: u64) -> Result<(), Error> {
        let (namespace, keys) = (Arc::clone(&self.namespace), Arc::clone(&self.keys));
        let value = stamped(&self.value, stamp);
        // The store writes a fresh version with every set; so does the baseline.
        let version = flowstore::Version::generate().to_string();
        self.with_conn(move |conn| {
            conn.prepare_cached(UPSERT)?.execute(params![
                &*namespace,
                &keys[key],
                &value[..],
                None::<i64>,
                version
            ])?;
            Ok(())
        })
        .await
    }

    async fn get(&self, key: usize) -> Result<bool, Error> {
        let (namespace, keys) = (Arc::clone(&self.namespace), Arc::clone(&self.keys));
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| {
                i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
            });
        let value = self
            .with_conn(move |conn| {
                conn.prepare_cached(SELECT)?
                    .query_row(params![&*namespace, &keys[key], now_ms], |row| {
                        row.get::<_, Vec<u8>>(0)
                    })
                    .optional()
            })
            .await?;
        Ok(value.is_some())
    }
}
