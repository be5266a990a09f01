//! Issue 15 §3: Redis, PostgreSQL and `flowstore serve` behind a TCP fault
//! proxy (`flowstore_test_servers::FaultProxy`) that cuts, blackholes and
//! slows their connections.
//!
//! - A write whose connection is cut after the whole request reached the
//!   server (closed, or blackholed so the answer never comes), or mid-way, is
//!   reported as a temporary `Unavailable`/`Timeout` — never as success. The
//!   test checks the cut came where it meant (exactly the cut's bytes went
//!   up; otherwise it measures and cuts again). The outcome of a whole cut
//!   request is unknown (docs/operations.md, "A write that failed"): the key
//!   then holds the last acknowledged value or one of unknown outcome; a
//!   request cut in half must not be applied.
//! - A single operation, blackholed or slowed past the store's timeouts, fails
//!   no sooner than the configured timeout and within the store's bound plus
//!   [`SINGLE_SLACK`] — not at a client library's default, nor the operating
//!   system's (which never comes: the proxy keeps acknowledging). Behind the
//!   retry wrapper, a call ends within the wrapper's deadline plus one
//!   attempt plus [`RETRY_SLACK`], after at most its cap of attempts (counted
//!   by a metrics wrapper below the retry wrapper), and at least two when the
//!   first ended with time to spare.
//!
//! The calls around a fault (calibration, writes before it, reads after it)
//! retry temporary errors for a while: a loaded machine may push one past the
//! 500 ms timeouts, and they are not what the test checks.
//!
//! Starts throwaway servers of its own; ignored under a plain `cargo test`
//! (`cargo xtask ci` runs it with `--include-ignored`). The tests take a lock,
//! so they run one at a time: they measure time.

#![allow(
    clippy::await_holding_lock,
    reason = "the serial lock is held for a whole test on purpose; each test has its own runtime"
)]

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

/// What the bound on a single operation allows on top of the store's own
/// timeouts: tighter than [`RETRY_SLACK`], so that a store ignoring its
/// configured timeouts and waiting out a client library's default (Redis's
/// command timeout is 5 s) fails.
const SINGLE_SLACK: Duration = Duration::from_secs(2);

