//! The [`Store`] trait and what a store declares about itself.

use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::health::Health;
use crate::key::Key;
use crate::layer::LayeredStore;
use crate::limits::check_value_size;
use crate::listing::{Cursor, ListPage, Prefix, SetItem, check_batch_len};
use crate::namespace::Namespace;
use crate::ttl::Ttl;
use crate::version::{Condition, Entry, Version};

/// `Send` on native targets; nothing on `wasm32`, where browser futures are not `Send`.
#[cfg(not(target_arch = "wasm32"))]
pub trait MaybeSend: Send {}
#[cfg(not(target_arch = "wasm32"))]
impl<T: Send + ?Sized> MaybeSend for T {}

/// `Send` on native targets; nothing on `wasm32`, where browser futures are not `Send`.
#[cfg(target_arch = "wasm32")]
pub trait MaybeSend {}
#[cfg(target_arch = "wasm32")]
impl<T: ?Sized> MaybeSend for T {}

/// `Sync` on native targets; nothing on `wasm32`.
#[cfg(not(target_arch = "wasm32"))]
pub trait MaybeSync: Sync {}
#[cfg(not(target_arch = "wasm32"))]
impl<T: Sync + ?Sized> MaybeSync for T {}

/// `Sync` on native targets; nothing on `wasm32`.
#[cfg(target_arch = "wasm32")]
pub trait MaybeSync {}
#[cfg(target_arch = "wasm32")]
impl<T: ?Sized> MaybeSync for T {}

/// What a store can do. The conformance suite tests every capability a store
/// claims, and checks that a capability it lacks fails with
/// [`Unsupported`](crate::ErrorKind::Unsupported) instead of silently doing nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Capabilities {
    /// `set` accepts a TTL and the entry expires.
    pub ttl: bool,
    /// `clear` removes every key of the store's namespace (and nothing else).
    pub clear: bool,
    /// Entries carry entry versions: `get_entry`, `set_if` and `delete_if` work
    /// (SPEC §8).
    pub versions: bool,
    /// `list` pages through the namespace's keys by prefix and `delete_prefix`
    /// removes them (SPEC §9).
    pub list: bool,
    /// `list` returns every key exactly once, in key order (byte order of the
    /// UTF-8 text), when nothing changes during the listing. Without it a key
    /// may appear more than once, in any order (a Redis `SCAN`).
    pub list_ordered: bool,
    /// `touch` changes an entry's TTL without rewriting its value.
    pub touch: bool,
}

impl Capabilities {
    /// Every capability.
    pub const fn all() -> Capabilities {
        Capabilities {
            ttl: true,
            clear: true,
            versions: true,
            list: true,
            list_ordered: true,
            touch: true,
        }
    }

    /// TTL and `clear`: what a store that implements only the required methods
    /// of [`Store`] can claim (the batch operations work there too, by their
    /// provided loops). [`Store::capabilities`] defaults to it.
    pub const fn basic() -> Capabilities {
        Capabilities {
            ttl: true,
            clear: true,
            versions: false,
            list: false,
            list_ordered: false,
            touch: false,
        }
    }

    /// The same, with `ttl` set to `ttl`.
    pub const fn with_ttl(mut self, ttl: bool) -> Capabilities {
        self.ttl = ttl;
        self
    }

    /// The same, with `clear` set to `clear`.
    pub const fn with_clear(mut self, clear: bool) -> Capabilities {
        self.clear = clear;
        self
    }

    /// The same, with `versions` set to `versions`.
    pub const fn with_versions(mut self, versions: bool) -> Capabilities {
        self.versions = versions;
        self
    }

    /// The same, with `list` set to `list` (and `list_ordered` to `ordered`).
    pub const fn with_list(mut self, list: bool, ordered: bool) -> Capabilities {
        self.list = list;
        self.list_ordered = list && ordered;
        self
    }

    /// The same, with `touch` set to `touch`.
    pub const fn with_touch(mut self, touch: bool) -> Capabilities {
        self.touch = touch;
        self
    }

    /// What both `self` and `other` can do (for wrappers over several stores).
    pub const fn intersect(self, other: Capabilities) -> Capabilities {
        Capabilities {
            ttl: self.ttl && other.ttl,
            clear: self.clear && other.clear,
            versions: self.versions && other.versions,
            list: self.list && other.list,
            list_ordered: self.list_ordered && other.list_ordered,
            touch: self.touch && other.touch,
        }
    }
}

