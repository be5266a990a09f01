//! The in-memory store and its `Store` impl.

use std::sync::Arc;
use std::time::Instant;

use flowstore_core::{
    Capabilities, DEFAULT_MAX_VALUE_SIZE, Health, Key, Namespace, Operation, Result, Store, Ttl,
    async_trait, check_value_size,
};

use crate::map::SharedMap;

/// An in-memory store. Cloning gives another handle on the same data.
#[derive(Clone, Debug)]
pub struct MemoryStore {
    namespace: Namespace,
    max_value_size: usize,
    map: Arc<SharedMap>,
}

impl MemoryStore {
    /// An empty store in the default namespace (`flow`), with the default value
    /// size limit (16 MiB).
    pub fn new() -> Self {
        MemoryStore {
            namespace: Namespace::default(),
            max_value_size: DEFAULT_MAX_VALUE_SIZE,
            map: Arc::new(SharedMap::default()),
        }
    }

    /// A handle on the same data, in `namespace`.
    pub fn with_namespace(&self, namespace: Namespace) -> Self {
        MemoryStore {
            namespace,
            ..self.clone()
        }
    }

    /// The same store with another value size limit.
    pub fn with_max_value_size(mut self, max_value_size: usize) -> Self {
        self.max_value_size = max_value_size;
        self
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::new()
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn get(&self, key: &Key) -> Result<Option<Vec<u8>>> {
        Ok(self.map.get(&self.namespace, key, Instant::now()))
    }

    async fn set(&self, key: &Key, value: &[u8], ttl: Option<Ttl>) -> Result<()> {
        check_value_size(value, self.max_value_size)
            .map_err(|err| err.with_backend("memory").with_operation(Operation::Set))?;
        let now = Instant::now();
        let expires_at = ttl.map(|ttl| now + ttl.as_duration());
        self.map.set(&self.namespace, key, value, expires_at, now);
        Ok(())
    }

    async fn delete(&self, key: &Key) -> Result<()> {
        self.map.delete(&self.namespace, key);
        Ok(())
    }

    async fn clear(&self) -> Result<()> {
        self.map.clear(&self.namespace);
        Ok(())
    }

    /// Always `Ok`: the map is in this process, so whoever can call can be served.
    async fn ping(&self) -> Result<Health> {
        Ok(Health::ok())
    }

    fn namespace(&self) -> &Namespace {
        &self.namespace
    }

    fn max_value_size(&self) -> usize {
        self.max_value_size
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::all()
    }
}
