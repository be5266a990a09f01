//! [`IndexedDbStore`]: entries in one IndexedDB object store.

mod builder;
mod event;
mod listing;
mod open;
mod versions;

pub use builder::{Durability, IndexedDbBuilder};

use std::fmt;
use std::rc::Rc;
use std::time::{Duration, UNIX_EPOCH};

use flowstore_core::listing::check_batch_len;
use flowstore_core::version::{decide_delete, decide_write};
use flowstore_core::{
    Capabilities, Condition, Cursor, Entry, Error, Health, Key, ListPage, Namespace, Operation,
    Prefix, Result, SetItem, Store, Ttl, Version, async_trait, check_set_items, check_value_size,
};
use js_sys::{Array, Object, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{IdbKeyRange, IdbObjectStore, IdbTransaction, IdbTransactionMode};

use crate::error::{from_js, in_op};
use crate::now_millis;
use event::{Commit, request};
use open::{Connection, EXPIRY_INDEX};

/// A store in the browser's IndexedDB: one object store of one database, shared
/// by every namespace; binary values stored as bytes; TTL in an indexed expiry
/// field.
///
/// Entries are `{ns, key, value: Uint8Array, expires?: number, version: string}`
/// records whose
/// primary key is `[ns, key]`, so a namespace is a contiguous key range: `clear`
/// deletes exactly that range. See the crate documentation for an example and
/// `docs/backends/browser.md` for the layout and its guarantees.
///
/// Handles made with [`with_namespace`](IndexedDbStore::with_namespace) or
/// `clone` share one connection. It closes itself when another connection (another
/// tab with a newer version of the app) asks to upgrade the database, and is
/// reopened on the next operation.
#[derive(Clone)]
pub struct IndexedDbStore {
    connection: Rc<Connection>,
    namespace: Namespace,
    max_value_size: usize,
    durability: Durability,
}

impl fmt::Debug for IndexedDbStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IndexedDbStore")
            .field("database", &self.connection.config.database)
            .field("object_store", &self.connection.config.object_store)
            .field("namespace", &self.namespace)
            .field("max_value_size", &self.max_value_size)
            .field("durability", &self.durability)
            .finish()
    }
}

/// This backend's name in errors' context.
const BACKEND: &str = "indexeddb";

// What the store was doing, for messages. A store operation's steps say
// nothing: the error's context names the operation and the backend.
const GET: &str = "";
const SET: &str = "";
const DELETE: &str = "";
const CLEAR: &str = "";
const SWEEP: &str = "removing expired entries";
const PING: &str = "";
const LIST: &str = "";
const TOUCH: &str = "";

impl IndexedDbStore {
    /// A builder with the defaults: database `flowstore`, object store `entries`,
    /// namespace `flow`, 16 MiB values, 10 s open timeout, strict durability.
    pub fn builder() -> IndexedDbBuilder {
        IndexedDbBuilder::new()
    }

    /// Opens the default database in `namespace`.
    pub async fn open(namespace: Namespace) -> Result<IndexedDbStore> {
        IndexedDbStore::builder().namespace(namespace).open().await
    }

    /// Another handle on the same connection, in `namespace`.
    pub fn with_namespace(&self, namespace: Namespace) -> IndexedDbStore {
        IndexedDbStore {
            namespace,
            ..self.clone()
        }
    }

    /// The database name.
    pub fn database_name(&self) -> &str {
        &self.connection.config.database
    }

    /// The object store name.
    pub fn object_store_name(&self) -> &str {
        &self.connection.config.object_store
    }

    /// Removes this namespace's expired entries, using the expiry index; returns
    /// how many. Expired entries never read as present, so this only frees space:
    /// it runs when the store is opened, and a `get` that meets an expired entry
    /// removes that one.
    pub async fn sweep_expired(&self) -> Result<usize> {
        let (tx, store) = self
            .transaction(IdbTransactionMode::Readwrite, SWEEP)
            .await?;
        let commit = Commit::new(&tx);
        let ns = JsValue::from_str(self.namespace.as_str());
        let range = IdbKeyRange::bound(
            &Array::of2(&ns, &JsValue::from_f64(f64::MIN)),
            &Array::of2(&ns, &JsValue::from_f64(now_millis())),
        )
        .map_err(|err| from_js(SWEEP, &err))?;
        let index = store
            .index(EXPIRY_INDEX)
            .map_err(|err| from_js(SWEEP, &err))?;
        let keys_request = index
            .get_all_keys_with_key(&range)
            .map_err(|err| from_js(SWEEP, &err))?;
        // Continues inside the transaction: the request's success event keeps it
        // active while the deletes are queued.
        let keys: Array = request(&keys_request, SWEEP).await?.unchecked_into();
        for primary_key in keys.iter() {
            store
                .delete(&primary_key)
                .map_err(|err| abort(&tx, from_js(SWEEP, &err)))?;
        }
        commit.wait(&tx, SWEEP).await?;
        Ok(keys.length() as usize)
    }

