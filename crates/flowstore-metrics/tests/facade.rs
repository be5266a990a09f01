//! What the metrics wrapper reports to the `metrics` facade, checked with
//! metrics-util's DebuggingRecorder.
#![cfg(feature = "metrics")]

use std::sync::Arc;

use flowstore_core::conformance::doubles::{Op, ScriptedStore, Step};
use flowstore_core::{ErrorKind, Key, Store, StoreExt};
use flowstore_memory::MemoryStore;
use flowstore_metrics::{
    GET_RESULTS_TOTAL, MetricsStore, OPERATION_DURATION_SECONDS, OPERATIONS_TOTAL, VALUE_BYTES,
};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use metrics_util::{CompositeKey, MetricKind};

fn key(text: &str) -> Key {
    Key::new(text).unwrap()
}

const SECRET_KEY: &str = "user:alice@example.com";
const SECRET_VALUE: &[u8] = b"{\"card\":\"4111111111111111\"}";

fn labels_of(key: &CompositeKey) -> Vec<(String, String)> {
    let mut labels: Vec<_> = key
        .key()
        .labels()
        .map(|label| (label.key().to_owned(), label.value().to_owned()))
        .collect();
    labels.sort();
    labels
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut pairs: Vec<_> = items
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    pairs.sort();
    pairs
}

#[test]
fn facade_counts_operations_and_records_latency_and_sizes() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let inner = Arc::new(ScriptedStore::new(MemoryStore::new()));
    metrics::with_local_recorder(&recorder, || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let store = MetricsStore::new(Arc::clone(&inner)).with_store_label("main");
            let k = key(SECRET_KEY);
            store.set(&k, SECRET_VALUE, None).await.unwrap();
            store.set(&k, b"1234", None).await.unwrap();
            store.get(&k).await.unwrap();
            store.get(&key("missing")).await.unwrap();
            inner.push(Op::Get, Step::Fail(ErrorKind::Timeout));
            store.get(&k).await.unwrap_err();
            store.delete(&k).await.unwrap();
            let version = store.set_if_absent(&k, b"12", None).await.unwrap();
            store.set_if_absent(&k, b"34", None).await.unwrap_err();
            store.get_entry(&k).await.unwrap();
            store.delete_if_version(&k, &version).await.unwrap();
        });
    });

    let snapshot = snapshotter.snapshot().into_vec();
    let find = |kind: MetricKind, name: &str, labels: &[(&str, &str)]| {
        snapshot
            .iter()
            .find(|(key, ..)| {
                key.kind() == kind && key.key().name() == name && labels_of(key) == pairs(labels)
            })
            .map(|(_, _, _, value)| value)
            .unwrap_or_else(|| panic!("no {kind:?} {name} {labels:?} in {snapshot:#?}"))
    };
    let counter =
        |name: &str, labels: &[(&str, &str)]| match find(MetricKind::Counter, name, labels) {
            DebugValue::Counter(count) => *count,
            other => panic!("{other:?}"),
        };
    let histogram =
        |name: &str, labels: &[(&str, &str)]| match find(MetricKind::Histogram, name, labels) {
            DebugValue::Histogram(values) => {
                values.iter().map(|v| v.into_inner()).collect::<Vec<f64>>()
            }
            other => panic!("{other:?}"),
        };

    let store = ("store", "main");
    assert_eq!(
        counter(OPERATIONS_TOTAL, &[("op", "set"), ("outcome", "ok"), store]),
        2
    );
    assert_eq!(
        counter(OPERATIONS_TOTAL, &[("op", "get"), ("outcome", "ok"), store]),
        2
    );
    assert_eq!(
        counter(
            OPERATIONS_TOTAL,
            &[("op", "get"), ("outcome", "timeout"), store]
        ),
        1
    );
    assert_eq!(
        counter(
            OPERATIONS_TOTAL,
            &[("op", "delete"), ("outcome", "ok"), store]
        ),
        1
    );
    // The versioned operations under their own names; a failed condition
    // under its own outcome.
    assert_eq!(
        counter(
            OPERATIONS_TOTAL,
            &[("op", "set_if"), ("outcome", "ok"), store]
        ),
        1
    );
    assert_eq!(
        counter(
            OPERATIONS_TOTAL,
            &[("op", "set_if"), ("outcome", "conflict"), store]
        ),
        1
    );
    assert_eq!(
        counter(
            OPERATIONS_TOTAL,
            &[("op", "get_entry"), ("outcome", "ok"), store]
        ),
        1
    );
    assert_eq!(
        counter(
            OPERATIONS_TOTAL,
            &[("op", "delete_if"), ("outcome", "ok"), store]
        ),
        1
    );
    assert_eq!(
        histogram(VALUE_BYTES, &[("op", "set_if"), store]),
        vec![2.0]
    );
    assert_eq!(counter(GET_RESULTS_TOTAL, &[("result", "hit"), store]), 2);
    assert_eq!(counter(GET_RESULTS_TOTAL, &[("result", "miss"), store]), 1);

    let get_latencies = histogram(OPERATION_DURATION_SECONDS, &[("op", "get"), store]);
    assert_eq!(get_latencies.len(), 3, "every get, failed or not, is timed");
    assert!(get_latencies.iter().all(|seconds| *seconds >= 0.0));
    assert_eq!(
        histogram(OPERATION_DURATION_SECONDS, &[("op", "set"), store]).len(),
        2
    );

    let mut set_sizes = histogram(VALUE_BYTES, &[("op", "set"), store]);
    set_sizes.sort_by(f64::total_cmp);
    assert_eq!(set_sizes, vec![4.0, SECRET_VALUE.len() as f64]);
    assert_eq!(
        histogram(VALUE_BYTES, &[("op", "get"), store]),
        vec![4.0],
        "bytes returned by the hit"
    );

    // Keys are never labels.
    for (key, ..) in &snapshot {
        for (_, value) in labels_of(key) {
            assert!(
                !value.contains("alice") && value != "missing",
                "a key became a label: {value}"
            );
        }
    }
}

#[test]
fn facade_can_be_turned_off_and_label_is_optional() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let quiet = MetricsStore::new(MemoryStore::new()).without_facade();
            quiet.get(&key("k")).await.unwrap();
            let unlabelled = MetricsStore::new(MemoryStore::new());
            unlabelled.clear().await.unwrap();
        });
    });
    let snapshot = snapshotter.snapshot().into_vec();
    let operations: Vec<_> = snapshot
        .iter()
        .filter(|(key, ..)| key.key().name() == OPERATIONS_TOTAL)
        .map(|(key, ..)| labels_of(key))
        .collect();
    assert_eq!(
        operations,
        vec![pairs(&[("op", "clear"), ("outcome", "ok")])]
    );
}
