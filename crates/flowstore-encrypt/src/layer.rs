//! [`EncryptLayer`]: the encrypt wrapper as a [`Layer`].

use std::sync::Arc;

use flowstore_core::{Layer, Store};

use crate::{EncryptedStore, Keyring};

/// Wraps stores in an [`EncryptedStore`] with one keyring: the same keys for
/// every store it wraps (all the stores of a fallback chain, say).
#[derive(Debug, Clone)]
pub struct EncryptLayer {
    keyring: Keyring,
    accept_plaintext: bool,
}

impl EncryptLayer {
    /// Encrypts with `keyring`'s current key; reads accept any key in the ring.
    pub fn new(keyring: Keyring) -> Self {
        EncryptLayer {
            keyring,
            accept_plaintext: false,
        }
    }

    /// See [`EncryptedStore::accept_plaintext`] (off by default).
    pub fn accept_plaintext(mut self, accept: bool) -> Self {
        self.accept_plaintext = accept;
        self
    }
}

impl Layer for EncryptLayer {
    fn layer(&self, inner: Arc<dyn Store>) -> Arc<dyn Store> {
        Arc::new(
            EncryptedStore::new(inner, self.keyring.clone())
                .accept_plaintext(self.accept_plaintext),
        )
    }
}
