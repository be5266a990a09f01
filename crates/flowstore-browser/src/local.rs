//! [`LocalStorageStore`]: entries in `localStorage` or `sessionStorage`.

use std::fmt;

use std::time::{Duration, UNIX_EPOCH};

use flowstore_core::listing::check_list_limit;
use flowstore_core::{
    Capabilities, Cursor, Error, Health, Key, ListItem, ListPage, Namespace, Operation, Prefix,
    Result, Store, Ttl, async_trait, check_value_size,
};
use web_sys::Storage;

use crate::encoding::{
    Header, decode_entry, decode_header, encode_entry, namespace_prefix, storage_key, utf16_size,
    with_expiry,
};
use crate::error::{from_js, in_op};
use crate::now_millis;

/// Which Web Storage area a [`LocalStorageStore`] uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum StorageArea {
    /// `window.localStorage`: kept across reloads and browser restarts, shared by
    /// every tab of the origin.
    #[default]
    Local,
    /// `window.sessionStorage`: kept across reloads of one tab, gone when the tab
    /// closes; each tab has its own.
    Session,
}

impl StorageArea {
    /// `localStorage` or `sessionStorage`.
    pub const fn as_str(self) -> &'static str {
        match self {
            StorageArea::Local => "localStorage",
            StorageArea::Session => "sessionStorage",
        }
    }
}

impl StorageArea {
    /// The store's name in errors' context.
    const fn backend(self) -> &'static str {
        match self {
            StorageArea::Local => "localstorage",
            StorageArea::Session => "sessionstorage",
        }
    }
}

impl fmt::Display for StorageArea {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A store in the page's `localStorage` (or `sessionStorage`).
///
/// Values are bytes packed 15 bits per UTF-16 code unit, next to a small header
/// with their length and expiry; keys are `flowstore/<len>:<namespace>/<key>`
/// (see `docs/backends/browser.md`). Every operation is one synchronous Web
/// Storage call, so an entry is written whole or not at all: when the origin's
/// quota is full, `set` fails with [`ValueTooLarge`](flowstore_core::ErrorKind::ValueTooLarge)
/// ([`is_quota_exceeded`](crate::is_quota_exceeded) tells it apart from the
/// per-value limit) and the previous value stays.
///
/// Web Storage holds a few MiB per origin (Chromium and Firefox: 5 to 10 MiB,
/// shared by every key of the site), hence the smaller default value limit of
/// [`LocalStorageStore::DEFAULT_MAX_VALUE_SIZE`]; for more, use
/// [`IndexedDbStore`](crate::IndexedDbStore).
///
/// It has no entry versions: `get_entry`, `set_if` and `delete_if` are
/// [`Unsupported`](flowstore_core::ErrorKind::Unsupported) and its capabilities
/// do not claim `versions`. Web Storage has no cross-tab transaction, so a
/// compare-and-set here would hold within one tab only, while two tabs writing
/// one key is the case it exists for. Use
/// [`IndexedDbStore`](crate::IndexedDbStore) for conditional writes.
#[derive(Clone)]
pub struct LocalStorageStore {
    storage: Storage,
    area: StorageArea,
    namespace: Namespace,
    prefix: String,
    max_value_size: usize,
}

impl fmt::Debug for LocalStorageStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalStorageStore")
            .field("area", &self.area)
            .field("namespace", &self.namespace)
            .field("max_value_size", &self.max_value_size)
            .finish()
    }
}

impl LocalStorageStore {
    /// The default largest value: 2 MiB.
    pub const DEFAULT_MAX_VALUE_SIZE: usize = 2 * 1024 * 1024;

    /// A store in `localStorage`, namespace `flow`.
    ///
    /// `Unavailable` when the page has no usable `localStorage` (a worker, storage
    /// disabled by the user or a policy, a sandboxed frame).
    pub fn new() -> Result<LocalStorageStore> {
        LocalStorageStore::open(StorageArea::Local)
    }

