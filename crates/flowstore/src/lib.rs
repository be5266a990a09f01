#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

mod backends;
mod open;

pub use open::{OpenOptions, available_schemes, open, open_with};

pub use flowstore_core::{
    BoxError, Capabilities, DEFAULT_MAX_VALUE_SIZE, Error, ErrorKind, Key, MaybeSend, MaybeSync,
    Namespace, Result, Store, StoreExt, Ttl, async_trait, check_value_size, parse_duration, url,
};

/// The in-memory backend (crate `flowstore-memory`), behind feature `memory`.
#[cfg(feature = "memory")]
pub use flowstore_memory as memory;

/// The embedded SQLite backend (crate `flowstore-sqlite`), behind feature `sqlite`.
#[cfg(feature = "sqlite")]
pub use flowstore_sqlite as sqlite;
