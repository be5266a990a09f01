//! Versioned entries over a fallback (crate docs, "Versioned entries"): the
//! primary decides, never a secondary; a conditional write is written through;
//! a primary that recovers stale is brought up to date before it judges.

use std::sync::Arc;

use flowstore_core::conformance::doubles::RequiredOnly;
use flowstore_core::conformance::doubles::{Op, ScriptedStore, Step};
use flowstore_core::{
    Condition, Current, ErrorKind, Key, Operation, Store, StoreExt, Ttl, Version,
};
use flowstore_fallback::{ENVELOPE_OVERHEAD, FallbackStore, WritePolicy};
use flowstore_memory::MemoryStore;

type Double = Arc<ScriptedStore<MemoryStore>>;

fn double() -> Double {
    Arc::new(ScriptedStore::new(MemoryStore::new()))
}

fn key(text: &str) -> Key {
    Key::new(text).unwrap()
}

fn fallback(primary: &Double, secondary: &Double) -> FallbackStore {
    FallbackStore::builder()
        .shared_store(primary.clone())
        .shared_store(secondary.clone())
        .build()
        .unwrap()
}

async fn raw(store: &Double, k: &Key) -> Option<Vec<u8>> {
    store.inner().get(k).await.unwrap()
}

fn payload_is(raw: &Option<Vec<u8>>, value: &[u8]) -> bool {
    raw.as_deref().is_some_and(|bytes| {
        bytes.len() == ENVELOPE_OVERHEAD + value.len() && bytes.ends_with(value)
    })
}

#[tokio::test]
async fn while_the_primary_is_down_conditional_operations_are_unavailable() {
    let (primary, secondary) = (double(), double());
    let store = fallback(&primary, &secondary);
    let k = key("flow");
    let version = store.set_versioned(&k, b"v1", None).await.unwrap();
    primary.outage(ErrorKind::Unavailable);

    let err = store.get_entry(&k).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert_eq!(err.operation(), Some(Operation::GetEntry));
    let err = store
        .set_if_version(&k, b"v2", None, &version)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert_eq!(err.operation(), Some(Operation::SetIf));
    let err = store
        .set_if_absent(&key("new"), b"x", None)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    let err = store.delete_if_version(&k, &version).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert_eq!(err.operation(), Some(Operation::DeleteIf));

    // Nothing was written to the secondary, which still serves plain reads.
    assert!(payload_is(&raw(&secondary, &k).await, b"v1"));
    assert_eq!(raw(&secondary, &key("new")).await, None);
    assert_eq!(store.get(&k).await.unwrap(), Some(b"v1".to_vec()));

    primary.heal();
    let next = store
        .set_if_version(&k, b"v2", None, &version)
        .await
        .unwrap();
    assert_eq!(store.get_entry(&k).await.unwrap().unwrap().version, next);
}

#[tokio::test]
async fn a_conditional_write_is_written_through_to_the_secondaries() {
    let (primary, secondary) = (double(), double());
    let store = fallback(&primary, &secondary);
    let k = key("flow");
    let v1 = store.set_if_absent(&k, b"v1", None).await.unwrap();
    let v2 = store.set_if_version(&k, b"v2", None, &v1).await.unwrap();
    assert!(payload_is(&raw(&primary, &k).await, b"v2"));
    assert!(payload_is(&raw(&secondary, &k).await, b"v2"));
    // The version is the primary's.
    assert_eq!(
        primary
            .inner()
            .get_entry(&k)
            .await
            .unwrap()
            .unwrap()
            .version,
        v2
    );

    // So a later outage of the primary serves the conditional write, not older.
    primary.outage(ErrorKind::Unavailable);
    assert_eq!(store.get(&k).await.unwrap(), Some(b"v2".to_vec()));
    primary.heal();

    // A conditional delete leaves tombstones on both.
    store.delete_if_version(&k, &v2).await.unwrap();
    for stored in [raw(&primary, &k).await, raw(&secondary, &k).await] {
        assert_eq!(stored.map(|bytes| bytes.len()), Some(ENVELOPE_OVERHEAD));
    }
    primary.outage(ErrorKind::Unavailable);
    assert_eq!(store.get(&k).await.unwrap(), None);
}

#[tokio::test]
async fn a_recovered_stale_primary_is_brought_up_to_date_before_it_judges() {
    let (primary, secondary) = (double(), double());
    let (a, b) = (
        fallback(&primary, &secondary),
        fallback(&primary, &secondary),
    );
    let k = key("flow");
    let v1 = a.set_versioned(&k, b"v1", None).await.unwrap();
    primary.outage(ErrorKind::Unavailable);
    b.set(&k, b"v2", None).await.unwrap(); // lands on the secondary only
    primary.heal();
    assert!(
        payload_is(&raw(&primary, &k).await, b"v1"),
        "came back stale"
    );

    // v1 is not current any more: judging on the stale primary would accept it.
    let err = a.set_if_version(&k, b"lost", None, &v1).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    let current = err.current_version().cloned().expect("a current version");
    assert_ne!(current, v1);
    assert!(
        payload_is(&raw(&primary, &k).await, b"v2"),
        "primary repaired"
    );

    let entry = a.get_entry(&k).await.unwrap().unwrap();
    assert_eq!(
        (entry.value.as_slice(), &entry.version),
        (&b"v2"[..], &current)
    );
    let v3 = b.set_if_version(&k, b"v3", None, &current).await.unwrap();
    assert_eq!(a.get(&k).await.unwrap(), Some(b"v3".to_vec()));
    assert_eq!(a.get_entry(&k).await.unwrap().unwrap().version, v3);
}

