//! `http://host[:port][/base]`, `https://…`: a `flowstore serve` server (or any
//! server of the same protocol), through `flowstore-http`. The bearer token comes
//! from `FLOWSTORE_TOKEN` when it is set, never from the URL.

use std::sync::Arc;

use flowstore_core::{Result, Store};
use flowstore_http::HttpStore;

use super::Backend;
use crate::open::OpenOptions;

pub(crate) const BACKEND: Backend = Backend {
    schemes: &["http", "https"],
    open: |url, options| Box::pin(open(url, options)),
};

async fn open(url: &str, options: &OpenOptions) -> Result<Arc<dyn Store>> {
    let mut builder = HttpStore::from_url(url)?.bearer_token_from_env();
    if let Some(namespace) = options.namespace_ref() {
        builder = builder.namespace(namespace.as_str());
    }
    Ok(Arc::new(builder.open()?))
}
