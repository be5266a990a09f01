//! The shared conformance suite over a fallback of two memory stores.

use flowstore_core::{Namespace, conformance_tests};
use flowstore_fallback::FallbackStore;
use flowstore_memory::MemoryStore;

conformance_tests!({
    let primary = MemoryStore::new();
    let secondary = MemoryStore::new();
    move |namespace: Namespace| {
        let store = FallbackStore::builder()
            .store(primary.with_namespace(namespace.clone()))
            .store(secondary.with_namespace(namespace))
            .build();
        async move { store }
    }
});
