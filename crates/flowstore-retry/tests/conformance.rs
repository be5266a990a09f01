//! The shared conformance suite through the retry wrapper, over the memory store.

use flowstore_core::{Namespace, conformance_tests};
use flowstore_memory::MemoryStore;
use flowstore_retry::RetryStore;

conformance_tests!({
    let shared = MemoryStore::new();
    move |namespace: Namespace| {
        let store = RetryStore::new(shared.with_namespace(namespace));
        async move { Ok(store) }
    }
});
