//! `memory://[?namespace=NAME]`: a new, empty in-memory store per `open`.

use std::sync::Arc;

use flowstore_core::url::StoreUrl;
use flowstore_core::{Error, Result, Store};
use flowstore_memory::MemoryStore;

use super::Backend;
use crate::open::OpenOptions;

pub(crate) const BACKEND: Backend = Backend {
    schemes: &["memory"],
    open: |url, options| Box::pin(open(url, options)),
};

async fn open(url: &str, options: &OpenOptions) -> Result<Arc<dyn Store>> {
    let mut url = StoreUrl::parse(url)?;
    if !url.rest().is_empty() {
        return Err(Error::config(
            "a memory:// URL takes no host or path (only ?namespace=NAME)",
        ));
    }
    let namespace = super::take_namespace(&mut url, options)?;
    url.expect_no_more()?;
    let store = MemoryStore::new();
    let store = match namespace {
        Some(namespace) => store.with_namespace(namespace),
        None => store,
    };
    Ok(Arc::new(store))
}
