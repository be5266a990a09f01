//! The per-operation `tracing` span (feature `tracing`): it records op, outcome
//! and sizes, never the value, and the key only when asked.
#![cfg(feature = "tracing")]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use flowstore_core::{Key, Store};
use flowstore_memory::MemoryStore;
use flowstore_metrics::MetricsStore;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Collects every span name and every field recorded on spans.
#[derive(Clone, Default)]
struct Capture {
    fields: Arc<Mutex<Vec<(String, String)>>>,
    spans: Arc<Mutex<Vec<String>>>,
    next: Arc<AtomicU64>,
}

struct Fields<'a>(&'a Mutex<Vec<(String, String)>>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .lock()
            .unwrap()
            .push((field.name().to_owned(), format!("{value:?}")));
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        self.spans
            .lock()
            .unwrap()
            .push(attrs.metadata().name().to_owned());
        attrs.record(&mut Fields(&self.fields));
        Id::from_u64(self.next.fetch_add(1, Ordering::Relaxed) + 1)
    }
    fn record(&self, _: &Id, values: &Record<'_>) {
        values.record(&mut Fields(&self.fields));
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, _: &Event<'_>) {}
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

fn run(record_keys: bool) -> Capture {
    let capture = Capture::default();
    tracing::subscriber::with_default(capture.clone(), || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let store = MetricsStore::new(MemoryStore::new())
                .with_store_label("main")
                .record_keys_in_spans(record_keys);
            let k = Key::new("user:alice").unwrap();
            store.set(&k, b"secret-value", None).await.unwrap();
            store.get(&k).await.unwrap();
        });
    });
    capture
}

#[test]
fn spans_record_op_outcome_and_size_but_never_the_value_or_by_default_the_key() {
    let capture = run(false);
    assert_eq!(
        *capture.spans.lock().unwrap(),
        vec!["flowstore.op", "flowstore.op"]
    );
    let fields = capture.fields.lock().unwrap().clone();
    let has = |name: &str, value: &str| fields.iter().any(|(n, v)| n == name && v == value);
    assert!(has("op", "\"set\""), "{fields:?}");
    assert!(has("op", "\"get\""), "{fields:?}");
    assert!(has("outcome", "\"ok\""), "{fields:?}");
    assert!(has("value_bytes", "12"), "{fields:?}");
    assert!(has("found", "true"), "{fields:?}");
    assert!(has("store", "\"main\""), "{fields:?}");
    assert!(has("namespace", "\"flow\""), "{fields:?}");
    assert!(
        fields.iter().all(|(n, _)| n != "key"),
        "key recorded without being asked: {fields:?}"
    );
    assert!(
        fields.iter().all(|(_, v)| !v.contains("secret")),
        "value recorded: {fields:?}"
    );
    assert!(
        fields.iter().all(|(_, v)| !v.contains("alice")),
        "key recorded: {fields:?}"
    );
}

#[test]
fn spans_record_the_key_when_asked() {
    let capture = run(true);
    let fields = capture.fields.lock().unwrap().clone();
    assert!(
        fields
            .iter()
            .any(|(n, v)| n == "key" && v == "\"user:alice\""),
        "{fields:?}"
    );
    assert!(
        fields.iter().all(|(_, v)| !v.contains("secret")),
        "value recorded: {fields:?}"
    );
}
