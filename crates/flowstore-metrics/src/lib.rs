#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

mod event;
#[cfg(feature = "metrics")]
mod facade;
mod layer;
#[cfg(feature = "tracing")]
mod span;

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use flowstore_core::{Call, CallOutput, LayeredStore, MaybeSend, Result, Store};
use web_time::Instant;

pub use event::{EventCallback, OpEvent, Operation, Outcome};
#[cfg(feature = "metrics")]
pub use facade::{
    GET_RESULTS_TOTAL, OPERATION_DURATION_SECONDS, OPERATIONS_TOTAL, VALUE_BYTES, describe,
};
pub use layer::MetricsLayer;

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

impl<S: Store> MetricsStore<S> {
    async fn observe<T: CallOutput>(
        &self,
        call: Call<'_>,
        run: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        let Call {
            operation: op,
            key,
            value_len: written,
            ..
        } = call;
        #[cfg(feature = "tracing")]
        let span = self
            .spans
            .span(op, key, self.inner.namespace(), self.store_label.as_deref());
        #[cfg(feature = "tracing")]
        let run = tracing::Instrument::instrument(run, span.clone());

        let started = Instant::now();
        let result = run.await;
        let duration = started.elapsed();

        let outcome = Outcome::of(&result);
        let (value_bytes, found) = match &result {
            Ok(value) => (written.or(value.value_len()), value.found()),
            Err(_) => (None, None),
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

// Every operation, those added to `Store` later included, goes through `around`
// and so is reported.
impl<S: Store> LayeredStore for MetricsStore<S> {
    type Inner = S;

    fn inner(&self) -> &S {
        &self.inner
    }

    fn around<'a, T, F, Fut>(
        &'a self,
        call: Call<'a>,
        mut run: F,
    ) -> impl Future<Output = Result<T>> + MaybeSend + 'a
    where
        T: CallOutput + 'a,
        F: FnMut() -> Fut + MaybeSend + 'a,
        Fut: Future<Output = Result<T>> + MaybeSend + 'a,
    {
        self.observe(call, run())
    }
}
