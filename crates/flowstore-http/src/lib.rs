// The README (the crate docs) describes the client: its example needs the
// default `client` feature. With only `protocol`, see the `protocol` module.
#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

// The wire format alone: no HTTP client, no TLS (what flowstore-server builds on).
#[cfg(feature = "protocol")]
pub mod protocol;

// One layout for every backend crate: `store.rs` the store and its `Store`
// impl, `builder.rs` the builder and its URL parameters, `error.rs` the mapping
// of the client's errors to `flowstore_core::Error`.
#[cfg(feature = "client")]
mod builder;
#[cfg(feature = "client")]
mod error;
#[cfg(feature = "client")]
mod store;
// Listing, batches, prefix deletes and touch over HTTP (SPEC §9).
#[cfg(feature = "client")]
mod listing;
// Entry versions over HTTP: `get_entry`, `set_if`, `delete_if` of the store.
#[cfg(feature = "client")]
mod versioned;

#[cfg(feature = "client")]
pub use builder::{HttpStoreBuilder, TOKEN_ENV};
#[cfg(feature = "protocol")]
pub use protocol::{ABSENT_HEADER, ACKNOWLEDGE_DATA_LOSS_PATH, NAMESPACE_HEADER, encode_key};
#[cfg(feature = "client")]
pub use store::HttpStore;

/// Re-exported for [`HttpStoreBuilder::header`] (`http::HeaderName`, `http::HeaderValue`).
#[cfg(feature = "client")]
pub use http;
/// Re-exported for [`HttpStoreBuilder::tls_config`].
#[cfg(feature = "client")]
pub use rustls;
