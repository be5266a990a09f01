//! Clocks, sleeping and timeouts: Tokio's natively (so tests can pause the
//! clock), the browser's timers and `performance.now()` on `wasm32`.

use std::future::Future;
use std::pin::pin;
use std::time::Duration;

use flowstore_core::{Error, Operation, Result};
use futures::future::{Either, select};

#[cfg(not(target_arch = "wasm32"))]
pub(crate) use tokio::time::Instant;
#[cfg(target_arch = "wasm32")]
pub(crate) use web_time::Instant;

/// Sleeps for `duration`.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) async fn sleep(duration: Duration) {
    tokio::time::sleep(duration).await;
}

/// Sleeps for `duration`.
#[cfg(target_arch = "wasm32")]
pub(crate) async fn sleep(duration: Duration) {
    use backon::Sleeper;
    backon::GlooTimersSleep.sleep(duration).await;
}

/// Runs `attempt`, giving up with a temporary `Timeout` error after `limit`.
/// The attempt's future is dropped then: a write cut off this way has an
/// unknown outcome.
pub(crate) async fn timeout<T>(
    limit: Option<Duration>,
    attempt: impl Future<Output = Result<T>>,
    operation: Operation,
) -> Result<T> {
    let Some(limit) = limit else {
        return attempt.await;
    };
    match select(pin!(attempt), pin!(sleep(limit))).await {
        Either::Left((result, _)) => result,
        Either::Right(((), _)) => Err(Error::timeout(format!(
            "attempt cut off by the retry layer after {limit:?}{}",
            if operation == Operation::Get {
                ""
            } else {
                " (the write may or may not have been applied)"
            }
        ))
        // Made here, so this layer is its context.
        .with_backend("retry")
        .with_operation(operation)),
    }
}
