//! What the metrics wrapper passes to its callback, and that it changes nothing
//! about the operations it measures.

use std::sync::{Arc, Mutex};

use flowstore_core::conformance::doubles::{Op, ScriptedStore, Step};
use flowstore_core::{ErrorKind, Key, Store, StoreExt, Ttl, Version};
use flowstore_memory::MemoryStore;
use flowstore_metrics::{MetricsStore, OpEvent, Operation, Outcome};

/// An owned copy of what an event carried (events borrow from the call).
#[derive(Clone, Debug, PartialEq)]
struct Seen {
    op: Operation,
    outcome: Outcome,
    value_bytes: Option<usize>,
    found: Option<bool>,
    key: Option<String>,
    store: Option<String>,
    debug: String,
}

fn recorder_callback() -> (
    Arc<Mutex<Vec<Seen>>>,
    impl Fn(&OpEvent<'_>) + Send + Sync + 'static,
) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    let callback = move |event: &OpEvent<'_>| {
        sink.lock().unwrap().push(Seen {
            op: event.op,
            outcome: event.outcome,
            value_bytes: event.value_bytes,
            found: event.found,
            key: event.key.map(|key| key.as_str().to_owned()),
            store: event.store.map(str::to_owned),
            debug: format!("{event:?}"),
        });
    };
    (seen, callback)
}

fn key(text: &str) -> Key {
    Key::new(text).unwrap()
}

const SECRET_KEY: &str = "user:alice@example.com";
const SECRET_VALUE: &[u8] = b"{\"card\":\"4111111111111111\"}";

#[tokio::test]
async fn callback_gets_op_outcome_and_size_of_every_operation() {
    let inner = Arc::new(ScriptedStore::new(MemoryStore::new()));
    let (seen, callback) = recorder_callback();
    let store = MetricsStore::new(Arc::clone(&inner))
        .with_store_label("primary")
        .with_callback(callback);
    let k = key(SECRET_KEY);

    store
        .set(&k, SECRET_VALUE, Some(Ttl::from_secs(60).unwrap()))
        .await
        .unwrap();
    assert_eq!(store.get(&k).await.unwrap().as_deref(), Some(SECRET_VALUE));
    store.delete(&k).await.unwrap();
    assert_eq!(store.get(&k).await.unwrap(), None);
    store.clear().await.unwrap();
    inner.push(Op::Get, Step::Fail(ErrorKind::Unavailable));
    store.get(&k).await.unwrap_err();
    inner.push(Op::Set, Step::Fail(ErrorKind::Corrupt));
    store.set(&k, b"x", None).await.unwrap_err();

    let seen = seen.lock().unwrap().clone();
    let summary: Vec<_> = seen
        .iter()
        .map(|s| (s.op, s.outcome, s.value_bytes, s.found))
        .collect();
    assert_eq!(
        summary,
        vec![
            (Operation::Set, Outcome::Ok, Some(SECRET_VALUE.len()), None),
            (
                Operation::Get,
                Outcome::Ok,
                Some(SECRET_VALUE.len()),
                Some(true)
            ),
            (Operation::Delete, Outcome::Ok, None, None),
            (Operation::Get, Outcome::Ok, None, Some(false)),
            (Operation::Clear, Outcome::Ok, None, None),
            (
                Operation::Get,
                Outcome::Error(ErrorKind::Unavailable),
                None,
                None
            ),
            (
                Operation::Set,
                Outcome::Error(ErrorKind::Corrupt),
                None,
                None
            ),
        ]
    );
    assert_eq!(
        seen[0].key.as_deref(),
        Some(SECRET_KEY),
        "the callback can read the key"
    );
    assert_eq!(seen[4].key, None, "clear has no key");
    assert!(seen.iter().all(|s| s.store.as_deref() == Some("primary")));
    assert_eq!(seen[5].outcome.as_str(), "unavailable");
}

#[tokio::test]
async fn debug_of_an_event_shows_neither_value_nor_key() {
    let (seen, callback) = recorder_callback();
    let store = MetricsStore::new(MemoryStore::new()).with_callback(callback);
    let k = key(SECRET_KEY);
    store.set(&k, SECRET_VALUE, None).await.unwrap();
    store.get(&k).await.unwrap();
    let value_text = String::from_utf8_lossy(SECRET_VALUE).into_owned();
    for s in seen.lock().unwrap().iter() {
        assert!(s.debug.contains("OpEvent"), "{}", s.debug);
        assert!(!s.debug.contains("4111"), "value in Debug: {}", s.debug);
        assert!(
            !s.debug.contains(&value_text),
            "value in Debug: {}",
            s.debug
        );
        assert!(!s.debug.contains("alice"), "key in Debug: {}", s.debug);
    }
}

