#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

mod event;
#[cfg(feature = "metrics")]
mod facade;
#[cfg(feature = "tracing")]
mod span;

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use flowstore_core::{Capabilities, Key, Namespace, Result, Store, Ttl};
use web_time::Instant;

pub use event::{EventCallback, OpEvent, Operation, Outcome};
#[cfg(feature = "metrics")]
pub use facade::{
    GET_RESULTS_TOTAL, OPERATION_DURATION_SECONDS, OPERATIONS_TOTAL, VALUE_BYTES, describe,
};

/// A store that reports every operation of the store it wraps — count, latency,
/// outcome and value size — to a callback, the `metrics` facade and (feature
/// `tracing`) `tracing` spans. See the [crate docs](crate).
#[derive(Clone)]
pub struct MetricsStore<S> {
    inner: S,
    callback: Option<Arc<dyn EventCallback>>,
    store_label: Option<Arc<str>>,
    #[cfg(feature = "metrics")]
    facade: bool,
    #[cfg(feature = "tracing")]
    spans: span::SpanConfig,
}

impl<S: fmt::Debug> fmt::Debug for MetricsStore<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("MetricsStore");
        debug
            .field("inner", &self.inner)
            .field("callback", &self.callback.as_ref().map(|_| "Fn(&OpEvent)"))
            .field("store_label", &self.store_label);
        #[cfg(feature = "metrics")]
        debug.field("facade", &self.facade);
        #[cfg(feature = "tracing")]
        debug.field("spans", &self.spans);
        debug.finish()
    }
}

impl<S: Store> MetricsStore<S> {
    /// Wraps `inner`, reporting to the `metrics` facade (feature `metrics`, on by
    /// default) and, with feature `tracing`, to `tracing` spans. No callback.
    pub fn new(inner: S) -> Self {
        #[cfg(feature = "metrics")]
        facade::describe();
        MetricsStore {
            inner,
            callback: None,
            store_label: None,
            #[cfg(feature = "metrics")]
            facade: true,
            #[cfg(feature = "tracing")]
            spans: span::SpanConfig::default(),
        }
    }
}

impl<S> MetricsStore<S> {
    /// Also passes every [`OpEvent`] to `callback`.
    pub fn with_callback(mut self, callback: impl EventCallback + 'static) -> Self {
        self.callback = Some(Arc::new(callback));
        self
    }

    /// Adds the constant label `store="<name>"` to every metric, event and span,
    /// to tell several wrapped stores apart (e.g. `primary`, `fallback`).
    pub fn with_store_label(mut self, name: impl Into<Arc<str>>) -> Self {
        self.store_label = Some(name.into());
        self
    }

    /// Stops reporting to the `metrics` facade (the callback and spans stay).
    #[cfg(feature = "metrics")]
    pub fn without_facade(mut self) -> Self {
        self.facade = false;
        self
    }

    /// Turns the per-operation `tracing` span on (the default with feature
    /// `tracing`) or off.
    #[cfg(feature = "tracing")]
    pub fn with_spans(mut self, enabled: bool) -> Self {
        self.spans.enabled = enabled;
        self
    }

    /// Records the key in each span's `key` field. Off by default: keys often
    /// hold user ids. Values are never recorded.
    #[cfg(feature = "tracing")]
    pub fn record_keys_in_spans(mut self, enabled: bool) -> Self {
        self.spans.record_keys = enabled;
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

/// What an operation's result says about sizes.
trait Measured {
    /// Bytes returned by a successful get that found the key.
    fn returned_bytes(&self) -> Option<usize>;
    /// Whether a successful get found the key.
    fn found(&self) -> Option<bool>;
}

impl Measured for Option<Vec<u8>> {
    fn returned_bytes(&self) -> Option<usize> {
        self.as_ref().map(Vec::len)
    }

    fn found(&self) -> Option<bool> {
        Some(self.is_some())
    }
}

impl Measured for () {
    fn returned_bytes(&self) -> Option<usize> {
        None
    }

    fn found(&self) -> Option<bool> {
        None
    }
}

impl<S: Store> MetricsStore<S> {
    async fn observe<T: Measured>(
        &self,
        op: Operation,
        key: Option<&Key>,
        written: Option<usize>,
        call: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        #[cfg(feature = "tracing")]
        let span = self
            .spans
            .span(op, key, self.inner.namespace(), self.store_label.as_deref());
        #[cfg(feature = "tracing")]
        let call = tracing::Instrument::instrument(call, span.clone());

        let started = Instant::now();
        let result = call.await;
        let duration = started.elapsed();

        let (outcome, value_bytes, found) = match &result {
            Ok(value) => (
                Outcome::Ok,
                written.or(value.returned_bytes()),
                value.found(),
            ),
            Err(error) => (Outcome::Error(error.kind()), None, None),
        };
        let event = OpEvent {
            op,
            outcome,
            duration,
            value_bytes,
            found,
            key,
            namespace: self.inner.namespace(),
            store: self.store_label.as_deref(),
        };
        #[cfg(feature = "tracing")]
        span::record(&span, &event);
        #[cfg(feature = "metrics")]
        if self.facade {
            facade::record(&event, self.store_label.as_ref());
        }
        if let Some(callback) = &self.callback {
            callback(&event);
        }
        result
    }
}

#[cfg_attr(not(target_arch = "wasm32"), flowstore_core::async_trait)]
#[cfg_attr(target_arch = "wasm32", flowstore_core::async_trait(?Send))]
impl<S: Store> Store for MetricsStore<S> {
    async fn get(&self, key: &Key) -> Result<Option<Vec<u8>>> {
        self.observe(Operation::Get, Some(key), None, self.inner.get(key))
            .await
    }

    async fn set(&self, key: &Key, value: &[u8], ttl: Option<Ttl>) -> Result<()> {
        let call = self.inner.set(key, value, ttl);
        self.observe(Operation::Set, Some(key), Some(value.len()), call)
            .await
    }

    async fn delete(&self, key: &Key) -> Result<()> {
        self.observe(Operation::Delete, Some(key), None, self.inner.delete(key))
            .await
    }

    async fn clear(&self) -> Result<()> {
        self.observe(Operation::Clear, None, None, self.inner.clear())
            .await
    }

    fn namespace(&self) -> &Namespace {
        self.inner.namespace()
    }

    fn max_value_size(&self) -> usize {
        self.inner.max_value_size()
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
}
