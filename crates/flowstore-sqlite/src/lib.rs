#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

// One layout for every backend crate: `store.rs` the store and its `Store`
// impl, `builder.rs` the builder and its URL parameters, `error.rs` the mapping
// of the client's errors to `flowstore_core::Error`.
mod builder;
#[cfg(test)]
mod disk_full_tests;
mod error;
mod queue;
pub mod raw;
mod reader;
mod store;
mod writer;

pub use builder::{
    DEFAULT_BUSY_TIMEOUT, DEFAULT_SWEEP_INTERVAL, DEFAULT_WAL_SIZE_LIMIT, SqliteBuilder,
    Synchronous,
};
/// The SQLite bindings this crate is built on, re-exported so users get a
/// matching version.
pub use rusqlite;
pub use store::SqliteStore;
