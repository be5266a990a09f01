//! The shared conformance suite through the default-TTL wrapper, over the memory
//! store. The default is a day: long enough that the suite's "a plain set keeps
//! the entry" cases hold, while every plain write still carries it.

use flowstore_core::{Namespace, Ttl, conformance_tests};
use flowstore_default_ttl::DefaultTtlStore;
use flowstore_memory::MemoryStore;

conformance_tests!({
    let shared = MemoryStore::new();
    move |namespace: Namespace| {
        let day = Ttl::from_secs(24 * 3600).unwrap();
        let store = DefaultTtlStore::new(shared.with_namespace(namespace), day);
        async move { Ok(store) }
    }
});
