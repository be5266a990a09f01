//! [`RetryLayer`]: the retry wrapper as a [`Layer`].

use std::sync::Arc;

use flowstore_core::{Layer, Store};

use crate::{RetryPolicy, RetryStore};

/// Wraps stores in a [`RetryStore`] with one policy.
#[derive(Debug, Clone, Default)]
pub struct RetryLayer {
    policy: RetryPolicy,
}

impl RetryLayer {
    /// Retries with `policy`.
    pub fn new(policy: RetryPolicy) -> Self {
        RetryLayer { policy }
    }
}

impl Layer for RetryLayer {
    fn layer(&self, inner: Arc<dyn Store>) -> Arc<dyn Store> {
        Arc::new(RetryStore::with_policy(inner, self.policy.clone()))
    }
}
