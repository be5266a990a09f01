#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

mod builder;
mod store;

pub use builder::{HttpStoreBuilder, TOKEN_ENV};
pub use store::{ABSENT_HEADER, HttpStore, NAMESPACE_HEADER, encode_key};

/// Re-exported for [`HttpStoreBuilder::header`] (`http::HeaderName`, `http::HeaderValue`).
pub use http;
/// Re-exported for [`HttpStoreBuilder::tls_config`].
pub use rustls;
