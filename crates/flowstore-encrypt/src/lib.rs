#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

mod envelope;
mod key;
mod layer;

use std::borrow::Cow;

use flowstore_core::{LayeredStore, Result, Store, Transform, ValueContext};

pub use envelope::OVERHEAD;
pub use key::{EncryptionKey, KEY_LEN, Keyring};
pub use layer::EncryptLayer;

/// A store that encrypts every value with AES-256-GCM before handing it to the
/// inner store, and authenticates and decrypts it on the way back.
///
/// See the [crate documentation](crate) for what it guarantees.
pub struct EncryptedStore<S> {
    inner: S,
    sealing: Sealing,
}

/// What the wrapper does to values: seals them on the way in, opens them on the
/// way out. Every value-carrying operation passes through it.
#[derive(Debug, Clone)]
struct Sealing {
    keyring: Keyring,
    accept_plaintext: bool,
}

impl<S: Store> EncryptedStore<S> {
    /// Wraps `inner`: writes are encrypted with the keyring's current key, reads
    /// accept any key in the ring.
    pub fn new(inner: S, keyring: Keyring) -> Self {
        EncryptedStore {
            inner,
            sealing: Sealing {
                keyring,
                accept_plaintext: false,
            },
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
        self.sealing.accept_plaintext = accept;
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
        &self.sealing.keyring
    }
}

impl<S: std::fmt::Debug> std::fmt::Debug for EncryptedStore<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncryptedStore")
            .field("inner", &self.inner)
            .field("keyring", &self.sealing.keyring)
            .field("accept_plaintext", &self.sealing.accept_plaintext)
            .finish()
    }
}

impl<S: Store> LayeredStore for EncryptedStore<S> {
    type Inner = S;

    fn inner(&self) -> &S {
        &self.inner
    }

    fn transform(&self) -> Option<&dyn Transform> {
        Some(&self.sealing)
    }
}

/// This wrapper's name in the context of the errors it makes (a value that
/// fails its integrity check); the operation is added by
/// [`LayeredStore`](flowstore_core::LayeredStore), and errors of the inner store
/// keep their own context.
const BACKEND: &str = "encrypt";

impl Transform for Sealing {
    fn encode<'v>(&self, cx: &ValueContext<'_>, value: &'v [u8]) -> Result<Cow<'v, [u8]>> {
        envelope::seal(&self.keyring, cx.namespace, cx.key, value)
            .map(Cow::Owned)
            .map_err(|err| err.with_backend(BACKEND))
    }

    fn decode(&self, cx: &ValueContext<'_>, stored: Vec<u8>) -> Result<Vec<u8>> {
        if self.accept_plaintext && !envelope::looks_like_envelope(&stored) {
            return Ok(stored);
        }
        envelope::open(&self.keyring, cx.namespace, cx.key, stored)
            .map_err(|err| err.with_backend(BACKEND))
    }

    /// The envelope's size ([`OVERHEAD`]), so that a value of the wrapper's
    /// maximum size still fits in the inner store once sealed.
    fn overhead(&self) -> usize {
        OVERHEAD
    }
}
