#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

// The `async_trait` attribute expands to paths under `::flowstore_core`, in this
// crate as in every other.
extern crate self as flowstore_core;

pub mod error;
mod ext;
pub mod health;
mod key;
mod layer;
mod limits;
mod list_stream;
pub mod listing;
mod namespace;
mod operation;
mod store;
mod ttl;
pub mod url;
pub mod version;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use error::{BoxError, Error, ErrorKind, Result};
pub use ext::StoreExt;
pub use health::Health;
pub use key::Key;
pub use layer::{Call, CallOutput, Layer, LayeredStore, Transform, ValueContext, apply_layers};
pub use limits::{DEFAULT_MAX_VALUE_SIZE, check_value_size};
pub use list_stream::ListStream;
pub use listing::{Cursor, ListItem, ListPage, Prefix, SetItem};
pub use namespace::Namespace;
pub use operation::Operation;
pub use store::{Capabilities, MaybeSend, MaybeSync, Store, check_set_items};
pub use ttl::{Ttl, parse_duration};
pub use version::{Condition, Current, Entry, Version};

/// The attribute a [`Store`] (or [`LayeredStore`]) impl wears:
/// `#[flowstore_core::async_trait]` is `async_trait` on native targets and
/// `async_trait(?Send)` on `wasm32`, where browser futures are not `Send`.
pub use flowstore_macros::async_trait;

/// What the [`async_trait`](macro@async_trait) attribute expands to. Not a public API.
#[doc(hidden)]
pub mod __private {
    pub use async_trait::async_trait;
}