    /// The record of `value` under `key` at entry version `version`, expiring
    /// after `ttl`.
    fn record(
        &self,
        key: &Key,
        value: &[u8],
        ttl: Option<Ttl>,
        version: &Version,
    ) -> Result<Object> {
        let record = Object::new();
        let put = |name: &str, value: &JsValue| {
            Reflect::set(&record, &JsValue::from_str(name), value).map_err(|err| from_js(SET, &err))
        };
        put("ns", &JsValue::from_str(self.namespace.as_str()))?;
        put("key", &JsValue::from_str(key.as_str()))?;
        put("value", &Uint8Array::from(value))?;
        if let Some(ttl) = ttl {
            put(
                "expires",
                &JsValue::from_f64(now_millis() + ttl.as_millis_ceil() as f64),
            )?;
        }
        put(versions::FIELD, &JsValue::from_str(version.as_str()))?;
        Ok(record)
    }

    /// Reads the record of `id` inside `tx` and returns its entry version, or
    /// `None` when it is absent or expired. Aborts `tx` on an error.
    async fn current_version(
        &self,
        tx: &IdbTransaction,
        store: &IdbObjectStore,
        id: &JsValue,
    ) -> Result<Option<Version>> {
        let read = store.get(id).map_err(|err| abort(tx, from_js(GET, &err)))?;
        let record = request(&read, GET).await.map_err(|err| abort(tx, err))?;
        match read_entry(&record).map_err(|err| abort(tx, err))? {
            Some(entry) => Ok(Some(entry.version)),
            None => Ok(None),
        }
    }

    fn key(&self, key: &Key) -> Array {
        Array::of2(
            &JsValue::from_str(self.namespace.as_str()),
            &JsValue::from_str(key.as_str()),
        )
    }

    async fn transaction(
        &self,
        mode: IdbTransactionMode,
        what: &'static str,
    ) -> Result<(IdbTransaction, IdbObjectStore)> {
        let db = self.connection.db().await?;
        let name = &self.connection.config.object_store;
        let tx = match (mode, self.durability.as_js()) {
            (IdbTransactionMode::Readwrite, Some(durability)) => {
                transaction_with_durability(&db.db, name, durability)
            }
            _ => db.db.transaction_with_str_and_mode(name, mode),
        }
        .map_err(|err| from_js(what, &err))?;
        let store = tx.object_store(name).map_err(|err| from_js(what, &err))?;
        Ok((tx, store))
    }

    /// Removes `key` if it is still expired (checked again inside a write
    /// transaction, so a value written meanwhile is kept).
    async fn remove_if_expired(&self, key: &JsValue) -> Result<()> {
        let (tx, store) = self
            .transaction(IdbTransactionMode::Readwrite, SWEEP)
            .await?;
        let commit = Commit::new(&tx);
        let read = store.get(key).map_err(|err| from_js(SWEEP, &err))?;
        let record = request(&read, SWEEP).await?;
        if !record.is_undefined() && decode(&record)?.1.is_some_and(is_expired) {
            store
                .delete(key)
                .map_err(|err| abort(&tx, from_js(SWEEP, &err)))?;
        }
        commit.wait(&tx, SWEEP).await
    }
}

/// `db.transaction(name, "readwrite", {durability})`: web-sys gates the options
/// argument behind its unstable APIs, so it is called through `Reflect`.
fn transaction_with_durability(
    db: &web_sys::IdbDatabase,
    name: &str,
    durability: &str,
) -> std::result::Result<IdbTransaction, JsValue> {
    let method: js_sys::Function =
        Reflect::get(db, &JsValue::from_str("transaction"))?.dyn_into()?;
    let options = Object::new();
    Reflect::set(&options, &"durability".into(), &durability.into())?;
    let tx = method.call3(db, &name.into(), &"readwrite".into(), &options)?;
    tx.dyn_into()
}

