//! Helpers shared by the wrapper tests (one test binary per composition, so each
//! runs in its own browser session well within the runner's time limit).
#![allow(dead_code)]

use flowstore_browser::{IndexedDbStore, LocalStorageStore};
use flowstore_core::Namespace;
use flowstore_core::conformance::unique_namespace;
use flowstore_encrypt::{EncryptionKey, Keyring};

pub(crate) const DB: &str = "flowstore-wrappers";

/// A fresh keyring; the key comes from the browser's `crypto.getRandomValues`.
pub(crate) fn keyring() -> Keyring {
    Keyring::new(1, EncryptionKey::generate().expect("browser randomness"))
}

pub(crate) async fn idb(ns: Namespace) -> flowstore_core::Result<IndexedDbStore> {
    IndexedDbStore::builder()
        .database(DB)
        .namespace(ns)
        .open()
        .await
}

pub(crate) fn local(ns: Namespace) -> flowstore_core::Result<LocalStorageStore> {
    Ok(LocalStorageStore::new()?.with_namespace(ns))
}

pub(crate) fn ns(label: &str) -> Namespace {
    Namespace::new(unique_namespace(label)).unwrap()
}
