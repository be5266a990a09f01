//! metrics(localStorage) in a browser (metrics(IndexedDB): `wrap_metrics_idb.rs`): the metrics facade,
//! a callback, and timings from the browser's clock.
#![cfg(target_arch = "wasm32")]

mod common;

use std::cell::RefCell;
use std::rc::Rc;

use common::{idb, local, ns};
use flowstore_core::{Key, Namespace, Store};
use flowstore_metrics::{MetricsStore, OpEvent, Operation, Outcome};
use wasm_bindgen_test::wasm_bindgen_test;

wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

flowstore_core::conformance_tests!(|ns: Namespace| {
    let store = local(ns).map(|inner| MetricsStore::new(inner).with_callback(|_: &OpEvent<'_>| {}));
    async move { store }
});

/// The callback sees each operation on a browser store, with its outcome.
#[wasm_bindgen_test]
async fn metrics_callback_reports_browser_operations() {
    let events: Rc<RefCell<Vec<(Operation, Outcome)>>> = Rc::default();
    let sink = Rc::clone(&events);
    let store = MetricsStore::new(idb(ns("metrics")).await.unwrap()).with_callback(
        move |event: &OpEvent<'_>| {
            sink.borrow_mut().push((event.op, event.outcome));
        },
    );
    let key = Key::new("k").unwrap();
    store.set(&key, b"v", None).await.unwrap();
    assert_eq!(store.get(&key).await.unwrap().as_deref(), Some(&b"v"[..]));
    store.delete(&key).await.unwrap();
    let seen = events.borrow().clone();
    let ops: Vec<Operation> = seen.iter().map(|(op, _)| *op).collect();
    assert_eq!(ops, [Operation::Set, Operation::Get, Operation::Delete]);
    assert!(
        seen.iter().all(|(_, outcome)| *outcome == Outcome::Ok),
        "{seen:?}"
    );
}
