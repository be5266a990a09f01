//! The shared conformance suite over the memory store.

use flowstore_core::{Namespace, conformance_tests};
use flowstore_memory::MemoryStore;

conformance_tests!({
    let shared = MemoryStore::new();
    move |namespace: Namespace| {
        let store = shared.with_namespace(namespace);
        async move { Ok(store) }
    }
});
