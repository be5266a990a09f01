//! The shared conformance suite through the compress wrapper, over the memory
//! store and over an SQLite file, and through the documented stack compress →
//! encrypt → (memory, SQLite).

use flowstore_compress::CompressedStore;
use flowstore_core::Namespace;

mod memory {
    use super::*;
    use flowstore_memory::MemoryStore;

    flowstore_core::conformance_tests!({
        let shared = MemoryStore::new();
        move |namespace: Namespace| {
            let store = CompressedStore::new(shared.with_namespace(namespace));
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
        move |namespace: Namespace| {
            // The directory lives as long as the factory and its stores' futures.
            let dir = dir.clone();
            async move {
                let inner = SqliteStore::builder(dir.path().join("compress.db"))
                    .namespace(namespace)
                    .open()
                    .await?;
                Ok(CompressedStore::new(inner))
            }
        }
    });
}

mod over_encrypt {
    use super::*;
    use flowstore_encrypt::{EncryptedStore, EncryptionKey, Keyring};
    use flowstore_memory::MemoryStore;

    flowstore_core::conformance_tests!({
        let shared = MemoryStore::new();
        let keyring = Keyring::new(1, EncryptionKey::generate().expect("random key"));
        move |namespace: Namespace| {
            let store = CompressedStore::new(EncryptedStore::new(
                shared.with_namespace(namespace),
                keyring.clone(),
            ));
            async move { Ok(store) }
        }
    });
}

mod over_encrypt_sqlite {
    use super::*;
    use flowstore_encrypt::{EncryptedStore, EncryptionKey, Keyring};
    use flowstore_sqlite::SqliteStore;
    use std::sync::Arc;

    flowstore_core::conformance_tests!({
        let dir = Arc::new(tempfile::tempdir().expect("cannot create a temporary directory"));
        let keyring = Keyring::new(1, EncryptionKey::generate().expect("random key"));
        move |namespace: Namespace| {
            let dir = dir.clone();
            let keyring = keyring.clone();
            async move {
                let inner = SqliteStore::builder(dir.path().join("stack.db"))
                    .namespace(namespace)
                    .open()
                    .await?;
                Ok(CompressedStore::new(EncryptedStore::new(inner, keyring)))
            }
        }
    });
}
