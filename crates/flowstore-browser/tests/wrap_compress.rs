//! compress(encrypt(IndexedDB)), the documented order app → compress → encrypt →
//! store, in a browser.
#![cfg(target_arch = "wasm32")]

mod common;

use common::{idb, keyring};
use flowstore_compress::CompressedStore;
use flowstore_core::Namespace;
use flowstore_encrypt::EncryptedStore;

wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

flowstore_core::conformance_tests!({
    let keyring = keyring();
    move |ns: Namespace| {
        let keyring = keyring.clone();
        async move {
            let inner = idb(ns).await?;
            Ok(CompressedStore::new(EncryptedStore::new(inner, keyring)))
        }
    }
});
