//! Test doubles for wrapper crates: a store that fails, or answers late, on the
//! calls you choose.
//!
//! ```
//! use flowstore_core::conformance::doubles::{Op, ScriptedStore, Step};
//! use flowstore_core::{ErrorKind, Key, Store};
//! # use flowstore_core::conformance::rt::block_on;
//! # #[derive(Debug, Default)] struct Nothing(flowstore_core::Namespace);
//! # #[flowstore_core::async_trait] impl Store for Nothing {
//! #   async fn get(&self, _: &Key) -> flowstore_core::Result<Option<Vec<u8>>> { Ok(None) }
//! #   async fn set(&self, _: &Key, _: &[u8], _: Option<flowstore_core::Ttl>) -> flowstore_core::Result<()> { Ok(()) }
//! #   async fn delete(&self, _: &Key) -> flowstore_core::Result<()> { Ok(()) }
//! #   async fn clear(&self) -> flowstore_core::Result<()> { Ok(()) }
//! #   fn namespace(&self) -> &flowstore_core::Namespace { &self.0 }
//! # }
//! # block_on(async {
//! let store = ScriptedStore::new(Nothing::default());
//! // The next two gets fail with Unavailable, then gets pass through again.
//! store.fail_next(Op::Get, ErrorKind::Unavailable, 2);
//! let key = Key::new("k").unwrap();
//! assert!(store.get(&key).await.is_err());
//! assert!(store.get(&key).await.is_err());
//! assert!(store.get(&key).await.is_ok());
//! assert_eq!(store.calls(Op::Get), 3);
//! # });
//! ```

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use crate::{
    Capabilities, Condition, Cursor, Entry, Error, ErrorKind, Health, Key, ListPage, Namespace,
    Prefix, Result, SetItem, Store, Ttl, Version,
};

/// A store operation, as the double sees it: [`Operation`](crate::Operation).
pub use crate::Operation as Op;

/// What one call does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Pass the call to the inner store.
    Pass,
    /// Fail with an error of this kind without touching the inner store.
    Fail(ErrorKind),
    /// Wait, then pass the call to the inner store.
    Delay(Duration),
    /// Wait, then fail without touching the inner store.
    DelayThenFail(Duration, ErrorKind),
    /// Pass the call to the inner store, then report an error of this kind anyway
    /// (a write whose acknowledgement was lost).
    ApplyThenFail(ErrorKind),
}

#[derive(Debug, Default)]
struct Script {
    queued: HashMap<Op, VecDeque<Step>>,
    otherwise: HashMap<Op, Step>,
    calls: HashMap<Op, usize>,
}

/// Wraps a store and follows a script: per operation, a queue of steps for the
/// next calls, and a default step for when the queue is empty (`Pass` unless set).
#[derive(Debug)]
pub struct ScriptedStore<S> {
    inner: S,
    script: Mutex<Script>,
}

impl<S: Store> ScriptedStore<S> {
    /// A double that passes every call to `inner` until told otherwise.
    pub fn new(inner: S) -> Self {
        ScriptedStore {
            inner,
            script: Mutex::new(Script::default()),
        }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    fn script(&self) -> std::sync::MutexGuard<'_, Script> {
        self.script
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Queues `step` for the next call of `op` not already scripted.
    pub fn push(&self, op: Op, step: Step) -> &Self {
        self.script().queued.entry(op).or_default().push_back(step);
        self
    }

    /// The next `times` calls of `op` fail with `kind`.
    pub fn fail_next(&self, op: Op, kind: ErrorKind, times: usize) -> &Self {
        for _ in 0..times {
            self.push(op, Step::Fail(kind));
        }
        self
    }

    /// What calls of `op` do once their queue is empty.
    pub fn set_default(&self, op: Op, step: Step) -> &Self {
        self.script().otherwise.insert(op, step);
        self
    }

    /// Every operation fails with `kind` until [`heal`](Self::heal).
    pub fn outage(&self, kind: ErrorKind) -> &Self {
        for op in Op::ALL {
            self.set_default(op, Step::Fail(kind));
        }
        self
    }

    /// Ends an outage: queued steps are dropped and every call passes again.
    pub fn heal(&self) -> &Self {
        let mut script = self.script();
        script.queued.clear();
        script.otherwise.clear();
        drop(script);
        self
    }

    /// How many times `op` was called (whatever the outcome).
    pub fn calls(&self, op: Op) -> usize {
        self.script().calls.get(&op).copied().unwrap_or(0)
    }

    fn next_step(&self, op: Op) -> Step {
        let mut script = self.script();
        *script.calls.entry(op).or_default() += 1;
        if let Some(step) = script.queued.get_mut(&op).and_then(VecDeque::pop_front) {
            return step;
        }
        script.otherwise.get(&op).cloned().unwrap_or(Step::Pass)
    }

    async fn run<T>(
        &self,
        op: Op,
        call: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        let scripted = |kind: ErrorKind| Error::new(kind, format!("scripted {op:?} failure"));
        match self.next_step(op) {
            Step::Pass => call.await,
            Step::Fail(kind) => Err(scripted(kind)),
            Step::Delay(duration) => {
                super::rt::sleep(duration).await;
                call.await
            }
            Step::DelayThenFail(duration, kind) => {
                super::rt::sleep(duration).await;
                Err(scripted(kind))
            }
            Step::ApplyThenFail(kind) => {
                call.await?;
                Err(scripted(kind))
            }
        }
    }
}

#[crate::async_trait]
impl<S: Store> Store for ScriptedStore<S> {
    async fn get(&self, key: &Key) -> Result<Option<Vec<u8>>> {
        self.run(Op::Get, self.inner.get(key)).await
    }

