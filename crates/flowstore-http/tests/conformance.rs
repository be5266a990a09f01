//! The shared conformance suite: an HttpStore against `flowstore serve` started
//! in-process over a MemoryStore. One server per namespace; all servers of one
//! factory share one MemoryStore, so namespace isolation is real.

mod common;

use std::sync::Arc;

use flowstore_core::{Namespace, Store, conformance_tests};
use flowstore_memory::MemoryStore;

conformance_tests!({
    let shared = MemoryStore::new();
    move |namespace: Namespace| {
        let store: Arc<dyn Store> = Arc::new(shared.with_namespace(namespace));
        common::client_for(store)
    }
});