impl Default for Capabilities {
    fn default() -> Self {
        Capabilities::all()
    }
}

/// A place to save and load small pieces of state.
///
/// Every backend and every wrapper implements this trait; application code holds an
/// `Arc<dyn Store>` (or a concrete type) and never learns which backend it is.
///
/// The contract, in short (the shared conformance suite checks each rule):
///
/// - [`get`](Store::get) returns `Ok(Some(bytes))` for a present, unexpired entry,
///   `Ok(None)` for an absent or expired one, and `Err` whenever the answer is
///   unknown. **A failure is never reported as `Ok(None)`.**
/// - [`set`](Store::set) inserts or replaces. Once it returns `Ok`, every later
///   `get` sees the value. A plain `set` (no TTL) removes an earlier TTL. A value
///   over [`max_value_size`](Store::max_value_size) is `ValueTooLarge` and nothing
///   is written.
/// - [`delete`](Store::delete) is idempotent.
/// - [`clear`](Store::clear) removes every key of this store's namespace and
///   nothing else.
/// - A write whose future is dropped or times out has an unknown outcome: it may or
///   may not have been applied.
/// - A store with the [`versions`](Capabilities::versions) capability gives every
///   entry an entry version ([`Version`]) that changes on every write, and
///   implements [`get_entry`](Store::get_entry), [`set_if`](Store::set_if) and
///   [`delete_if`](Store::delete_if) (SPEC §8; the [`StoreExt`](crate::StoreExt)
///   helpers `set_if_absent`, `set_if_version` and `delete_if_version` are the
///   usual way to call them).
/// - A store with the [`list`](Capabilities::list) capability lists its keys by
///   prefix in pages ([`list`](Store::list), [`delete_prefix`](Store::delete_prefix));
///   the batch operations ([`get_many`](Store::get_many), [`set_many`](Store::set_many),
///   [`delete_many`](Store::delete_many)) work on every store, atomic per key
///   (SPEC §9).
///
/// Keys and TTLs arrive already validated ([`Key`], [`Ttl`]). An implementation
/// must call [`check_value_size`](crate::check_value_size) before writing.
///
/// # Implementing a store
///
/// ```
/// use std::collections::HashMap;
/// use std::sync::Mutex;
/// use flowstore_core::{async_trait, check_value_size, Capabilities, Error, Key, Namespace, Result, Store, Ttl};
///
/// /// A store that keeps entries in a map and does not support TTL.
/// #[derive(Debug, Default)]
/// struct MapStore {
///     namespace: Namespace,
///     entries: Mutex<HashMap<Key, Vec<u8>>>,
/// }
///
/// #[async_trait]
/// impl Store for MapStore {
///     async fn get(&self, key: &Key) -> Result<Option<Vec<u8>>> {
///         Ok(self.entries.lock().unwrap().get(key).cloned())
///     }
///
///     async fn set(&self, key: &Key, value: &[u8], ttl: Option<Ttl>) -> Result<()> {
///         if ttl.is_some() {
///             return Err(Error::unsupported("MapStore does not support TTL"));
///         }
///         check_value_size(value, self.max_value_size())?;
///         self.entries.lock().unwrap().insert(key.clone(), value.to_vec());
///         Ok(())
///     }
///
///     async fn delete(&self, key: &Key) -> Result<()> {
///         self.entries.lock().unwrap().remove(key);
///         Ok(())
///     }
///
///     async fn clear(&self) -> Result<()> {
///         self.entries.lock().unwrap().clear();
///         Ok(())
///     }
///
///     fn namespace(&self) -> &Namespace {
///         &self.namespace
///     }
///
///     fn capabilities(&self) -> Capabilities {
///         Capabilities::basic().with_ttl(false)
///     }
/// }
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let store: std::sync::Arc<dyn Store> = std::sync::Arc::new(MapStore::default());
/// let key = Key::new("signup/step")?;
/// store.set(&key, b"2", None).await?;
/// assert_eq!(store.get(&key).await?, Some(b"2".to_vec()));
/// # Ok::<(), Error>(())
/// # }).unwrap();
/// ```
#[crate::async_trait]
pub trait Store: MaybeSend + MaybeSync + Debug {
    /// The value stored under `key`, `None` if absent or expired, `Err` if unknown.
    async fn get(&self, key: &Key) -> Result<Option<Vec<u8>>>;