    /// A store in `sessionStorage`, namespace `flow`.
    pub fn session() -> Result<LocalStorageStore> {
        LocalStorageStore::open(StorageArea::Session)
    }

    /// A store in `area`, namespace `flow`.
    pub fn open(area: StorageArea) -> Result<LocalStorageStore> {
        LocalStorageStore::open_area(area).map_err(|err| err.with_backend(area.backend()))
    }

    fn open_area(area: StorageArea) -> Result<LocalStorageStore> {
        let what = match area {
            StorageArea::Local => "opening localStorage",
            StorageArea::Session => "opening sessionStorage",
        };
        let window = web_sys::window().ok_or_else(|| {
            Error::unavailable(format!(
                "{what}: Web Storage exists only in a page (a window), not in a worker"
            ))
            .with_temporary(false)
        })?;
        let storage = match area {
            StorageArea::Local => window.local_storage(),
            StorageArea::Session => window.session_storage(),
        }
        .map_err(|err| from_js(what, &err))?
        .ok_or_else(|| {
            Error::unavailable(format!("{what}: the browser offers none to this page"))
                .with_temporary(false)
        })?;
        let namespace = Namespace::default();
        Ok(LocalStorageStore {
            storage,
            area,
            prefix: namespace_prefix(namespace.as_str()),
            namespace,
            max_value_size: LocalStorageStore::DEFAULT_MAX_VALUE_SIZE,
        })
    }

    /// Another handle on the same storage area, in `namespace`.
    pub fn with_namespace(&self, namespace: Namespace) -> LocalStorageStore {
        LocalStorageStore {
            prefix: namespace_prefix(namespace.as_str()),
            namespace,
            ..self.clone()
        }
    }

    /// The same store with another value size limit.
    pub fn with_max_value_size(mut self, bytes: usize) -> LocalStorageStore {
        self.max_value_size = bytes;
        self
    }

    /// The storage area.
    pub fn area(&self) -> StorageArea {
        self.area
    }

    /// The Web Storage key an entry of this namespace is stored under, for tools
    /// that inspect storage (the browser's developer tools show it).
    pub fn storage_key(&self, key: &Key) -> String {
        storage_key(&self.prefix, key.as_str())
    }

    /// An exception of a step of an operation: the error's context names the
    /// operation and the storage area, so the message only says what failed
    /// (`step` is empty for the operation's one call).
    fn fail(&self, step: &str, err: &wasm_bindgen::JsValue) -> Error {
        from_js(step, err)
    }

    /// The Web Storage names of this namespace's entries whose key starts with
    /// `prefix`, sorted (Rust string order: the keys' UTF-8 byte order).
    /// Other namespaces' entries and keys that are not flowstore's are never
    /// among them.
    fn matching_names(&self, prefix: &Prefix) -> Result<Vec<String>> {
        let step = "listing entries";
        let count = self.storage.length().map_err(|err| self.fail(step, &err))?;
        let mut names = Vec::new();
        for index in 0..count {
            if let Some(name) = self
                .storage
                .key(index)
                .map_err(|err| self.fail(step, &err))?
                && name
                    .strip_prefix(&self.prefix)
                    .is_some_and(|key| prefix.matches(key))
            {
                names.push(name);
            }
        }
        names.sort_unstable();
        Ok(names)
    }

    /// `Corrupt` for an entry whose stored string does not decode.
    fn damaged(&self, why: &str) -> Error {
        Error::corrupt(format!(
            "a {} entry of flowstore is damaged: {why}",
            self.area
        ))
    }
}

/// The tag of this store's listing cursors (they carry the last key seen).
const CURSOR_TAG: &str = "ws1";

/// Whether an entry with this expiry (ms since the Unix epoch) has expired.
fn expired(expires: Option<u64>) -> bool {
    expires.is_some_and(|expires| now_millis() >= expires as f64)
}

