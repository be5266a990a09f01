//! One module per backend. Adding a backend: a module with a `BACKEND` constant,
//! one line in [`BACKENDS`] and one in [`DISABLED`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use flowstore_core::url::StoreUrl;
use flowstore_core::{Namespace, Result, Store};

use crate::open::OpenOptions;

#[cfg(feature = "http")]
mod http;
#[cfg(feature = "memory")]
mod memory;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "sqlite")]
mod sqlite;

/// The future a backend's `open` returns.
pub(crate) type OpenFuture<'a> = Pin<Box<dyn Future<Output = Result<Arc<dyn Store>>> + Send + 'a>>;

/// How to open the stores of some URL schemes.
#[derive(Debug)]
pub(crate) struct Backend {
    /// Lower-case schemes, without `://`.
    pub(crate) schemes: &'static [&'static str],
    /// Opens a store from the whole URL; `options` win over its parameters.
    pub(crate) open: for<'a> fn(&'a str, &'a OpenOptions) -> OpenFuture<'a>,
}

/// The backends compiled into this build.
pub(crate) const BACKENDS: &[Backend] = &[
    #[cfg(feature = "memory")]
    memory::BACKEND,
    #[cfg(feature = "sqlite")]
    sqlite::BACKEND,
    #[cfg(feature = "postgres")]
    postgres::BACKEND,
    #[cfg(feature = "redis")]
    redis::BACKEND,
    #[cfg(feature = "http")]
    http::BACKEND,
];

/// Schemes flowstore knows but this build leaves out, with the feature to enable.
pub(crate) const DISABLED: &[(&str, &str)] = &[
    #[cfg(not(feature = "memory"))]
    ("memory", "memory"),
    #[cfg(not(feature = "sqlite"))]
    ("sqlite", "sqlite"),
    #[cfg(not(feature = "postgres"))]
    ("postgres", "postgres"),
    #[cfg(not(feature = "postgres"))]
    ("postgresql", "postgres"),
    #[cfg(not(feature = "redis"))]
    ("redis", "redis"),
    #[cfg(not(feature = "redis"))]
    ("rediss", "redis"),
    #[cfg(not(feature = "redis"))]
    ("redis-cluster", "redis"),
    #[cfg(not(feature = "redis"))]
    ("rediss-cluster", "redis"),
    #[cfg(not(feature = "redis"))]
    ("redis-sentinel", "redis"),
    #[cfg(not(feature = "redis"))]
    ("rediss-sentinel", "redis"),
    #[cfg(not(feature = "http"))]
    ("http", "http"),
    #[cfg(not(feature = "http"))]
    ("https", "http"),
];

/// The namespace to use: the explicit one of `options`, else the URL's
/// `namespace` parameter (removed from `url`), else `None` (the backend's
/// default, `flow`). A malformed parameter is a `Config` error even when
/// overridden. For backends that parse the URL themselves.
#[cfg_attr(not(feature = "memory"), allow(dead_code))]
pub(crate) fn take_namespace(
    url: &mut StoreUrl,
    options: &OpenOptions,
) -> Result<Option<Namespace>> {
    let from_url = url.take("namespace")?.map(Namespace::new).transpose()?;
    Ok(options.namespace_ref().cloned().or(from_url))
}