    /// Stores `value` under `key`, replacing any earlier value and TTL. With a
    /// `ttl`, the entry expires after it.
    async fn set(&self, key: &Key, value: &[u8], ttl: Option<Ttl>) -> Result<()>;

    /// Removes `key`. Removing an absent key is `Ok`.
    async fn delete(&self, key: &Key) -> Result<()>;

    /// Removes every key of this store's namespace, and nothing else.
    async fn clear(&self) -> Result<()>;

    /// Whether this store can serve right now: one cheap round trip to its
    /// backend that reads no user data, so that a probe costs the same whatever
    /// was stored (a memory store answers at once, SQLite runs a trivial query,
    /// PostgreSQL `SELECT 1`, Redis `PING`).
    ///
    /// `Ok` means the store can serve; a store made of several (a fallback)
    /// lists in the [`Health`] the parts that cannot. `Err` means it cannot
    /// serve, with the error that says why.
    ///
    /// The default is an [`Unsupported`](crate::ErrorKind::Unsupported) error:
    /// a store that does not implement a probe is not claimed healthy (an `Ok`
    /// would be a guess), and a `get` of some fixed key is no probe (its cost
    /// depends on what users stored there). The conformance suite requires
    /// every store to implement it.
    async fn ping(&self) -> Result<Health> {
        Err(Error::unsupported(
            "this store has no health probe (Store::ping)",
        ))
    }

    /// The entry under `key` (value, entry version, expiry), `None` if absent or
    /// expired, `Err` if unknown.
    ///
    /// Default: [`Unsupported`](crate::ErrorKind::Unsupported), for stores
    /// without the [`versions`](Capabilities::versions) capability.
    async fn get_entry(&self, key: &Key) -> Result<Option<Entry>> {
        let _ = key;
        Err(versions_unsupported())
    }

    /// Stores `value` under `key` at entry version `new_version` if the key meets
    /// `condition`; otherwise writes nothing and fails with
    /// [`Conflict`](crate::ErrorKind::Conflict), carrying the key's current
    /// version when the store knows it cheaply ([`Error::current`]). An expired
    /// entry counts as absent. With a `ttl` the entry expires after it; without,
    /// it does not (as for [`set`](Store::set)).
    ///
    /// `new_version` comes from the caller ([`Version::generate`]) so that a
    /// retry of a write whose answer was lost recognises its own first attempt:
    /// if the key is already at `new_version`, the store answers `Ok` and writes
    /// nothing. The caller must therefore never reuse a version for another
    /// write; the [`StoreExt`](crate::StoreExt) helpers generate one per write.
    ///
    /// One round trip where the backend allows it, and atomic per key: of many
    /// writers racing on the same expected version, exactly one succeeds.
    ///
    /// Default: [`Unsupported`](crate::ErrorKind::Unsupported).
    async fn set_if(
        &self,
        key: &Key,
        value: &[u8],
        ttl: Option<Ttl>,
        condition: &Condition,
        new_version: &Version,
    ) -> Result<()> {
        let _ = (key, value, ttl, condition, new_version);
        Err(versions_unsupported())
    }

    /// Removes `key` if its entry version is `expected`; otherwise removes nothing
    /// and fails with [`Conflict`](crate::ErrorKind::Conflict) (an absent key is
    /// a conflict too, with [`Current::Absent`](crate::Current::Absent)).
    ///
    /// Default: [`Unsupported`](crate::ErrorKind::Unsupported).
    async fn delete_if(&self, key: &Key, expected: &Version) -> Result<()> {
        let _ = (key, expected);
        Err(versions_unsupported())
    }

    /// One page of at most `limit` (1 to [`MAX_BATCH_LEN`](crate::listing::MAX_BATCH_LEN))
    /// of this namespace's unexpired keys that start with `prefix`, from
    /// `cursor` (a [`ListPage::next`] of an earlier page, from any process) or
    /// from the start. A key present and unchanged for the whole listing is
    /// returned at least once ([`list_ordered`](Capabilities::list_ordered):
    /// exactly once, in key order); a page may hold fewer than `limit` items,
    /// even none, before the last.
    ///
    /// Default: [`Unsupported`](crate::ErrorKind::Unsupported), for stores
    /// without the [`list`](Capabilities::list) capability.
    async fn list(
        &self,
        prefix: &Prefix,
        cursor: Option<&Cursor>,
        limit: usize,
    ) -> Result<ListPage> {
        let _ = (prefix, cursor, limit);
        Err(listing_unsupported())
    }

