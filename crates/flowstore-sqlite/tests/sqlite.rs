//! SQLite-specific behaviour: URLs, the schema version, locking, the TTL sweep,
//! shared handles, and what happens to callers that go away.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::pin;
use std::task::{Context, Waker};
use std::time::{Duration, Instant};

use flowstore_core::{ErrorKind, Key, Namespace, Operation, Store, Ttl};
use flowstore_sqlite::rusqlite::Connection;
use flowstore_sqlite::{SqliteBuilder, SqliteStore, Synchronous, raw};

fn key(text: &str) -> Key {
    Key::new(text).unwrap()
}

fn ns(text: &str) -> Namespace {
    Namespace::new(text).unwrap()
}

fn temp_db() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    (dir, path)
}

fn count_rows(path: &Path, filter: &str) -> i64 {
    let conn = Connection::open(path).unwrap();
    conn.query_row(
        &format!("SELECT count(*) FROM flowstore_entries WHERE {filter}"),
        [],
        |row| row.get(0),
    )
    .unwrap()
}

#[test]
fn url_with_relative_path_and_parameters() {
    let builder = SqliteBuilder::from_url(
        "sqlite://data/state.db?namespace=a%2Fb&synchronous=NORMAL&busy_timeout=250ms&max_value_size=1024",
    )
    .unwrap();
    assert_eq!(builder.path(), Path::new("data/state.db"));
    assert_eq!(builder.get_namespace().as_str(), "a/b");
    assert_eq!(builder.get_synchronous(), Synchronous::Normal);
    assert_eq!(builder.get_busy_timeout(), Duration::from_millis(250));
}

#[test]
fn url_with_absolute_path_and_defaults() {
    let builder = SqliteBuilder::from_url("sqlite:///var/lib/app/state.db").unwrap();
    assert_eq!(builder.path(), Path::new("/var/lib/app/state.db"));
    assert_eq!(builder.get_namespace().as_str(), "flow");
    assert_eq!(builder.get_synchronous(), Synchronous::Full);
    assert_eq!(builder.get_busy_timeout(), Duration::from_secs(5));
    // Everything up to `?` is the path, taken literally.
    let builder = SqliteBuilder::from_url("SQLITE://dir with space/%41.db").unwrap();
    assert_eq!(builder.path(), Path::new("dir with space/%41.db"));
}

#[test]
fn explicit_namespace_beats_the_url() {
    let builder = SqliteBuilder::from_url("sqlite://x.db?namespace=from-url")
        .unwrap()
        .namespace(ns("explicit"));
    assert_eq!(builder.get_namespace().as_str(), "explicit");
}

#[test]
fn bad_urls_are_config_errors() {
    for url in [
        "sqlite://x.db?colour=blue",
        "sqlite://x.db?synchronous=sometimes",
        "sqlite://x.db?busy_timeout=5",
        "sqlite://x.db?max_value_size=big",
        "sqlite://x.db?namespace=",
        "sqlite://x.db?namespace=a&namespace=b",
        "sqlite://",
        "sqlite://?namespace=a",
        "postgres://localhost/db",
        "x.db",
    ] {
        let err = SqliteBuilder::from_url(url).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{url}: {err}");
    }
}

#[test]
fn synchronous_parses_and_displays() {
    for (text, mode) in [
        ("full", Synchronous::Full),
        ("normal", Synchronous::Normal),
        ("off", Synchronous::Off),
    ] {
        assert_eq!(text.parse::<Synchronous>().unwrap(), mode);
        assert_eq!(mode.to_string(), text);
    }
    assert_eq!(Synchronous::default(), Synchronous::Full);
    assert_eq!(
        "fast".parse::<Synchronous>().unwrap_err().kind(),
        ErrorKind::Config
    );
}

#[tokio::test]
async fn relative_url_path_is_resolved_against_the_working_directory() {
    let cwd = std::env::current_dir().unwrap();
    let dir = tempfile::tempdir_in(&cwd).unwrap();
    let relative = dir.path().strip_prefix(&cwd).unwrap().join("rel.db");
    let url = format!("sqlite://{}", relative.display());
    let store = SqliteBuilder::from_url(&url).unwrap().open().await.unwrap();
    assert_eq!(store.path(), cwd.join(&relative));
    store.set(&key("k"), b"v", None).await.unwrap();
    assert!(dir.path().join("rel.db").exists());
}

