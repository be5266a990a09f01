//! `sqlite://relative/path.db`, `sqlite:///absolute/path.db`, with the parameters
//! `flowstore-sqlite` documents (`namespace`, `synchronous`, `busy_timeout`, …).

use std::sync::Arc;

use flowstore_core::{Result, Store};
use flowstore_sqlite::SqliteBuilder;

use super::Backend;
use crate::open::OpenOptions;

pub(crate) const BACKEND: Backend = Backend {
    schemes: &["sqlite"],
    open: |url, options| Box::pin(open(url, options)),
};

async fn open(url: &str, options: &OpenOptions) -> Result<Arc<dyn Store>> {
    let mut builder = SqliteBuilder::from_url(url)?;
    if let Some(namespace) = options.namespace_ref() {
        builder = builder.namespace(namespace.clone());
    }
    Ok(Arc::new(builder.open().await?))
}