    /// Removes every key of this namespace that starts with `prefix` (all of
    /// them for the empty prefix, like [`clear`](Store::clear)) and returns how
    /// many went.
    ///
    /// Default: pages through [`list`](Store::list) and removes each page with
    /// [`delete_many`](Store::delete_many); a key written during the call may
    /// or may not go.
    async fn delete_prefix(&self, prefix: &Prefix) -> Result<u64> {
        if !self.capabilities().list {
            return Err(listing_unsupported());
        }
        let mut deleted = 0;
        let mut cursor = None;
        loop {
            let page = self
                .list(prefix, cursor.as_ref(), crate::listing::MAX_BATCH_LEN)
                .await?;
            let keys: Vec<Key> = page.items.into_iter().map(|item| item.key).collect();
            self.delete_many(&keys).await?;
            deleted += keys.len() as u64;
            match page.next {
                Some(next) => cursor = Some(next),
                None => return Ok(deleted),
            }
        }
    }

    /// The values under `keys`, in the same order (`None` where absent or
    /// expired; a key named twice is answered twice). At most
    /// [`MAX_BATCH_LEN`](crate::listing::MAX_BATCH_LEN) keys.
    ///
    /// Default: one [`get`](Store::get) after another.
    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Vec<u8>>>> {
        check_batch_len(keys.len())?;
        let mut values = Vec::with_capacity(keys.len());
        for key in keys {
            values.push(self.get(key).await?);
        }
        Ok(values)
    }