#[tokio::test]
async fn absolute_url_path_is_used_as_is() {
    let (_dir, path) = temp_db();
    let url = format!("sqlite://{}?namespace=abs", path.display());
    assert!(url.starts_with("sqlite:///"));
    let store = SqliteBuilder::from_url(&url).unwrap().open().await.unwrap();
    assert_eq!(store.path(), path);
    assert_eq!(store.namespace().as_str(), "abs");
    store.set(&key("k"), b"v", None).await.unwrap();
    assert_eq!(count_rows(&path, "namespace = 'abs'"), 1);
}

#[tokio::test]
async fn newer_schema_version_is_refused() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).await.unwrap();
    store.set(&key("k"), b"v", None).await.unwrap();
    drop(store);

    let conn = Connection::open(&path).unwrap();
    let version: i64 = conn
        .query_row(
            "SELECT value FROM flowstore_meta WHERE name = 'schema_version'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(version, raw::SCHEMA_VERSION);
    conn.execute(
        "UPDATE flowstore_meta SET value = ?1 WHERE name = 'schema_version'",
        [raw::SCHEMA_VERSION + 1],
    )
    .unwrap();
    drop(conn);

    let err = SqliteStore::open(&path).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    assert!(err.to_string().contains("schema version"), "{err}");
    assert!(raw::open_connection(&path, Synchronous::Full).is_err());
}

#[tokio::test]
async fn a_file_that_is_not_a_database_is_corrupt() {
    let (_dir, path) = temp_db();
    std::fs::write(&path, vec![0x5a; 8192]).unwrap();
    let err = SqliteStore::open(&path).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
}

#[tokio::test]
async fn a_missing_directory_is_a_config_error() {
    let (dir, _) = temp_db();
    let err = SqliteStore::open(dir.path().join("no/such/dir/x.db"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    // Opening is no operation of a store; the backend is still named.
    assert_eq!(
        (err.backend_name(), err.operation()),
        (Some("sqlite"), None)
    );
    assert!(err.to_string().starts_with("config: sqlite: "), "{err}");
}

#[tokio::test]
async fn a_lock_held_past_busy_timeout_is_a_timeout() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::builder(&path)
        .busy_timeout(Duration::from_millis(200))
        .open()
        .await
        .unwrap();
    store.set(&key("k"), b"before", None).await.unwrap();

    // Another connection (as another process would) takes the write lock and keeps it.
    let other = raw::open_connection(&path, Synchronous::Full).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    other
        .execute(
            "INSERT INTO flowstore_entries (namespace, key, value) VALUES ('flow', 'held', x'78')",
            [],
        )
        .unwrap();

    let err = store.set(&key("k"), b"during", None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(err.is_temporary());
    assert_eq!(err.operation(), Some(Operation::Set));
    assert_eq!(err.backend_name(), Some("sqlite"));
    let line = err.to_one_line();
    assert!(line.starts_with("timeout: sqlite set: "), "{line}");
    // Neither the key nor the value is in the message.
    assert!(
        !line.contains("\"k\"") && !line.contains("during"),
        "{line}"
    );
    // Reads do not wait for the writer, in this process or another.
    assert_eq!(
        store.get(&key("k")).await.unwrap(),
        Some(b"before".to_vec())
    );

    other.execute_batch("ROLLBACK").unwrap();
    store.set(&key("k"), b"after", None).await.unwrap();
    assert_eq!(store.get(&key("k")).await.unwrap(), Some(b"after".to_vec()));
}

#[tokio::test]
async fn sweep_deletes_expired_rows_in_the_background() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::builder(&path)
        .sweep_interval(Duration::from_millis(20))
        .open()
        .await
        .unwrap();
    let short = Ttl::from_millis(1).unwrap();
    // More than one sweep batch.
    for i in 0..700 {
        store
            .set(&key(&format!("gone/{i}")), b"x", Some(short))
            .await
            .unwrap();
    }
    store.set(&key("kept/plain"), b"p", None).await.unwrap();
    store
        .set(&key("kept/ttl"), b"t", Some(Ttl::from_secs(3600).unwrap()))
        .await
        .unwrap();

    // Expired entries read as absent at once, swept or not.
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert_eq!(store.get(&key("gone/0")).await.unwrap(), None);

    let deadline = Instant::now() + Duration::from_secs(30);
    while count_rows(&path, "key LIKE 'gone/%'") > 0 {
        assert!(Instant::now() < deadline, "expired rows were never swept");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(count_rows(&path, "key LIKE 'kept/%'"), 2);
    assert_eq!(
        store.get(&key("kept/ttl")).await.unwrap(),
        Some(b"t".to_vec())
    );
}

#[tokio::test]
async fn with_namespace_shares_file_and_threads() {
    let (_dir, path) = temp_db();
    let first = SqliteStore::open(&path).await.unwrap();
    let second = first.with_namespace(ns("second"));
    assert_eq!(second.path(), first.path());
    assert_eq!(second.namespace().as_str(), "second");

    second.set(&key("k"), b"2", None).await.unwrap();
    first.set(&key("k"), b"1", None).await.unwrap();
    assert_eq!(first.get(&key("k")).await.unwrap(), Some(b"1".to_vec()));
    assert_eq!(second.get(&key("k")).await.unwrap(), Some(b"2".to_vec()));

    // The threads live as long as any handle does.
    drop(first);
    second.set(&key("k2"), b"still", None).await.unwrap();
    assert_eq!(
        second.get(&key("k2")).await.unwrap(),
        Some(b"still".to_vec())
    );
    assert_eq!(count_rows(&path, "1"), 3);
}

#[tokio::test]
async fn two_stores_on_one_file_see_each_other() {
    let (_dir, path) = temp_db();
    let a = SqliteStore::open(&path).await.unwrap();
    let b = SqliteStore::open(&path).await.unwrap();
    a.set(&key("from-a"), b"a", None).await.unwrap();
    b.set(&key("from-b"), b"b", None).await.unwrap();
    assert_eq!(b.get(&key("from-a")).await.unwrap(), Some(b"a".to_vec()));
    assert_eq!(a.get(&key("from-b")).await.unwrap(), Some(b"b".to_vec()));
    b.clear().await.unwrap();
    assert_eq!(a.get(&key("from-a")).await.unwrap(), None);
}

/// Polls `future` once, then drops it.
fn poll_once_and_drop<F: Future>(future: F) {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    let _ = future.as_mut().poll(&mut cx);
}

#[tokio::test]
async fn dropped_callers_do_not_break_the_writer() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).await.unwrap();
    for i in 0..200 {
        let k = key(&format!("dropped/{i}"));
        poll_once_and_drop(store.set(&k, b"maybe", None));
        poll_once_and_drop(store.get(&k));
    }
    poll_once_and_drop(store.delete(&key("dropped/0")));
    store.set(&key("after"), b"ok", None).await.unwrap();
    assert_eq!(
        store.get(&key("after")).await.unwrap(),
        Some(b"ok".to_vec())
    );
    // Queued before `after`, so applied before it (dropped or not): in order.
    assert_eq!(
        store.get(&key("dropped/199")).await.unwrap(),
        Some(b"maybe".to_vec())
    );
    assert_eq!(store.get(&key("dropped/0")).await.unwrap(), None);
}