#[tokio::test]
async fn forwards_everything_and_works_through_arc_dyn_store() {
    let inner: Arc<dyn Store> = Arc::new(
        MemoryStore::new()
            .with_namespace("metrics-ns".try_into().unwrap())
            .with_max_value_size(99),
    );
    let store: Arc<dyn Store> = Arc::new(MetricsStore::new(inner));
    assert_eq!(store.namespace().as_str(), "metrics-ns");
    assert_eq!(store.max_value_size(), 99);
    assert_eq!(store.capabilities(), flowstore_core::Capabilities::all());
    let err = store.set(&key("k"), &[0; 100], None).await.unwrap_err();
    assert_eq!(
        err.kind(),
        ErrorKind::ValueTooLarge,
        "errors pass through unchanged"
    );
}

/// The layer rule for observing wrappers (docs/architecture.md): every
/// operation is reported.
#[tokio::test]
async fn every_operation_is_reported() {
    for operation in Operation::ALL {
        let (seen, callback) = recorder_callback();
        let store = MetricsStore::new(MemoryStore::new()).with_callback(callback);
        flowstore_core::conformance::layers::exercise(&store, operation).await;
        let reported = seen.lock().unwrap().iter().any(|seen| seen.op == operation);
        assert!(reported, "{operation} was not reported");
    }
}

/// The versioned operations are reported under their own names, and a failed
/// condition is its own outcome, `conflict`, not an error of the store.
#[tokio::test]
async fn versioned_operations_have_their_own_names_and_conflicts_their_own_outcome() {
    let inner = Arc::new(ScriptedStore::new(MemoryStore::new()));
    let (seen, callback) = recorder_callback();
    let store = MetricsStore::new(Arc::clone(&inner)).with_callback(callback);
    let k = key("k");

    let version = store.set_if_absent(&k, b"abc", None).await.unwrap();
    let entry = store.get_entry(&k).await.unwrap().unwrap();
    assert_eq!(entry.version, version);
    let err = store.set_if_absent(&k, b"other", None).await.unwrap_err();
    assert_eq!(
        err.kind(),
        ErrorKind::Conflict,
        "the error passes unchanged"
    );
    assert_eq!(err.current_version(), Some(&version));
    let stale = Version::generate();
    store.delete_if_version(&k, &stale).await.unwrap_err();
    inner.push(Op::DeleteIf, Step::Fail(ErrorKind::Unavailable));
    store.delete_if_version(&k, &version).await.unwrap_err();
    store.delete_if_version(&k, &version).await.unwrap();
    assert!(store.get_entry(&k).await.unwrap().is_none());

    let seen = seen.lock().unwrap().clone();
    let summary: Vec<_> = seen
        .iter()
        .map(|s| (s.op, s.outcome, s.value_bytes, s.found))
        .collect();
    assert_eq!(
        summary,
        vec![
            (Operation::SetIf, Outcome::Ok, Some(3), None),
            (Operation::GetEntry, Outcome::Ok, Some(3), Some(true)),
            (Operation::SetIf, Outcome::Conflict, None, None),
            (Operation::DeleteIf, Outcome::Conflict, None, None),
            (
                Operation::DeleteIf,
                Outcome::Error(ErrorKind::Unavailable),
                None,
                None
            ),
            (Operation::DeleteIf, Outcome::Ok, None, None),
            (Operation::GetEntry, Outcome::Ok, None, Some(false)),
        ]
    );
    let labels: Vec<_> = seen.iter().map(|s| s.op.as_str()).collect();
    assert_eq!(labels[..4], ["set_if", "get_entry", "set_if", "delete_if"]);
    assert_eq!(Outcome::Conflict.as_str(), "conflict");
    assert!(!Outcome::Conflict.is_ok() && !Outcome::Conflict.is_failure());
    assert!(Outcome::Error(ErrorKind::Unavailable).is_failure());
}
