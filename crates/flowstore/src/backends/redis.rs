//! `redis://`, `rediss://`, `redis-cluster://`, `rediss-cluster://`,
//! `redis-sentinel://`, `rediss-sentinel://`, with the parameters
//! `flowstore-redis` documents (`namespace`, `command_timeout`, …).

use std::sync::Arc;

use flowstore_core::{Result, Store};
use flowstore_redis::RedisStore;

use super::Backend;
use crate::open::OpenOptions;

pub(crate) const BACKEND: Backend = Backend {
    schemes: &[
        "redis",
        "rediss",
        "redis-cluster",
        "rediss-cluster",
        "redis-sentinel",
        "rediss-sentinel",
    ],
    open: |url, options| Box::pin(open(url, options)),
};

async fn open(url: &str, options: &OpenOptions) -> Result<Arc<dyn Store>> {
    let mut builder = RedisStore::from_url(url)?;
    if let Some(namespace) = options.namespace_ref() {
        builder = builder.namespace(namespace.clone());
    }
    Ok(Arc::new(builder.open().await?))
}
