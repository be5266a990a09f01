//! What the memory store declares about itself: the conformance suite reads
//! these declarations to decide which cases apply, so a store that declared
//! less than it does would skip its own cases unnoticed, and one that named
//! another namespace would be judged against the wrong keys (mutation testing
//! found `namespace()` unchecked).

use flowstore_core::{Capabilities, Namespace, Store};
use flowstore_memory::MemoryStore;

#[test]
fn it_declares_every_capability() {
    // Versions, listing exactly once in key order, touch, TTLs, clear: the
    // memory store is the reference the other backends are compared with.
    assert_eq!(MemoryStore::new().capabilities(), Capabilities::all());
}

#[test]
fn it_reports_the_namespace_it_was_given() {
    let tenant = Namespace::new("tenant-a").unwrap();
    let store = MemoryStore::new().with_namespace(tenant.clone());
    assert_eq!(store.namespace(), &tenant);
    assert_eq!(MemoryStore::new().namespace(), &Namespace::default());
}
