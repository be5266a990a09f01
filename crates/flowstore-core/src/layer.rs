//! Wrappers: a [`Layer`] turns a store into a wrapped one, and a wrapper
//! implements [`LayeredStore`] so that it writes only what it changes.
//!
//! A wrapper is one of two kinds, and the trait gives each a single hook, so
//! that no wrapper forwards operations by hand and an operation added to
//! [`Store`] later reaches every wrapper without an edit in it:
//!
//! - a wrapper that **rewrites** what crosses it (encrypt, compress, a default
//!   TTL) returns a [`Transform`] from [`LayeredStore::transform`]. Every
//!   value-carrying operation passes its values through that transform; the
//!   wrapper writes no operation itself, so it cannot forward a value
//!   untransformed;
//! - a wrapper that **observes or guards** every call (metrics, retry)
//!   implements [`LayeredStore::around`], which every operation goes through.
//!
//! Everything else (namespace, limits, capabilities, the operations that carry
//! no value) is forwarded to [`LayeredStore::inner`]. A wrapper that needs more
//! (the fallback wrapper holds several stores) implements [`Store`] itself;
//! then [`Store`]'s provided value-carrying methods run over its own `get` and
//! `set`, never over an inner store's.

use std::borrow::Cow;
use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::health::Health;
use crate::key::Key;
use crate::limits::check_value_size;
use crate::listing::{Cursor, ListPage, Prefix, SetItem};
use crate::namespace::Namespace;
use crate::operation::Operation;
use crate::store::{
    Capabilities, MaybeSend, MaybeSync, Store, StoreFuture, check_set_items, forward_store_methods,
};
use crate::ttl::Ttl;
use crate::version::{Condition, Entry, Version};

/// Turns a store into a wrapped one: tower's `Layer`, for stores.
///
/// Each wrapper crate has one (`EncryptLayer`, `RetryLayer`, …), so a stack can
/// be described before the stores it wraps exist, and the same description can
/// wrap every store of a fallback chain.
///
/// ```
/// use std::sync::Arc;
/// use flowstore_core::{Layer, LayeredStore, Store, Transform, Ttl};
///
/// /// Gives every write without a TTL one of a day.
/// #[derive(Debug)]
/// struct DayTtl;
///
/// impl Transform for DayTtl {
///     fn ttl(&self, ttl: Option<Ttl>) -> Option<Ttl> {
///         ttl.or(Some(Ttl::from_secs(24 * 3600).unwrap()))
///     }
/// }
///
/// #[derive(Debug)]
/// struct DayTtlStore<S> { inner: S }
///
/// impl<S: Store> LayeredStore for DayTtlStore<S> {
///     type Inner = S;
///     fn inner(&self) -> &S { &self.inner }
///     fn transform(&self) -> Option<&dyn Transform> { Some(&DayTtl) }
/// }
///
/// #[derive(Debug)]
/// struct DayTtlLayer;
///
/// impl Layer for DayTtlLayer {
///     fn layer(&self, inner: Arc<dyn Store>) -> Arc<dyn Store> {
///         Arc::new(DayTtlStore { inner })
///     }
/// }
/// # fn use_it(store: Arc<dyn Store>) -> Arc<dyn Store> { DayTtlLayer.layer(store) }
/// ```
pub trait Layer: MaybeSend + MaybeSync + Debug {
    /// `inner`, wrapped.
    fn layer(&self, inner: Arc<dyn Store>) -> Arc<dyn Store>;
}

/// Applies `layers` to `store`, the first layer innermost.
pub fn apply_layers<'a>(
    store: Arc<dyn Store>,
    layers: impl IntoIterator<Item = &'a dyn Layer>,
) -> Arc<dyn Store> {
    layers
        .into_iter()
        .fold(store, |store, layer| layer.layer(store))
}

/// One call crossing a layer, as [`LayeredStore::around`] sees it. Never holds
/// a value: a layer that observes calls learns sizes, not contents.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct Call<'a> {
    /// Which operation.
    pub operation: Operation,
    /// The key it touches (`None` for namespace-wide operations such as `clear`).
    pub key: Option<&'a Key>,
    /// The size of the value the caller passed, for writes.
    pub value_len: Option<usize>,
}

impl<'a> Call<'a> {
    /// A call of `operation` on `key`.
    pub const fn new(operation: Operation, key: Option<&'a Key>) -> Self {
        Call {
            operation,
            key,
            value_len: None,
        }
    }

