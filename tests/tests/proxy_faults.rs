//! Issue 15 §3: Redis, PostgreSQL and `flowstore serve` behind a TCP fault
//! proxy (`flowstore_test_servers::FaultProxy`) that cuts, blackholes and
//! slows their connections.
//!
//! - A write whose connection is cut after the whole request reached the
//!   server (closed, or blackholed so the answer never comes), or mid-way, is
//!   reported as a temporary `Unavailable`/`Timeout` — never as success. Its
//!   outcome is unknown (docs/operations.md, "A write that failed"): the test
//!   only checks that the key then holds either the old value or the new one.
//! - Behind the retry wrapper, with the server blackholed or slowed past the
//!   store's timeouts, a call ends within the wrapper's deadline plus one
//!   attempt plus [`RETRY_SLACK`], after at most its cap of attempts (counted
//!   by a metrics wrapper below the retry wrapper) and at least two; a single
//!   blackholed operation fails at the store's configured timeouts, not at the
//!   operating system's (which never comes: the proxy keeps acknowledging).
//!
//! Starts throwaway servers of its own; ignored under a plain `cargo test`
//! (`cargo xtask ci` runs it with `--include-ignored`). The tests take a lock,
//! so they run one at a time: they measure time.

#![allow(
    clippy::await_holding_lock,
    reason = "the serial lock is held for a whole test on purpose; each test has its own runtime"
)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use flowstore_core::{Key, Namespace, Store};
use flowstore_metrics::MetricsStore;
use flowstore_retry::{RetryPolicy, RetryStore};
use flowstore_test_servers::ProxyMode;
use flowstore_tests::faults::{RECOVERY, assert_temporary, within};
use flowstore_tests::proxied::{self, Proxied, Remote};

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Every timeout of the stores under test.
const TIMEOUT: Duration = Duration::from_millis(500);

/// What a time bound allows on top of what the configuration says. The bounds
/// check that a call ends at its configured timeouts and deadline, not at the
/// operating system's TCP timeout (minutes, or never while the proxy keeps
/// acknowledging); they are not latency goals. A CI machine with 2 cores runs
/// three test binaries and throwaway servers at once, so a timer can fire a
/// second or more late: the slack is generous, and still far below anything
/// the operating system would produce.
const RETRY_SLACK: Duration = Duration::from_secs(5);

fn key(text: &str) -> Key {
    Key::new(text).unwrap()
}

fn namespace() -> Namespace {
    Namespace::new("proxy-faults").unwrap()
}

async fn start(remote: Remote) -> Proxied {
    proxied::start(remote, &namespace(), TIMEOUT).await
}

