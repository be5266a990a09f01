#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

// One layout for every backend crate: `store.rs` the store and its `Store`
// impl, `builder.rs` the builder and its URL parameters, `error.rs` the mapping
// of the client's errors to `flowstore_core::Error`.
mod builder;
mod conditional;
mod db;
mod error;
mod schema;
mod store;
mod sweep;
mod table;
#[cfg(feature = "tls")]
mod tls;
mod writer;

pub use builder::{
    DEFAULT_CLEAR_BATCH, DEFAULT_CREATE_TIMEOUT, DEFAULT_MAX_BATCH_BYTES, DEFAULT_MAX_BATCH_ROWS,
    DEFAULT_OPERATION_TIMEOUT, DEFAULT_POOL_SIZE, DEFAULT_RECYCLE_TIMEOUT, DEFAULT_SWEEP_BATCH,
    DEFAULT_SWEEP_INTERVAL, DEFAULT_WAIT_TIMEOUT, DEFAULT_WRITE_LANES, PostgresBuilder,
};
pub use store::PostgresStore;
pub use table::TableName;

/// Re-exported so users build pools with the same versions this crate uses.
pub use deadpool_postgres;
/// Re-exported so users build configs with the same versions this crate uses.
pub use tokio_postgres;

/// The schema version this build of flowstore-postgres creates and understands;
/// recorded per table in `flowstore_meta`. Version 2 added the entry-version
/// column; a table at version 1 is migrated when a store opens it (its rows
/// read as `pg.xmin.<n>` pseudo-versions until they are next written).
pub const SCHEMA_VERSION: i32 = table::SCHEMA_VERSION;
