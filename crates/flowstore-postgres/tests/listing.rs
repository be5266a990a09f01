//! Listing and batches on PostgreSQL beyond the shared suite: literal
//! prefixes with `LIKE` metacharacters, batches that name a key twice (one
//! `ON CONFLICT` statement may not touch a row twice), a batch refused half
//! way writing nothing, and what `delete_prefix` counts.
//!
//! Every case needs `FLOWSTORE_TEST_POSTGRES_URL` and is ignored unless run
//! with `--include-ignored`.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime};

use flowstore_core::listing::{Cursor, Prefix, SetItem};
use flowstore_core::{ErrorKind, Key, Namespace, Store, Ttl};
use flowstore_postgres::{PostgresBuilder, PostgresStore, tokio_postgres};

fn server_url() -> String {
    std::env::var("FLOWSTORE_TEST_POSTGRES_URL")
        .expect("FLOWSTORE_TEST_POSTGRES_URL is not set: this test needs a PostgreSQL server")
}

/// A table name no other test or run uses.
fn unique_table(label: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "fs_test_{label}_{}_{nanos}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

async fn raw_client() -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(&server_url(), tokio_postgres::NoTls)
        .await
        .expect("cannot connect to the test server");
    tokio::spawn(connection);
    client
}

async fn drop_table(table: &str) {
    let client = raw_client().await;
    client
        .batch_execute(&format!("DROP TABLE IF EXISTS \"{table}\""))
        .await
        .unwrap();
    client
        .execute(
            "DELETE FROM flowstore_meta WHERE table_name = $1",
            &[&table],
        )
        .await
        .unwrap();
}

async fn open(table: &str) -> PostgresStore {
    PostgresBuilder::from_url(&server_url())
        .unwrap()
        .table(table)
        .open()
        .await
        .unwrap()
}

fn key(text: &str) -> Key {
    Key::new(text).unwrap()
}

