//! [`DefaultTtlLayer`]: the default-TTL wrapper as a [`Layer`].

use std::sync::Arc;

use flowstore_core::{Layer, Store, Ttl};

use crate::DefaultTtlStore;

/// Wraps stores in a [`DefaultTtlStore`] with one default TTL.
#[derive(Debug, Clone, Copy)]
pub struct DefaultTtlLayer {
    ttl: Ttl,
}

impl DefaultTtlLayer {
    /// Writes without a TTL expire after `ttl`.
    pub fn new(ttl: Ttl) -> Self {
        DefaultTtlLayer { ttl }
    }
}

impl Layer for DefaultTtlLayer {
    fn layer(&self, inner: Arc<dyn Store>) -> Arc<dyn Store> {
        Arc::new(DefaultTtlStore::new(inner, self.ttl))
    }
}
