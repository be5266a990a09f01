//! Errors of the memory store name their operation and backend as data.

use flowstore_core::{ErrorKind, Key, Operation, Store};
use flowstore_memory::MemoryStore;

#[tokio::test]
async fn an_oversized_value_is_reported_as_a_memory_set() {
    let store = MemoryStore::new().with_max_value_size(4);
    let key = Key::new("private-key-name").unwrap();
    let err = store.set(&key, b"secret-value", None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ValueTooLarge);
    assert_eq!(err.operation(), Some(Operation::Set));
    assert_eq!(err.backend_name(), Some("memory"));
    let line = err.to_one_line();
    assert!(line.starts_with("value_too_large: memory set: "), "{line}");
    assert!(!line.contains("private-key-name") && !line.contains("secret-value"));
}
