#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

mod envelope;
mod layer;

use std::borrow::Cow;

use flowstore_core::{LayeredStore, Result, Store, Transform, ValueContext};

pub use envelope::OVERHEAD;
pub use layer::CompressLayer;

/// Values shorter than this many bytes are stored raw unless configured otherwise
/// ([`CompressedStore::min_size`]): below it lz4 rarely saves anything.
pub const DEFAULT_MIN_SIZE: usize = 64;

/// A store that lz4-compresses values before handing them to the inner store.
///
/// See the [crate documentation](crate) for what it guarantees.
#[derive(Debug)]
pub struct CompressedStore<S> {
    inner: S,
    framing: Framing,
}

/// What the wrapper does to values: frames (and maybe compresses) them on the
/// way in, checks and unframes them on the way out. Every value-carrying
/// operation passes through it.
#[derive(Debug, Clone, Copy)]
struct Framing {
    min_size: usize,
    read_legacy: bool,
}

impl<S: Store> CompressedStore<S> {
    /// Wraps `inner` with the default threshold ([`DEFAULT_MIN_SIZE`]) and legacy
    /// reading off.
    pub fn new(inner: S) -> Self {
        CompressedStore {
            inner,
            framing: Framing {
                min_size: DEFAULT_MIN_SIZE,
                read_legacy: false,
            },
        }
    }

    /// Values shorter than `min_size` bytes are stored raw, without trying to
    /// compress them. Values that do not get smaller are stored raw whatever
    /// their size.
    pub fn min_size(mut self, min_size: usize) -> Self {
        self.framing.min_size = min_size;
        self
    }

    /// Reads values written before compression was added (off by default).
    ///
    /// When on, a stored value that does not start with the envelope magic
    /// (`FF 66 73 7A`) is returned as it is; the next `set` of that key writes an
    /// envelope. A value that does start with the magic is decoded strictly (an
    /// invalid one is `Corrupt`). When off, a value without the magic is `Corrupt`.
    ///
    /// The one ambiguity: an old value that happens to start with the four magic
    /// bytes is read as an envelope. Text and JSON cannot (`0xFF` never occurs in
    /// UTF-8); a binary value can, and then it reads as `Corrupt` — or, only if its
    /// next bytes are `01 00` (a raw envelope) or `01 01` followed by a valid lz4
    /// block of exactly the declared length, as the bytes after the header. If your
    /// old values are arbitrary binary, check that none starts with `FF 66 73 7A`
    /// before turning this on.
    pub fn read_legacy(mut self, read_legacy: bool) -> Self {
        self.framing.read_legacy = read_legacy;
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
}

impl<S: Store> LayeredStore for CompressedStore<S> {
    type Inner = S;

    fn inner(&self) -> &S {
        &self.inner
    }

    fn transform(&self) -> Option<&dyn Transform> {
        Some(&self.framing)
    }
}

/// This wrapper's name in the context of the errors it makes (a value that
/// fails its integrity check); the operation is added by
/// [`LayeredStore`](flowstore_core::LayeredStore), and errors of the inner store
/// keep their own context.
const BACKEND: &str = "compress";

impl Transform for Framing {
    fn encode<'v>(&self, _cx: &ValueContext<'_>, value: &'v [u8]) -> Result<Cow<'v, [u8]>> {
        Ok(Cow::Owned(envelope::encode(value, self.min_size)))
    }

    fn decode(&self, cx: &ValueContext<'_>, stored: Vec<u8>) -> Result<Vec<u8>> {
        if self.read_legacy && !envelope::looks_like_envelope(&stored) {
            return Ok(stored);
        }
        envelope::decode(stored, cx.max_value_size).map_err(|err| err.with_backend(BACKEND))
    }

    /// [`OVERHEAD`] (6 bytes, the envelope of a value kept raw), so that a value
    /// of the wrapper's maximum size always fits in the inner store,
    /// compressible or not.
    fn overhead(&self) -> usize {
        OVERHEAD
    }
}