    /// The same, writing a value of `len` bytes.
    pub const fn with_value_len(mut self, len: usize) -> Self {
        self.value_len = Some(len);
        self
    }
}

/// What an operation returns, as a layer that observes calls may report it.
pub trait CallOutput: MaybeSend {
    /// Bytes of the value returned, if the operation returns one.
    fn value_len(&self) -> Option<usize> {
        None
    }

    /// Whether a read found its key (`None` for operations that are not reads).
    fn found(&self) -> Option<bool> {
        None
    }
}

impl CallOutput for () {}

impl CallOutput for Health {}

impl CallOutput for Option<Entry> {
    fn value_len(&self) -> Option<usize> {
        self.as_ref().map(|entry| entry.value.len())
    }

    fn found(&self) -> Option<bool> {
        Some(self.is_some())
    }
}

impl CallOutput for ListPage {}

impl CallOutput for u64 {}

impl CallOutput for bool {
    fn found(&self) -> Option<bool> {
        Some(*self)
    }
}

impl CallOutput for Vec<Option<Vec<u8>>> {
    fn value_len(&self) -> Option<usize> {
        Some(self.iter().flatten().map(Vec::len).sum())
    }
}

impl CallOutput for Option<Vec<u8>> {
    fn value_len(&self) -> Option<usize> {
        self.as_ref().map(Vec::len)
    }

    fn found(&self) -> Option<bool> {
        Some(self.is_some())
    }
}

/// Where a value is being encoded or decoded, for a [`Transform`].
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct ValueContext<'a> {
    /// The namespace of the store the value is stored in.
    pub namespace: &'a Namespace,
    /// The key it is stored under.
    pub key: &'a Key,
    /// The largest value the wrapper accepts: the most a decoded value may be.
    pub max_value_size: usize,
}

/// How a wrapper rewrites what crosses it: values on their way in and out, and
/// the TTL of writes. Every method defaults to leaving things as they are.
///
/// [`LayeredStore`] applies it to every operation that carries a value or a TTL,
/// so a transform written for `get` and `set` also covers every operation added
/// to [`Store`] later.
pub trait Transform: MaybeSend + MaybeSync + Debug {
    /// The bytes to store for `value`.
    fn encode<'v>(&self, cx: &ValueContext<'_>, value: &'v [u8]) -> Result<Cow<'v, [u8]>> {
        let _ = cx;
        Ok(Cow::Borrowed(value))
    }

    /// The value stored as `stored`.
    fn decode(&self, cx: &ValueContext<'_>, stored: Vec<u8>) -> Result<Vec<u8>> {
        let _ = cx;
        Ok(stored)
    }

    /// The TTL to write with, given the caller's.
    fn ttl(&self, ttl: Option<Ttl>) -> Option<Ttl> {
        ttl
    }

    /// How many bytes [`encode`](Transform::encode) may add to a value at most;
    /// the wrapper's `max_value_size` is its inner store's minus this.
    fn overhead(&self) -> usize {
        0
    }
}

/// A store that wraps another and writes only what it changes: implement
/// [`inner`](LayeredStore::inner) and one hook, [`transform`](LayeredStore::transform)
/// or [`around`](LayeredStore::around), and the wrapper is a [`Store`].
///
/// The methods named like [`Store`]'s have defaults that apply both hooks and
/// forward to the inner store; override one only when neither hook can say what
/// the wrapper does (and then keep the rules of the module documentation).
/// Implement this trait with `#[flowstore_core::async_trait]` when you override
/// an `async` method. Its methods share [`Store`]'s names, so import it only
/// where you implement it: where both traits are in scope, call a wrapper's
/// operations as `Store::get(&store, …)`.
///
/// ```
/// use std::future::Future;
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use flowstore_core::{Call, CallOutput, LayeredStore, MaybeSend, Result, Store};
///
/// /// Counts the calls that reach the store it wraps, whatever the operation.
/// #[derive(Debug)]
/// struct Counted<S> { inner: S, calls: AtomicU64 }
///
/// impl<S: Store> LayeredStore for Counted<S> {
///     type Inner = S;
///
///     fn inner(&self) -> &S {
///         &self.inner
///     }
///
///     fn around<'a, T, F, Fut>(&'a self, _call: Call<'a>, mut run: F)
///         -> impl Future<Output = Result<T>> + MaybeSend + 'a
///     where
///         T: CallOutput + 'a,
///         F: FnMut() -> Fut + MaybeSend + 'a,
///         Fut: Future<Output = Result<T>> + MaybeSend + 'a,
///     {
///         self.calls.fetch_add(1, Ordering::Relaxed);
///         run()
///     }
/// }
/// ```
#[crate::async_trait]
pub trait LayeredStore: MaybeSend + MaybeSync + Debug {
    /// The store this wrapper holds.
    type Inner: Store + ?Sized;

