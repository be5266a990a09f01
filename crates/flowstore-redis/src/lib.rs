#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

// One layout for every backend crate: `store.rs` the store and its `Store`
// impl, `builder.rs` the builder and its URL parameters (here with the URL
// parser as its submodule `builder/url.rs`), `error.rs` the mapping of the
// client's errors to `flowstore_core::Error`.
mod auth;
mod batch;
mod builder;
mod clear;
mod error;
mod eviction;
mod keys;
mod list;
mod marker;
mod scripts;
mod store;
mod stored;
#[cfg(feature = "tls")]
mod tls;
mod versioned;

pub use builder::{
    DEFAULT_COMMAND_TIMEOUT, DEFAULT_CONNECT_TIMEOUT, DEFAULT_RECONNECT_MAX_DELAY,
    DEFAULT_RECONNECT_MIN_DELAY, EvictionCheck, RedisBuilder,
};
pub use keys::SEPARATOR;
pub use marker::{ACKNOWLEDGED, LOST, MARKER};
pub use store::RedisStore;

/// The Redis client this crate is built on, re-exported so you can use the same
/// version (see [`RedisStore::client`]).
pub use fred;
