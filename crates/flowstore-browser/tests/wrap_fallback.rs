//! fallback(IndexedDB → localStorage) in a browser: the original design's second
//! composition (a fallback to localStorage), with IndexedDB as the primary where
//! the original had an HTTP API: an HTTP store would need a server the test page
//! can reach.
#![cfg(target_arch = "wasm32")]

mod common;

use std::sync::Arc;

use common::{idb, local, ns};
use flowstore_core::conformance::doubles::ScriptedStore;
use flowstore_core::{ErrorKind, Key, Namespace, Store};
use flowstore_fallback::FallbackStore;
use wasm_bindgen_test::wasm_bindgen_test;

wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

flowstore_core::conformance_tests!(|ns: Namespace| async move {
    let primary = idb(ns.clone()).await?;
    let secondary = local(ns)?;
    FallbackStore::builder()
        .store(primary)
        .store(secondary)
        .build()
});

/// The primary goes down (a scripted outage of an IndexedDB store, standing in
/// for an HTTP API): reads come from localStorage; it recovers: reads go on.
#[wasm_bindgen_test]
async fn fallback_serves_from_local_storage_while_the_primary_is_down() {
    let namespace = ns("outage");
    // Arc: the fallback shares it as `Arc<dyn Store>` (no threads in a browser).
    #[allow(clippy::arc_with_non_send_sync)]
    let primary = Arc::new(ScriptedStore::new(idb(namespace.clone()).await.unwrap()));
    let secondary = local(namespace).unwrap();
    let store = FallbackStore::builder()
        .shared_store(primary.clone())
        .store(secondary.clone())
        .build()
        .unwrap();
    let key = Key::new("wizard").unwrap();
    store.set(&key, b"step 2", None).await.unwrap();

    primary.outage(ErrorKind::Unavailable);
    assert_eq!(
        store.get(&key).await.unwrap().as_deref(),
        Some(&b"step 2"[..]),
        "the value must come from localStorage while the primary is down"
    );
    primary.heal();
    assert_eq!(
        store.get(&key).await.unwrap().as_deref(),
        Some(&b"step 2"[..])
    );
    store.clear().await.unwrap();
    assert_eq!(secondary.get(&key).await.unwrap(), None);
}
