//! Listing and batches on SQLite beyond the shared suite: literal prefixes
//! with `LIKE` metacharacters, batches that name a key twice, a batch that
//! fails half-way writing nothing, and what `delete_prefix` counts.

use std::time::Duration;

use flowstore_core::listing::{Cursor, Prefix, SetItem};
use flowstore_core::{ErrorKind, Key, Store, Ttl};
use flowstore_sqlite::SqliteStore;
use flowstore_sqlite::rusqlite::Connection;

fn key(text: &str) -> Key {
    Key::new(text).unwrap()
}

async fn store() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("listing.db"))
        .await
        .unwrap();
    (dir, store)
}

async fn listed(store: &SqliteStore, prefix: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let mut cursor: Option<Cursor> = None;
    loop {
        let page = store
            .list(&Prefix::new(prefix).unwrap(), cursor.as_ref(), 2)
            .await
            .unwrap();
        keys.extend(
            page.items
                .into_iter()
                .map(|item| item.key.as_str().to_string()),
        );
        match page.next {
            Some(next) => cursor = Some(next),
            None => return keys,
        }
    }
}

#[tokio::test]
async fn like_metacharacters_in_a_prefix_match_only_themselves() {
    let (_dir, store) = store().await;
    for k in [
        "a%b", "a%c", "axb", "a_b", "a_x", "aXb", "a\\b", "a\\\\", "ab", "a",
    ] {
        store.set(&key(k), b"v", None).await.unwrap();
    }
    assert_eq!(listed(&store, "a%").await, ["a%b", "a%c"]);
    assert_eq!(listed(&store, "a_").await, ["a_b", "a_x"]);
    assert_eq!(listed(&store, "a\\").await, ["a\\\\", "a\\b"]);
    assert_eq!(listed(&store, "a").await.len(), 10);
    assert_eq!(
        store
            .delete_prefix(&Prefix::new("a_").unwrap())
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        store
            .delete_prefix(&Prefix::new("a%").unwrap())
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        listed(&store, "a").await,
        ["a", "aXb", "a\\\\", "a\\b", "ab", "axb"]
    );
}

#[tokio::test]
async fn batches_that_name_a_key_twice() {
    let (_dir, store) = store().await;
    let (k, other) = (key("dup"), key("other"));
    store
        .set_many(&[
            SetItem::new(&k, b"first", None),
            SetItem::new(&other, b"o", None),
            SetItem::new(&k, b"last", Some(Ttl::from_secs(3600).unwrap())),
        ])
        .await
        .unwrap();
    let entry = store.get_entry(&k).await.unwrap().unwrap();
    assert_eq!(entry.value, b"last");
    // The last item's TTL too.
    assert!(entry.expires_at.is_some());
    let values = store
        .get_many(&[k.clone(), key("missing"), k.clone(), other.clone()])
        .await
        .unwrap();
    assert_eq!(
        values,
        [
            Some(b"last".to_vec()),
            None,
            Some(b"last".to_vec()),
            Some(b"o".to_vec())
        ]
    );
    store.delete_many(&[k.clone(), k.clone()]).await.unwrap();
    assert_eq!(store.get(&k).await.unwrap(), None);
    assert_eq!(store.get(&other).await.unwrap(), Some(b"o".to_vec()));
}

#[tokio::test]
async fn a_batch_that_fails_half_way_writes_nothing() {
    let (dir, store) = store().await;
    let (a, boom) = (key("a"), key("boom"));
    store.set(&a, b"before", None).await.unwrap();
    // Another process's trigger refuses one key: the second item fails after
    // the first was written inside the batch.
    Connection::open(dir.path().join("listing.db"))
        .unwrap()
        .execute_batch(
            "CREATE TRIGGER refuse_boom BEFORE INSERT ON flowstore_entries \
             WHEN NEW.key = 'boom' BEGIN SELECT RAISE(ABORT, 'refused'); END",
        )
        .unwrap();
    let err = store
        .set_many(&[
            SetItem::new(&a, b"after", None),
            SetItem::new(&boom, b"x", None),
        ])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Backend);
    assert_eq!(store.get(&a).await.unwrap(), Some(b"before".to_vec()));
    assert_eq!(store.get(&boom).await.unwrap(), None);
    // The writer goes on.
    store.set(&a, b"later", None).await.unwrap();
    assert_eq!(store.get(&a).await.unwrap(), Some(b"later".to_vec()));
}

#[tokio::test]
async fn delete_prefix_counts_live_entries_and_keeps_other_namespaces() {
    let (_dir, store) = store().await;
    let other = store.with_namespace(flowstore_core::Namespace::new("other").unwrap());
    store.set(&key("p/1"), b"v", None).await.unwrap();
    store.set(&key("p/2"), b"v", None).await.unwrap();
    store
        .set(&key("p/3"), b"v", Some(Ttl::from_millis(1).unwrap()))
        .await
        .unwrap();
    other.set(&key("p/1"), b"v", None).await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(
        store
            .delete_prefix(&Prefix::new("p/").unwrap())
            .await
            .unwrap(),
        2
    );
    assert!(listed(&store, "").await.is_empty());
    assert_eq!(listed(&other, "").await, ["p/1"]);
}

#[tokio::test]
async fn listing_reports_size_version_and_expiry_as_get_entry_does() {
    let (_dir, store) = store().await;
    let k = key("sized");
    store
        .set(&k, &[7u8; 1234], Some(Ttl::from_secs(60).unwrap()))
        .await
        .unwrap();
    let page = store.list(&Prefix::all(), None, 10).await.unwrap();
    let entry = store.get_entry(&k).await.unwrap().unwrap();
    assert_eq!(page.items.len(), 1);
    let item = &page.items[0];
    assert_eq!(item.stored_size, 1234);
    assert_eq!(item.version.as_ref(), Some(&entry.version));
    assert_eq!(item.expires_at, entry.expires_at);
    assert!(page.next.is_none());
    // touch: a new version, the same value; absent keys stay absent.
    assert!(store.touch(&k, None).await.unwrap());
    let touched = store.get_entry(&k).await.unwrap().unwrap();
    assert_ne!(touched.version, entry.version);
    assert_eq!(touched.expires_at, None);
    assert_eq!(touched.value, entry.value);
    assert!(!store.touch(&key("absent"), None).await.unwrap());
    assert_eq!(store.get(&k).await.unwrap().unwrap().len(), 1234);
}
