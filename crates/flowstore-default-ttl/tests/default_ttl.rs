//! What the wrapper does to TTLs, against the memory store's real expiry.

use std::time::Duration;

use flowstore_core::{Key, Store, Ttl};
use flowstore_default_ttl::{DefaultTtlLayer, DefaultTtlStore};
use flowstore_memory::MemoryStore;

const DEFAULT: Duration = Duration::from_millis(150);

fn key() -> Key {
    Key::new("signup:42").unwrap()
}

#[tokio::test]
async fn a_write_without_ttl_expires_after_the_default() {
    let store = DefaultTtlStore::new(MemoryStore::new(), Ttl::new(DEFAULT).unwrap());
    store.set(&key(), b"step 2", None).await.unwrap();
    assert_eq!(store.get(&key()).await.unwrap(), Some(b"step 2".to_vec()));
    tokio::time::sleep(DEFAULT * 3).await;
    assert_eq!(store.get(&key()).await.unwrap(), None);
}

#[tokio::test]
async fn a_write_with_its_own_ttl_keeps_it() {
    let store = DefaultTtlStore::new(MemoryStore::new(), Ttl::new(DEFAULT).unwrap());
    let hour = Ttl::from_secs(3600).unwrap();
    store.set(&key(), b"step 2", Some(hour)).await.unwrap();
    tokio::time::sleep(DEFAULT * 3).await;
    assert_eq!(store.get(&key()).await.unwrap(), Some(b"step 2".to_vec()));
}

#[tokio::test]
async fn values_and_other_operations_pass_through_unchanged() {
    let backend = MemoryStore::new();
    let layer = DefaultTtlLayer::new(Ttl::from_secs(60).unwrap());
    let store = flowstore_core::Layer::layer(&layer, std::sync::Arc::new(backend.clone()));
    store.set(&key(), b"as is", None).await.unwrap();
    assert_eq!(backend.get(&key()).await.unwrap(), Some(b"as is".to_vec()));
    store.delete(&key()).await.unwrap();
    assert_eq!(backend.get(&key()).await.unwrap(), None);
    assert_eq!(store.max_value_size(), backend.max_value_size());
}
