//! [`IndexedDbStore`]: entries in one IndexedDB object store.

mod event;
mod open;

use std::fmt;
use std::rc::Rc;
use std::time::Duration;

use flowstore_core::{
    DEFAULT_MAX_VALUE_SIZE, Error, Health, Key, Namespace, Result, Store, Ttl, async_trait,
    check_value_size,
};
use js_sys::{Array, Object, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{IdbKeyRange, IdbObjectStore, IdbTransaction, IdbTransactionMode};

use crate::error::from_js;
use crate::now_millis;
use event::{Commit, request};
use open::{Config, Connection, EXPIRY_INDEX};

/// How hard the browser works to make a committed write survive a crash
/// (IndexedDB's transaction `durability` hint).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Durability {
    /// No hint: the browser's own default, which differs between browsers and
    /// versions (recent Chromium versions treat it as `relaxed`).
    Default,
    /// `strict`: a write is flushed to disk before `set` returns, so it survives
    /// an OS crash or power loss. Slower. flowstore's default, as for SQLite.
    #[default]
    Strict,
    /// `relaxed`: a write is handed to the operating system before `set` returns;
    /// it survives the browser crashing, not necessarily a power loss.
    Relaxed,
}

impl Durability {
    fn as_js(self) -> Option<&'static str> {
        match self {
            Durability::Default => None,
            Durability::Strict => Some("strict"),
            Durability::Relaxed => Some("relaxed"),
        }
    }
}

/// Builds an [`IndexedDbStore`]: database and object store names, namespace,
/// limits. Start with [`IndexedDbStore::builder`].
#[derive(Clone, Debug)]
pub struct IndexedDbBuilder {
    database: String,
    object_store: String,
    namespace: Namespace,
    max_value_size: usize,
    open_timeout: Duration,
    durability: Durability,
}

impl IndexedDbBuilder {
    /// The database name (default `flowstore`).
    pub fn database(mut self, name: impl Into<String>) -> Self {
        self.database = name.into();
        self
    }

    /// The object store name (default `entries`).
    pub fn object_store(mut self, name: impl Into<String>) -> Self {
        self.object_store = name.into();
        self
    }

    /// The namespace (default `flow`).
    pub fn namespace(mut self, namespace: Namespace) -> Self {
        self.namespace = namespace;
        self
    }

    /// The largest value `set` accepts (default 16 MiB).
    pub fn max_value_size(mut self, bytes: usize) -> Self {
        self.max_value_size = bytes;
        self
    }

    /// How long opening the database may take before it fails with `Timeout`
    /// (default 10 s). A blocked upgrade fails at once, without waiting for this.
    pub fn open_timeout(mut self, timeout: Duration) -> Self {
        self.open_timeout = timeout;
        self
    }

    /// The durability hint of write transactions (default [`Durability::Strict`]).
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// Opens the database (creating or upgrading its schema when needed) and
    /// removes the namespace's expired entries.
    ///
    /// Errors: `Unavailable` when the browser has no usable IndexedDB (disabled,
    /// private mode) or another connection blocks the upgrade (its
    /// [`DomError::name`](crate::DomError::name) is then `BlockedError`),
    /// `Timeout` after the open timeout, `Config` for empty names or an object
    /// store flowstore did not create.
    pub async fn open(self) -> Result<IndexedDbStore> {
        if self.database.is_empty() || self.object_store.is_empty() {
            return Err(Error::config(
                "IndexedDB database and object store names must not be empty",
            ));
        }
        let connection = Connection::new(Config {
            database: self.database,
            object_store: self.object_store,
            open_timeout: self.open_timeout,
        })?;
        let store = IndexedDbStore {
            connection: Rc::new(connection),
            namespace: self.namespace,
            max_value_size: self.max_value_size,
            durability: self.durability,
        };
        store.sweep_expired().await?;
        Ok(store)
    }
}

/// A store in the browser's IndexedDB: one object store of one database, shared
/// by every namespace; binary values stored as bytes; TTL in an indexed expiry
/// field.
///
/// Entries are `{ns, key, value: Uint8Array, expires?: number}` records whose
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

const GET: &str = "reading from IndexedDB";
const SET: &str = "writing to IndexedDB";
const DELETE: &str = "deleting from IndexedDB";
const CLEAR: &str = "clearing a namespace in IndexedDB";
const SWEEP: &str = "removing expired IndexedDB entries";
const PING: &str = "probing IndexedDB";

impl IndexedDbStore {
    /// A builder with the defaults: database `flowstore`, object store `entries`,
    /// namespace `flow`, 16 MiB values, 10 s open timeout, strict durability.
    pub fn builder() -> IndexedDbBuilder {
        IndexedDbBuilder {
            database: "flowstore".to_owned(),
            object_store: "entries".to_owned(),
            namespace: Namespace::default(),
            max_value_size: DEFAULT_MAX_VALUE_SIZE,
            open_timeout: Duration::from_secs(10),
            durability: Durability::default(),
        }
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

    async fn set(&self, key: &Key, value: &[u8], ttl: Option<Ttl>) -> Result<()> {
        check_value_size(value, self.max_value_size)?;
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
        let (tx, store) = self.transaction(IdbTransactionMode::Readwrite, SET).await?;
        let commit = Commit::new(&tx);
        store
            .put(&record)
            .map_err(|err| abort(&tx, from_js(SET, &err)))?;
        commit.wait(&tx, SET).await
    }

    async fn delete(&self, key: &Key) -> Result<()> {
        let (tx, store) = self
            .transaction(IdbTransactionMode::Readwrite, DELETE)
            .await?;
        let commit = Commit::new(&tx);
        store
            .delete(&self.key(key))
            .map_err(|err| abort(&tx, from_js(DELETE, &err)))?;
        commit.wait(&tx, DELETE).await
    }

    async fn clear(&self) -> Result<()> {
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

    /// Opens (or reuses) the database connection and starts a read-only
    /// transaction on the object store, without a request in it: it fails
    /// where the database cannot be used, and reads no entry.
    async fn ping(&self) -> Result<Health> {
        let (_tx, _store) = self.transaction(IdbTransactionMode::Readonly, PING).await?;
        Ok(Health::ok())
    }

    fn namespace(&self) -> &Namespace {
        &self.namespace
    }

    fn max_value_size(&self) -> usize {
        self.max_value_size
    }
}
