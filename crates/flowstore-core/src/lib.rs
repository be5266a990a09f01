#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

pub mod error;
mod ext;
mod key;
mod limits;
mod namespace;
mod store;
mod ttl;
pub mod url;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use error::{BoxError, Error, ErrorKind, Result};
pub use ext::StoreExt;
pub use key::Key;
pub use limits::{DEFAULT_MAX_VALUE_SIZE, check_value_size};
pub use namespace::Namespace;
pub use store::{Capabilities, MaybeSend, MaybeSync, Store};
pub use ttl::{Ttl, parse_duration};

/// Re-exported so stores can implement [`Store`] without a direct dependency:
/// `#[flowstore_core::async_trait]` (on `wasm32`, `#[async_trait(?Send)]`).
pub use async_trait::async_trait;