    /// The store this wrapper holds.
    fn inner(&self) -> &Self::Inner;

    /// How this wrapper rewrites values and TTLs, if it does. Default: it does not.
    fn transform(&self) -> Option<&dyn Transform> {
        None
    }

    /// Runs one call to the inner store (`run` makes it; a guard may call it
    /// again). Default: runs it once, as it is.
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
        let _ = call;
        run()
    }

    /// [`Store::get`]: the inner store's value, decoded by the transform.
    async fn get(&self, key: &Key) -> Result<Option<Vec<u8>>> {
        let inner = self.inner();
        let call = Call::new(Operation::Get, Some(key));
        let stored = self
            .around(call, || inner.get(key))
            .await
            .map_err(in_op(Operation::Get))?;
        match (stored, self.transform()) {
            (Some(stored), Some(transform)) => transform
                .decode(&value_context(self, key, self.max_value_size()), stored)
                .map(Some)
                .map_err(in_op(Operation::Get)),
            (stored, _) => Ok(stored),
        }
    }

    /// [`Store::set`]: the value encoded and the TTL rewritten by the transform.
    async fn set(&self, key: &Key, value: &[u8], ttl: Option<Ttl>) -> Result<()> {
        let inner = self.inner();
        let call = Call::new(Operation::Set, Some(key)).with_value_len(value.len());
        let Some(transform) = self.transform() else {
            return self
                .around(call, || inner.set(key, value, ttl))
                .await
                .map_err(in_op(Operation::Set));
        };
        // Checked against this wrapper's limit before encoding: the caller is
        // told about the value it passed, not about its envelope.
        let max_value_size = self.max_value_size();
        check_value_size(value, max_value_size).map_err(in_op(Operation::Set))?;
        let stored = transform
            .encode(&value_context(self, key, max_value_size), value)
            .map_err(in_op(Operation::Set))?;
        let ttl = transform.ttl(ttl);
        self.around(call, || inner.set(key, &stored, ttl))
            .await
            .map_err(in_op(Operation::Set))
    }

    /// [`Store::delete`]: forwarded.
    async fn delete(&self, key: &Key) -> Result<()> {
        let inner = self.inner();
        let call = Call::new(Operation::Delete, Some(key));
        self.around(call, || inner.delete(key))
            .await
            .map_err(in_op(Operation::Delete))
    }

    /// [`Store::clear`]: forwarded.
    async fn clear(&self) -> Result<()> {
        let inner = self.inner();
        let call = Call::new(Operation::Clear, None);
        self.around(call, || inner.clear())
            .await
            .map_err(in_op(Operation::Clear))
    }

    /// [`Store::ping`]: forwarded (a probe carries no value to transform).
    async fn ping(&self) -> Result<Health> {
        let inner = self.inner();
        let call = Call::new(Operation::Ping, None);
        self.around(call, || inner.ping())
            .await
            .map_err(in_op(Operation::Ping))
    }

    /// [`Store::get_entry`]: the inner store's entry, its value decoded by the
    /// transform.
    async fn get_entry(&self, key: &Key) -> Result<Option<Entry>> {
        let inner = self.inner();
        let call = Call::new(Operation::GetEntry, Some(key));
        let entry = self
            .around(call, || inner.get_entry(key))
            .await
            .map_err(in_op(Operation::GetEntry))?;
        match (entry, self.transform()) {
            (Some(mut entry), Some(transform)) => {
                let cx = value_context(self, key, self.max_value_size());
                entry.value = transform
                    .decode(&cx, entry.value)
                    .map_err(in_op(Operation::GetEntry))?;
                Ok(Some(entry))
            }
            (entry, _) => Ok(entry),
        }
    }

    /// [`Store::set_if`]: the value encoded and the TTL rewritten by the
    /// transform; the condition and the proposed version pass through unchanged.
    async fn set_if(
        &self,
        key: &Key,
        value: &[u8],
        ttl: Option<Ttl>,
        condition: &Condition,
        new_version: &Version,
    ) -> Result<()> {
        let inner = self.inner();
        let call = Call::new(Operation::SetIf, Some(key)).with_value_len(value.len());
        let Some(transform) = self.transform() else {
            return self
                .around(call, || {
                    inner.set_if(key, value, ttl, condition, new_version)
                })
                .await
                .map_err(in_op(Operation::SetIf));
        };
        let max_value_size = self.max_value_size();
        check_value_size(value, max_value_size).map_err(in_op(Operation::SetIf))?;
        let stored = transform
            .encode(&value_context(self, key, max_value_size), value)
            .map_err(in_op(Operation::SetIf))?;
        let ttl = transform.ttl(ttl);
        self.around(call, || {
            inner.set_if(key, &stored, ttl, condition, new_version)
        })
        .await
        .map_err(in_op(Operation::SetIf))
    }

    /// [`Store::delete_if`]: forwarded.
    async fn delete_if(&self, key: &Key, expected: &Version) -> Result<()> {
        let inner = self.inner();
        let call = Call::new(Operation::DeleteIf, Some(key));
        self.around(call, || inner.delete_if(key, expected))
            .await
            .map_err(in_op(Operation::DeleteIf))
    }

    /// [`Store::list`]: forwarded. Sizes are the inner store's, so behind a
    /// transform they are the stored form's.
    async fn list(
        &self,
        prefix: &Prefix,
        cursor: Option<&Cursor>,
        limit: usize,
    ) -> Result<ListPage> {
        let inner = self.inner();
        let call = Call::new(Operation::List, None);
        self.around(call, || inner.list(prefix, cursor, limit))
            .await
            .map_err(in_op(Operation::List))
    }

    /// [`Store::delete_prefix`]: forwarded.
    async fn delete_prefix(&self, prefix: &Prefix) -> Result<u64> {
        let inner = self.inner();
        let call = Call::new(Operation::DeletePrefix, None);
        self.around(call, || inner.delete_prefix(prefix))
            .await
            .map_err(in_op(Operation::DeletePrefix))
    }

    /// [`Store::get_many`]: the inner store's values, each decoded by the
    /// transform.
    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Vec<u8>>>> {
        let inner = self.inner();
        let call = Call::new(Operation::GetMany, None);
        let stored = self
            .around(call, || inner.get_many(keys))
            .await
            .map_err(in_op(Operation::GetMany))?;
        if stored.len() != keys.len() {
            // Zipping below would drop or misplace answers silently.
            return Err(in_op(Operation::GetMany)(Error::backend(format!(
                "the inner store answered {} values for {} keys",
                stored.len(),
                keys.len()
            ))));
        }
        let Some(transform) = self.transform() else {
            return Ok(stored);
        };
        let max_value_size = self.max_value_size();
        keys.iter()
            .zip(stored)
            .map(|(key, value)| {
                value
                    .map(|value| transform.decode(&value_context(self, key, max_value_size), value))
                    .transpose()
            })
            .collect::<Result<_>>()
            .map_err(in_op(Operation::GetMany))
    }

    /// [`Store::set_many`]: every value encoded and every TTL rewritten by the
    /// transform, after every value passed this wrapper's size check.
    async fn set_many(&self, items: &[SetItem<'_>]) -> Result<()> {
        let inner = self.inner();
        let value_len = items.iter().map(|item| item.value.len()).sum();
        let call = Call::new(Operation::SetMany, None).with_value_len(value_len);
        let Some(transform) = self.transform() else {
            return self
                .around(call, || inner.set_many(items))
                .await
                .map_err(in_op(Operation::SetMany));
        };
        let max_value_size = self.max_value_size();
        check_set_items(max_value_size, self.capabilities(), items)
            .map_err(in_op(Operation::SetMany))?;
        let stored = items
            .iter()
            .map(|item| {
                transform.encode(&value_context(self, item.key, max_value_size), item.value)
            })
            .collect::<Result<Vec<_>>>()
            .map_err(in_op(Operation::SetMany))?;
        let encoded: Vec<SetItem<'_>> = items
            .iter()
            .zip(&stored)
            .map(|(item, stored)| SetItem::new(item.key, stored, transform.ttl(item.ttl)))
            .collect();
        self.around(call, || inner.set_many(&encoded))
            .await
            .map_err(in_op(Operation::SetMany))
    }

    /// [`Store::delete_many`]: forwarded.
    async fn delete_many(&self, keys: &[Key]) -> Result<()> {
        let inner = self.inner();
        let call = Call::new(Operation::DeleteMany, None);
        self.around(call, || inner.delete_many(keys))
            .await
            .map_err(in_op(Operation::DeleteMany))
    }

    /// [`Store::touch`]: the TTL rewritten by the transform, as for a write.
    async fn touch(&self, key: &Key, ttl: Option<Ttl>) -> Result<bool> {
        let inner = self.inner();
        let ttl = self.transform().map_or(ttl, |transform| transform.ttl(ttl));
        let call = Call::new(Operation::Touch, Some(key));
        self.around(call, || inner.touch(key, ttl))
            .await
            .map_err(in_op(Operation::Touch))
    }

    /// [`Store::acknowledge_data_loss`]: forwarded (it reads and writes no
    /// key; a retry of it is harmless, acknowledging twice is acknowledging).
    async fn acknowledge_data_loss(&self) -> Result<()> {
        let inner = self.inner();
        let call = Call::new(Operation::AcknowledgeDataLoss, None);
        self.around(call, || inner.acknowledge_data_loss())
            .await
            .map_err(in_op(Operation::AcknowledgeDataLoss))
    }

    /// [`Store::namespace`]: the inner store's.
    fn namespace(&self) -> &Namespace {
        self.inner().namespace()
    }

    /// [`Store::max_value_size`]: the inner store's, less the transform's
    /// overhead, so that a value of this size always fits below.
    fn max_value_size(&self) -> usize {
        let overhead = self.transform().map_or(0, Transform::overhead);
        self.inner().max_value_size().saturating_sub(overhead)
    }

    /// [`Store::capabilities`]: the inner store's.
    fn capabilities(&self) -> Capabilities {
        self.inner().capabilities()
    }
}

