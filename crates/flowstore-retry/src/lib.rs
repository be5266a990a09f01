#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

mod policy;
mod rt;

use std::future::Future;

use flowstore_core::{Capabilities, Key, Namespace, Result, Store, Ttl};

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
    async fn run<T, F, Fut>(&self, what: &'static str, mut call: F) -> Result<T>
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
            let error = match rt::timeout(policy.attempt_timeout, call(), what).await {
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

#[cfg_attr(not(target_arch = "wasm32"), flowstore_core::async_trait)]
#[cfg_attr(target_arch = "wasm32", flowstore_core::async_trait(?Send))]
impl<S: Store> Store for RetryStore<S> {
    async fn get(&self, key: &Key) -> Result<Option<Vec<u8>>> {
        self.run("get", || self.inner.get(key)).await
    }

    async fn set(&self, key: &Key, value: &[u8], ttl: Option<Ttl>) -> Result<()> {
        self.run("set", || self.inner.set(key, value, ttl)).await
    }

    async fn delete(&self, key: &Key) -> Result<()> {
        self.run("delete", || self.inner.delete(key)).await
    }

    async fn clear(&self) -> Result<()> {
        self.run("clear", || self.inner.clear()).await
    }

    fn namespace(&self) -> &Namespace {
        self.inner.namespace()
    }

    fn max_value_size(&self) -> usize {
        self.inner.max_value_size()
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
}