/// Sets the proxy back to `Pass` and waits until the store serves again.
async fn heal(target: &Proxied, probe: &Key) {
    target.proxy.set_mode(ProxyMode::Pass);
    let started = Instant::now();
    loop {
        match within(
            target.op_bound,
            "get while healing",
            target.store.get(probe),
        )
        .await
        {
            Ok(_) => return,
            Err(err) => assert_temporary(&err, "get while healing"),
        }
        assert!(
            started.elapsed() < RECOVERY,
            "the store did not serve again"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// How many bytes client→server one `set` of `k` to a value of `len` bytes
/// takes on a warm connection: measured until two writes in a row agree (a
/// first write may also prepare a statement or open a connection).
async fn bytes_of_one_set(target: &Proxied, k: &Key, len: usize) -> u64 {
    let mut last = None;
    for attempt in 0..10u8 {
        let before = target.proxy.bytes_up();
        let value = vec![b'0' + attempt; len];
        target.store.set(k, &value, None).await.unwrap();
        let size = target.proxy.bytes_up() - before;
        if last == Some(size) {
            return size;
        }
        last = Some(size);
    }
    panic!("one set never took the same number of bytes twice in a row ({last:?})");
}

/// A `set` of `new` cut in `mode` fails with a temporary error; the key then
/// holds `new` or one of `possible` (every value written before: a cut write
/// may still be applied after a later read saw the old value, as PostgreSQL
/// does with a statement it received whole).
/// Returns what it holds.
async fn cut_set(
    target: &Proxied,
    k: &Key,
    possible: &[Vec<u8>],
    new: &[u8],
    mode: ProxyMode,
) -> Vec<u8> {
    target.proxy.set_mode(mode);
    let result = within(
        target.op_bound,
        &format!("a set cut by {mode:?}"),
        target.store.set(k, new, None),
    )
    .await;
    let err = result.expect_err(&format!("a set cut by {mode:?} was reported as written"));
    assert_temporary(&err, &format!("a set cut by {mode:?}"));
    heal(target, k).await;
    let now = target.store.get(k).await.unwrap();
    match now {
        Some(now) if now == new || possible.contains(&now) => now,
        other => {
            panic!("after a set cut by {mode:?} the key holds {other:?}: no value written before")
        }
    }
}

/// The proxy mode that cuts a request of the given size.
type Cut = fn(u64) -> ProxyMode;

async fn cut_writes_are_errors(remote: Remote) {
    let target = start(remote).await;
    let k = key("cut");
    let len = 64;
    let cuts: [(&str, Cut); 3] = [
        ("the whole request sent, then closed", ProxyMode::CloseAfter),
        (
            "the whole request sent, then no answer",
            ProxyMode::BlackholeAfter,
        ),
        ("half of the request sent, then closed", |size| {
            ProxyMode::CloseAfter(size / 2)
        }),
    ];
    // Every value written so far: the calibration's and the cut writes'.
    let mut possible = Vec::new();
    for (i, (what, mode)) in cuts.into_iter().enumerate() {
        // Measured again before each cut: the connection after the last cut
        // may be new, and its first statement larger (PostgreSQL prepares it).
        let size = bytes_of_one_set(&target, &k, len).await;
        possible.extend((0..10).map(|n| vec![b'0' + n; len]));
        let mode = mode(size);
        let new = vec![b'a' + u8::try_from(i).unwrap(); len];
        let now = cut_set(&target, &k, &possible, &new, mode).await;
        eprintln!(
            "{remote}: {what} ({mode:?}): reported as an error; then read as applied: {}",
            now == new
        );
        possible.push(new);
    }
    // The connection pool recovered: a plain write and read work again.
    target.store.set(&k, b"after", None).await.unwrap();
    assert_eq!(target.store.get(&k).await.unwrap(), Some(b"after".to_vec()));
}

/// A retry wrapper over the proxied store, and the count of attempts that
/// reached the store (a metrics wrapper between the two sees each attempt).
fn retrying(target: &Proxied, policy: RetryPolicy) -> (RetryStore<impl Store>, Arc<AtomicU32>) {
    let attempts = Arc::new(AtomicU32::new(0));
    let counter = Arc::clone(&attempts);
    let counted = MetricsStore::new(Arc::clone(&target.store))
        .without_facade()
        .with_callback(move |_: &flowstore_metrics::OpEvent<'_>| {
            counter.fetch_add(1, Ordering::SeqCst);
        });
    (RetryStore::with_policy(counted, policy), attempts)
}

/// One `set` through `store` while the proxy is in `mode`: it fails
/// temporarily-then-persistently within `bound`; its attempts and time.
async fn retried_set_fails(
    target: &Proxied,
    store: &impl Store,
    attempts: &AtomicU32,
    mode: ProxyMode,
    bound: Duration,
) -> (u32, Duration) {
    let k = key("retried");
    store.set(&k, b"before", None).await.unwrap();
    attempts.store(0, Ordering::SeqCst);
    target.proxy.set_mode(mode);
    let started = Instant::now();
    let result = within(bound, "a retried set", store.set(&k, b"during", None)).await;
    let elapsed = started.elapsed();
    let err = result.expect_err(&format!("a set under {mode:?} succeeded"));
    assert!(
        matches!(
            err.kind(),
            flowstore_core::ErrorKind::Timeout | flowstore_core::ErrorKind::Unavailable
        ),
        "{err:?}"
    );
    assert!(
        !err.is_temporary(),
        "the retry wrapper gave up but left the error temporary: {err:?}"
    );
    assert!(
        elapsed <= bound,
        "a retried set under {mode:?} took {elapsed:?}, over its bound {bound:?}"
    );
    heal(target, &k).await;
    (attempts.load(Ordering::SeqCst), elapsed)
}

async fn retry_stays_within_its_deadline_and_cap(remote: Remote) {
    let target = start(remote).await;
    // A single blackholed operation, no retry: it fails at the store's own
    // timeouts.
    let k = key("single");
    target.store.set(&k, b"before", None).await.unwrap();
    target.proxy.set_mode(ProxyMode::Blackhole);
    let started = Instant::now();
    let result = within(
        target.op_bound + RETRY_SLACK,
        "a blackholed get",
        target.store.get(&k),
    )
    .await;
    assert_temporary(
        &result.expect_err("a blackholed get answered"),
        "a blackholed get",
    );
    let single = started.elapsed();
    assert!(
        single <= target.op_bound + RETRY_SLACK,
        "a blackholed get took {single:?}; the store's timeouts allow {:?}",
        target.op_bound
    );
    heal(&target, &k).await;

    // A slow server: every round trip takes longer than the store waits.
    let slow = ProxyMode::Delay(TIMEOUT * 2);
    for mode in [ProxyMode::Blackhole, slow] {
        // The deadline binds: plenty of attempts allowed, little time.
        let deadline = target.op_bound * 2;
        let cap = 50;
        let policy = RetryPolicy::new()
            .max_attempts(cap)
            .min_delay(Duration::from_millis(20))
            .max_delay(Duration::from_millis(100))
            .max_elapsed(Some(deadline));
        let (store, attempts) = retrying(&target, policy);
        // No attempt starts after the deadline; the last may run its full bound.
        let bound = deadline + target.op_bound + RETRY_SLACK;
        let (made, took) = retried_set_fails(&target, &store, &attempts, mode, bound).await;
        eprintln!("{remote} {mode:?}, deadline {deadline:?}: {made} attempts in {took:?}");
        assert!(
            (2..=cap).contains(&made),
            "{made} attempts under a deadline of {deadline:?} (cap {cap})"
        );

        // The cap binds: few attempts, plenty of time.
        let cap = 3;
        let max_delay = Duration::from_millis(100);
        let policy = RetryPolicy::new()
            .max_attempts(cap)
            .min_delay(Duration::from_millis(20))
            .max_delay(max_delay)
            .max_elapsed(Some(Duration::from_secs(600)));
        let (store, attempts) = retrying(&target, policy);
        // Each attempt its full bound, each delay at most twice `max_delay` (jitter).
        let bound = (target.op_bound + max_delay * 2) * cap + RETRY_SLACK;
        let (made, took) = retried_set_fails(&target, &store, &attempts, mode, bound).await;
        eprintln!("{remote} {mode:?}, cap {cap}: {made} attempts in {took:?}");
        assert_eq!(made, cap, "attempts under a cap of {cap}");
    }
}

macro_rules! per_backend {
    ($($name:ident: $check:ident($remote:expr), $why:literal;)*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        #[ignore = $why]
        async fn $name() {
            let _serial = serial();
            $check($remote).await;
        }
    )*};
}

per_backend! {
    redis_cut_writes_are_errors: cut_writes_are_errors(Remote::Redis), "starts redis-server";
    postgres_cut_writes_are_errors: cut_writes_are_errors(Remote::Postgres), "needs PostgreSQL server binaries (initdb)";
    http_cut_writes_are_errors: cut_writes_are_errors(Remote::Http), "serial with the other fault tests";
    redis_retry_stays_within_its_deadline_and_cap: retry_stays_within_its_deadline_and_cap(Remote::Redis), "starts redis-server";
    postgres_retry_stays_within_its_deadline_and_cap: retry_stays_within_its_deadline_and_cap(Remote::Postgres), "needs PostgreSQL server binaries (initdb)";
    http_retry_stays_within_its_deadline_and_cap: retry_stays_within_its_deadline_and_cap(Remote::Http), "serial with the other fault tests";
}