#[tokio::test]
async fn a_delete_made_during_an_outage_is_absent_for_conditions_after_it() {
    let (primary, secondary) = (double(), double());
    let store = fallback(&primary, &secondary);
    let k = key("flow");
    let v1 = store.set_versioned(&k, b"v1", None).await.unwrap();
    primary.outage(ErrorKind::Unavailable);
    store.delete(&k).await.unwrap(); // a tombstone on the secondary only
    primary.heal();

    assert!(store.get_entry(&k).await.unwrap().is_none());
    let err = store.delete_if_version(&k, &v1).await.unwrap_err();
    assert_eq!(err.current(), Some(&Current::Absent));
    store.set_if_absent(&k, b"fresh", None).await.unwrap();
    assert_eq!(store.get(&k).await.unwrap(), Some(b"fresh".to_vec()));
}

#[tokio::test]
async fn tombstones_and_expired_values_are_absent_for_conditions() {
    let (primary, secondary) = (double(), double());
    let store = fallback(&primary, &secondary);
    let k = key("flow");
    store.set(&k, b"v1", None).await.unwrap();
    store.delete(&k).await.unwrap();
    // The primary holds a tombstone, which its own `Absent` would refuse.
    assert!(raw(&primary, &k).await.is_some());
    let err = store
        .set_if_version(&k, b"x", None, &Version::generate())
        .await
        .unwrap_err();
    assert_eq!(err.current(), Some(&Current::Absent));
    let created = store.set_if_absent(&k, b"v2", None).await.unwrap();
    let err = store.set_if_absent(&k, b"v3", None).await.unwrap_err();
    assert_eq!(err.current_version(), Some(&created));
}

/// A value written before the fallback wrapper was added (no envelope) has the
/// primary's entry version and can be replaced conditionally.
#[tokio::test]
async fn a_plain_value_from_before_the_wrapper_is_versioned() {
    let (primary, secondary) = (double(), double());
    let k = key("legacy");
    primary.inner().set(&k, b"plain", None).await.unwrap();
    let store = fallback(&primary, &secondary);
    let entry = store.get_entry(&k).await.unwrap().unwrap();
    assert_eq!(entry.value, b"plain");
    let next = store
        .set_if_version(&k, b"enveloped", None, &entry.version)
        .await
        .unwrap();
    assert!(payload_is(&raw(&primary, &k).await, b"enveloped"));
    assert_eq!(store.get_entry(&k).await.unwrap().unwrap().version, next);
}

/// Under `WritePolicy::All` a conditional write the secondary did not take is
/// an error; its retry (same proposed version) finds it on the primary, is `Ok`
/// and writes the secondary.
#[tokio::test]
async fn under_write_policy_all_a_retry_completes_the_write_through() {
    let (primary, secondary) = (double(), double());
    let store = FallbackStore::builder()
        .shared_store(primary.clone())
        .shared_store(secondary.clone())
        .write_policy(WritePolicy::All)
        .build()
        .unwrap();
    let k = key("flow");
    secondary.push(Op::Set, Step::Fail(ErrorKind::Unavailable));
    let proposed = Version::generate();
    let err = store
        .set_if(&k, b"v", None, &Condition::Absent, &proposed)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert_eq!(raw(&secondary, &k).await, None);
    store
        .set_if(&k, b"v", None, &Condition::Absent, &proposed)
        .await
        .unwrap();
    assert!(payload_is(&raw(&secondary, &k).await, b"v"));
}

#[tokio::test]
async fn conditional_writes_keep_their_ttl_through_the_fallback() {
    let (primary, secondary) = (double(), double());
    let store = fallback(&primary, &secondary);
    let k = key("flow");
    let before = std::time::SystemTime::now();
    store
        .set_if_absent(&k, b"v", Some(Ttl::from_secs(60).unwrap()))
        .await
        .unwrap();
    let expires_at = store.get_entry(&k).await.unwrap().unwrap().expires_at;
    let expires_at = expires_at.expect("an expiry");
    assert!(expires_at >= before + std::time::Duration::from_secs(59));
    assert!(expires_at <= std::time::SystemTime::now() + std::time::Duration::from_secs(61));
}

#[tokio::test]
async fn versions_are_claimed_when_the_primary_has_them() {
    let with_primary = FallbackStore::builder()
        .store(MemoryStore::new())
        .store(RequiredOnly(MemoryStore::new()))
        .build()
        .unwrap();
    assert!(with_primary.capabilities().versions);
    with_primary
        .set_if_absent(&key("k"), b"v", None)
        .await
        .unwrap();

    let without = FallbackStore::builder()
        .store(RequiredOnly(MemoryStore::new()))
        .store(MemoryStore::new())
        .build()
        .unwrap();
    assert!(!without.capabilities().versions);
    let err = without
        .set_if_absent(&key("k"), b"v", None)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    assert_eq!(without.get(&key("k")).await.unwrap(), None);
}
