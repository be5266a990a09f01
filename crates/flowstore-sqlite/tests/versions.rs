//! Entry versions beyond the shared suite: conditional writes inside a group
//! commit, conditional writes from two writers on one file (as two processes
//! would), and stored versions that are not valid.

use std::sync::Arc;
use std::time::Duration;

use flowstore_core::{Current, ErrorKind, Key, Operation, Store, StoreExt, Version};
use flowstore_sqlite::rusqlite::Connection;
use flowstore_sqlite::{SqliteStore, Synchronous, raw};

fn key(text: &str) -> Key {
    Key::new(text).unwrap()
}

fn temp_db() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    (dir, path)
}

#[tokio::test]
async fn a_conflict_fails_only_its_own_request_of_a_batch() {
    let (_dir, path) = temp_db();
    let store = Arc::new(SqliteStore::open(&path).await.unwrap());
    let taken = store
        .set_versioned(&key("taken"), b"first", None)
        .await
        .unwrap();

    // Another connection holds the write lock, so the writer waits in its
    // first batch (the one `blocker` below) while the requests after it queue
    // up: they then form the next batch together.
    let other = raw::open_connection(&path, Synchronous::Full).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let blocker = tokio::spawn({
        let store = store.clone();
        async move { store.set(&key("blocker"), b"b", None).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;

    let mut tasks = Vec::new();
    for i in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let plain = store.set(&key(&format!("plain/{i}")), b"p", None).await;
            (i, plain)
        }));
    }
    let conflicting = tokio::spawn({
        let store = store.clone();
        async move { store.set_if_absent(&key("taken"), b"second", None).await }
    });
    let stale = tokio::spawn({
        let store = store.clone();
        let stale = Version::generate();
        async move { store.delete_if_version(&key("taken"), &stale).await }
    });
    let winner = tokio::spawn({
        let store = store.clone();
        async move { store.set_if_absent(&key("new"), b"winner", None).await }
    });
    // The spawned tasks queue their requests while this one sleeps; the
    // loser's is queued after the winner's.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let loser = tokio::spawn({
        let store = store.clone();
        async move { store.set_if_absent(&key("new"), b"loser", None).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    other.execute_batch("ROLLBACK").unwrap();

    blocker.await.unwrap().unwrap();
    for task in tasks {
        let (i, plain) = task.await.unwrap();
        plain.unwrap_or_else(|err| panic!("plain set {i} failed: {err}"));
    }
    let err = conflicting.await.unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert_eq!(err.current(), Some(&Current::Version(taken.clone())));
    assert_eq!(err.operation(), Some(Operation::SetIf));
    assert_eq!(err.backend_name(), Some("sqlite"));
    let err = stale.await.unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert_eq!(err.operation(), Some(Operation::DeleteIf));
    let won = winner.await.unwrap().unwrap();
    // The loser sees the winner's write of the same transaction.
    let err = loser.await.unwrap().unwrap_err();
    assert_eq!(err.current(), Some(&Current::Version(won.clone())));

    for i in 0..8 {
        assert_eq!(
            store.get(&key(&format!("plain/{i}"))).await.unwrap(),
            Some(b"p".to_vec())
        );
    }
    let taken_now = store.get_entry(&key("taken")).await.unwrap().unwrap();
    assert_eq!(
        (taken_now.value, taken_now.version),
        (b"first".to_vec(), taken)
    );
    let new = store.get_entry(&key("new")).await.unwrap().unwrap();
    assert_eq!((new.value, new.version), (b"winner".to_vec(), won));
}

