//! Assertions shared by the server fault tests: an operation during an outage must
//! end within its bound, with a temporary error — never hang, never `Ok(None)`.

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

/// Runs `op`, panicking if it has not ended within `limit` (the store's own bound
/// plus generous slack: the point is "never hangs", not a latency goal).
pub async fn within<T>(limit: Duration, what: &str, op: impl Future<Output = T>) -> T {
    tokio::time::timeout(limit, op)
        .await
        .unwrap_or_else(|_| panic!("{what} did not end within {limit:?}"))
}
