//! A full disk (issue 15 §3), made with SQLite's `max_page_count`: a write
//! that does not fit fails with a clear error and writes nothing, the data
//! written before stays intact (`PRAGMA integrity_check`), and writes work
//! again once there is room.
//!
//! `max_page_count` holds for one connection only and the store has no option
//! for it (users bound disk use with the file system), so the writer applies
//! it from [`MAX_PAGE_COUNT`], a test-only table by database path, when it
//! opens its connection.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use flowstore_core::{ErrorKind, Key, Store};
use rusqlite::Connection;

use crate::SqliteStore;

/// The `max_page_count` the writer of each listed database file applies.
static MAX_PAGE_COUNT: Mutex<Vec<(PathBuf, u64)>> = Mutex::new(Vec::new());

/// Called by the writer on its new connection.
pub(crate) fn apply_max_page_count(conn: &Connection, path: &Path) {
    let limits = MAX_PAGE_COUNT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, pages)) = limits.iter().find(|(p, _)| p == path) {
        let pages = i64::try_from(*pages).unwrap();
        conn.pragma_update_and_check(None, "max_page_count", pages, |_| Ok(()))
            .expect("set max_page_count");
    }
}

fn key(text: &str) -> Key {
    Key::new(text).unwrap()
}

/// A value of `len` bytes that names `seed`, so that a mix-up shows.
fn value(seed: usize, len: usize) -> Vec<u8> {
    let mut bytes = format!("{seed}:").into_bytes();
    bytes.resize(len, b'a' + u8::try_from(seed % 26).unwrap());
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_database_fails_clearly_keeps_its_data_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("full.db");
    // 64 pages of 4 KiB: the schema and a few dozen values of 8 KiB.
    MAX_PAGE_COUNT.lock().unwrap().push((path.clone(), 64));
    let store = SqliteStore::open(&path).await.unwrap();

    store
        .set(&key("early"), b"before the disk filled", None)
        .await
        .unwrap();
    let len = 8 * 1024;
    let mut written = Vec::new();
    let full = loop {
        let i = written.len();
        assert!(i < 1_000, "the database never filled up");
        match store
            .set(&key(&format!("fill:{i}")), &value(i, len), None)
            .await
        {
            Ok(()) => written.push(i),
            Err(err) => break err,
        }
    };
    assert!(written.len() >= 4, "full after {} writes", written.len());
    assert_eq!(full.kind(), ErrorKind::Backend, "{full:?}");
    assert!(full.message().contains("the disk is full"), "{full}");
    assert!(!full.is_temporary(), "{full:?}");
    assert_eq!(full.backend_name(), Some("sqlite"));
    // The write that did not fit wrote nothing; the others are all there.
    let failed = written.len();
    assert_eq!(
        store.get(&key(&format!("fill:{failed}"))).await.unwrap(),
        None
    );
    assert_eq!(
        store.get(&key("early")).await.unwrap(),
        Some(b"before the disk filled".to_vec())
    );
    for &i in &written {
        assert_eq!(
            store.get(&key(&format!("fill:{i}"))).await.unwrap(),
            Some(value(i, len)),
            "fill:{i}"
        );
    }
    // Small writes that need a new page fail the same way, and keep failing.
    let again = store
        .set(&key("still-full"), &value(9_999, len), None)
        .await
        .expect_err("a write fit in a full database");
    assert_eq!(again.kind(), ErrorKind::Backend, "{again:?}");

    let check = Connection::open(&path).unwrap();
    let integrity: String = check
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");

    // Room again: deleting frees pages, and the write that failed now fits.
    for &i in written.iter().take(4) {
        store.delete(&key(&format!("fill:{i}"))).await.unwrap();
    }
    store
        .set(&key(&format!("fill:{failed}")), &value(failed, len), None)
        .await
        .expect("a write after room was made");
    assert_eq!(
        store.get(&key(&format!("fill:{failed}"))).await.unwrap(),
        Some(value(failed, len))
    );
    assert_eq!(
        store.get(&key("early")).await.unwrap(),
        Some(b"before the disk filled".to_vec())
    );
    let integrity: String = check
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
}
