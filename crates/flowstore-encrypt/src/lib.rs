#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

mod envelope;
mod key;

use flowstore_core::{Capabilities, Key, Namespace, Result, Store, Ttl, check_value_size};

pub use envelope::OVERHEAD;
pub use key::{EncryptionKey, KEY_LEN, Keyring};

/// A store that encrypts every value with AES-256-GCM before handing it to the
/// inner store, and authenticates and decrypts it on the way back.
///
/// See the [crate documentation](crate) for what it guarantees.
pub struct EncryptedStore<S> {
    inner: S,
    keyring: Keyring,
    accept_plaintext: bool,
}

impl<S: Store> EncryptedStore<S> {
    /// Wraps `inner`: writes are encrypted with the keyring's current key, reads
    /// accept any key in the ring.
    pub fn new(inner: S, keyring: Keyring) -> Self {
        EncryptedStore {
            inner,
            keyring,
            accept_plaintext: false,
        }
    }

    /// Migration mode for a store that already holds plaintext (off by default).
    ///
    /// When on, a stored value that does not start with the envelope magic
    /// (`FF 66 73 65`) is returned as it is, as plaintext; the next `set` of that
    /// key encrypts it. A value that does start with the magic is still checked
    /// strictly (wrong key, tampering → `Corrupt`).
    ///
    /// **This gives up integrity**: anyone who can write to the backend can then
    /// plant any value (without the magic) and it is read as if the application had
    /// written it; and an envelope whose first four bytes are damaged reads as
    /// garbage instead of `Corrupt`. Turn it on only while migrating, and off again
    /// once every value has been rewritten or has expired.
    pub fn accept_plaintext(mut self, accept: bool) -> Self {
        self.accept_plaintext = accept;
        self
    }

    /// The wrapped store.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped store, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner store.
    pub fn into_inner(self) -> S {
        self.inner
    }

    /// The keyring in use.
    pub fn keyring(&self) -> &Keyring {
        &self.keyring
    }
}

impl<S: std::fmt::Debug> std::fmt::Debug for EncryptedStore<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncryptedStore")
            .field("inner", &self.inner)
            .field("keyring", &self.keyring)
            .field("accept_plaintext", &self.accept_plaintext)
            .finish()
    }
}

#[cfg_attr(not(target_arch = "wasm32"), flowstore_core::async_trait)]
#[cfg_attr(target_arch = "wasm32", flowstore_core::async_trait(?Send))]
impl<S: Store> Store for EncryptedStore<S> {
    async fn get(&self, key: &Key) -> Result<Option<Vec<u8>>> {
        let Some(stored) = self.inner.get(key).await? else {
            return Ok(None);
        };
        if self.accept_plaintext && !envelope::looks_like_envelope(&stored) {
            return Ok(Some(stored));
        }
        envelope::open(&self.keyring, self.inner.namespace(), key, stored).map(Some)
    }

    async fn set(&self, key: &Key, value: &[u8], ttl: Option<Ttl>) -> Result<()> {
        check_value_size(value, self.max_value_size())?;
        let sealed = envelope::seal(&self.keyring, self.inner.namespace(), key, value)?;
        self.inner.set(key, &sealed, ttl).await
    }

    async fn delete(&self, key: &Key) -> Result<()> {
        self.inner.delete(key).await
    }

    async fn clear(&self) -> Result<()> {
        self.inner.clear().await
    }

    fn namespace(&self) -> &Namespace {
        self.inner.namespace()
    }

    /// The inner store's limit minus [`OVERHEAD`] (37 bytes), so that a value of
    /// exactly this size still fits in the inner store once encrypted.
    fn max_value_size(&self) -> usize {
        self.inner.max_value_size().saturating_sub(OVERHEAD)
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
}