/// Aborts `tx` (so nothing of it is committed) and returns `err`.
fn abort(tx: &IdbTransaction, err: Error) -> Error {
    let _ = tx.abort();
    err
}

fn is_expired(expires: f64) -> bool {
    now_millis() >= expires
}

/// The entry of a stored record (`undefined` when there is none): `None` when
/// it is absent or expired.
fn read_entry(record: &JsValue) -> Result<Option<Entry>> {
    if record.is_undefined() {
        return Ok(None);
    }
    let (value, expires) = decode(record)?;
    if expires.is_some_and(is_expired) {
        return Ok(None);
    }
    let version = versions::of_record(record, &value, expires)?;
    let expires_at = expires.map(|millis| UNIX_EPOCH + Duration::from_millis(millis as u64));
    Ok(Some(Entry::new(value, version, expires_at)))
}

/// The value and expiry of a stored record; anything else is `Corrupt`.
fn decode(record: &JsValue) -> Result<(Vec<u8>, Option<f64>)> {
    let field = |name: &str| Reflect::get(record, &JsValue::from_str(name)).ok();
    let value = field("value")
        .and_then(|value| value.dyn_into::<Uint8Array>().ok())
        .ok_or_else(|| Error::corrupt("an IndexedDB record has no byte value"))?;
    let expires = match field("expires") {
        None => None,
        Some(expires) if expires.is_undefined() => None,
        Some(expires) => Some(
            expires
                .as_f64()
                .ok_or_else(|| Error::corrupt("an IndexedDB record has a bad expiry time"))?,
        ),
    };
    Ok((value.to_vec(), expires))
}

#[async_trait]
impl Store for IndexedDbStore {
    async fn get(&self, key: &Key) -> Result<Option<Vec<u8>>> {
        async {
            let (_tx, store) = self.transaction(IdbTransactionMode::Readonly, GET).await?;
            let id = self.key(key);
            let read = store.get(&id).map_err(|err| from_js(GET, &err))?;
            let record = request(&read, GET).await?;
            if record.is_undefined() {
                return Ok(None);
            }
            let (value, expires) = decode(&record)?;
            if expires.is_some_and(is_expired) {
                // Removing it only frees space: the entry reads as absent either way.
                let _ = self.remove_if_expired(&id).await;
                return Ok(None);
            }
            Ok(Some(value))
        }
        .await
        .map_err(in_op(BACKEND, Operation::Get))
    }

    async fn set(&self, key: &Key, value: &[u8], ttl: Option<Ttl>) -> Result<()> {
        async {
            check_value_size(value, self.max_value_size)?;
            // Every write gives the entry a new version, in the same `put`.
            let record = self.record(key, value, ttl, &Version::generate())?;
            let (tx, store) = self.transaction(IdbTransactionMode::Readwrite, SET).await?;
            let commit = Commit::new(&tx);
            store
                .put(&record)
                .map_err(|err| abort(&tx, from_js(SET, &err)))?;
            commit.wait(&tx, SET).await
        }
        .await
        .map_err(in_op(BACKEND, Operation::Set))
    }

    async fn delete(&self, key: &Key) -> Result<()> {
        async {
            let (tx, store) = self
                .transaction(IdbTransactionMode::Readwrite, DELETE)
                .await?;
            let commit = Commit::new(&tx);
            store
                .delete(&self.key(key))
                .map_err(|err| abort(&tx, from_js(DELETE, &err)))?;
            commit.wait(&tx, DELETE).await
        }
        .await
        .map_err(in_op(BACKEND, Operation::Delete))
    }

    async fn clear(&self) -> Result<()> {
        async {
            let (tx, store) = self
                .transaction(IdbTransactionMode::Readwrite, CLEAR)
                .await?;
            let commit = Commit::new(&tx);
            let ns = JsValue::from_str(self.namespace.as_str());
            // Every `[ns, <string>]` key sorts after `[ns]` and before `[ns, []]`
            // (arrays sort after strings), and no key of another namespace does.
            let range = IdbKeyRange::bound(&Array::of1(&ns), &Array::of2(&ns, &Array::new()))
                .map_err(|err| abort(&tx, from_js(CLEAR, &err)))?;
            store
                .delete(&range)
                .map_err(|err| abort(&tx, from_js(CLEAR, &err)))?;
            commit.wait(&tx, CLEAR).await
        }
        .await
        .map_err(in_op(BACKEND, Operation::Clear))
    }

