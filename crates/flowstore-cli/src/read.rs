//! Reading a listed page's values and expiries, for `export` and `copy`.
//!
//! The listing's `expires_at` is from the moment of the listing; a key
//! rewritten before its value is read would pair the new value with the old
//! expiry (a value that no longer expires could expire on the target). So a
//! store with entry versions is read with `get_entry`, which returns value and
//! expiry from one read. A store without them has no `get_entry`: its values
//! come from one `get_many` and its expiries from the listing, and a key
//! rewritten in between may keep the expiry it had when listed.

use std::sync::Arc;
use std::time::SystemTime;

use flowstore::{Key, Store};
use flowstore_core::ListItem;
use futures::{StreamExt as _, TryStreamExt as _};

use crate::failure::Failure;

/// `get_entry` calls in flight at once: enough to hide round trips on a
/// remote store without one batch call.
const ENTRY_READS: usize = 32;

/// A key's value and expiry, read together.
#[derive(Debug)]
pub(crate) struct Read {
    pub(crate) key: Key,
    pub(crate) value: Vec<u8>,
    pub(crate) expires_at: Option<SystemTime>,
}

/// The values and expiries of `items`, in their order; a key gone since the
/// listing (deleted, expired) is left out. `context` names the command in errors.
pub(crate) async fn read_page(
    store: &Arc<dyn Store>,
    items: Vec<ListItem>,
    context: &str,
) -> Result<Vec<Read>, Failure> {
    if items.is_empty() {
        return Ok(Vec::new());
    }
    if store.capabilities().versions {
        let entries: Vec<(Key, Option<flowstore::Entry>)> =
            futures::stream::iter(items.into_iter().map(|item| async move {
                let entry = store.get_entry(&item.key).await?;
                Ok::<_, flowstore::Error>((item.key, entry))
            }))
            .buffered(ENTRY_READS)
            .try_collect()
            .await
            .map_err(|err| Failure::store(format_args!("{context}: get_entry"), &err))?;
        return Ok(entries
            .into_iter()
            .filter_map(|(key, entry)| {
                entry.map(|entry| Read {
                    key,
                    value: entry.value,
                    expires_at: entry.expires_at,
                })
            })
            .collect());
    }
    let keys: Vec<Key> = items.iter().map(|item| item.key.clone()).collect();
    let values = store
        .get_many(&keys)
        .await
        .map_err(|err| Failure::store(format_args!("{context}: get_many"), &err))?;
    Ok(items
        .into_iter()
        .zip(values)
        .filter_map(|(item, value)| {
            value.map(|value| Read {
                key: item.key,
                value,
                expires_at: item.expires_at,
            })
        })
        .collect())
}

#[cfg(test)]
pub(crate) mod tests {
    use std::time::Duration;

    use flowstore::memory::MemoryStore;
    use flowstore::{Capabilities, Entry, Namespace, Ttl};
    use flowstore_core::{Cursor, ListPage, Prefix};

    use super::*;

    /// A memory store whose listing reports an expiry an hour out for every
    /// key, as if each key had been rewritten without a TTL after the listing:
    /// its entries (the truth) have none. With `versions: false` it has no
    /// `get_entry`, like a store without entry versions.
    #[derive(Debug)]
    pub(crate) struct StaleListing {
        pub(crate) inner: MemoryStore,
        pub(crate) versions: bool,
    }

    #[flowstore::async_trait]
    impl Store for StaleListing {
        async fn get(&self, key: &Key) -> flowstore::Result<Option<Vec<u8>>> {
            self.inner.get(key).await
        }
        async fn set(&self, key: &Key, value: &[u8], ttl: Option<Ttl>) -> flowstore::Result<()> {
            self.inner.set(key, value, ttl).await
        }
        async fn delete(&self, key: &Key) -> flowstore::Result<()> {
            self.inner.delete(key).await
        }
        async fn clear(&self) -> flowstore::Result<()> {
            self.inner.clear().await
        }
        async fn get_entry(&self, key: &Key) -> flowstore::Result<Option<Entry>> {
            if self.versions {
                self.inner.get_entry(key).await
            } else {
                Err(flowstore::Error::unsupported("no entry versions"))
            }
        }
        async fn list(
            &self,
            prefix: &Prefix,
            cursor: Option<&Cursor>,
            limit: usize,
        ) -> flowstore::Result<ListPage> {
            let mut page = self.inner.list(prefix, cursor, limit).await?;
            let stale = SystemTime::now() + Duration::from_secs(3600);
            for item in &mut page.items {
                item.expires_at = Some(stale);
            }
            Ok(page)
        }
        async fn get_many(&self, keys: &[Key]) -> flowstore::Result<Vec<Option<Vec<u8>>>> {
            self.inner.get_many(keys).await
        }
        fn namespace(&self) -> &Namespace {
            self.inner.namespace()
        }
        fn capabilities(&self) -> Capabilities {
            self.inner.capabilities().with_versions(self.versions)
        }
    }

    #[tokio::test]
    async fn with_versions_the_expiry_comes_from_the_entry_read() {
        let inner = MemoryStore::new();
        let k = |name: &str| Key::new(name).unwrap();
        inner.set(&k("p/a"), b"a", None).await.unwrap();
        inner
            .set(&k("p/b"), b"b", Some(Ttl::from_secs(60).unwrap()))
            .await
            .unwrap();
        let store: Arc<dyn Store> = Arc::new(StaleListing {
            inner: inner.clone(),
            versions: true,
        });
        let prefix = Prefix::new("p/").unwrap();
        let mut page = store.list(&prefix, None, 10).await.unwrap();
        // A key deleted after the listing is left out, not an error.
        inner.delete(&k("p/b")).await.unwrap();
        inner.set(&k("p/b"), b"b2", None).await.unwrap();
        let mut gone = page.items[0].clone();
        gone.key = k("p/gone");
        page.items.push(gone);
        let read = read_page(&store, page.items, "test").await.unwrap();
        let keys: Vec<&str> = read.iter().map(|read| read.key.as_str()).collect();
        assert_eq!(keys, ["p/a", "p/b"]);
        assert_eq!(read[1].value, b"b2");
        assert!(
            read.iter().all(|read| read.expires_at.is_none()),
            "{read:?}"
        );

        // Without versions the listed expiry is all there is.
        let store: Arc<dyn Store> = Arc::new(StaleListing {
            inner,
            versions: false,
        });
        let page = store.list(&prefix, None, 10).await.unwrap();
        let read = read_page(&store, page.items, "test").await.unwrap();
        assert_eq!(read.len(), 2);
        assert!(read.iter().all(|read| read.expires_at.is_some()));
    }
}
