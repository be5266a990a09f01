//! Assertions and time bounds shared by the server fault tests: an operation
//! during an outage must end within its bound, with a temporary error — never
//! hang, never `Ok(None)`.

use std::future::Future;
use std::time::Duration;

use flowstore_core::{Error, ErrorKind};

/// Panics unless `err` is a temporary `Unavailable` or `Timeout`.
pub fn assert_temporary(err: &Error, what: &str) {
    assert!(
        matches!(err.kind(), ErrorKind::Unavailable | ErrorKind::Timeout) && err.is_temporary(),
        "{what}: expected a temporary Unavailable/Timeout error, got {err:?}"
    );
}

/// Slack on top of a store's own bound before an operation counts as hung. The
/// point is "never hangs", not a latency goal: far more than scheduling needs
/// while throwaway servers crash and fail over on a busy machine, far less than
/// "forever".
pub const HANG_SLACK: Duration = Duration::from_secs(10);

/// How long a store may take to serve again after a crash, restart or failover
/// before the test gives up. The throwaway servers notice a dead primary within
/// 2 s (`cluster-node-timeout`, Sentinel's `down-after-milliseconds`; see
/// `flowstore_test_servers`) and Sentinel retries a failed failover after 10 s, so only
/// a store that does not recover runs out of this.
pub const RECOVERY: Duration = Duration::from_secs(60);

/// Runs `op`, panicking if it has not ended within `bound`, the store's own
/// bound for it, plus [`HANG_SLACK`].
pub async fn within<T>(bound: Duration, what: &str, op: impl Future<Output = T>) -> T {
    let limit = bound + HANG_SLACK;
    tokio::time::timeout(limit, op)
        .await
        .unwrap_or_else(|_| panic!("{what} did not end within {limit:?}"))
}
