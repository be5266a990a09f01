//! How the suite opens stores.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::{MaybeSend, MaybeSync, Namespace, Result, Store};

/// Opens a store of the backend under test for a namespace. Stores opened by one
/// factory must share the same backend (database file, server), so that the
/// namespace cases test isolation for real.
///
/// Implemented for every `Fn(Namespace) -> impl Future<Output = Result<impl Store>>`.
pub trait StoreFactory: MaybeSend + MaybeSync {
    /// The store type it opens.
    type Store: Store + 'static;

    /// Opens a store for `namespace`. A backend that refuses this namespace (for
    /// example one containing its separator) returns a `Config` error.
    fn open(&self, namespace: Namespace) -> impl Future<Output = Result<Self::Store>> + MaybeSend;
}

impl<F, Fut, S> StoreFactory for F
where
    F: Fn(Namespace) -> Fut + MaybeSend + MaybeSync,
    Fut: Future<Output = Result<S>> + MaybeSend,
    S: Store + 'static,
{
    type Store = S;

    fn open(&self, namespace: Namespace) -> impl Future<Output = Result<S>> + MaybeSend {
        self(namespace)
    }
}

/// A factory whose stores are type-erased to `Arc<dyn Store>`, so each case also
/// runs through dynamic dispatch.
#[derive(Debug)]
pub struct DynFactory<F>(pub F);

impl<F: StoreFactory> StoreFactory for DynFactory<F> {
    type Store = Arc<dyn Store>;

    async fn open(&self, namespace: Namespace) -> Result<Arc<dyn Store>> {
        let store = self.0.open(namespace).await?;
        Ok(Arc::new(store))
    }
}

/// A namespace no other test run uses: `t<run id>-<counter>-<label>`. Tests of
/// one run share a backend, and servers keep data between runs, so every case
/// works in namespaces of its own.
pub fn unique_namespace(label: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("t{:x}-{n}-{label}", run_id())
}

/// Different for every test process (natively) or page load (in a browser).
#[cfg(not(target_arch = "wasm32"))]
fn run_id() -> u64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_nanos() as u64)
        .unwrap_or_default();
    (u64::from(std::process::id()) << 40) ^ nanos
}

/// Different for every test process (natively) or page load (in a browser).
#[cfg(target_arch = "wasm32")]
fn run_id() -> u64 {
    // std's clock panics on wasm32-unknown-unknown; ask JavaScript.
    let millis = js_sys::Date::now() as u64;
    let random = (js_sys::Math::random() * f64::from(u32::MAX)) as u64;
    (random << 32) ^ millis
}
