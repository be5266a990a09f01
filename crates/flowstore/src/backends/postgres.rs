//! `postgres://…`, `postgresql://…`, with the parameters `flowstore-postgres`
//! documents (`namespace`, `table`, `pool_size`, `sslmode`, …).

use std::sync::Arc;

use flowstore_core::{Result, Store};
use flowstore_postgres::PostgresBuilder;

use super::Backend;
use crate::open::OpenOptions;

pub(crate) const BACKEND: Backend = Backend {
    schemes: &["postgres", "postgresql"],
    open: |url, options| Box::pin(open(url, options)),
};

async fn open(url: &str, options: &OpenOptions) -> Result<Arc<dyn Store>> {
    let mut builder = PostgresBuilder::from_url(url)?;
    if let Some(namespace) = options.namespace_ref() {
        builder = builder.namespace(namespace.clone());
    }
    Ok(Arc::new(builder.open().await?))
}