#[async_trait]
impl Store for LocalStorageStore {
    async fn get(&self, key: &Key) -> Result<Option<Vec<u8>>> {
        async {
            let name = self.storage_key(key);
            let Some(text) = self
                .storage
                .get_item(&name)
                .map_err(|err| self.fail("", &err))?
            else {
                return Ok(None);
            };
            let entry = decode_entry(&text).map_err(|why| {
                Error::corrupt(format!(
                    "a {} entry of flowstore is damaged: {why}",
                    self.area
                ))
            })?;
            if entry
                .expires
                .is_some_and(|expires| now_millis() >= expires as f64)
            {
                // Lazy removal: the entry reads as absent whether or not this works.
                let _ = self.storage.remove_item(&name);
                return Ok(None);
            }
            Ok(Some(entry.value))
        }
        .await
        .map_err(in_op(self.area.backend(), Operation::Get))
    }

    async fn set(&self, key: &Key, value: &[u8], ttl: Option<Ttl>) -> Result<()> {
        async {
            check_value_size(value, self.max_value_size)?;
            let expires = ttl.map(|ttl| now_millis() as u64 + ttl.as_millis_ceil());
            let text = encode_entry(value, expires);
            // One `setItem`: the browser stores the whole entry or throws (and keeps
            // the previous value).
            self.storage
                .set_item(&self.storage_key(key), &text)
                .map_err(|err| self.fail("", &err))
        }
        .await
        .map_err(in_op(self.area.backend(), Operation::Set))
    }

    async fn delete(&self, key: &Key) -> Result<()> {
        async {
            self.storage
                .remove_item(&self.storage_key(key))
                .map_err(|err| self.fail("", &err))
        }
        .await
        .map_err(in_op(self.area.backend(), Operation::Delete))
    }

    /// `Storage.length`: a call into the storage area that reads no entry, and
    /// fails where the browser has made the area unusable.
    async fn ping(&self) -> Result<Health> {
        self.storage
            .length()
            .map_err(|err| self.fail("probing", &err))?;
        Ok(Health::ok())
    }

    async fn clear(&self) -> Result<()> {
        async {
            // Never `Storage.clear()`: it would remove every key of the origin.
            let count = self
                .storage
                .length()
                .map_err(|err| self.fail("listing entries", &err))?;
            let mut ours = Vec::new();
            for index in 0..count {
                if let Some(name) = self
                    .storage
                    .key(index)
                    .map_err(|err| self.fail("listing entries", &err))?
                    && name.starts_with(&self.prefix)
                {
                    ours.push(name);
                }
            }
            for name in ours {
                self.storage
                    .remove_item(&name)
                    .map_err(|err| self.fail("", &err))?;
            }
            Ok(())
        }
        .await
        .map_err(in_op(self.area.backend(), Operation::Clear))
    }

