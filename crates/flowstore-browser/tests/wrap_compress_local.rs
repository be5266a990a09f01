//! compress(localStorage) in a browser: compression stretches the small Web
//! Storage quota.
#![cfg(target_arch = "wasm32")]

mod common;

use common::local;
use flowstore_compress::CompressedStore;
use flowstore_core::Namespace;

wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

flowstore_core::conformance_tests!(|ns: Namespace| {
    let store = local(ns).map(CompressedStore::new);
    async move { store }
});