#[tokio::test]
async fn value_limit_is_configurable_and_checked_before_writing() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::builder(&path)
        .max_value_size(10)
        .open()
        .await
        .unwrap();
    assert_eq!(store.max_value_size(), 10);
    store.set(&key("k"), &[1; 10], None).await.unwrap();
    let err = store.set(&key("k"), &[2; 11], None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ValueTooLarge);
    assert_eq!(
        (err.backend_name(), err.operation()),
        (Some("sqlite"), Some(Operation::Set))
    );
    assert_eq!(store.get(&key("k")).await.unwrap(), Some(vec![1; 10]));
}

#[tokio::test]
async fn every_durability_mode_opens_and_persists() {
    for mode in [Synchronous::Full, Synchronous::Normal, Synchronous::Off] {
        let (_dir, path) = temp_db();
        let store = SqliteStore::builder(&path)
            .synchronous(mode)
            .open()
            .await
            .unwrap();
        assert_eq!(store.synchronous(), mode);
        store
            .set(&key("k"), mode.as_str().as_bytes(), None)
            .await
            .unwrap();
        drop(store);
        let reopened = SqliteStore::open(&path).await.unwrap();
        assert_eq!(
            reopened.get(&key("k")).await.unwrap(),
            Some(mode.as_str().as_bytes().to_vec())
        );
    }
}

#[tokio::test]
async fn debug_shows_path_and_namespace() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).await.unwrap();
    let debug = format!("{store:?}");
    assert!(
        debug.contains("store.db") && debug.contains("flow"),
        "{debug}"
    );
}

#[tokio::test]
async fn an_in_memory_database_is_refused() {
    let err = SqliteBuilder::from_url("sqlite://:memory:")
        .unwrap()
        .open()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
}
