//! The little runtime the suite needs: run a case, sleep, run tasks concurrently.
//!
//! Natively the suite runs on tokio; in a browser (`wasm32`) on the page's event
//! loop, where futures are not `Send` and there are no threads.

use std::future::Future;
use std::time::Duration;

/// Runs one case to completion on a fresh two-thread runtime, so that concurrent
/// tasks really run in parallel.
#[cfg(not(target_arch = "wasm32"))]
pub fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("cannot build the test runtime")
        .block_on(future)
}

/// Sleeps for `duration`.
#[cfg(not(target_arch = "wasm32"))]
pub async fn sleep(duration: Duration) {
    tokio::time::sleep(duration).await;
}

/// Sleeps for `duration`.
#[cfg(target_arch = "wasm32")]
pub async fn sleep(duration: Duration) {
    gloo_timers::future::sleep(duration).await;
}

/// Runs every future as its own task and waits for all of them, in order.
#[cfg(not(target_arch = "wasm32"))]
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

/// Runs every future concurrently on the page's event loop and waits for all of
/// them, in order.
#[cfg(target_arch = "wasm32")]
pub async fn run_concurrently<F, T>(futures: Vec<F>) -> Vec<T>
where
    F: Future<Output = T> + 'static,
    T: 'static,
{
    futures::future::join_all(futures).await
}

/// Runs two futures as their own tasks and waits for both.
#[cfg(not(target_arch = "wasm32"))]
pub async fn join<A, B>(a: A, b: B) -> (A::Output, B::Output)
where
    A: Future + Send + 'static,
    B: Future + Send + 'static,
    A::Output: Send + 'static,
    B::Output: Send + 'static,
{
    let (a, b) = (tokio::spawn(a), tokio::spawn(b));
    let a = a.await.expect("a concurrent task panicked");
    let b = b.await.expect("a concurrent task panicked");
    (a, b)
}

/// Runs two futures concurrently on the page's event loop and waits for both.
#[cfg(target_arch = "wasm32")]
pub async fn join<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
    futures::future::join(a, b).await
}

/// The wall clock, as the backends' expiry times are given.
#[cfg(not(target_arch = "wasm32"))]
pub fn wall_clock() -> std::time::SystemTime {
    std::time::SystemTime::now()
}

/// The wall clock, as the backends' expiry times are given (std's clock panics
/// on wasm32-unknown-unknown; JavaScript's is asked instead).
#[cfg(target_arch = "wasm32")]
pub fn wall_clock() -> std::time::SystemTime {
    std::time::UNIX_EPOCH + Duration::from_millis(js_sys::Date::now() as u64)
}