/// Two stores opened separately on one file each have their own writer and
/// connection, as two processes would; their conditional writes are decided
/// under SQLite's file lock.
#[tokio::test]
async fn two_writers_on_one_file_race_conditional_writes_safely() {
    let (_dir, path) = temp_db();
    let stores = [
        Arc::new(SqliteStore::open(&path).await.unwrap()),
        Arc::new(SqliteStore::open(&path).await.unwrap()),
    ];
    let k = key("counter");
    stores[0].set_if_absent(&k, b"0", None).await.unwrap();

    const TASKS_PER_STORE: usize = 4;
    const INCREMENTS: usize = 25;
    let mut tasks = Vec::new();
    for store in &stores {
        for _ in 0..TASKS_PER_STORE {
            let store = store.clone();
            let k = k.clone();
            tasks.push(tokio::spawn(async move {
                let mut conflicts = 0;
                for _ in 0..INCREMENTS {
                    loop {
                        let entry = store.get_entry(&k).await.unwrap().unwrap();
                        let count: usize =
                            std::str::from_utf8(&entry.value).unwrap().parse().unwrap();
                        let next = (count + 1).to_string();
                        match store
                            .set_if_version(&k, next.as_bytes(), None, &entry.version)
                            .await
                        {
                            Ok(_) => break,
                            Err(err) if err.kind() == ErrorKind::Conflict => conflicts += 1,
                            Err(err) => panic!("increment failed: {err}"),
                        }
                    }
                }
                conflicts
            }));
        }
    }
    let mut conflicts = 0;
    for task in tasks {
        conflicts += task.await.unwrap();
    }
    let total = 2 * TASKS_PER_STORE * INCREMENTS;
    assert_eq!(
        stores[1].get(&k).await.unwrap(),
        Some(total.to_string().into_bytes()),
        "lost updates ({conflicts} conflicts were retried)"
    );

    // From one version, exactly one of the two writers wins.
    let start = stores[0].set_versioned(&k, b"start", None).await.unwrap();
    let (a, b) = tokio::join!(
        stores[0].set_if_version(&k, b"a", None, &start),
        stores[1].set_if_version(&k, b"b", None, &start),
    );
    assert!(a.is_ok() != b.is_ok(), "a: {a:?}, b: {b:?}");
    let winner = a.or(b).unwrap();
    assert_eq!(
        stores[0].get_entry(&k).await.unwrap().unwrap().version,
        winner
    );
}

#[tokio::test]
async fn an_invalid_stored_version_is_corrupt_and_nothing_is_written() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).await.unwrap();
    let k = key("damaged");
    store.set(&k, b"kept", None).await.unwrap();
    Connection::open(&path)
        .unwrap()
        .execute(
            "UPDATE flowstore_entries SET version = 'not a version!' WHERE key = 'damaged'",
            [],
        )
        .unwrap();

    let err = store.get_entry(&k).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
    assert_eq!(err.operation(), Some(Operation::GetEntry));
    // The message names neither the stored text nor the key.
    let line = err.to_one_line();
    assert!(
        !line.contains("not a version") && !line.contains("damaged"),
        "{line}"
    );

    let err = store.set_if_absent(&k, b"over", None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
    let err = store
        .delete_if_version(&k, &Version::generate())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
    assert_eq!(store.get(&k).await.unwrap(), Some(b"kept".to_vec()));

    // A plain set replaces the row, version included.
    store.set(&k, b"repaired", None).await.unwrap();
    assert_eq!(
        store.get_entry(&k).await.unwrap().unwrap().value,
        b"repaired"
    );
}

#[tokio::test]
async fn the_version_a_write_stores_is_the_one_get_entry_reads() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).await.unwrap();
    let k = key("k");
    let written = store.set_versioned(&k, b"v", None).await.unwrap();
    let stored: String = Connection::open(&path)
        .unwrap()
        .query_row(
            "SELECT version FROM flowstore_entries WHERE key = 'k'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(stored, written.as_str());
    // A plain set stores a generated version, not NULL.
    store.set(&k, b"w", None).await.unwrap();
    let version = store.get_entry(&k).await.unwrap().unwrap().version;
    assert_ne!(version, written);
    assert_eq!(version.as_str().split('-').count(), 3, "{version}");
}