/// Records `operation` on an error that does not name one yet: the errors a
/// transform or a guard makes (a `Corrupt` from decoding, the value-size check),
/// and those of an inner store that records no context. An inner store's own
/// context is kept (see [`Error::with_operation`]).
fn in_op(operation: Operation) -> impl FnOnce(Error) -> Error {
    move |err| err.with_operation(operation)
}

/// The context a wrapper's transform sees for `key`.
fn value_context<'a, L: LayeredStore + ?Sized>(
    layered: &'a L,
    key: &'a Key,
    max_value_size: usize,
) -> ValueContext<'a> {
    ValueContext {
        namespace: layered.inner().namespace(),
        key,
        max_value_size,
    }
}

// Every wrapper is a store. The methods hand out the wrapper's own future
// instead of boxing another around it.
impl<L: LayeredStore> Store for L {
    forward_store_methods!(LayeredStore, |this| this);
}

/// The two rules of the module documentation, checked for every [`Operation`]
/// with the conformance module's [`exercise`](crate::conformance::layers::exercise),
/// whose match has no wildcard.
#[cfg(all(test, feature = "conformance"))]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::conformance::layers::{RecordingStore, assert_transforms_every_value, exercise};
    use crate::conformance::rt::block_on;

    const MARK: &[u8] = b"sealed:";

    /// Prefixes values with [`MARK`] and checks it on the way back.
    #[derive(Debug)]
    struct Marking;

    impl Transform for Marking {
        fn encode<'v>(&self, _cx: &ValueContext<'_>, value: &'v [u8]) -> Result<Cow<'v, [u8]>> {
            Ok(Cow::Owned([MARK, value].concat()))
        }

        fn decode(&self, _cx: &ValueContext<'_>, stored: Vec<u8>) -> Result<Vec<u8>> {
            match stored.strip_prefix(MARK) {
                Some(value) => Ok(value.to_vec()),
                None => Err(Error::corrupt("value without the mark")),
            }
        }

        fn overhead(&self) -> usize {
            MARK.len()
        }
    }

    #[derive(Debug)]
    struct Marked<S>(S);

    impl<S: Store> LayeredStore for Marked<S> {
        type Inner = S;

        fn inner(&self) -> &S {
            &self.0
        }

        fn transform(&self) -> Option<&dyn Transform> {
            Some(&Marking)
        }
    }

    #[derive(Debug)]
    struct MarkLayer;

    impl Layer for MarkLayer {
        fn layer(&self, inner: Arc<dyn Store>) -> Arc<dyn Store> {
            Arc::new(Marked(inner))
        }
    }

    /// Records which operations went through `around`.
    #[derive(Debug)]
    struct Guarded<S> {
        inner: S,
        seen: Mutex<Vec<Operation>>,
    }

    impl<S: Store> LayeredStore for Guarded<S> {
        type Inner = S;

        fn inner(&self) -> &S {
            &self.inner
        }

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
            self.seen.lock().unwrap().push(call.operation);
            run()
        }
    }

    #[test]
    fn a_transforming_wrapper_never_forwards_a_value_untransformed() {
        block_on(assert_transforms_every_value(&MarkLayer, |stored| {
            stored.starts_with(MARK)
        }));
    }

    #[test]
    fn a_transforming_wrapper_takes_its_overhead_off_the_limit() {
        let store = Marked(RecordingStore::default());
        assert_eq!(
            Store::max_value_size(&store),
            crate::DEFAULT_MAX_VALUE_SIZE - MARK.len()
        );
    }

    #[test]
    fn a_guarding_wrapper_sees_every_operation() {
        block_on(async {
            for operation in Operation::ALL {
                let store = Guarded {
                    inner: RecordingStore::default(),
                    seen: Mutex::new(Vec::new()),
                };
                exercise(&store, operation).await;
                assert!(
                    store.seen.lock().unwrap().contains(&operation),
                    "{operation} did not go through `around`"
                );
            }
        });
    }

    #[test]
    fn errors_a_wrapper_makes_name_the_operation() {
        block_on(async {
            let recording = RecordingStore::default();
            let key = Key::new("k").unwrap();
            Store::set(&recording, &key, b"unmarked", None)
                .await
                .unwrap();
            let store = Marked(recording);
            let err = Store::get(&store, &key).await.unwrap_err();
            assert_eq!(err.operation(), Some(Operation::Get), "{err}");
            // The value-size check of the wrapper, too.
            let too_big = vec![0; Store::max_value_size(&store) + 1];
            let err = Store::set(&store, &key, &too_big, None).await.unwrap_err();
            assert_eq!(err.operation(), Some(Operation::Set), "{err}");
        });
    }

    /// Fails every call with an error that names its backend only.
    #[derive(Debug)]
    struct Down(Namespace);

    #[crate::async_trait]
    impl Store for Down {
        async fn get(&self, _key: &Key) -> Result<Option<Vec<u8>>> {
            Err(Error::unavailable("down").with_backend("inner"))
        }

        async fn set(&self, _key: &Key, _value: &[u8], _ttl: Option<Ttl>) -> Result<()> {
            Err(Error::unavailable("down").with_backend("inner"))
        }

        async fn delete(&self, _key: &Key) -> Result<()> {
            Err(Error::unavailable("down").with_backend("inner"))
        }

        async fn clear(&self) -> Result<()> {
            Err(Error::unavailable("down").with_backend("inner"))
        }

        fn namespace(&self) -> &Namespace {
            &self.0
        }
    }

    #[test]
    fn an_inner_stores_context_is_kept_and_completed() {
        block_on(async {
            let key = Key::new("k").unwrap();
            let store = Marked(Down(Namespace::default()));
            let err = Store::delete(&store, &key).await.unwrap_err();
            assert_eq!(err.backend_name(), Some("inner"));
            assert_eq!(err.operation(), Some(Operation::Delete));
            assert_eq!(err.to_string(), "unavailable: inner delete: down");
            let err = Store::set(&store, &key, b"v", None).await.unwrap_err();
            assert_eq!(err.operation(), Some(Operation::Set));
        });
    }

    #[test]
    fn layers_apply_innermost_first() {
        block_on(async {
            let recording = Arc::new(RecordingStore::default());
            let layers: [&dyn Layer; 2] = [&MarkLayer, &MarkLayer];
            let store = apply_layers(recording.clone(), layers);
            let key = Key::new("k").unwrap();
            // `Store::` because this module also has `LayeredStore` in scope.
            Store::set(&store, &key, b"v", None).await.unwrap();
            assert_eq!(recording.written()[0], b"sealed:sealed:v");
            assert_eq!(Store::get(&store, &key).await.unwrap(), Some(b"v".to_vec()));
        });
    }
}
