//! A file written by the previous release (schema version 1, no entry versions)
//! opened by this one: migrated to schema version 2, every value readable, each
//! old row at a stable pseudo-version that conditional writes accept, and a
//! process of the previous release still writing to the upgraded file changes
//! versions too.
//!
//! The version-1 file is made here exactly as flowstore-sqlite at da248d2 made
//! it: the statements below are copied verbatim from that commit's `src/raw.rs`
//! (`META_TABLE`, `SCHEMA_V1`, the `schema_version` row, `UPSERT`) and run in
//! the same order as its `prepare` (WAL, then one `BEGIN IMMEDIATE` transaction
//! that creates the tables and records version 1).

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use flowstore_core::{Condition, Current, ErrorKind, Key, Store, StoreExt, Version};
use flowstore_sqlite::rusqlite::{Connection, params};
use flowstore_sqlite::{SqliteStore, raw};

/// da248d2 `raw::META_TABLE`.
const V1_META_TABLE: &str = "CREATE TABLE IF NOT EXISTS flowstore_meta (\
     name TEXT PRIMARY KEY NOT NULL, \
     value ANY NOT NULL\
     ) STRICT, WITHOUT ROWID";

/// da248d2 `raw::SCHEMA_V1`.
const V1_SCHEMA: &str = "\
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

/// da248d2 `raw::UPSERT`, the statement of its `set`. Parameters: namespace,
/// key, value, expires_at (Unix milliseconds or NULL).
const V1_UPSERT: &str = "INSERT INTO flowstore_entries (namespace, key, value, expires_at) \
     VALUES (?1, ?2, ?3, ?4) \
     ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at";

fn key(text: &str) -> Key {
    Key::new(text).unwrap()
}

fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A connection set up as da248d2's `prepare` set up a new file.
fn open_v1(path: &Path) -> Connection {
    let conn = Connection::open(path).unwrap();
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    conn.pragma_update(None, "synchronous", "FULL").unwrap();
    conn.execute_batch("BEGIN IMMEDIATE").unwrap();
    conn.execute_batch(V1_META_TABLE).unwrap();
    conn.execute_batch(V1_SCHEMA).unwrap();
    conn.execute(
        "INSERT INTO flowstore_meta (name, value) VALUES ('schema_version', ?1)",
        [1i64],
    )
    .unwrap();
    conn.execute_batch("COMMIT").unwrap();
    conn
}

/// A version-1 file holding what da248d2's `set` would have written: a value
/// without TTL, one with an hour's TTL, one already expired, and a key in
/// another namespace. Returns the hour-TTL row's stored expiry.
fn write_v1_file(path: &Path) -> i64 {
    let conn = open_v1(path);
    let in_an_hour = now_millis() + 3_600_000;
    let mut upsert = conn.prepare(V1_UPSERT).unwrap();
    upsert
        .execute(params![
            "flow",
            "plain",
            b"old plain".as_slice(),
            None::<i64>
        ])
        .unwrap();
    upsert
        .execute(params!["flow", "ttl", b"old ttl".as_slice(), in_an_hour])
        .unwrap();
    upsert
        .execute(params![
            "flow",
            "expired",
            b"gone".as_slice(),
            now_millis() - 1000
        ])
        .unwrap();
    upsert
        .execute(params![
            "other",
            "plain",
            b"other ns".as_slice(),
            None::<i64>
        ])
        .unwrap();
    // Rewritten once, as a second `set` of the old release would.
    upsert
        .execute(params![
            "flow",
            "rewritten",
            b"first".as_slice(),
            None::<i64>
        ])
        .unwrap();
    upsert
        .execute(params![
            "flow",
            "rewritten",
            b"second".as_slice(),
            None::<i64>
        ])
        .unwrap();
    in_an_hour
}

fn temp_db() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    (dir, path)
}

fn schema_version(path: &Path) -> i64 {
    Connection::open(path)
        .unwrap()
        .query_row(
            "SELECT value FROM flowstore_meta WHERE name = 'schema_version'",
            [],
            |row| row.get(0),
        )
        .unwrap()
}

async fn version_of(store: &SqliteStore, k: &Key) -> Version {
    store.get_entry(k).await.unwrap().expect("absent").version
}

