#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

mod layer;

use flowstore_core::{LayeredStore, Store, Transform, Ttl};

pub use layer::DefaultTtlLayer;

/// A store that gives every write without a TTL the configured one.
///
/// See the [crate documentation](crate).
#[derive(Debug, Clone)]
pub struct DefaultTtlStore<S> {
    inner: S,
    default: DefaultTtl,
}

/// The transform: the caller's TTL, or the default when there is none. Every
/// operation that writes goes through it.
#[derive(Debug, Clone, Copy)]
struct DefaultTtl(Ttl);

impl<S: Store> DefaultTtlStore<S> {
    /// Wraps `inner`: writes without a TTL expire after `ttl`.
    pub fn new(inner: S, ttl: Ttl) -> Self {
        DefaultTtlStore {
            inner,
            default: DefaultTtl(ttl),
        }
    }
}

impl<S> DefaultTtlStore<S> {
    /// The TTL given to writes that carry none.
    pub fn default_ttl(&self) -> Ttl {
        self.default.0
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

impl<S: Store> LayeredStore for DefaultTtlStore<S> {
    type Inner = S;

    fn inner(&self) -> &S {
        &self.inner
    }

    fn transform(&self) -> Option<&dyn Transform> {
        Some(&self.default)
    }
}

impl Transform for DefaultTtl {
    fn ttl(&self, ttl: Option<Ttl>) -> Option<Ttl> {
        ttl.or(Some(self.0))
    }
}