    async fn set(&self, key: &Key, value: &[u8], ttl: Option<Ttl>) -> Result<()> {
        self.run(Op::Set, self.inner.set(key, value, ttl)).await
    }

    async fn acknowledge_data_loss(&self) -> Result<()> {
        self.run(Op::AcknowledgeDataLoss, self.inner.acknowledge_data_loss())
            .await
    }

    async fn delete(&self, key: &Key) -> Result<()> {
        self.run(Op::Delete, self.inner.delete(key)).await
    }

    async fn clear(&self) -> Result<()> {
        self.run(Op::Clear, self.inner.clear()).await
    }

    async fn ping(&self) -> Result<Health> {
        self.run(Op::Ping, self.inner.ping()).await
    }

    async fn get_entry(&self, key: &Key) -> Result<Option<Entry>> {
        self.run(Op::GetEntry, self.inner.get_entry(key)).await
    }

    async fn set_if(
        &self,
        key: &Key,
        value: &[u8],
        ttl: Option<Ttl>,
        condition: &Condition,
        new_version: &Version,
    ) -> Result<()> {
        let call = self.inner.set_if(key, value, ttl, condition, new_version);
        self.run(Op::SetIf, call).await
    }

    async fn delete_if(&self, key: &Key, expected: &Version) -> Result<()> {
        self.run(Op::DeleteIf, self.inner.delete_if(key, expected))
            .await
    }

    async fn list(
        &self,
        prefix: &Prefix,
        cursor: Option<&Cursor>,
        limit: usize,
    ) -> Result<ListPage> {
        self.run(Op::List, self.inner.list(prefix, cursor, limit))
            .await
    }

    async fn delete_prefix(&self, prefix: &Prefix) -> Result<u64> {
        self.run(Op::DeletePrefix, self.inner.delete_prefix(prefix))
            .await
    }

    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Vec<u8>>>> {
        self.run(Op::GetMany, self.inner.get_many(keys)).await
    }

    async fn set_many(&self, items: &[SetItem<'_>]) -> Result<()> {
        self.run(Op::SetMany, self.inner.set_many(items)).await
    }

    async fn delete_many(&self, keys: &[Key]) -> Result<()> {
        self.run(Op::DeleteMany, self.inner.delete_many(keys)).await
    }

    async fn touch(&self, key: &Key, ttl: Option<Ttl>) -> Result<bool> {
        self.run(Op::Touch, self.inner.touch(key, ttl)).await
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

/// A store that implements only the required methods of [`Store`], over
/// `S`: no entry versions, no listing, no touch, no probe, and
/// [`Capabilities::basic`] — what a third-party store that implements the
/// minimum looks like, for tests of how wrappers and the server treat one.
#[derive(Debug, Default)]
pub struct RequiredOnly<S>(pub S);

#[crate::async_trait]
impl<S: Store> Store for RequiredOnly<S> {
    async fn get(&self, key: &Key) -> Result<Option<Vec<u8>>> {
        self.0.get(key).await
    }

    async fn set(&self, key: &Key, value: &[u8], ttl: Option<Ttl>) -> Result<()> {
        self.0.set(key, value, ttl).await
    }

    async fn delete(&self, key: &Key) -> Result<()> {
        self.0.delete(key).await
    }

    async fn clear(&self) -> Result<()> {
        self.0.clear().await
    }

    fn namespace(&self) -> &Namespace {
        self.0.namespace()
    }
}
