//! Building a store from a URL.

use std::sync::Arc;

use flowstore_core::url::StoreUrl;
use flowstore_core::{Error, Namespace, Result, Store};

use crate::backends::{BACKENDS, Backend, DISABLED};

/// Options for [`open_with`] that win over what the URL says.
///
/// ```
/// use flowstore::{Namespace, OpenOptions};
///
/// let options = OpenOptions::new().namespace(Namespace::new("drafts")?);
/// assert_eq!(options.namespace_ref().map(Namespace::as_str), Some("drafts"));
/// # Ok::<(), flowstore::Error>(())
/// ```
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct OpenOptions {
    namespace: Option<Namespace>,
}

impl OpenOptions {
    /// No overrides: everything comes from the URL or the backend's defaults.
    pub fn new() -> Self {
        OpenOptions::default()
    }

    /// Uses `namespace`, whatever the URL's `namespace` parameter says.
    pub fn namespace(mut self, namespace: Namespace) -> Self {
        self.namespace = Some(namespace);
        self
    }

    /// The namespace override, if any.
    pub fn namespace_ref(&self) -> Option<&Namespace> {
        self.namespace.as_ref()
    }
}

/// Opens the store a URL names, with the backend's defaults.
///
/// Schemes (each behind a cargo feature; `memory` and `sqlite` are on by default):
///
/// | URL | store |
/// |---|---|
/// | `memory://` | a new, empty in-memory store (`flowstore-memory`) |
/// | `sqlite://relative/path.db` | an SQLite file relative to the working directory (`flowstore-sqlite`) |
/// | `sqlite:///absolute/path.db` | an SQLite file at an absolute path |
/// | `postgres://…`, `postgresql://…` | a PostgreSQL database (`flowstore-postgres`, feature `postgres`) |
/// | `redis://…`, `rediss://…`, `redis-cluster://…`, `redis-sentinel://…` (and `rediss-cluster://`, `rediss-sentinel://`) | Redis (`flowstore-redis`, feature `redis`) |
/// | `http://…`, `https://…` | a `flowstore serve` server (`flowstore-http`, feature `http`; token from `FLOWSTORE_TOKEN`) |
///
/// Every scheme takes `?namespace=NAME` (default `flow`); a backend may take more
/// parameters (see its crate). A scheme that is unknown, or whose feature is off
/// in this build, is a [`Config`](crate::ErrorKind::Config) error that names the
/// schemes this build has ([`available_schemes`]).
pub async fn open(url: &str) -> Result<Arc<dyn Store>> {
    open_with(url, &OpenOptions::default()).await
}

/// Opens the store a URL names; `options` win over the URL's parameters
/// (an explicit namespace beats `?namespace=`).
pub async fn open_with(url: &str, options: &OpenOptions) -> Result<Arc<dyn Store>> {
    let backend = backend_for(url)?;
    (backend.open)(url, options).await
}

/// The URL schemes this build can open, e.g. `["memory", "sqlite"]`.
pub fn available_schemes() -> Vec<&'static str> {
    BACKENDS
        .iter()
        .flat_map(|backend| backend.schemes.iter().copied())
        .collect()
}

fn backend_for(url: &str) -> Result<&'static Backend> {
    // The URL itself is never quoted in an error: it may hold a password.
    let Some(scheme) = StoreUrl::parse(url)?.scheme() else {
        return Err(Error::config(format!(
            "a store URL starts with a scheme, like sqlite://path.db; available schemes: {}",
            schemes_list()
        )));
    };
    if let Some(backend) = BACKENDS
        .iter()
        .find(|backend| backend.schemes.contains(&scheme.as_str()))
    {
        return Ok(backend);
    }
    let message = match DISABLED.iter().find(|(name, _)| *name == scheme) {
        Some((_, feature)) => format!(
            "store URL scheme {scheme:?} is not enabled in this build (cargo feature `{feature}` of flowstore); available schemes: {}",
            schemes_list()
        ),
        None => format!(
            "unknown store URL scheme {scheme:?}; available schemes: {}",
            schemes_list()
        ),
    };
    Err(Error::config(message))
}

fn schemes_list() -> String {
    let schemes = available_schemes();
    if schemes.is_empty() {
        return "none (flowstore was built without any backend feature)".to_string();
    }
    schemes
        .iter()
        .map(|scheme| format!("{scheme}://"))
        .collect::<Vec<_>>()
        .join(", ")
}
