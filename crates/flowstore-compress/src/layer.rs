//! [`CompressLayer`]: the compress wrapper as a [`Layer`].

use std::sync::Arc;

use flowstore_core::{Layer, Store};

use crate::{CompressedStore, DEFAULT_MIN_SIZE};

/// Wraps stores in a [`CompressedStore`] with the same settings.
#[derive(Debug, Clone)]
pub struct CompressLayer {
    min_size: usize,
    read_legacy: bool,
}

impl CompressLayer {
    /// The default threshold ([`DEFAULT_MIN_SIZE`]) and legacy reading off.
    pub fn new() -> Self {
        CompressLayer {
            min_size: DEFAULT_MIN_SIZE,
            read_legacy: false,
        }
    }

    /// See [`CompressedStore::min_size`].
    pub fn min_size(mut self, min_size: usize) -> Self {
        self.min_size = min_size;
        self
    }

    /// See [`CompressedStore::read_legacy`].
    pub fn read_legacy(mut self, read_legacy: bool) -> Self {
        self.read_legacy = read_legacy;
        self
    }
}

impl Default for CompressLayer {
    fn default() -> Self {
        CompressLayer::new()
    }
}

impl Layer for CompressLayer {
    fn layer(&self, inner: Arc<dyn Store>) -> Arc<dyn Store> {
        Arc::new(
            CompressedStore::new(inner)
                .min_size(self.min_size)
                .read_legacy(self.read_legacy),
        )
    }
}
