//! Listing over a fallback (crate docs, "Listing"): the primary's visible keys,
//! never a tombstone or a value past its own expiry, and an error, not a
//! partial answer, while the primary is down.

use std::sync::Arc;
use std::time::Duration;

use flowstore_core::conformance::doubles::{Op, ScriptedStore};
use flowstore_core::{ErrorKind, Key, Prefix, Store, Ttl};
use flowstore_fallback::FallbackStore;
use flowstore_memory::MemoryStore;

type Double = Arc<ScriptedStore<MemoryStore>>;

fn key(text: &str) -> Key {
    Key::new(text).unwrap()
}

fn stores() -> (Double, Double, FallbackStore) {
    let primary = Arc::new(ScriptedStore::new(MemoryStore::new()));
    let secondary = Arc::new(ScriptedStore::new(MemoryStore::new()));
    let fallback = FallbackStore::builder()
        .shared_store(primary.clone())
        .shared_store(secondary.clone())
        .build()
        .unwrap();
    (primary, secondary, fallback)
}

async fn listed(store: &dyn Store) -> Vec<String> {
    let page = store.list(&Prefix::all(), None, 100).await.unwrap();
    page.items
        .iter()
        .map(|item| item.key.as_str().to_owned())
        .collect()
}

#[tokio::test]
async fn tombstones_and_expired_values_are_never_listed() {
    let (primary, _secondary, fallback) = stores();
    fallback.set(&key("kept"), b"v", None).await.unwrap();
    fallback.set(&key("deleted"), b"v", None).await.unwrap();
    fallback.delete(&key("deleted")).await.unwrap();
    let short = Ttl::new(Duration::from_millis(50)).unwrap();
    fallback
        .set(&key("expired"), b"v", Some(short))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    // The primary still holds the tombstone and the expired record (kept for
    // the grace period); the fallback lists neither.
    let raw = listed(primary.inner()).await;
    assert_eq!(raw, ["deleted", "expired", "kept"]);
    assert_eq!(listed(&fallback).await, ["kept"]);
    // A prefix delete counts what the fallback lists.
    assert_eq!(fallback.delete_prefix(&Prefix::all()).await.unwrap(), 1);
    assert!(listed(&fallback).await.is_empty());
}

#[tokio::test]
async fn a_listing_fails_while_the_primary_is_down() {
    let (primary, _secondary, fallback) = stores();
    fallback.set(&key("k"), b"v", None).await.unwrap();
    primary.fail_next(Op::List, ErrorKind::Unavailable, 1);
    let err = fallback
        .list(&Prefix::all(), None, 10)
        .await
        .expect_err("a listing while the primary is down");
    assert_eq!(err.kind(), ErrorKind::Unavailable);
}

#[tokio::test]
async fn a_listed_expiry_is_the_records_own() {
    let (primary, _secondary, fallback) = stores();
    let hour = Ttl::new(Duration::from_secs(3600)).unwrap();
    fallback.set(&key("k"), b"v", Some(hour)).await.unwrap();
    let page = fallback.list(&Prefix::all(), None, 10).await.unwrap();
    let at = page.items[0].expires_at.expect("an expiry");
    let in_an_hour = std::time::SystemTime::now() + Duration::from_secs(3600);
    let apart = in_an_hour
        .duration_since(at)
        .unwrap_or_else(|err| err.duration());
    assert!(apart < Duration::from_secs(5), "listed expiry {at:?}");
    // The primary's own TTL adds the tombstone grace period (7 days).
    let raw = primary
        .inner()
        .list(&Prefix::all(), None, 10)
        .await
        .unwrap();
    assert!(raw.items[0].expires_at.unwrap() > at + Duration::from_secs(86_400));
}

#[tokio::test]
async fn a_prefix_delete_removes_what_only_a_secondary_holds() {
    let (primary, secondary, fallback) = stores();
    fallback.set(&key("p/both"), b"v", None).await.unwrap();
    // Written while the primary was down: only the secondary took it.
    primary.fail_next(Op::Set, ErrorKind::Unavailable, 1);
    fallback.set(&key("p/secondary"), b"v", None).await.unwrap();
    assert_eq!(
        primary.inner().get(&key("p/secondary")).await.unwrap(),
        None
    );
    fallback.set(&key("q/kept"), b"v", None).await.unwrap();

    let prefix = Prefix::new("p/").unwrap();
    assert_eq!(fallback.delete_prefix(&prefix).await.unwrap(), 2);
    assert_eq!(fallback.get(&key("p/both")).await.unwrap(), None);
    assert_eq!(
        fallback.get(&key("p/secondary")).await.unwrap(),
        None,
        "a key only a secondary held survived the prefix delete"
    );
    assert_eq!(
        fallback.get(&key("q/kept")).await.unwrap().as_deref(),
        Some(&b"v"[..])
    );
    assert!(
        secondary
            .inner()
            .get(&key("q/kept"))
            .await
            .unwrap()
            .is_some()
    );
}
