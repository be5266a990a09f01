//! The retry wrapper's own rules, driven by the core test double and Tokio's
//! paused clock (delays take no real time; elapsed times are exact).

use std::sync::Arc;
use std::time::Duration;

use flowstore_core::conformance::doubles::{Op, ScriptedStore, Step};
use flowstore_core::{Current, ErrorKind, Key, Operation, Store, StoreExt, Ttl, Version};
use flowstore_memory::MemoryStore;
use flowstore_retry::{RetryPolicy, RetryStore};
use tokio::time::Instant;

type Double = Arc<ScriptedStore<MemoryStore>>;

fn double() -> Double {
    Arc::new(ScriptedStore::new(MemoryStore::new()))
}

fn key(text: &str) -> Key {
    Key::new(text).unwrap()
}

/// The paused clock's timers have millisecond granularity and round up, so
/// each sleep may end up to a millisecond late.
#[track_caller]
fn assert_elapsed(started: Instant, expected: Duration) {
    let elapsed = started.elapsed();
    assert!(
        elapsed >= expected && elapsed <= expected + Duration::from_millis(10),
        "elapsed {elapsed:?}, expected {expected:?}"
    );
}

/// No jitter, so delays are exact: 100 ms, 200 ms, 400 ms, …
fn exact(attempts: u32) -> RetryPolicy {
    RetryPolicy::new()
        .max_attempts(attempts)
        .min_delay(Duration::from_millis(100))
        .max_delay(Duration::from_secs(10))
        .factor(2.0)
        .jitter(false)
        .max_elapsed(None)
}

#[tokio::test(start_paused = true)]
async fn temporary_failures_are_retried_until_success() {
    let inner = double();
    inner.inner().set(&key("k"), b"v", None).await.unwrap();
    inner
        .push(Op::Get, Step::Fail(ErrorKind::Unavailable))
        .push(Op::Get, Step::Fail(ErrorKind::Timeout));
    let store = RetryStore::with_policy(Arc::clone(&inner), exact(5));
    let started = Instant::now();
    assert_eq!(store.get(&key("k")).await.unwrap(), Some(b"v".to_vec()));
    assert_eq!(inner.calls(Op::Get), 3);
    // Two waits: 100 ms then 200 ms.
    assert_elapsed(started, Duration::from_millis(300));
}

