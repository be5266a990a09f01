//! [`IndexedDbBuilder`]: names, namespace, limits and durability of an
//! [`IndexedDbStore`], and opening it.

use std::rc::Rc;
use std::time::Duration;

use flowstore_core::{DEFAULT_MAX_VALUE_SIZE, Error, Namespace, Result};

use super::IndexedDbStore;
use super::open::{Config, Connection};

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
    pub(super) fn as_js(self) -> Option<&'static str> {
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
    /// The defaults: database `flowstore`, object store `entries`, namespace
    /// `flow`, 16 MiB values, 10 s open timeout, strict durability.
    pub(super) fn new() -> IndexedDbBuilder {
        IndexedDbBuilder {
            database: "flowstore".to_owned(),
            object_store: "entries".to_owned(),
            namespace: Namespace::default(),
            max_value_size: DEFAULT_MAX_VALUE_SIZE,
            open_timeout: Duration::from_secs(10),
            durability: Durability::default(),
        }
    }

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
