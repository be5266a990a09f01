//! The shared conformance suite over `localStorage` and `sessionStorage`, in a
//! real browser (`cargo test --target wasm32-unknown-unknown`).
#![cfg(target_arch = "wasm32")]

use flowstore_browser::LocalStorageStore;
use flowstore_core::Namespace;

wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

mod local {
    use super::*;

    flowstore_core::conformance_tests!(|ns: Namespace| {
        let store = LocalStorageStore::new().map(|store| store.with_namespace(ns));
        async move { store }
    });
}

mod session {
    use super::*;

    flowstore_core::conformance_tests!(|ns: Namespace| {
        let store = LocalStorageStore::session().map(|store| store.with_namespace(ns));
        async move { store }
    });
}
