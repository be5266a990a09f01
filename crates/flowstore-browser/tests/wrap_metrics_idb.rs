//! metrics(IndexedDB) in a browser, with the metrics facade.
#![cfg(target_arch = "wasm32")]

mod common;

use common::idb;
use flowstore_core::Namespace;
use flowstore_metrics::MetricsStore;

wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

flowstore_core::conformance_tests!(
    |ns: Namespace| async move { Ok(MetricsStore::new(idb(ns).await?)) }
);