/// Runs `op` until it succeeds, retrying temporary errors for up to
/// [`RECOVERY`]: the calls around a fault are not what a test checks, and on a
/// loaded machine one can miss the stores' 500 ms timeouts.
async fn patiently<T>(what: &str, mut op: impl AsyncFnMut() -> flowstore_core::Result<T>) -> T {
    let started = Instant::now();
    loop {
        match op().await {
            Ok(value) => return value,
            Err(err) => assert_temporary(&err, what),
        }
        assert!(
            started.elapsed() < RECOVERY,
            "{what} still failed after {RECOVERY:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

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

/// What calibrating a cut found.
struct Calibration {
    /// How many bytes client→server one `set` takes on a warm connection.
    size: u64,
    /// The value the last (acknowledged) calibration write left.
    acknowledged: Vec<u8>,
    /// Calibration writes that failed (a loaded machine): their outcome is
    /// unknown, so the key may still come to hold one.
    failed: Vec<Vec<u8>>,
}

/// Measures how many bytes client→server one `set` of `k` to a value of
/// `len` bytes takes on a warm connection: until two acknowledged writes in
/// a row agree (a first write may also prepare a statement or open a
/// connection). Each write's value is new: `round` and the attempt in it.
async fn calibrate(target: &Proxied, k: &Key, len: usize, round: u8) -> Calibration {
    let mut last = None;
    let mut failed = Vec::new();
    for attempt in 0..20u8 {
        let value = [vec![b'A' + round, b'a' + attempt], vec![b'0'; len - 2]].concat();
        let before = target.proxy.bytes_up();
        if let Err(err) = target.store.set(k, &value, None).await {
            assert_temporary(&err, "a calibration set");
            failed.push(value);
            last = None;
            continue;
        }
        let size = target.proxy.bytes_up() - before;
        if last == Some(size) {
            return Calibration {
                size,
                acknowledged: value,
                failed,
            };
        }
        last = Some(size);
    }
    panic!("one set never took the same number of bytes twice in a row ({last:?})");
}

/// A `set` of `new` cut in `mode` fails with a temporary error; the key then
/// holds `new` or one of `possible` (the last acknowledged value, and the
/// writes whose outcome is unknown: a cut write may still be applied after a
/// later read saw the old value, as PostgreSQL does with a statement it
/// received whole). Returns what it holds, and how many bytes went up while
/// the proxy was in `mode`; `None` if the set succeeded without using up the
/// cut's `budget` (it was smaller than measured: it never met the cut).
async fn cut_set(
    target: &Proxied,
    k: &Key,
    possible: &[Vec<u8>],
    new: &[u8],
    (mode, budget): (ProxyMode, u64),
) -> Option<(Vec<u8>, u64)> {
    let before = target.proxy.bytes_up();
    target.proxy.set_mode(mode);
    let result = within(
        target.op_bound,
        &format!("a set cut by {mode:?}"),
        target.store.set(k, new, None),
    )
    .await;
    let sent = target.proxy.bytes_up() - before;
    if result.is_ok() && sent < budget {
        heal(target, k).await;
        return None;
    }
    let err = result.expect_err(&format!("a set cut by {mode:?} was reported as written"));
    assert_temporary(&err, &format!("a set cut by {mode:?}"));
    heal(target, k).await;
    let now = patiently("a get after a cut", async || target.store.get(k).await).await;
    match now {
        Some(now) if now == new || possible.contains(&now) => Some((now, sent)),
        other => panic!(
            "after a set cut by {mode:?} the key holds {other:?}: not the last acknowledged \
             value, nor one of unknown outcome"
        ),
    }
}

/// The proxy mode that cuts a request of the given size.
type Cut = fn(u64) -> ProxyMode;

async fn cut_writes_are_errors(remote: Remote) {
    let target = start(remote).await;
    let k = key("cut");
    let len = 64;
    // What each cut lets through of a request of the given size; whether
    // the write may then be applied (a request cut in half never is: no
    // server acts on part of a Redis command, a PostgreSQL statement without
    // its Sync, or an HTTP request without its whole body).
    let cuts: [(&str, Cut, bool); 3] = [
        (
            "the whole request sent, then closed",
            ProxyMode::CloseAfter,
            true,
        ),
        (
            "the whole request sent, then no answer",
            ProxyMode::BlackholeAfter,
            true,
        ),
        (
            "half of the request sent, then closed",
            |size| ProxyMode::CloseAfter(size / 2),
            false,
        ),
    ];
    // Writes of unknown outcome so far: the cut ones and failed calibrations.
    let mut unknown = Vec::new();
    let mut round = 0u8;
    for (what, cut, may_apply) in cuts {
        // The cut budget is shared by every connection: if anything but this
        // set used it (a reconnect, a request of another size), the cut was
        // not where the test meant it, so measure again and cut again.
        let mut tries = 0;
        loop {
            // Measured again before each cut: the connection after the last
            // cut may be new, and its first statement larger (PostgreSQL
            // prepares it).
            let calibration = calibrate(&target, &k, len, round).await;
            unknown.extend(calibration.failed);
            let mode = cut(calibration.size);
            let (ProxyMode::CloseAfter(budget) | ProxyMode::BlackholeAfter(budget)) = mode else {
                unreachable!("every cut is CloseAfter or BlackholeAfter")
            };
            let new = [vec![b'A' + round, b'!'], vec![b'1'; len - 2]].concat();
            round += 1;
            let possible: Vec<Vec<u8>> = unknown
                .iter()
                .cloned()
                .chain([calibration.acknowledged])
                .collect();
            let cut = cut_set(&target, &k, &possible, &new, (mode, budget)).await;
            if let Some((now, sent)) = &cut {
                // Cut: its outcome is unknown. (Not cut: acknowledged, and
                // the next calibration overwrites it.)
                unknown.push(new.clone());
                eprintln!(
                    "{remote}: {what} ({mode:?}): reported as an error; {sent} bytes went up; \
                     then read as applied: {}",
                    *now == new
                );
            } else {
                eprintln!("{remote}: {what} ({mode:?}): the set was smaller than measured");
            }
            if let Some((now, sent)) = cut
                && sent == budget
            {
                assert!(
                    may_apply || now != new,
                    "{remote}: {what}: the write was applied"
                );
                break;
            }
            tries += 1;
            assert!(
                tries < 3,
                "{remote}: {what}: the cut never came after exactly {budget} bytes"
            );
        }
    }
    // The connection pool recovered: a plain write and read work again.
    patiently("a set after the cuts", async || {
        target.store.set(&k, b"after", None).await
    })
    .await;
    let now = patiently("a get after the cuts", async || target.store.get(&k).await).await;
    assert_eq!(now, Some(b"after".to_vec()));
}

/// When each attempt that reached the store ended.
type Attempts = Arc<Mutex<Vec<Instant>>>;

/// A retry wrapper over the proxied store, and the attempts that reached the
/// store (a metrics wrapper between the two sees each attempt).
fn retrying(target: &Proxied, policy: RetryPolicy) -> (RetryStore<impl Store>, Attempts) {
    let attempts = Attempts::default();
    let record = Arc::clone(&attempts);
    let counted = MetricsStore::new(Arc::clone(&target.store))
        .without_facade()
        .with_callback(move |_: &flowstore_metrics::OpEvent<'_>| {
            record
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(Instant::now());
        });
    (RetryStore::with_policy(counted, policy), attempts)
}

/// How one retried call went.
struct Retried {
    /// Attempts that reached the store.
    made: usize,
    /// The whole call's time.
    took: Duration,
    /// When (after the call began) its first attempt ended.
    first_ended: Option<Duration>,
}

/// One `set` through `store` while the proxy is in `mode`: it fails
/// temporarily-then-persistently within `bound`; how it went.
async fn retried_set_fails(
    target: &Proxied,
    store: &impl Store,
    attempts: &Mutex<Vec<Instant>>,
    mode: ProxyMode,
    bound: Duration,
) -> Retried {
    let k = key("retried");
    patiently("a set before the fault", async || {
        target.store.set(&k, b"before", None).await
    })
    .await;
    attempts.lock().unwrap_or_else(|e| e.into_inner()).clear();
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
    let attempts = attempts.lock().unwrap_or_else(|e| e.into_inner());
    Retried {
        made: attempts.len(),
        took: elapsed,
        first_ended: attempts.first().map(|end| end.duration_since(started)),
    }
}

async fn retry_stays_within_its_deadline_and_cap(remote: Remote) {
    let target = start(remote).await;
    // A slow server: every round trip takes longer than the store waits.
    let slow = ProxyMode::Delay(TIMEOUT * 2);
    for mode in [ProxyMode::Blackhole, slow] {
        // A single operation, no retry: it fails at the store's own timeouts
        // — not before its configured timeout, and well before any default
        // of its client library.
        let k = key("single");
        patiently("a set before the fault", async || {
            target.store.set(&k, b"before", None).await
        })
        .await;
        target.proxy.set_mode(mode);
        let started = Instant::now();
        let result = within(
            target.op_bound + SINGLE_SLACK,
            &format!("a get under {mode:?}"),
            target.store.get(&k),
        )
        .await;
        let single = started.elapsed();
        eprintln!("{remote} {mode:?}: a single get failed after {single:?}");
        assert_temporary(
            &result.expect_err(&format!("a get under {mode:?} answered")),
            &format!("a get under {mode:?}"),
        );
        assert!(
            (TIMEOUT..=target.op_bound + SINGLE_SLACK).contains(&single),
            "a get under {mode:?} took {single:?}; the store's timeouts ({TIMEOUT:?} each) allow \
             {:?}",
            target.op_bound
        );
        heal(&target, &k).await;

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
        let Retried {
            made,
            took,
            first_ended,
        } = retried_set_fails(&target, &store, &attempts, mode, bound).await;
        eprintln!(
            "{remote} {mode:?}, deadline {deadline:?}: {made} attempts in {took:?} (the first \
             ended after {first_ended:?})"
        );
        assert!(
            (1..=cap as usize).contains(&made),
            "{made} attempts under a deadline of {deadline:?} (cap {cap})"
        );
        // A second attempt is due only if the first ended with time to spare
        // for a delay (at most twice `max_delay`, jitter) before the
        // deadline; on a loaded machine the first may run late.
        let max_delay = Duration::from_millis(100);
        if first_ended.is_some_and(|first| first + max_delay * 2 + SINGLE_SLACK / 4 < deadline) {
            assert!(
                made >= 2,
                "one attempt, ended {first_ended:?} into a deadline of {deadline:?}"
            );
        }

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
        let Retried { made, took, .. } =
            retried_set_fails(&target, &store, &attempts, mode, bound).await;
        eprintln!("{remote} {mode:?}, cap {cap}: {made} attempts in {took:?}");
        assert_eq!(made, cap as usize, "attempts under a cap of {cap}");
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
