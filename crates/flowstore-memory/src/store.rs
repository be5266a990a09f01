//! The in-memory store and its `Store` impl.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use flowstore_core::{
    Capabilities, Condition, DEFAULT_MAX_VALUE_SIZE, Entry, Health, Key, Namespace, Operation,
    Result, Store, Ttl, Version, async_trait, check_value_size,
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

    async fn get_entry(&self, key: &Key) -> Result<Option<Entry>> {
        let now = Instant::now();
        let entry = self.map.get_entry(&self.namespace, key, now);
        Ok(entry.map(|(value, version, expires_at)| {
            // The map keeps a monotonic deadline; callers get wall-clock time.
            let expires_at =
                expires_at.map(|at| SystemTime::now() + at.saturating_duration_since(now));
            Entry::new(value, version, expires_at)
        }))
    }

    async fn set_if(
        &self,
        key: &Key,
        value: &[u8],
        ttl: Option<Ttl>,
        condition: &Condition,
        new_version: &Version,
    ) -> Result<()> {
        let in_op = |err: flowstore_core::Error| {
            err.with_backend("memory").with_operation(Operation::SetIf)
        };
        check_value_size(value, self.max_value_size).map_err(in_op)?;
        let now = Instant::now();
        let expires_at = ttl.map(|ttl| now + ttl.as_duration());
        self.map
            .set_if(
                &self.namespace,
                key,
                value,
                expires_at,
                now,
                condition,
                new_version,
            )
            .map_err(in_op)
    }

    async fn delete_if(&self, key: &Key, expected: &Version) -> Result<()> {
        self.map
            .delete_if(&self.namespace, key, expected, Instant::now())
            .map_err(|err| {
                err.with_backend("memory")
                    .with_operation(Operation::DeleteIf)
            })
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
