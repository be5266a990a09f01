//! The shared conformance suite over IndexedDB, in a real browser
//! (`cargo test --target wasm32-unknown-unknown`).
#![cfg(target_arch = "wasm32")]

use flowstore_browser::IndexedDbStore;
use flowstore_core::Namespace;

wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

flowstore_core::conformance_tests!(|ns: Namespace| {
    IndexedDbStore::builder()
        .database("flowstore-conformance")
        .namespace(ns)
        .open()
});
