//! A `tracing` span per operation (feature `tracing`).

use flowstore_core::{Key, Namespace};
use tracing::Span;
use tracing::field::Empty;

use crate::event::OpEvent;

/// Whether to open spans, and whether they carry keys.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SpanConfig {
    pub(crate) enabled: bool,
    pub(crate) record_keys: bool,
}

impl Default for SpanConfig {
    fn default() -> Self {
        SpanConfig {
            enabled: true,
            record_keys: false,
        }
    }
}

impl SpanConfig {
    /// A `flowstore.op` span at DEBUG level. Never holds the value; holds the key
    /// only when asked.
    pub(crate) fn span(
        &self,
        op: crate::Operation,
        key: Option<&Key>,
        namespace: &Namespace,
        store: Option<&str>,
    ) -> Span {
        if !self.enabled {
            return Span::none();
        }
        let span = tracing::debug_span!(
            "flowstore.op",
            op = op.as_str(),
            namespace = namespace.as_str(),
            store = store,
            key = Empty,
            outcome = Empty,
            value_bytes = Empty,
            found = Empty,
        );
        if let Some(key) = key.filter(|_| self.record_keys) {
            span.record("key", key.as_str());
        }
        span
    }
}

/// Records how the operation ended on its span.
pub(crate) fn record(span: &Span, event: &OpEvent<'_>) {
    span.record("outcome", event.outcome.as_str());
    if let Some(bytes) = event.value_bytes {
        span.record("value_bytes", bytes as u64);
    }
    if let Some(found) = event.found {
        span.record("found", found);
    }
}
