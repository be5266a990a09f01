#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

mod layer;
mod policy;
mod rt;

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};

use flowstore_core::{
    Call, CallOutput, Current, Error, ErrorKind, Key, LayeredStore, MaybeSend, Operation, Result,
    Store, Version,
};

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
//
// `delete_if` is the one operation written out: see `retried_delete_if`.
#[flowstore_core::async_trait]
impl<S: Store> LayeredStore for RetryStore<S> {
    type Inner = S;

    fn inner(&self) -> &S {
        &self.inner
    }

    // Written out rather than `async fn`: `async_trait` on this impl (needed
    // for `delete_if`) would turn an `async fn around` into a boxed future,
    // which is not the trait's signature.
    #[allow(clippy::manual_async_fn)]
    fn around<'a, T, F, Fut>(
        &'a self,
        call: Call<'a>,
        mut run: F,
    ) -> impl Future<Output = Result<T>> + MaybeSend + 'a
    where
        T: CallOutput + 'a,
        F: FnMut() -> Fut + MaybeSend + 'a,
        Fut: Future<Output = Result<T>> + MaybeSend + 'a,
    {
        async move {
            if call.operation == Operation::Ping {
                return rt::timeout(self.policy.attempt_timeout, run(), Operation::Ping).await;
            }
            self.run(call.operation, run).await
        }
    }

    async fn delete_if(&self, key: &Key, expected: &Version) -> Result<()> {
        retried_delete_if(self, key, expected)
            .await
            .map_err(|err| err.with_operation(Operation::DeleteIf))
    }
}

/// `delete_if` through the retry loop, where a retry may find the key already
/// gone by its own earlier attempt.
///
/// An attempt that failed with a temporary error (a timeout, a connection cut
/// after the request was sent) may have deleted the key. The retry then finds it
/// absent and the store answers `Conflict` with [`Current::Absent`]: reporting
/// that would tell the caller its delete failed when it is the caller's own
/// delete that removed the key. So a retry's absent-conflict is `Ok`: the key is
/// gone, which is what the call asked for. (If another writer deleted it in the
/// meantime instead, the answer is the same: the caller cannot tell the two
/// apart, and either way the key it wanted deleted is deleted.) A conflict on the
/// first attempt, or one naming another version, is returned as it is.
async fn retried_delete_if<S: Store>(
    store: &RetryStore<S>,
    key: &Key,
    expected: &Version,
) -> Result<()> {
    let inner = &store.inner;
    // Set once an attempt has started; every attempt after the first follows
    // a temporary failure (`run` stops at success and at permanent errors).
    let attempted = AtomicBool::new(false);
    store
        .run(Operation::DeleteIf, || async {
            let is_retry = attempted.swap(true, Ordering::Relaxed);
            match inner.delete_if(key, expected).await {
                Err(err) if is_retry && is_absent_conflict(&err) => Ok(()),
                result => result,
            }
        })
        .await
}

fn is_absent_conflict(err: &Error) -> bool {
    err.kind() == ErrorKind::Conflict && err.current() == Some(&Current::Absent)
}
