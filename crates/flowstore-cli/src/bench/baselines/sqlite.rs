//! The plain way to use SQLite from async code, as the baseline for
//! `flowstore-sqlite`: ONE rusqlite connection behind a `std::sync::Mutex`, each
//! operation on `tokio::task::spawn_blocking`, one transaction per write (an
//! autocommit upsert), cached prepared statements, and the same file, pragmas
//! (`raw::open_connection`: WAL, the URL's `synchronous`, busy timeout) and
//! statements as the store.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use flowstore::sqlite::rusqlite::{self, OptionalExtension, params};
use flowstore::sqlite::{SqliteBuilder, raw};
use flowstore::{Error, Namespace, async_trait};

use crate::bench::workload::{Target, Workload, stamped};
use crate::failure::Failure;

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
        let conn = raw::open_connection(builder.path(), builder.get_synchronous())
            .map_err(|err| Failure::new(format!("bench: raw SQLite baseline: {err}")))?;
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

#[async_trait]
impl Target for RawSqlite {
    async fn set(&self, key: usize, stamp: u64) -> Result<(), Error> {
        let (namespace, keys) = (Arc::clone(&self.namespace), Arc::clone(&self.keys));
        let value = stamped(&self.value, stamp);
        self.with_conn(move |conn| {
            conn.prepare_cached(raw::UPSERT)?.execute(params![
                &*namespace,
                &keys[key],
                &value[..],
                None::<i64>
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
                conn.prepare_cached(raw::SELECT)?
                    .query_row(params![&*namespace, &keys[key], now_ms], |row| {
                        row.get::<_, Vec<u8>>(0)
                    })
                    .optional()
            })
            .await?;
        Ok(value.is_some())
    }
}