#[tokio::test(start_paused = true)]
async fn permanent_errors_are_tried_exactly_once() {
    for kind in [
        ErrorKind::Corrupt,
        ErrorKind::Unauthorized,
        ErrorKind::InvalidArgument,
        ErrorKind::Unsupported,
        ErrorKind::Config,
        ErrorKind::Backend,
        ErrorKind::Conflict,
    ] {
        let inner = double();
        inner.set_default(Op::Get, Step::Fail(kind));
        inner.set_default(Op::Set, Step::Fail(kind));
        let store = RetryStore::with_policy(Arc::clone(&inner), exact(5));
        let started = Instant::now();
        let err = store.get(&key("k")).await.unwrap_err();
        assert_eq!(err.kind(), kind);
        let err = store.set(&key("k"), b"v", None).await.unwrap_err();
        assert_eq!(err.kind(), kind);
        assert_eq!(inner.calls(Op::Get), 1, "{kind}");
        assert_eq!(inner.calls(Op::Set), 1, "{kind}");
        assert_eq!(
            started.elapsed(),
            Duration::ZERO,
            "{kind}: no backoff for permanent errors"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_permanent_error_after_temporary_ones_stops_the_retries() {
    let inner = double();
    inner
        .push(Op::Delete, Step::Fail(ErrorKind::Unavailable))
        .push(Op::Delete, Step::Fail(ErrorKind::Corrupt));
    let store = RetryStore::with_policy(Arc::clone(&inner), exact(5));
    let err = store.delete(&key("k")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt);
    assert_eq!(inner.calls(Op::Delete), 2);
}

#[tokio::test(start_paused = true)]
async fn exhausted_attempts_return_the_last_error_marked_persistent() {
    let inner = double();
    inner.inner().set(&key("k"), b"v", None).await.unwrap();
    inner
        .push(Op::Get, Step::Fail(ErrorKind::Timeout))
        .push(Op::Get, Step::Fail(ErrorKind::Timeout))
        .push(Op::Get, Step::Fail(ErrorKind::Timeout))
        .push(Op::Get, Step::Fail(ErrorKind::Unavailable));
    let store = RetryStore::with_policy(Arc::clone(&inner), exact(4));
    let started = Instant::now();
    let result = store.get(&key("k")).await;
    let err = result.expect_err("an outage must not be reported as Ok(None)");
    assert_eq!(
        err.kind(),
        ErrorKind::Unavailable,
        "the last error is returned"
    );
    assert!(!err.is_temporary());
    assert!(err.is_persistent());
    assert_eq!(inner.calls(Op::Get), 4);
    assert_elapsed(started, Duration::from_millis(100 + 200 + 400));
}

#[tokio::test(start_paused = true)]
async fn a_write_applied_but_unacknowledged_is_retried_and_lands_once() {
    let inner = double();
    inner.push(Op::Set, Step::ApplyThenFail(ErrorKind::Unavailable));
    let store = RetryStore::with_policy(Arc::clone(&inner), exact(3));
    store.set(&key("k"), b"v2", None).await.unwrap();
    assert_eq!(inner.calls(Op::Set), 2);
    assert_eq!(store.get(&key("k")).await.unwrap(), Some(b"v2".to_vec()));
}

#[tokio::test(start_paused = true)]
async fn jittered_delays_stay_within_one_to_two_times_the_base() {
    for seed in 0..20 {
        let inner = double();
        inner.outage(ErrorKind::Unavailable);
        let policy = exact(4).jitter(true).jitter_seed(Some(seed));
        let store = RetryStore::with_policy(Arc::clone(&inner), policy);
        let started = Instant::now();
        store.get(&key("k")).await.unwrap_err();
        let elapsed = started.elapsed();
        assert_eq!(inner.calls(Op::Get), 4);
        assert!(
            elapsed >= Duration::from_millis(700),
            "seed {seed}: {elapsed:?}"
        );
        assert!(
            elapsed < Duration::from_millis(1400),
            "seed {seed}: {elapsed:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn delays_are_capped_at_max_delay() {
    let inner = double();
    inner.outage(ErrorKind::Unavailable);
    let policy = exact(6).max_delay(Duration::from_millis(250));
    let store = RetryStore::with_policy(Arc::clone(&inner), policy);
    let started = Instant::now();
    store.get(&key("k")).await.unwrap_err();
    assert_eq!(inner.calls(Op::Get), 6);
    // 100, 200, then 250 three times.
    assert_elapsed(started, Duration::from_millis(100 + 200 + 250 * 3));
}

#[tokio::test(start_paused = true)]
async fn total_elapsed_time_is_capped() {
    let inner = double();
    inner.outage(ErrorKind::Unavailable);
    let policy = exact(100)
        .min_delay(Duration::from_secs(1))
        .max_elapsed(Some(Duration::from_secs(5)));
    let store = RetryStore::with_policy(Arc::clone(&inner), policy);
    let started = Instant::now();
    let err = store.get(&key("k")).await.unwrap_err();
    assert!(err.is_persistent());
    // Waits of 1 s and 2 s fit in 5 s; the next (4 s) would end at 7 s, so the
    // wrapper gives up at 3 s after 3 attempts.
    assert_eq!(inner.calls(Op::Get), 3);
    assert_elapsed(started, Duration::from_secs(3));
}

#[tokio::test(start_paused = true)]
async fn slow_attempts_are_cut_off_with_timeout_and_retried() {
    let inner = double();
    inner.inner().set(&key("k"), b"v", None).await.unwrap();
    inner.push(Op::Get, Step::Delay(Duration::from_secs(30)));
    let policy = exact(3).attempt_timeout(Some(Duration::from_secs(1)));
    let store = RetryStore::with_policy(Arc::clone(&inner), policy);
    let started = Instant::now();
    assert_eq!(store.get(&key("k")).await.unwrap(), Some(b"v".to_vec()));
    assert_eq!(inner.calls(Op::Get), 2);
    // One cut-off attempt (1 s) and one backoff (100 ms); not the 30 s delay.
    assert_elapsed(started, Duration::from_millis(1100));
}

#[tokio::test(start_paused = true)]
async fn attempts_that_always_hang_end_in_a_persistent_timeout() {
    let inner = double();
    inner.set_default(Op::Set, Step::Delay(Duration::from_secs(3600)));
    let policy = exact(3).attempt_timeout(Some(Duration::from_secs(2)));
    let store = RetryStore::with_policy(Arc::clone(&inner), policy);
    let started = Instant::now();
    let err = store.set(&key("k"), b"v", None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert!(err.is_persistent());
    assert!(
        err.message().contains("may or may not have been applied"),
        "{err}"
    );
    // The retry layer made this error: it is its context.
    assert_eq!(err.operation(), Some(Operation::Set), "{err}");
    assert_eq!(err.backend_name(), Some("retry"), "{err}");
    assert_eq!(inner.calls(Op::Set), 3);
    assert_elapsed(started, Duration::from_millis(2000 * 3 + 100 + 200));
}

#[tokio::test(start_paused = true)]
async fn nested_retry_layers_do_not_multiply_attempts() {
    let inner = double();
    inner.outage(ErrorKind::Unavailable);
    let store = RetryStore::with_policy(
        RetryStore::with_policy(Arc::clone(&inner), exact(3)),
        exact(4),
    );
    let err = store.get(&key("k")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert!(err.is_persistent());
    assert_eq!(
        inner.calls(Op::Get),
        3,
        "the outer layer must not retry what the inner gave up on"
    );
}

#[tokio::test(start_paused = true)]
async fn works_through_arc_dyn_store_and_forwards_everything() {
    let inner = Arc::new(
        MemoryStore::new()
            .with_namespace("retry-ns".try_into().unwrap())
            .with_max_value_size(1234),
    );
    let dynamic: Arc<dyn Store> = inner;
    let store: Arc<dyn Store> = Arc::new(RetryStore::new(dynamic));
    assert_eq!(store.namespace().as_str(), "retry-ns");
    assert_eq!(store.max_value_size(), 1234);
    assert!(store.capabilities().ttl);
    assert!(store.capabilities().clear);
    let err = store.set(&key("k"), &[0; 1235], None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ValueTooLarge);
    store
        .set(&key("k"), b"v", Some(Ttl::from_millis(50).unwrap()))
        .await
        .unwrap();
    assert_eq!(store.get(&key("k")).await.unwrap(), Some(b"v".to_vec()));
}

#[test]
fn zero_attempts_means_one() {
    assert_eq!(RetryPolicy::new().max_attempts(0).get_max_attempts(), 1);
}

/// The layer rule for guarding wrappers (docs/architecture.md): every operation
/// goes through the retry loop, so a temporary failure of any of them is retried
/// — except the health probe, made once on purpose (see the next test).
#[tokio::test(start_paused = true)]
async fn every_operation_is_retried() {
    for operation in Op::ALL.into_iter().filter(|op| *op != Op::Ping) {
        // Some operations are exercised after a setup call of the same
        // operation (`set_if` after a `set_if_absent`): count those first.
        let clean = double();
        let store = RetryStore::with_policy(Arc::clone(&clean), exact(2));
        flowstore_core::conformance::layers::exercise(&store, operation).await;
        let calls_without_failure = clean.calls(operation);

        let inner = double();
        inner.fail_next(operation, ErrorKind::Unavailable, 1);
        let store = RetryStore::with_policy(Arc::clone(&inner), exact(2));
        flowstore_core::conformance::layers::exercise(&store, operation).await;
        assert_eq!(
            inner.calls(operation),
            calls_without_failure + 1,
            "{operation} was not retried"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_ping_is_made_once_not_retried() {
    let inner = double();
    inner.push(Op::Ping, Step::Fail(ErrorKind::Unavailable));
    let store = RetryStore::with_policy(Arc::clone(&inner), exact(5));
    let started = Instant::now();
    let err = store.ping().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert_eq!(inner.calls(Op::Ping), 1);
    assert_elapsed(started, Duration::ZERO);
    // The failure was not scripted again: the next probe answers.
    assert!(!store.ping().await.unwrap().is_degraded());
}

/// A failed condition is permanent: a `Conflict` of any versioned operation is
/// returned after one attempt, with the current version it carries.
#[tokio::test(start_paused = true)]
async fn a_conflict_is_never_retried() {
    let inner = double();
    let store = RetryStore::with_policy(Arc::clone(&inner), exact(5));
    let k = key("k");
    let current = store.set_versioned(&k, b"v1", None).await.unwrap();
    let stale = Version::generate();

    let err = store
        .set_if_version(&k, b"v2", None, &stale)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert_eq!(err.current_version(), Some(&current));
    assert_eq!(inner.calls(Op::SetIf), 2, "one set_versioned, one set_if");

    let err = store.delete_if_version(&k, &stale).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert_eq!(err.current_version(), Some(&current));
    assert_eq!(inner.calls(Op::DeleteIf), 1);
    assert_eq!(store.get(&k).await.unwrap(), Some(b"v1".to_vec()));
}

/// A `set_if` applied but unacknowledged is retried with the same proposed
/// version, and the store recognises its own write: `Ok`, not `Conflict`.
#[tokio::test(start_paused = true)]
async fn a_conditional_write_applied_but_unacknowledged_ends_ok() {
    let inner = double();
    let store = RetryStore::with_policy(Arc::clone(&inner), exact(3));
    let k = key("k");
    let v1 = store.set_versioned(&k, b"v1", None).await.unwrap();
    inner.push(Op::SetIf, Step::ApplyThenFail(ErrorKind::Timeout));
    let v2 = store.set_if_version(&k, b"v2", None, &v1).await.unwrap();
    assert_eq!(
        inner.calls(Op::SetIf),
        3,
        "set_versioned, then two attempts"
    );
    let entry = store.get_entry(&k).await.unwrap().unwrap();
    assert_eq!((entry.value.as_slice(), entry.version), (&b"v2"[..], v2));

    // The same for a create.
    let created = key("created");
    inner.push(Op::SetIf, Step::ApplyThenFail(ErrorKind::Unavailable));
    store.set_if_absent(&created, b"new", None).await.unwrap();
    assert_eq!(store.get(&created).await.unwrap(), Some(b"new".to_vec()));
}

/// A `delete_if` applied but unacknowledged: the retry finds the key absent,
/// which is what the delete asked for, so the call is `Ok`.
#[tokio::test(start_paused = true)]
async fn a_delete_if_applied_but_unacknowledged_ends_ok() {
    for kind in [ErrorKind::Timeout, ErrorKind::Unavailable] {
        let inner = double();
        let store = RetryStore::with_policy(Arc::clone(&inner), exact(3));
        let k = key("k");
        let version = store.set_versioned(&k, b"v", None).await.unwrap();
        inner.push(Op::DeleteIf, Step::ApplyThenFail(kind));
        store.delete_if_version(&k, &version).await.unwrap();
        assert_eq!(inner.calls(Op::DeleteIf), 2, "{kind}");
        assert_eq!(store.get(&k).await.unwrap(), None);
    }
}

/// The absent-conflict is forgiven only on a retry: on the first attempt the
/// key was absent before this call, and that is a conflict to report. A retry
/// that finds the key at another version is a conflict too.
#[tokio::test(start_paused = true)]
async fn a_delete_if_conflict_is_reported_unless_a_retry_finds_the_key_gone() {
    let inner = double();
    let store = RetryStore::with_policy(Arc::clone(&inner), exact(3));
    let k = key("k");
    let err = store
        .delete_if_version(&k, &Version::generate())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert_eq!(err.current(), Some(&Current::Absent));
    assert_eq!(err.operation(), Some(Operation::DeleteIf));
    assert_eq!(inner.calls(Op::DeleteIf), 1);

    let version = store.set_versioned(&k, b"v", None).await.unwrap();
    inner.push(Op::DeleteIf, Step::Fail(ErrorKind::Unavailable));
    let other = store.set_versioned(&k, b"w", None).await.unwrap();
    let err = store.delete_if_version(&k, &version).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert_eq!(err.current_version(), Some(&other));
    assert_eq!(store.get(&k).await.unwrap(), Some(b"w".to_vec()));
}