    /// Stores every item, each with its own TTL, in order (of one key written
    /// twice, the last write stays). Every value and TTL is checked before
    /// anything is written: a value over [`max_value_size`](Store::max_value_size)
    /// is `ValueTooLarge`, a TTL on a store without TTL `Unsupported`, and the
    /// batch writes nothing. Atomic per key: on another error some items may
    /// have been written and others not.
    ///
    /// Default: one [`set`](Store::set) after another.
    async fn set_many(&self, items: &[SetItem<'_>]) -> Result<()> {
        check_set_items(self.max_value_size(), self.capabilities(), items)?;
        for item in items {
            self.set(item.key, item.value, item.ttl).await?;
        }
        Ok(())
    }

    /// Removes every key in `keys` (absent ones are fine). Atomic per key.
    ///
    /// Default: one [`delete`](Store::delete) after another.
    async fn delete_many(&self, keys: &[Key]) -> Result<()> {
        check_batch_len(keys.len())?;
        for key in keys {
            self.delete(key).await?;
        }
        Ok(())
    }

    /// Gives the entry under `key` a new TTL (`None`: it no longer expires)
    /// without rewriting its value, and returns whether it was there. An absent
    /// or expired key stays absent (`Ok(false)`). A touched entry gets a new
    /// entry version, like every write.
    ///
    /// Default: [`Unsupported`](crate::ErrorKind::Unsupported), for stores
    /// without the [`touch`](Capabilities::touch) capability.
    async fn touch(&self, key: &Key, ttl: Option<Ttl>) -> Result<bool> {
        let _ = (key, ttl);
        Err(Error::unsupported(
            "this store cannot change a TTL without rewriting the value (SPEC §9)",
        ))
    }

    /// Acknowledges that the backend lost data (reads failed with
    /// [`DataLoss`](crate::ErrorKind::DataLoss)): the store starts afresh from
    /// what the backend holds now, and reads answer again (a lost key reads as
    /// absent from then on). Acknowledging when nothing was lost is `Ok` and
    /// changes nothing.
    ///
    /// Default: [`Unsupported`](crate::ErrorKind::Unsupported), for stores
    /// that do not detect data loss. Wrappers forward it to their inner store.
    async fn acknowledge_data_loss(&self) -> Result<()> {
        Err(Error::unsupported(
            "this store does not detect data loss, so there is nothing to acknowledge",
        ))
    }

    /// The namespace this store reads and writes.
    fn namespace(&self) -> &Namespace;

    /// The largest value `set` accepts, in bytes.
    fn max_value_size(&self) -> usize {
        crate::limits::DEFAULT_MAX_VALUE_SIZE
    }

    /// What this store can do. Default: [`Capabilities::basic`], which claims
    /// nothing beyond the required methods.
    fn capabilities(&self) -> Capabilities {
        Capabilities::basic()
    }
}

fn listing_unsupported() -> Error {
    Error::unsupported("this store cannot list its keys (SPEC §9)")
}

/// The checks [`Store::set_many`] makes before writing anything: the batch
/// length, every value's size, and TTLs on a store without TTL. Stores that
/// implement `set_many` natively call it first.
pub fn check_set_items(
    max_value_size: usize,
    capabilities: Capabilities,
    items: &[SetItem<'_>],
) -> Result<()> {
    check_batch_len(items.len())?;
    for item in items {
        check_value_size(item.value, max_value_size)?;
        if item.ttl.is_some() && !capabilities.ttl {
            return Err(Error::unsupported("this store does not support TTL"));
        }
    }
    Ok(())
}

fn versions_unsupported() -> Error {
    Error::unsupported("this store has no entry versions (SPEC §8)")
}

/// The future an async [`Store`] method returns once `async_trait` has expanded it.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
/// The future an async [`Store`] method returns once `async_trait` has expanded it.
#[cfg(target_arch = "wasm32")]
pub(crate) type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// The methods of [`Store`], each handing out the future of the same method of
/// `$target` (an expression of `$this`, the receiver) in `async_trait`'s
/// expanded form, so that forwarding boxes no second future around it. Used by
/// the blanket `Store` impl of layered stores and by the pointer layers below:
/// one list of methods to extend when `Store` grows.
macro_rules! forward_store_methods {
    ($trait:ident, |$this:ident| $target:expr) => {
        fn get<'life0, 'life1, 'async_trait>(
            &'life0 self,
            key: &'life1 Key,
        ) -> StoreFuture<'async_trait, Result<Option<Vec<u8>>>>
        where
            'life0: 'async_trait,
            'life1: 'async_trait,
            Self: 'async_trait,
        {
            let $this = self;
            $trait::get($target, key)
        }

        fn set<'life0, 'life1, 'life2, 'async_trait>(
            &'life0 self,
            key: &'life1 Key,
            value: &'life2 [u8],
            ttl: Option<Ttl>,
        ) -> StoreFuture<'async_trait, Result<()>>
        where
            'life0: 'async_trait,
            'life1: 'async_trait,
            'life2: 'async_trait,
            Self: 'async_trait,
        {
            let $this = self;
            $trait::set($target, key, value, ttl)
        }

        fn delete<'life0, 'life1, 'async_trait>(
            &'life0 self,
            key: &'life1 Key,
        ) -> StoreFuture<'async_trait, Result<()>>
        where
            'life0: 'async_trait,
            'life1: 'async_trait,
            Self: 'async_trait,
        {
            let $this = self;
            $trait::delete($target, key)
        }

        fn clear<'life0, 'async_trait>(&'life0 self) -> StoreFuture<'async_trait, Result<()>>
        where
            'life0: 'async_trait,
            Self: 'async_trait,
        {
            let $this = self;
            $trait::clear($target)
        }

        fn ping<'life0, 'async_trait>(&'life0 self) -> StoreFuture<'async_trait, Result<Health>>
        where
            'life0: 'async_trait,
            Self: 'async_trait,
        {
            let $this = self;
            $trait::ping($target)
        }

        fn get_entry<'life0, 'life1, 'async_trait>(
            &'life0 self,
            key: &'life1 Key,
        ) -> StoreFuture<'async_trait, Result<Option<Entry>>>
        where
            'life0: 'async_trait,
            'life1: 'async_trait,
            Self: 'async_trait,
        {
            let $this = self;
            $trait::get_entry($target, key)
        }

        fn set_if<'life0, 'life1, 'life2, 'life3, 'life4, 'async_trait>(
            &'life0 self,
            key: &'life1 Key,
            value: &'life2 [u8],
            ttl: Option<Ttl>,
            condition: &'life3 Condition,
            new_version: &'life4 Version,
        ) -> StoreFuture<'async_trait, Result<()>>
        where
            'life0: 'async_trait,
            'life1: 'async_trait,
            'life2: 'async_trait,
            'life3: 'async_trait,
            'life4: 'async_trait,
            Self: 'async_trait,
        {
            let $this = self;
            $trait::set_if($target, key, value, ttl, condition, new_version)
        }

        fn delete_if<'life0, 'life1, 'life2, 'async_trait>(
            &'life0 self,
            key: &'life1 Key,
            expected: &'life2 Version,
        ) -> StoreFuture<'async_trait, Result<()>>
        where
            'life0: 'async_trait,
            'life1: 'async_trait,
            'life2: 'async_trait,
            Self: 'async_trait,
        {
            let $this = self;
            $trait::delete_if($target, key, expected)
        }

        fn list<'life0, 'life1, 'life2, 'async_trait>(
            &'life0 self,
            prefix: &'life1 Prefix,
            cursor: Option<&'life2 Cursor>,
            limit: usize,
        ) -> StoreFuture<'async_trait, Result<ListPage>>
        where
            'life0: 'async_trait,
            'life1: 'async_trait,
            'life2: 'async_trait,
            Self: 'async_trait,
        {
            let $this = self;
            $trait::list($target, prefix, cursor, limit)
        }

        fn delete_prefix<'life0, 'life1, 'async_trait>(
            &'life0 self,
            prefix: &'life1 Prefix,
        ) -> StoreFuture<'async_trait, Result<u64>>
        where
            'life0: 'async_trait,
            'life1: 'async_trait,
            Self: 'async_trait,
        {
            let $this = self;
            $trait::delete_prefix($target, prefix)
        }

        fn get_many<'life0, 'life1, 'async_trait>(
            &'life0 self,
            keys: &'life1 [Key],
        ) -> StoreFuture<'async_trait, Result<Vec<Option<Vec<u8>>>>>
        where
            'life0: 'async_trait,
            'life1: 'async_trait,
            Self: 'async_trait,
        {
            let $this = self;
            $trait::get_many($target, keys)
        }

