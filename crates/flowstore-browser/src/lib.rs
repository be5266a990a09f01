#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

// The storage layout is plain Rust, built (and unit-tested) on every target.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
mod encoding;

// The layout of every backend crate, once per store since this crate has two:
// `local.rs` the localStorage store (it has no builder), `idb/mod.rs` the
// IndexedDB store with `idb/builder.rs` its builder; `error.rs` maps DOM
// exceptions to `flowstore_core::Error` for both.
#[cfg(target_arch = "wasm32")]
mod error;
#[cfg(target_arch = "wasm32")]
mod idb;
#[cfg(target_arch = "wasm32")]
mod local;

#[cfg(target_arch = "wasm32")]
pub use error::{DomError, dom_error, is_quota_exceeded};
#[cfg(target_arch = "wasm32")]
pub use idb::{Durability, IndexedDbBuilder, IndexedDbStore};
#[cfg(target_arch = "wasm32")]
pub use local::{LocalStorageStore, StorageArea};

/// Re-exported so applications use the same versions as this crate.
#[cfg(target_arch = "wasm32")]
pub use {js_sys, wasm_bindgen, web_sys};

/// The browser's clock: milliseconds since the Unix epoch (`Date.now()`).
#[cfg(target_arch = "wasm32")]
fn now_millis() -> f64 {
    js_sys::Date::now()
}
