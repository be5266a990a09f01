//! Reporting to the `metrics` facade crate.

use std::sync::Arc;

use metrics::{Key, Label, Level, Metadata, SharedString, Unit, with_recorder};

use crate::event::OpEvent;

/// Counter: operations finished, labels `op`, `outcome` (and `store`).
pub const OPERATIONS_TOTAL: &str = "flowstore_operations_total";
/// Histogram: seconds an operation took, labels `op` (and `store`).
pub const OPERATION_DURATION_SECONDS: &str = "flowstore_operation_duration_seconds";
/// Histogram: bytes written by a successful `set` or returned by a `get` that
/// found its key, label `op` (and `store`).
pub const VALUE_BYTES: &str = "flowstore_value_bytes";
/// Counter: successful gets, label `result` = `hit` or `miss` (and `store`).
pub const GET_RESULTS_TOTAL: &str = "flowstore_get_results_total";

static METADATA: Metadata<'static> =
    Metadata::new(module_path!(), Level::INFO, Some(module_path!()));

/// Describes the metrics (unit and help text) to the recorder installed now.
/// [`MetricsStore::new`](crate::MetricsStore::new) calls it; call it again after
/// installing a recorder later if your exporter shows help texts.
pub fn describe() {
    with_recorder(|recorder| {
        recorder.describe_counter(
            OPERATIONS_TOTAL.into(),
            Some(Unit::Count),
            "flowstore store operations, by operation and outcome".into(),
        );
        recorder.describe_histogram(
            OPERATION_DURATION_SECONDS.into(),
            Some(Unit::Seconds),
            "time taken by flowstore store operations".into(),
        );
        recorder.describe_histogram(
            VALUE_BYTES.into(),
            Some(Unit::Bytes),
            "bytes written by set and returned by get".into(),
        );
        recorder.describe_counter(
            GET_RESULTS_TOTAL.into(),
            Some(Unit::Count),
            "successful flowstore gets, by hit or miss".into(),
        );
    });
}

/// Reports one operation.
pub(crate) fn record(event: &OpEvent<'_>, store: Option<&Arc<str>>) {
    let mut base = vec![Label::new("op", event.op.as_str())];
    if let Some(store) = store {
        base.push(Label::new(
            "store",
            SharedString::from_shared(Arc::clone(store)),
        ));
    }
    let with = |name: &'static str, value: &'static str| {
        let mut labels = base.clone();
        labels.push(Label::new(name, value));
        labels
    };
    with_recorder(|recorder| {
        let key = Key::from_parts(OPERATIONS_TOTAL, with("outcome", event.outcome.as_str()));
        recorder.register_counter(&key, &METADATA).increment(1);
        let key = Key::from_parts(OPERATION_DURATION_SECONDS, base.clone());
        recorder
            .register_histogram(&key, &METADATA)
            .record(event.duration.as_secs_f64());
        if let Some(bytes) = event.value_bytes {
            let key = Key::from_parts(VALUE_BYTES, base.clone());
            recorder
                .register_histogram(&key, &METADATA)
                .record(bytes as f64);
        }
        if let Some(found) = event.found {
            let mut labels = vec![Label::new("result", if found { "hit" } else { "miss" })];
            labels.extend(base.iter().filter(|label| label.key() == "store").cloned());
            let key = Key::from_parts(GET_RESULTS_TOTAL, labels);
            recorder.register_counter(&key, &METADATA).increment(1);
        }
    });
}