#[tokio::test]
async fn a_version_1_file_is_migrated_and_its_rows_get_stable_versions() {
    let (_dir, path) = temp_db();
    let ttl_expiry = write_v1_file(&path);
    assert_eq!(schema_version(&path), 1);

    let store = SqliteStore::open(&path).await.unwrap();
    assert_eq!(schema_version(&path), raw::SCHEMA_VERSION);
    assert_eq!(raw::SCHEMA_VERSION, 2);

    // Values read back, by `get` and `get_entry`; the expired row stays absent.
    assert_eq!(
        store.get(&key("plain")).await.unwrap(),
        Some(b"old plain".to_vec())
    );
    assert_eq!(
        store.get(&key("rewritten")).await.unwrap(),
        Some(b"second".to_vec())
    );
    assert_eq!(store.get(&key("expired")).await.unwrap(), None);
    assert!(store.get_entry(&key("expired")).await.unwrap().is_none());
    let plain = store.get_entry(&key("plain")).await.unwrap().unwrap();
    assert_eq!(plain.value, b"old plain");
    assert_eq!(plain.expires_at, None);
    let ttl = store.get_entry(&key("ttl")).await.unwrap().unwrap();
    assert_eq!(ttl.value, b"old ttl");
    assert_eq!(
        ttl.expires_at,
        Some(UNIX_EPOCH + Duration::from_millis(ttl_expiry as u64))
    );

    // Pseudo-versions: distinct per row, stable across reads and reopening,
    // never of the generated form (hex-hex-hex).
    assert_ne!(plain.version, ttl.version);
    for version in [&plain.version, &ttl.version] {
        assert!(version.as_str().starts_with("legacy."), "{version}");
        assert!(version.as_str().contains('.'), "{version}");
    }
    let other = store.with_namespace("other".try_into().unwrap());
    let other_version = version_of(&other, &key("plain")).await;
    assert_ne!(other_version, plain.version);
    drop(other);
    drop(store);
    let store = SqliteStore::open(&path).await.unwrap();
    assert_eq!(version_of(&store, &key("plain")).await, plain.version);
    assert_eq!(version_of(&store, &key("ttl")).await, ttl.version);

    // Conditional writes accept the pseudo-versions, and refuse them once the
    // row has moved on.
    assert_eq!(
        store
            .set_if_absent(&key("plain"), b"x", None)
            .await
            .unwrap_err()
            .current(),
        Some(&Current::Version(plain.version.clone()))
    );
    let updated = store
        .set_if_version(&key("plain"), b"new plain", None, &plain.version)
        .await
        .unwrap();
    assert_eq!(version_of(&store, &key("plain")).await, updated);
    let err = store
        .set_if_version(&key("plain"), b"lost", None, &plain.version)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert_eq!(err.current_version(), Some(&updated));
    assert_eq!(
        store.get(&key("plain")).await.unwrap(),
        Some(b"new plain".to_vec())
    );
    store
        .delete_if_version(&key("ttl"), &ttl.version)
        .await
        .unwrap();
    assert_eq!(store.get(&key("ttl")).await.unwrap(), None);
    // An expired old row is absent for conditions too.
    store
        .set_if_absent(&key("expired"), b"fresh", None)
        .await
        .unwrap();

    // Plain writes work and change the version.
    let before = version_of(&store, &key("rewritten")).await;
    store.set(&key("rewritten"), b"third", None).await.unwrap();
    let after = store.get_entry(&key("rewritten")).await.unwrap().unwrap();
    assert_eq!(after.value, b"third");
    assert_ne!(after.version, before);
    assert!(!after.version.as_str().starts_with("legacy."));
}

#[tokio::test]
async fn a_migrated_file_has_the_layout_of_a_new_one() {
    fn layout(path: &Path) -> Vec<String> {
        let conn = Connection::open(path).unwrap();
        let mut stmt = conn
            .prepare(
                "SELECT type || ' ' || name || ': ' || coalesce(sql, '') FROM sqlite_master \
                 ORDER BY type, name",
            )
            .unwrap();
        stmt.query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }
    let (_dir, old) = temp_db();
    write_v1_file(&old);
    drop(SqliteStore::open(&old).await.unwrap());
    let new = old.with_file_name("new.db");
    drop(SqliteStore::open(&new).await.unwrap());
    let migrated = layout(&old);
    assert_eq!(migrated, layout(&new));
    assert!(
        migrated
            .iter()
            .any(|line| line.starts_with("table flowstore_entries") && line.contains("version")),
        "{migrated:?}"
    );
}

#[tokio::test]
async fn two_copies_of_one_old_file_upgrade_to_different_pseudo_versions() {
    // A backup of the old file restored and upgraded again must not give its
    // rows the versions the first upgrade gave them (the value may differ).
    let (_dir, path) = temp_db();
    write_v1_file(&path);
    let copy = path.with_file_name("copy.db");
    Connection::open(&path)
        .unwrap()
        .execute("VACUUM INTO ?1", [copy.to_str().unwrap()])
        .unwrap();
    let first = SqliteStore::open(&path).await.unwrap();
    let second = SqliteStore::open(&copy).await.unwrap();
    assert_ne!(
        version_of(&first, &key("plain")).await,
        version_of(&second, &key("plain")).await
    );
}

