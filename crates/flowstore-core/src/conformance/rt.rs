//! The little runtime the suite needs: run a case, sleep, run tasks concurrently.

use std::future::Future;
use std::time::Duration;

/// Runs one case to completion on a fresh two-thread runtime, so that concurrent
/// tasks really run in parallel.
pub fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("cannot build the test runtime")
        .block_on(future)
}

/// Sleeps for `duration`.
pub async fn sleep(duration: Duration) {
    tokio::time::sleep(duration).await;
}

/// Runs every future as its own task and waits for all of them, in order.
pub async fn run_concurrently<F, T>(futures: Vec<F>) -> Vec<T>
where
    F: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut outputs = Vec::with_capacity(handles.len());
    for handle in handles {
        outputs.push(handle.await.expect("a concurrent task panicked"));
    }
    outputs
}
