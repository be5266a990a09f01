//! Checks of the two layer rules (see `docs/architecture.md`) for wrapper crates:
//! every [`Operation`] is performed through the wrapper, so an operation added
//! later is covered without an edit in any wrapper's tests.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crate::listing::check_list_limit;
use crate::version::{decide_delete, decide_write};
use crate::{
    Capabilities, Condition, Cursor, Entry, Health, Key, Layer, ListItem, ListPage, Namespace,
    Operation, Prefix, Result, SetItem, Store, StoreExt, Ttl, Version,
};

/// A store that keeps entries in a map and records every value written to it:
/// what a wrapper hands to the store below it. It has entry versions (and
/// ignores TTLs), and lists in key order.
#[derive(Debug, Default)]
pub struct RecordingStore {
    namespace: Namespace,
    entries: Mutex<BTreeMap<Key, (Vec<u8>, Version)>>,
    written: Mutex<Vec<Vec<u8>>>,
}

impl RecordingStore {
    /// Every value written so far, oldest first.
    pub fn written(&self) -> Vec<Vec<u8>> {
        self.written.lock().unwrap().clone()
    }
}

#[crate::async_trait]
impl Store for RecordingStore {
    async fn get(&self, key: &Key) -> Result<Option<Vec<u8>>> {
        let entries = self.entries.lock().unwrap();
        Ok(entries.get(key).map(|(value, _)| value.clone()))
    }

    async fn set(&self, key: &Key, value: &[u8], _ttl: Option<Ttl>) -> Result<()> {
        self.written.lock().unwrap().push(value.to_vec());
        self.entries
            .lock()
            .unwrap()
            .insert(key.clone(), (value.to_vec(), Version::generate()));
        Ok(())
    }

    async fn get_entry(&self, key: &Key) -> Result<Option<Entry>> {
        let entries = self.entries.lock().unwrap();
        Ok(entries
            .get(key)
            .map(|(value, version)| Entry::new(value.clone(), version.clone(), None)))
    }

    async fn set_if(
        &self,
        key: &Key,
        value: &[u8],
        _ttl: Option<Ttl>,
        condition: &Condition,
        new_version: &Version,
    ) -> Result<()> {
        self.written.lock().unwrap().push(value.to_vec());
        let mut entries = self.entries.lock().unwrap();
        let current = entries.get(key).map(|(_, version)| version);
        if decide_write(condition, new_version, current)? {
            entries.insert(key.clone(), (value.to_vec(), new_version.clone()));
        }
        Ok(())
    }

    async fn delete_if(&self, key: &Key, expected: &Version) -> Result<()> {
        let mut entries = self.entries.lock().unwrap();
        let current = entries.get(key).map(|(_, version)| version);
        decide_delete(expected, current)?;
        entries.remove(key);
        Ok(())
    }

    async fn delete(&self, key: &Key) -> Result<()> {
        self.entries.lock().unwrap().remove(key);
        Ok(())
    }

    async fn clear(&self) -> Result<()> {
        self.entries.lock().unwrap().clear();
        Ok(())
    }

    async fn ping(&self) -> Result<Health> {
        Ok(Health::ok())
    }

    async fn list(
        &self,
        prefix: &Prefix,
        cursor: Option<&Cursor>,
        limit: usize,
    ) -> Result<ListPage> {
        check_list_limit(limit)?;
        let after = cursor
            .map(|cursor| {
                cursor
                    .decode("rec")
                    .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            })
            .transpose()?;
        let entries = self.entries.lock().unwrap();
        let mut items: Vec<ListItem> = entries
            .iter()
            .filter(|(key, _)| prefix.matches(key.as_str()))
            .filter(|(key, _)| after.as_deref().is_none_or(|after| key.as_str() > after))
            .take(limit + 1)
            .map(|(key, (value, version))| {
                ListItem::new(key.clone(), Some(version.clone()), None, value.len() as u64)
            })
            .collect();
        let next = if items.len() > limit {
            items.truncate(limit);
            Some(Cursor::encode(
                "rec",
                items[limit - 1].key.as_str().as_bytes(),
            )?)
        } else {
            None
        };
        Ok(ListPage::new(items, next))
    }

    async fn touch(&self, key: &Key, _ttl: Option<Ttl>) -> Result<bool> {
        let mut entries = self.entries.lock().unwrap();
        Ok(match entries.get_mut(key) {
            Some((_, version)) => {
                *version = Version::generate();
                true
            }
            None => false,
        })
    }

    fn namespace(&self) -> &Namespace {
        &self.namespace
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::all()
    }
}

