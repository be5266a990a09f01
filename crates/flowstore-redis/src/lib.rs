#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

mod auth;
mod builder;
mod clear;
mod error;
mod eviction;
mod keys;
mod store;
#[cfg(feature = "tls")]
mod tls;
mod url;

pub use builder::{
    DEFAULT_COMMAND_TIMEOUT, DEFAULT_CONNECT_TIMEOUT, DEFAULT_RECONNECT_MAX_DELAY,
    DEFAULT_RECONNECT_MIN_DELAY, RedisBuilder,
};
pub use keys::SEPARATOR;
pub use store::RedisStore;
pub use url::EvictionCheck;

/// The Redis client this crate is built on, re-exported so you can use the same
/// version (see [`RedisStore::client`]).
pub use fred;
