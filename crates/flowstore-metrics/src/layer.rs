//! [`MetricsLayer`]: the metrics wrapper as a [`Layer`].

use std::sync::Arc;

use flowstore_core::{Layer, Store};

use crate::MetricsStore;

/// Wraps stores in a [`MetricsStore`] reporting to the `metrics` facade (with
/// feature `metrics`), optionally labelled.
#[derive(Debug, Clone, Default)]
pub struct MetricsLayer {
    store_label: Option<Arc<str>>,
}

impl MetricsLayer {
    /// Reports every operation, unlabelled.
    pub fn new() -> Self {
        MetricsLayer::default()
    }

    /// See [`MetricsStore::with_store_label`].
    pub fn with_store_label(mut self, name: impl Into<Arc<str>>) -> Self {
        self.store_label = Some(name.into());
        self
    }
}

impl Layer for MetricsLayer {
    fn layer(&self, inner: Arc<dyn Store>) -> Arc<dyn Store> {
        let store = MetricsStore::new(inner);
        Arc::new(match &self.store_label {
            Some(label) => store.with_store_label(label.clone()),
            None => store,
        })
    }
}