async fn listed(store: &PostgresStore, prefix: &str) -> Vec<String> {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs FLOWSTORE_TEST_POSTGRES_URL"]
async fn like_metacharacters_in_a_prefix_match_only_themselves() {
    let table = unique_table("like");
    let store = open(&table).await;
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
    drop(store);
    drop_table(&table).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs FLOWSTORE_TEST_POSTGRES_URL"]
async fn batches_that_name_a_key_twice() {
    let table = unique_table("dup");
    let store = open(&table).await;
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
    drop(store);
    drop_table(&table).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs FLOWSTORE_TEST_POSTGRES_URL"]
async fn a_batch_refused_half_way_writes_nothing() {
    let table = unique_table("atomic");
    let store = open(&table).await;
    let (a, boom) = (key("a"), key("boom"));
    store.set(&a, b"before", None).await.unwrap();
    let client = raw_client().await;
    client
        .batch_execute(&format!(
            "CREATE FUNCTION pg_temp.refuse_boom() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN IF NEW.key = 'boom' THEN RAISE EXCEPTION 'refused'; END IF; RETURN NEW; END $$; \
             CREATE TRIGGER refuse_boom BEFORE INSERT ON \"{table}\" FOR EACH ROW \
             EXECUTE PROCEDURE pg_temp.refuse_boom()"
        ))
        .await
        .unwrap();
    let err = store
        .set_many(&[
            SetItem::new(&a, b"after", None),
            SetItem::new(&boom, b"x", None),
        ])
        .await
        .unwrap_err();
    assert_ne!(err.kind(), ErrorKind::Conflict);
    assert_eq!(store.get(&a).await.unwrap(), Some(b"before".to_vec()));
    assert_eq!(store.get(&boom).await.unwrap(), None);
    drop(client);
    drop(store);
    drop_table(&table).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs FLOWSTORE_TEST_POSTGRES_URL"]
async fn delete_prefix_counts_live_rows_in_batches_and_keeps_other_namespaces() {
    let table = unique_table("prefix");
    let store = PostgresBuilder::from_url(&server_url())
        .unwrap()
        .table(table.as_str())
        .clear_batch_size(2)
        .open()
        .await
        .unwrap();
    let other = store.with_namespace(Namespace::new("other").unwrap());
    for i in 0..5 {
        store
            .set(&key(&format!("p/{i}")), b"v", None)
            .await
            .unwrap();
    }
    store
        .set(&key("p/x"), b"v", Some(Ttl::from_millis(1).unwrap()))
        .await
        .unwrap();
    store.set(&key("q"), b"v", None).await.unwrap();
    other.set(&key("p/1"), b"v", None).await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(
        store
            .delete_prefix(&Prefix::new("p/").unwrap())
            .await
            .unwrap(),
        5
    );
    assert_eq!(listed(&store, "").await, ["q"]);
    assert_eq!(listed(&other, "").await, ["p/1"]);
    drop((store, other));
    drop_table(&table).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs FLOWSTORE_TEST_POSTGRES_URL"]
async fn listing_reports_size_version_and_expiry_as_get_entry_does() {
    let table = unique_table("items");
    let store = open(&table).await;
    let k = key("sized");
    store
        .set(&k, &[7u8; 5000], Some(Ttl::from_secs(60).unwrap()))
        .await
        .unwrap();
    let page = store.list(&Prefix::all(), None, 10).await.unwrap();
    let entry = store.get_entry(&k).await.unwrap().unwrap();
    let item = &page.items[0];
    // The value's bytes, though TOAST stores these compressed.
    assert_eq!(item.stored_size, 5000);
    assert_eq!(item.version.as_ref(), Some(&entry.version));
    assert_eq!(item.expires_at, entry.expires_at);
    assert!(page.next.is_none());
    assert!(store.touch(&k, None).await.unwrap());
    let touched = store.get_entry(&k).await.unwrap().unwrap();
    assert_ne!(touched.version, entry.version);
    assert_eq!(touched.expires_at, None);
    assert_eq!(touched.value, entry.value);
    assert!(!store.touch(&key("absent"), None).await.unwrap());
    drop(store);
    drop_table(&table).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs FLOWSTORE_TEST_POSTGRES_URL"]
async fn a_batch_larger_than_one_statement_is_still_atomic() {
    let table = unique_table("chunks");
    // Every value its own statement: the batch is several upserts in one
    // transaction.
    let store = PostgresBuilder::from_url(&server_url())
        .unwrap()
        .table(table.as_str())
        .max_batch_bytes(10)
        .open()
        .await
        .unwrap();
    let keys: Vec<Key> = (0..5).map(|i| key(&format!("c{i}"))).collect();
    let items: Vec<SetItem<'_>> = keys
        .iter()
        .map(|k| SetItem::new(k, b"eight by", None))
        .collect();
    store.set_many(&items).await.unwrap();
    assert_eq!(listed(&store, "c").await, ["c0", "c1", "c2", "c3", "c4"]);

    let client = raw_client().await;
    client
        .batch_execute(&format!(
            "CREATE FUNCTION pg_temp.refuse_boom() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN IF NEW.key = 'boom' THEN RAISE EXCEPTION 'refused'; END IF; RETURN NEW; END $$; \
             CREATE TRIGGER refuse_boom BEFORE INSERT ON \"{table}\" FOR EACH ROW \
             EXECUTE PROCEDURE pg_temp.refuse_boom()"
        ))
        .await
        .unwrap();
    let boom = key("boom");
    let mut failing: Vec<SetItem<'_>> = keys
        .iter()
        .map(|k| SetItem::new(k, b"changed!", None))
        .collect();
    failing.push(SetItem::new(&boom, b"x", None));
    store.set_many(&failing).await.unwrap_err();
    let values = store.get_many(&keys).await.unwrap();
    assert!(
        values
            .iter()
            .all(|v| v.as_deref() == Some(b"eight by".as_slice()))
    );
    // The connection that ran the failed transaction is usable again.
    for _ in 0..4 {
        store.set(&key("after"), b"ok", None).await.unwrap();
        store.set_many(&items[..1]).await.unwrap();
    }
    drop(client);
    drop(store);
    drop_table(&table).await;
}