    /// Opens (or reuses) the database connection and starts a read-only
    /// transaction on the object store, without a request in it: it fails
    /// where the database cannot be used, and reads no entry.
    async fn ping(&self) -> Result<Health> {
        let (_tx, _store) = self.transaction(IdbTransactionMode::Readonly, PING).await?;
        Ok(Health::ok())
    }

    async fn get_entry(&self, key: &Key) -> Result<Option<Entry>> {
        async {
            let (_tx, store) = self.transaction(IdbTransactionMode::Readonly, GET).await?;
            let id = self.key(key);
            let read = store.get(&id).map_err(|err| from_js(GET, &err))?;
            let record = request(&read, GET).await?;
            let entry = read_entry(&record)?;
            if entry.is_none() && !record.is_undefined() {
                // Expired: removing it only frees space, as for `get`.
                let _ = self.remove_if_expired(&id).await;
            }
            Ok(entry)
        }
        .await
        .map_err(in_op(BACKEND, Operation::GetEntry))
    }

    /// One readwrite transaction: read the record's version, decide, write.
    /// IndexedDB runs readwrite transactions on the same object store one at a
    /// time (across tabs too), so the decision and the write are atomic.
    async fn set_if(
        &self,
        key: &Key,
        value: &[u8],
        ttl: Option<Ttl>,
        condition: &Condition,
        new_version: &Version,
    ) -> Result<()> {
        async {
            check_value_size(value, self.max_value_size)?;
            let record = self.record(key, value, ttl, new_version)?;
            let (tx, store) = self.transaction(IdbTransactionMode::Readwrite, SET).await?;
            let commit = Commit::new(&tx);
            let id = self.key(key);
            let current = self.current_version(&tx, &store, &id).await?;
            // `false`: the key is already at `new_version`, the caller's own
            // earlier attempt; commit the read-only transaction and answer `Ok`.
            if decide_write(condition, new_version, current.as_ref())
                .map_err(|err| abort(&tx, err))?
            {
                store
                    .put(&record)
                    .map_err(|err| abort(&tx, from_js(SET, &err)))?;
            }
            commit.wait(&tx, SET).await
        }
        .await
        .map_err(in_op(BACKEND, Operation::SetIf))
    }

    async fn delete_if(&self, key: &Key, expected: &Version) -> Result<()> {
        async {
            let (tx, store) = self
                .transaction(IdbTransactionMode::Readwrite, DELETE)
                .await?;
            let commit = Commit::new(&tx);
            let id = self.key(key);
            let current = self.current_version(&tx, &store, &id).await?;
            decide_delete(expected, current.as_ref()).map_err(|err| abort(&tx, err))?;
            store
                .delete(&id)
                .map_err(|err| abort(&tx, from_js(DELETE, &err)))?;
            commit.wait(&tx, DELETE).await
        }
        .await
        .map_err(in_op(BACKEND, Operation::DeleteIf))
    }

    /// One key-range read (`getAll`) per page, in one readonly transaction;
    /// see `idb/listing.rs` and `docs/backends/browser.md` for the order, and
    /// why it is not claimed as key order.
    async fn list(
        &self,
        prefix: &Prefix,
        cursor: Option<&Cursor>,
        limit: usize,
    ) -> Result<ListPage> {
        async {
            let (_tx, store) = self.transaction(IdbTransactionMode::Readonly, LIST).await?;
            listing::page(&store, &self.namespace, prefix, cursor, limit).await
        }
        .await
        .map_err(in_op(BACKEND, Operation::List))
    }

    /// One readwrite transaction: count the range's keys, less its expired
    /// ones (from the expiry index), then delete the whole range.
    async fn delete_prefix(&self, prefix: &Prefix) -> Result<u64> {
        async {
            let (tx, store) = self
                .transaction(IdbTransactionMode::Readwrite, DELETE)
                .await?;
            let commit = Commit::new(&tx);
            let deleted = listing::delete_range(&store, self.namespace.as_str(), prefix)
                .await
                .map_err(|err| abort(&tx, err))?;
            commit.wait(&tx, DELETE).await?;
            Ok(deleted)
        }
        .await
        .map_err(in_op(BACKEND, Operation::DeletePrefix))
    }