/// The value [`exercise`] writes.
pub const VALUE: &[u8] = b"{\"step\":2,\"email\":\"ada@example.com\"}";

/// Performs `operation` once through `store` (a read after a write, for reads),
/// and checks what it returns where it returns a value.
///
/// The match has no wildcard: an operation added to [`Operation`] does not
/// compile here until it is exercised.
pub async fn exercise(store: &dyn Store, operation: Operation) {
    let key = Key::new("flow/step").unwrap();
    match operation {
        Operation::Get => {
            store.set(&key, VALUE, None).await.unwrap();
            assert_eq!(store.get(&key).await.unwrap().as_deref(), Some(VALUE));
        }
        Operation::Set => store.set(&key, VALUE, None).await.unwrap(),
        Operation::Delete => store.delete(&key).await.unwrap(),
        Operation::Clear => store.clear().await.unwrap(),
        Operation::Ping => assert_eq!(store.ping().await.unwrap(), Health::ok()),
        Operation::GetEntry => {
            let version = store.set_if_absent(&key, VALUE, None).await.unwrap();
            let entry = store.get_entry(&key).await.unwrap().expect("an entry");
            assert_eq!((entry.value.as_slice(), entry.version), (VALUE, version));
        }
        Operation::SetIf => {
            let version = store.set_if_absent(&key, VALUE, None).await.unwrap();
            store
                .set_if_version(&key, VALUE, None, &version)
                .await
                .unwrap();
        }
        Operation::DeleteIf => {
            let version = store.set_if_absent(&key, VALUE, None).await.unwrap();
            store.delete_if_version(&key, &version).await.unwrap();
            assert_eq!(store.get(&key).await.unwrap(), None);
        }
        Operation::List => {
            store.set(&key, VALUE, None).await.unwrap();
            let page = store.list(&Prefix::all(), None, 10).await.unwrap();
            let keys: Vec<&Key> = page.items.iter().map(|item| &item.key).collect();
            assert_eq!(keys, [&key]);
        }
        Operation::DeletePrefix => {
            store.set(&key, VALUE, None).await.unwrap();
            let prefix = Prefix::new("flow/").unwrap();
            assert_eq!(store.delete_prefix(&prefix).await.unwrap(), 1);
            assert_eq!(store.get(&key).await.unwrap(), None);
        }
        Operation::GetMany => {
            store.set(&key, VALUE, None).await.unwrap();
            let absent = Key::new("flow/absent").unwrap();
            let values = store.get_many(&[key.clone(), absent]).await.unwrap();
            assert_eq!(values, [Some(VALUE.to_vec()), None]);
        }
        Operation::SetMany => {
            let other = Key::new("flow/other").unwrap();
            let items = [
                SetItem::new(&key, VALUE, None),
                SetItem::new(&other, VALUE, None),
            ];
            store.set_many(&items).await.unwrap();
            assert_eq!(store.get(&other).await.unwrap().as_deref(), Some(VALUE));
        }
        Operation::DeleteMany => {
            store.set(&key, VALUE, None).await.unwrap();
            store.delete_many(std::slice::from_ref(&key)).await.unwrap();
            assert_eq!(store.get(&key).await.unwrap(), None);
        }
        Operation::Touch => {
            store.set(&key, VALUE, None).await.unwrap();
            assert!(store.touch(&key, None).await.unwrap());
            assert_eq!(store.get(&key).await.unwrap().as_deref(), Some(VALUE));
        }
        Operation::AcknowledgeDataLoss => {
            // Nothing was lost: `Ok` (or `Unsupported` from a store that does
            // not detect data loss), and the data stays.
            store.set(&key, VALUE, None).await.unwrap();
            if let Err(err) = store.acknowledge_data_loss().await {
                assert_eq!(err.kind(), crate::ErrorKind::Unsupported, "{err}");
            }
            assert_eq!(store.get(&key).await.unwrap().as_deref(), Some(VALUE));
        }
    }
}

/// Rule 1: a value-transforming `layer` hands the store below it only values
/// that `is_transformed` recognises, whatever the operation.
pub async fn assert_transforms_every_value(layer: &dyn Layer, is_transformed: fn(&[u8]) -> bool) {
    for operation in Operation::ALL {
        let recording = Arc::new(RecordingStore::default());
        let store = layer.layer(recording.clone());
        exercise(store.as_ref(), operation).await;
        for written in recording.written() {
            assert!(
                is_transformed(&written),
                "{operation} through {layer:?} wrote a value the layer did not transform"
            );
            assert_ne!(written, VALUE, "{operation} wrote the plain value");
        }
    }
}