    /// Collects and sorts this namespace's names that match `prefix`, then
    /// reads entries after the cursor's key until `limit` are listed; expired
    /// ones are skipped. Items have no version (this store has none); the
    /// stored size is the entry's stored string (header and packed value) in
    /// UTF-16 bytes.
    async fn list(
        &self,
        prefix: &Prefix,
        cursor: Option<&Cursor>,
        limit: usize,
    ) -> Result<ListPage> {
        async {
            check_list_limit(limit)?;
            let after = cursor
                .map(|cursor| {
                    let position = cursor.position_in(CURSOR_TAG, &self.namespace, prefix)?;
                    String::from_utf8(position).map_err(|_| {
                        Error::invalid_argument("this listing cursor was not made by this store")
                    })
                })
                .transpose()?;
            let names = self.matching_names(prefix)?;
            // Names sort as their keys do: they all start with the same prefix.
            let start = match &after {
                Some(after) => {
                    let after = storage_key(&self.prefix, after);
                    names.partition_point(|name| *name <= after)
                }
                None => 0,
            };
            let mut items = Vec::new();
            let mut last = None;
            for name in &names[start..] {
                if items.len() == limit {
                    break;
                }
                last = Some(name);
                // Removed since the names were collected: not there any more.
                let Some(text) = self
                    .storage
                    .get_item(name)
                    .map_err(|err| self.fail("", &err))?
                else {
                    continue;
                };
                let header = decode_header(&text).map_err(|why| self.damaged(why))?;
                if expired(header.expires) {
                    continue;
                }
                let key = Key::new(&name[self.prefix.len()..])
                    .map_err(|_| self.damaged("its name holds no valid key"))?;
                let expires_at = header
                    .expires
                    .map(|millis| UNIX_EPOCH + Duration::from_millis(millis));
                items.push(ListItem::new(key, None, expires_at, utf16_size(&text)));
            }
            let more = last.is_some_and(|last| names.last() != Some(last));
            let next = match last {
                Some(last) if more => Some(Cursor::for_listing(
                    CURSOR_TAG,
                    &self.namespace,
                    prefix,
                    &last.as_bytes()[self.prefix.len()..],
                )?),
                _ => None,
            };
            Ok(ListPage::new(items, next))
        }
        .await
        .map_err(in_op(self.area.backend(), Operation::List))
    }

    /// Removes the namespace's entries whose key starts with `prefix` (one
    /// `removeItem` each, after collecting their names) and counts those that
    /// had not expired. Entries another tab writes meanwhile may or may not go.
    async fn delete_prefix(&self, prefix: &Prefix) -> Result<u64> {
        async {
            let mut deleted = 0;
            for name in self.matching_names(prefix)? {
                let present = self
                    .storage
                    .get_item(&name)
                    .map_err(|err| self.fail("", &err))?
                    // A damaged entry is one of ours too: it goes, and counts.
                    .is_some_and(|text| {
                        decode_header(&text).map_or(true, |header| !expired(header.expires))
                    });
                self.storage
                    .remove_item(&name)
                    .map_err(|err| self.fail("", &err))?;
                deleted += u64::from(present);
            }
            Ok(deleted)
        }
        .await
        .map_err(in_op(self.area.backend(), Operation::DeletePrefix))
    }

    /// Reads the entry and writes it back with a new expiry in the header,
    /// both in one synchronous stretch of this tab (no other code of the page
    /// runs between them). "Without rewriting the value" means here: the
    /// packed value is copied as stored, never decoded or re-encoded — Web
    /// Storage has no partial update, so the browser stores the whole string
    /// again. Across tabs Web Storage has no transaction: a write of the same
    /// key in another tab at the same moment may be overwritten by the value
    /// this touch read, as two plain `set`s from two tabs overwrite each other.
    async fn touch(&self, key: &Key, ttl: Option<Ttl>) -> Result<bool> {
        async {
            let name = self.storage_key(key);
            let Some(text) = self
                .storage
                .get_item(&name)
                .map_err(|err| self.fail("", &err))?
            else {
                return Ok(false);
            };
            let header: Header<'_> = decode_header(&text).map_err(|why| self.damaged(why))?;
            if expired(header.expires) {
                // Expired = absent; touching it must not bring it back.
                let _ = self.storage.remove_item(&name);
                return Ok(false);
            }
            let expires = ttl.map(|ttl| now_millis() as u64 + ttl.as_millis_ceil());
            self.storage
                .set_item(&name, &with_expiry(&header, expires))
                .map_err(|err| self.fail("", &err))?;
            Ok(true)
        }
        .await
        .map_err(in_op(self.area.backend(), Operation::Touch))
    }

    fn namespace(&self) -> &Namespace {
        &self.namespace
    }

    fn max_value_size(&self) -> usize {
        self.max_value_size
    }

    /// TTL, `clear`, ordered listing and touch; no entry versions (see the
    /// type's documentation).
    fn capabilities(&self) -> Capabilities {
        Capabilities::all()
            .with_versions(false)
            .with_list(true, true)
            .with_touch(true)
    }
}
