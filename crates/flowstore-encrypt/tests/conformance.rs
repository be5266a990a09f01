//! The shared conformance suite through the encrypt wrapper, over the memory store
//! and over an SQLite file.

use flowstore_core::Namespace;
use flowstore_encrypt::{EncryptedStore, EncryptionKey, Keyring};

fn keyring() -> Keyring {
    Keyring::new(7, EncryptionKey::generate().expect("random key"))
}

mod memory {
    use super::*;
    use flowstore_memory::MemoryStore;

    flowstore_core::conformance_tests!({
        let shared = MemoryStore::new();
        let keyring = keyring();
        move |namespace: Namespace| {
            let store = EncryptedStore::new(shared.with_namespace(namespace), keyring.clone());
            async move { Ok(store) }
        }
    });
}

mod sqlite {
    use super::*;
    use flowstore_sqlite::SqliteStore;
    use std::sync::Arc;

    flowstore_core::conformance_tests!({
        let dir = Arc::new(tempfile::tempdir().expect("cannot create a temporary directory"));
        let keyring = keyring();
        move |namespace: Namespace| {
            // The directory lives as long as the factory and its stores' futures.
            let dir = dir.clone();
            let keyring = keyring.clone();
            async move {
                let inner = SqliteStore::builder(dir.path().join("encrypt.db"))
                    .namespace(namespace)
                    .open()
                    .await?;
                Ok(EncryptedStore::new(inner, keyring))
            }
        }
    });
}
