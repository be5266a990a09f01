#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

mod backends;
mod open;
mod stack;

pub use open::{OpenOptions, available_schemes, open, open_with};
pub use stack::{StackOptions, open_stack};

pub use flowstore_core::{
    BoxError, Capabilities, Condition, Current, DEFAULT_MAX_VALUE_SIZE, Entry, Error, ErrorKind,
    Key, MaybeSend, MaybeSync, Namespace, Result, Store, StoreExt, Ttl, Version, check_value_size,
    parse_duration, url,
};

/// The attribute a [`Store`] impl wears: `async_trait` on native targets,
/// `async_trait(?Send)` on `wasm32` (flowstore-core's, for crates that depend on
/// this facade alone).
pub use flowstore_macros::facade_async_trait as async_trait;

/// What the [`async_trait`](macro@async_trait) attribute expands to. Not a public API.
#[doc(hidden)]
pub mod __private {
    pub use flowstore_core::__private::async_trait;
}

/// The in-memory backend (crate `flowstore-memory`), behind feature `memory`.
#[cfg(feature = "memory")]
pub use flowstore_memory as memory;

/// The embedded SQLite backend (crate `flowstore-sqlite`), behind feature `sqlite`.
#[cfg(feature = "sqlite")]
pub use flowstore_sqlite as sqlite;

/// The PostgreSQL backend (crate `flowstore-postgres`), behind feature `postgres`.
#[cfg(feature = "postgres")]
pub use flowstore_postgres as postgres;

/// The Redis backend (crate `flowstore-redis`), behind feature `redis`.
#[cfg(feature = "redis")]
pub use flowstore_redis as redis;

/// The HTTP client store (crate `flowstore-http`), behind feature `http`.
#[cfg(feature = "http")]
pub use flowstore_http as http;

/// The default-TTL wrapper (crate `flowstore-default-ttl`), behind feature `default-ttl`.
#[cfg(feature = "default-ttl")]
pub use flowstore_default_ttl as default_ttl;

/// The encryption wrapper (crate `flowstore-encrypt`), behind feature `encrypt`.
#[cfg(feature = "encrypt")]
pub use flowstore_encrypt as encrypt;

/// The compression wrapper (crate `flowstore-compress`), behind feature `compress`.
#[cfg(feature = "compress")]
pub use flowstore_compress as compress;

/// The fallback wrapper (crate `flowstore-fallback`), behind feature `fallback`.
#[cfg(feature = "fallback")]
pub use flowstore_fallback as fallback;

/// The retry wrapper (crate `flowstore-retry`), behind feature `retry`.
#[cfg(feature = "retry")]
pub use flowstore_retry as retry;

/// The metrics wrapper (crate `flowstore-metrics`), behind feature `metrics`.
#[cfg(feature = "metrics")]
pub use flowstore_metrics as metrics;
