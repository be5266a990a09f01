#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

// One layout for every backend crate: `store.rs` the store and its `Store`
// impl, `builder.rs` the builder and its URL parameters (memory has none),
// `error.rs` the mapping of the client's errors (memory has no client).
mod map;
mod store;

pub use store::MemoryStore;
