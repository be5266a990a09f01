//! retry(IndexedDB) in a browser: backoff timers from `setTimeout`, jitter seeded
//! from the browser's crypto.
#![cfg(target_arch = "wasm32")]

mod common;

use common::idb;
use flowstore_core::Namespace;
use flowstore_retry::RetryStore;

wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

flowstore_core::conformance_tests!(
    |ns: Namespace| async move { Ok(RetryStore::new(idb(ns).await?)) }
);