        fn set_many<'life0, 'life1, 'life2, 'async_trait>(
            &'life0 self,
            items: &'life1 [SetItem<'life2>],
        ) -> StoreFuture<'async_trait, Result<()>>
        where
            'life0: 'async_trait,
            'life1: 'async_trait,
            'life2: 'async_trait,
            Self: 'async_trait,
        {
            let $this = self;
            $trait::set_many($target, items)
        }

        fn delete_many<'life0, 'life1, 'async_trait>(
            &'life0 self,
            keys: &'life1 [Key],
        ) -> StoreFuture<'async_trait, Result<()>>
        where
            'life0: 'async_trait,
            'life1: 'async_trait,
            Self: 'async_trait,
        {
            let $this = self;
            $trait::delete_many($target, keys)
        }

        fn touch<'life0, 'life1, 'async_trait>(
            &'life0 self,
            key: &'life1 Key,
            ttl: Option<Ttl>,
        ) -> StoreFuture<'async_trait, Result<bool>>
        where
            'life0: 'async_trait,
            'life1: 'async_trait,
            Self: 'async_trait,
        {
            let $this = self;
            $trait::touch($target, key, ttl)
        }

        fn acknowledge_data_loss<'life0, 'async_trait>(
            &'life0 self,
        ) -> StoreFuture<'async_trait, Result<()>>
        where
            'life0: 'async_trait,
            Self: 'async_trait,
        {
            let $this = self;
            $trait::acknowledge_data_loss($target)
        }

        fn namespace(&self) -> &Namespace {
            let $this = self;
            $trait::namespace($target)
        }

        fn max_value_size(&self) -> usize {
            let $this = self;
            $trait::max_value_size($target)
        }

        fn capabilities(&self) -> Capabilities {
            let $this = self;
            $trait::capabilities($target)
        }
    };
}
pub(crate) use forward_store_methods;

// Pointers to a store are stores: layers that hold the pointee and change
// nothing. Their methods hand out the pointee's future itself: an `async fn`
// here would box a second future around it on every call through an
// `Arc<dyn Store>`, which is how most callers and every wrapper hold their store.
macro_rules! forward_store {
    ($($pointer:ty),*) => {$(
        impl<S: Store + ?Sized> LayeredStore for $pointer {
            type Inner = S;

            fn inner(&self) -> &S {
                self
            }

            forward_store_methods!(Store, |this| &**this);
        }
    )*};
}

forward_store!(Arc<S>, Box<S>, &S);