    /// Every read in one readonly transaction: one consistent snapshot.
    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Vec<u8>>>> {
        async {
            check_batch_len(keys.len())?;
            if keys.is_empty() {
                return Ok(Vec::new());
            }
            let (_tx, store) = self.transaction(IdbTransactionMode::Readonly, GET).await?;
            // Every request is queued before the first is awaited; they complete
            // in order, and the pending ones keep the transaction alive.
            let reads = keys
                .iter()
                .map(|key| store.get(&self.key(key)).map_err(|err| from_js(GET, &err)))
                .collect::<Result<Vec<_>>>()?;
            let mut values = Vec::with_capacity(keys.len());
            for read in &reads {
                let record = request(read, GET).await?;
                values.push(read_entry(&record)?.map(|entry| entry.value));
            }
            Ok(values)
        }
        .await
        .map_err(in_op(BACKEND, Operation::GetMany))
    }

    /// Every write in one readwrite transaction: the whole batch is stored, or
    /// (on any error, a full quota included) none of it. Each entry gets its
    /// own new version.
    async fn set_many(&self, items: &[SetItem<'_>]) -> Result<()> {
        async {
            check_set_items(self.max_value_size, self.capabilities(), items)?;
            if items.is_empty() {
                return Ok(());
            }
            let records = items
                .iter()
                .map(|item| self.record(item.key, item.value, item.ttl, &Version::generate()))
                .collect::<Result<Vec<_>>>()?;
            let (tx, store) = self.transaction(IdbTransactionMode::Readwrite, SET).await?;
            let commit = Commit::new(&tx);
            // In request order: of one key written twice, the last `put` stays.
            for record in &records {
                store
                    .put(record)
                    .map_err(|err| abort(&tx, from_js(SET, &err)))?;
            }
            commit.wait(&tx, SET).await
        }
        .await
        .map_err(in_op(BACKEND, Operation::SetMany))
    }

    /// Every delete in one readwrite transaction: all or none.
    async fn delete_many(&self, keys: &[Key]) -> Result<()> {
        async {
            check_batch_len(keys.len())?;
            if keys.is_empty() {
                return Ok(());
            }
            let (tx, store) = self
                .transaction(IdbTransactionMode::Readwrite, DELETE)
                .await?;
            let commit = Commit::new(&tx);
            for key in keys {
                store
                    .delete(&self.key(key))
                    .map_err(|err| abort(&tx, from_js(DELETE, &err)))?;
            }
            commit.wait(&tx, DELETE).await
        }
        .await
        .map_err(in_op(BACKEND, Operation::DeleteMany))
    }

    /// One readwrite transaction: read the record, and put it back with the
    /// new expiry and a new entry version. The value is the same `Uint8Array`
    /// the read returned, put back as it is (IndexedDB has no partial update:
    /// the record is stored again whole, its value never decoded or copied
    /// through Rust). An absent or expired record is left alone: `false`.
    async fn touch(&self, key: &Key, ttl: Option<Ttl>) -> Result<bool> {
        async {
            let (tx, store) = self
                .transaction(IdbTransactionMode::Readwrite, TOUCH)
                .await?;
            let commit = Commit::new(&tx);
            let read = store
                .get(&self.key(key))
                .map_err(|err| abort(&tx, from_js(TOUCH, &err)))?;
            let record = request(&read, TOUCH).await.map_err(|err| abort(&tx, err))?;
            let present = listing::retime(&record, ttl).map_err(|err| abort(&tx, err))?;
            if present {
                store
                    .put(&record)
                    .map_err(|err| abort(&tx, from_js(TOUCH, &err)))?;
            }
            commit.wait(&tx, TOUCH).await?;
            Ok(present)
        }
        .await
        .map_err(in_op(BACKEND, Operation::Touch))
    }

    fn namespace(&self) -> &Namespace {
        &self.namespace
    }

    fn max_value_size(&self) -> usize {
        self.max_value_size
    }

    /// Everything but `list_ordered`: TTL, `clear`, entry versions, listing
    /// (exactly once, in IndexedDB's UTF-16 order: not key order for
    /// characters above U+FFFF) and touch.
    fn capabilities(&self) -> Capabilities {
        Capabilities::all().with_list(true, false)
    }
}
