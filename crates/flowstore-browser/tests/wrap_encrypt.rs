//! encrypt(localStorage), the original design's first composition, in a browser.
#![cfg(target_arch = "wasm32")]

mod common;

use common::{keyring, local, ns};
use flowstore_core::{ErrorKind, Key, Namespace, Store};
use flowstore_encrypt::EncryptedStore;
use wasm_bindgen_test::wasm_bindgen_test;

wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

flowstore_core::conformance_tests!({
    let keyring = keyring();
    move |ns: Namespace| {
        let store = local(ns).map(|inner| EncryptedStore::new(inner, keyring.clone()));
        async move { store }
    }
});

/// What the encrypt wrapper writes to localStorage is ciphertext, bound to its key.
#[wasm_bindgen_test]
async fn encrypted_local_storage_holds_no_plaintext() {
    let inner = local(ns("cipher")).unwrap();
    let store = EncryptedStore::new(inner.clone(), keyring());
    let key = Key::new("profile").unwrap();
    let secret = b"card ending 4242, address 1 Main St".to_vec();
    store.set(&key, &secret, None).await.unwrap();
    assert_eq!(store.get(&key).await.unwrap(), Some(secret.clone()));
    let raw = inner
        .get(&key)
        .await
        .unwrap()
        .expect("an entry in localStorage");
    assert!(
        !raw.windows(4).any(|w| secret.windows(4).any(|s| s == w)),
        "plaintext leaked into localStorage"
    );
    // Another key cannot read it.
    let other = EncryptedStore::new(inner.clone(), keyring());
    assert_eq!(
        other.get(&key).await.unwrap_err().kind(),
        ErrorKind::Corrupt
    );
    inner.clear().await.unwrap();
}
