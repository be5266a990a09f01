//! The fallback's health probe: which stores it names, and when it says the
//! whole fallback cannot serve.

use std::sync::Arc;

use flowstore_core::conformance::doubles::{Op, ScriptedStore, Step};
use flowstore_core::health::{Part, PartDown, parts_down};
use flowstore_core::{ErrorKind, Store};
use flowstore_fallback::{FallbackStore, WritePolicy};
use flowstore_memory::MemoryStore;

type Double = Arc<ScriptedStore<MemoryStore>>;

fn doubles(count: usize) -> Vec<Double> {
    (0..count)
        .map(|_| Arc::new(ScriptedStore::new(MemoryStore::new())))
        .collect()
}

fn fallback(stores: &[Double], policy: WritePolicy) -> FallbackStore {
    let mut builder = FallbackStore::builder().write_policy(policy);
    for store in stores {
        builder = builder.shared_store(Arc::clone(store) as Arc<dyn Store>);
    }
    builder.build().unwrap()
}

#[tokio::test]
async fn every_store_answering_is_ok() {
    let stores = doubles(2);
    let health = fallback(&stores, WritePolicy::AtLeastOne)
        .ping()
        .await
        .unwrap();
    assert!(!health.is_degraded());
    assert!(stores.iter().all(|store| store.calls(Op::Ping) == 1));
}

#[tokio::test]
async fn a_failed_primary_with_a_serving_fallback_is_degraded() {
    let stores = doubles(3);
    stores[0].set_default(Op::Ping, Step::Fail(ErrorKind::Unavailable));
    stores[2].set_default(Op::Ping, Step::Fail(ErrorKind::Timeout));
    let health = fallback(&stores, WritePolicy::AtLeastOne)
        .ping()
        .await
        .unwrap();
    assert_eq!(
        health.down,
        [
            PartDown::new(Part::Primary, ErrorKind::Unavailable),
            PartDown::new(Part::Fallback(2), ErrorKind::Timeout),
        ]
    );
}

#[tokio::test]
async fn no_store_answering_is_an_error_naming_each() {
    let stores = doubles(2);
    stores[0].outage(ErrorKind::Unavailable);
    stores[1].outage(ErrorKind::Unauthorized);
    let err = fallback(&stores, WritePolicy::AtLeastOne)
        .ping()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert_eq!(
        parts_down(&err),
        [
            PartDown::new(Part::Primary, ErrorKind::Unavailable),
            PartDown::new(Part::Fallback(1), ErrorKind::Unauthorized),
        ]
    );
}

#[tokio::test]
async fn the_write_policy_decides_what_is_enough() {
    let stores = doubles(2);
    stores[0].outage(ErrorKind::Unavailable);
    // Writes need the primary: without it the fallback cannot serve.
    let err = fallback(&stores, WritePolicy::Primary)
        .ping()
        .await
        .unwrap_err();
    assert_eq!(
        parts_down(&err),
        [PartDown::new(Part::Primary, ErrorKind::Unavailable)]
    );
    stores[0].heal();
    stores[1].outage(ErrorKind::Timeout);
    // Writes need every store.
    let err = fallback(&stores, WritePolicy::All)
        .ping()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    // The primary is enough for `Primary`: degraded, not down.
    let health = fallback(&stores, WritePolicy::Primary)
        .ping()
        .await
        .unwrap();
    assert_eq!(
        health.down,
        [PartDown::new(Part::Fallback(1), ErrorKind::Timeout)]
    );
}