#[tokio::test]
async fn a_writer_of_the_previous_release_still_running_changes_versions() {
    // A process of the previous release opened the file before it was
    // upgraded: it keeps writing with its own statement, which knows no
    // `version` column.
    let (_dir, path) = temp_db();
    write_v1_file(&path);
    let old_release = Connection::open(&path).unwrap();
    old_release.prepare_cached(V1_UPSERT).unwrap();

    let store = SqliteStore::open(&path).await.unwrap();
    let k = key("shared");
    let mine = store.set_versioned(&k, b"mine", None).await.unwrap();

    // Its update of the row (same value even) gives the row a new version…
    for value in [&b"theirs"[..], b"theirs"] {
        let before = version_of(&store, &k).await;
        old_release
            .prepare_cached(V1_UPSERT)
            .unwrap()
            .execute(params!["flow", "shared", value, None::<i64>])
            .unwrap();
        let entry = store.get_entry(&k).await.unwrap().unwrap();
        assert_eq!(entry.value, b"theirs");
        assert_ne!(
            entry.version, before,
            "an old-release write kept the version"
        );
        assert!(
            entry.version.as_str().starts_with("old."),
            "{}",
            entry.version
        );
    }
    // …so a conditional write based on what this process read before fails.
    let err = store
        .set_if_version(&k, b"lost update", None, &mine)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert_eq!(store.get(&k).await.unwrap(), Some(b"theirs".to_vec()));

    // Its insert of a new key gets a version at once (no pseudo-version that
    // a later re-insert could repeat).
    old_release
        .prepare_cached(V1_UPSERT)
        .unwrap()
        .execute(params!["flow", "inserted", b"v".as_slice(), None::<i64>])
        .unwrap();
    let inserted = version_of(&store, &key("inserted")).await;
    assert!(inserted.as_str().starts_with("old."), "{inserted}");
    old_release
        .execute("DELETE FROM flowstore_entries WHERE key = 'inserted'", [])
        .unwrap();
    old_release
        .prepare_cached(V1_UPSERT)
        .unwrap()
        .execute(params!["flow", "inserted", b"v".as_slice(), None::<i64>])
        .unwrap();
    assert_ne!(version_of(&store, &key("inserted")).await, inserted);

    // A TTL change alone is a write too.
    let before = version_of(&store, &k).await;
    old_release
        .prepare_cached(V1_UPSERT)
        .unwrap()
        .execute(params![
            "flow",
            "shared",
            b"theirs".as_slice(),
            now_millis() + 60_000
        ])
        .unwrap();
    assert_ne!(version_of(&store, &k).await, before);

    // This release's own writes are not rewritten by the triggers.
    let proposed = Version::generate();
    store
        .set_if(&k, b"mine again", None, &Condition::Always, &proposed)
        .await
        .unwrap();
    assert_eq!(version_of(&store, &k).await, proposed);
}

#[tokio::test]
async fn listing_a_migrated_file_gives_old_rows_their_pseudo_versions() {
    let (_dir, path) = temp_db();
    let in_an_hour = write_v1_file(&path);
    let store = SqliteStore::open(&path).await.unwrap();
    let page = store
        .list(&flowstore_core::listing::Prefix::all(), None, 100)
        .await
        .unwrap();
    let keys: Vec<&str> = page.items.iter().map(|item| item.key.as_str()).collect();
    // Sorted, the expired row left out, the other namespace too.
    assert_eq!(keys, ["plain", "rewritten", "ttl"]);
    for item in &page.items {
        let entry = store.get_entry(&item.key).await.unwrap().unwrap();
        assert_eq!(
            item.version.as_ref(),
            Some(&entry.version),
            "{:?}",
            item.key
        );
        assert!(entry.version.as_str().starts_with("legacy."));
        assert_eq!(item.expires_at, entry.expires_at);
        assert_eq!(item.stored_size, entry.value.len() as u64);
    }
    assert_eq!(
        page.items[2].expires_at,
        Some(UNIX_EPOCH + Duration::from_millis(in_an_hour as u64))
    );
    // A touched old row gets a real version; a writer of the previous release
    // changing it afterwards changes it again (the triggers still work).
    let ttl = key("ttl");
    let legacy = version_of(&store, &ttl).await;
    assert!(store.touch(&ttl, None).await.unwrap());
    let touched = version_of(&store, &ttl).await;
    assert_ne!(touched, legacy);
    assert!(!touched.as_str().starts_with("legacy."));
    Connection::open(&path)
        .unwrap()
        .execute(
            V1_UPSERT,
            params!["flow", "ttl", b"v1 again".as_slice(), None::<i64>],
        )
        .unwrap();
    let rewritten = version_of(&store, &ttl).await;
    assert_ne!(rewritten, touched);
    assert_eq!(store.get(&ttl).await.unwrap(), Some(b"v1 again".to_vec()));
}
