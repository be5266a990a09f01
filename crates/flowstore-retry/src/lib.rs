#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

mod layer;
mod policy;
mod rt;

use std::future::Future;

use flowstore_core::{Call, CallOutput, LayeredStore, MaybeSend, Operation, Result, Store};

pub use layer::RetryLayer;
pub use policy::RetryPolicy;

/// A store that retries the temporary errors of the store it wraps, with
/// exponential backoff and jitter. See the [crate docs](crate) for exactly what
/// it promises.
#[derive(Debug, Clone)]
pub struct RetryStore<S> {
    inner: S,
    policy: RetryPolicy,
}

impl<S: Store> RetryStore<S> {
    /// Wraps `inner` with the default [`RetryPolicy`] (3 attempts, 50 ms first
    /// delay doubling up to 2 s, jitter, 10 s total, no per-attempt timeout).
    pub fn new(inner: S) -> Self {
        RetryStore::with_policy(inner, RetryPolicy::default())
    }

    /// Wraps `inner` with `policy`.
    pub fn with_policy(inner: S, policy: RetryPolicy) -> Self {
        RetryStore { inner, policy }
    }
}

impl<S> RetryStore<S> {
    /// The policy in force.
    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    /// The wrapped store.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped store, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner store.
    pub fn into_inner(self) -> S {
        self.inner
    }

    /// Runs `call` until it succeeds, fails permanently, or the policy gives up.
    async fn run<T, F, Fut>(&self, operation: Operation, mut call: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let policy = &self.policy;
        let started = rt::Instant::now();
        let mut backoff = policy.backoff();
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let error = match rt::timeout(policy.attempt_timeout, call(), operation).await {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            if !error.is_temporary() {
                // Permanent, or already given up on by an inner retry layer.
                return Err(error);
            }
            if attempt >= policy.max_attempts {
                return Err(error.into_persistent());
            }
            let Some(delay) = backoff.next() else {
                return Err(error.into_persistent());
            };
            let over_budget = policy
                .max_elapsed
                .is_some_and(|max| started.elapsed().saturating_add(delay) > max);
            if over_budget {
                return Err(error.into_persistent());
            }
            rt::sleep(delay).await;
        }
    }
}

// Every operation, those added to `Store` later included, goes through `around`
// and so through the retry loop, except the health probe: a probe reports the
// store as it is now, and its caller (a load balancer) has its own timeout and
// failure threshold; retrying inside it would only make a down store look slow,
// and a degraded probe run into that caller's timeout.
impl<S: Store> LayeredStore for RetryStore<S> {
    type Inner = S;

    fn inner(&self) -> &S {
        &self.inner
    }

    async fn around<'a, T, F, Fut>(&'a self, call: Call<'a>, mut run: F) -> Result<T>
    where
        T: CallOutput + 'a,
        F: FnMut() -> Fut + MaybeSend + 'a,
        Fut: Future<Output = Result<T>> + MaybeSend + 'a,
    {
        if call.operation == Operation::Ping {
            return rt::timeout(self.policy.attempt_timeout, run(), Operation::Ping).await;
        }
        self.run(call.operation, run).await
    }
}
