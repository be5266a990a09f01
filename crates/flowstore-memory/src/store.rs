//! The in-memory store and its `Store` impl.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use flowstore_core::listing::{check_batch_len, check_list_limit};
use flowstore_core::{
    Capabilities, Condition, Cursor, DEFAULT_MAX_VALUE_SIZE, Entry, Health, Key, ListItem,
    ListPage, Namespace, Operation, Prefix, Result, SetItem, Store, Ttl, Version, async_trait,
    check_set_items, check_value_size,
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

/// The tag of this store's listing cursors.
const CURSOR_TAG: &str = "mem";

/// The map keeps monotonic deadlines; callers get wall-clock times.
fn wall_clock_expiry(expires_at: Option<Instant>, now: Instant) -> Option<SystemTime> {
    expires_at.map(|at| SystemTime::now() + at.saturating_duration_since(now))
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
            Entry::new(value, version, wall_clock_expiry(expires_at, now))
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

    /// Pages in key order, each key exactly once; the cursor is the last key
    /// listed.
    async fn list(
        &self,
        prefix: &Prefix,
        cursor: Option<&Cursor>,
        limit: usize,
    ) -> Result<ListPage> {
        let in_op =
            |err: flowstore_core::Error| err.with_backend("memory").with_operation(Operation::List);
        check_list_limit(limit).map_err(in_op)?;
        let after = cursor
            .map(|cursor| {
                let bytes = cursor.position_in(CURSOR_TAG, &self.namespace, prefix)?;
                String::from_utf8(bytes).map_err(|_| {
                    flowstore_core::Error::invalid_argument(
                        "this listing cursor was not made by this store",
                    )
                })
            })
            .transpose()
            .map_err(in_op)?;
        let now = Instant::now();
        let (entries, more) = self
            .map
            .list(&self.namespace, prefix, after.as_deref(), limit, now);
        let next = match (more, entries.last()) {
            (true, Some((last, ..))) => Some(
                Cursor::for_listing(
                    CURSOR_TAG,
                    &self.namespace,
                    prefix,
                    last.as_str().as_bytes(),
                )
                .map_err(in_op)?,
            ),
            _ => None,
        };
        let items = entries
            .into_iter()
            .map(|(key, version, expires_at, size)| {
                ListItem::new(
                    key,
                    Some(version),
                    wall_clock_expiry(expires_at, now),
                    size as u64,
                )
            })
            .collect();
        Ok(ListPage::new(items, next))
    }

    async fn delete_prefix(&self, prefix: &Prefix) -> Result<u64> {
        Ok(self
            .map
            .delete_prefix(&self.namespace, prefix, Instant::now()))
    }

    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Vec<u8>>>> {
        check_batch_len(keys.len()).map_err(|err| {
            err.with_backend("memory")
                .with_operation(Operation::GetMany)
        })?;
        Ok(self.map.get_many(&self.namespace, keys, Instant::now()))
    }

    /// Atomic as a whole: every item is written under one lock.
    async fn set_many(&self, items: &[SetItem<'_>]) -> Result<()> {
        check_set_items(self.max_value_size, self.capabilities(), items).map_err(|err| {
            err.with_backend("memory")
                .with_operation(Operation::SetMany)
        })?;
        let now = Instant::now();
        let writes = items.iter().map(|item| {
            let expires_at = item.ttl.map(|ttl| now + ttl.as_duration());
            (item.key, item.value, expires_at)
        });
        self.map.set_many(&self.namespace, writes, now);
        Ok(())
    }

    async fn delete_many(&self, keys: &[Key]) -> Result<()> {
        check_batch_len(keys.len()).map_err(|err| {
            err.with_backend("memory")
                .with_operation(Operation::DeleteMany)
        })?;
        self.map.delete_many(&self.namespace, keys);
        Ok(())
    }

    async fn touch(&self, key: &Key, ttl: Option<Ttl>) -> Result<bool> {
        let now = Instant::now();
        let expires_at = ttl.map(|ttl| now + ttl.as_duration());
        Ok(self.map.touch(&self.namespace, key, expires_at, now))
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
