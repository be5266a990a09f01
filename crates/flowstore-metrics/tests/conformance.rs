//! The shared conformance suite through the metrics wrapper, over the memory store.

use flowstore_core::{Namespace, conformance_tests};
use flowstore_memory::MemoryStore;
use flowstore_metrics::MetricsStore;

conformance_tests!({
    let shared = MemoryStore::new();
    move |namespace: Namespace| {
        let store = MetricsStore::new(shared.with_namespace(namespace))
            .with_store_label("memory")
            .with_callback(|event| assert!(event.duration.as_secs() < 3600));
        async move { Ok(store) }
    }
});
