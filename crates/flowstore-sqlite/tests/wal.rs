//! The write-ahead log stays bounded: after a `clear` of many keys it is back
//! under the configured limit, and once the last handle of a store is dropped
//! it is checkpointed and removed.

use std::path::{Path, PathBuf};

use flowstore_core::{Key, Namespace, Store};
use flowstore_sqlite::{DEFAULT_WAL_SIZE_LIMIT, SqliteBuilder, SqliteStore, Synchronous, raw};

/// The limit these tests configure: small, so that a quick test can overflow it
/// many times over.
const LIMIT: u64 = 1024 * 1024;

/// Keys written before the `clear`, with values of [`VALUE_SIZE`] bytes: about
/// 20 MiB of table pages, all rewritten by the `clear`'s one transaction.
const KEYS: usize = 20_000;
const VALUE_SIZE: usize = 1024;

fn wal_path(db: &Path) -> PathBuf {
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    PathBuf::from(wal)
}

/// The log's size; a missing log is an empty one.
fn wal_size(db: &Path) -> u64 {
    std::fs::metadata(wal_path(db)).map_or(0, |meta| meta.len())
}

/// Writes `count` keys into `namespace` in one transaction through a plain
/// connection (far quicker than one store call per key), then closes it.
fn fill(db: &Path, namespace: &str, count: usize) {
    let mut conn = raw::open_connection(db, Synchronous::Off).unwrap();
    let tx = conn.transaction().unwrap();
    {
        let mut upsert = tx
            .prepare(
                "INSERT INTO flowstore_entries (namespace, key, value, expires_at) \
                 VALUES (?1, ?2, ?3, ?4)",
            )
            .unwrap();
        let value = vec![7u8; VALUE_SIZE];
        for i in 0..count {
            upsert
                .execute(flowstore_sqlite::rusqlite::params![
                    namespace,
                    format!("key:{i}"),
                    value,
                    None::<i64>
                ])
                .unwrap();
        }
    }
    tx.commit().unwrap();
}

fn count(db: &Path, namespace: &str) -> i64 {
    let conn = flowstore_sqlite::rusqlite::Connection::open(db).unwrap();
    conn.query_row(
        "SELECT count(*) FROM flowstore_entries WHERE namespace = ?1",
        [namespace],
        |row| row.get(0),
    )
    .unwrap()
}

#[test]
fn the_limit_is_configurable_and_defaults_to_64_mib() {
    assert_eq!(DEFAULT_WAL_SIZE_LIMIT, 64 * 1024 * 1024);
    let builder = SqliteBuilder::from_url("sqlite://x.db").unwrap();
    assert_eq!(builder.get_wal_size_limit(), DEFAULT_WAL_SIZE_LIMIT);
    let builder = SqliteBuilder::from_url("sqlite://x.db?wal_size_limit=4096").unwrap();
    assert_eq!(builder.get_wal_size_limit(), 4096);
    assert!(SqliteBuilder::from_url("sqlite://x.db?wal_size_limit=big").is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_clear_leaves_the_log_under_its_limit() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.db");
    fill(&db, "flow", KEYS);
    fill(&db, "other", 10);

    let store = SqliteStore::builder(&db)
        .synchronous(Synchronous::Off)
        .wal_size_limit(LIMIT)
        .open()
        .await
        .unwrap();
    store.clear().await.unwrap();
    let after_clear = wal_size(&db);
    assert!(
        after_clear <= LIMIT,
        "the log is {after_clear} bytes after the clear, over the {LIMIT}-byte limit"
    );
    assert_eq!(count(&db, "flow"), 0);
    assert_eq!(count(&db, "other"), 10, "another namespace was touched");

    // The store keeps working on the truncated log.
    let key = Key::new("after").unwrap();
    store.set(&key, b"v", None).await.unwrap();
    assert_eq!(store.get(&key).await.unwrap().as_deref(), Some(&b"v"[..]));
    assert!(wal_size(&db) <= LIMIT);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_last_handle_removes_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.db");
    let store = SqliteStore::open(&db).await.unwrap();
    let other = store.with_namespace(Namespace::new("other").unwrap());
    let clone = store.clone();
    for i in 0..100 {
        let key = Key::new(format!("key:{i}")).unwrap();
        store.set(&key, b"value", None).await.unwrap();
        other.set(&key, b"value", None).await.unwrap();
    }
    assert!(wal_size(&db) > 0, "the writes went to the log");

    drop(store);
    drop(other);
    // One handle left: the threads and their connections are still there.
    assert!(wal_size(&db) > 0);
    let key = Key::new("key:1").unwrap();
    assert_eq!(
        clone.get(&key).await.unwrap().as_deref(),
        Some(&b"value"[..])
    );

    drop(clone);
    // No waiting: dropping the last handle returned after the connections closed.
    assert_eq!(
        wal_size(&db),
        0,
        "the log is still there after the store was dropped"
    );
    assert_eq!(
        count(&db, "flow"),
        100,
        "the log was checkpointed, not lost"
    );
    assert_eq!(count(&db, "other"), 100);
}
