//! The map behind every handle: namespace → key → entry, with an expiry queue.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::ops::Bound;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Instant;

use flowstore_core::version::{decide_delete, decide_write};
use flowstore_core::{Condition, Key, Namespace, Prefix, Result, Version};

#[derive(Debug)]
struct Entry {
    value: Vec<u8>,
    version: Version,
    expires_at: Option<Instant>,
}

/// A live entry as read: value, entry version, expiry.
pub(crate) type EntryView = (Vec<u8>, Version, Option<Instant>);

/// A listed entry: key, entry version, expiry, value size.
pub(crate) type ListedView = (Key, Version, Option<Instant>, usize);

impl Entry {
    /// Live strictly before its expiry: at the expiry instant it is gone, as
    /// in the SQL backends (`expires_at > now`) and Redis.
    fn is_live(&self, now: Instant) -> bool {
        self.expires_at.is_none_or(|at| at > now)
    }
}

#[derive(Debug)]
struct Inner {
    /// Keys in order within a namespace, so that a listing is a range scan.
    namespaces: HashMap<Namespace, BTreeMap<Key, Entry>>,
    /// Entries with a TTL, soonest first. An item may be stale (the entry was
    /// rewritten or deleted since): sweeping checks it still matches.
    expiries: BinaryHeap<Reverse<(Instant, Namespace, Key)>>,
    /// When the queue grows past this length it is rebuilt from the live entries,
    /// so a key rewritten with a long TTL over and over cannot grow it without bound.
    rebuild_expiries_at: usize,
}

#[derive(Default)]
pub(crate) struct SharedMap {
    inner: RwLock<Inner>,
}

impl std::fmt::Debug for SharedMap {
    /// Counts only: keys and values are application data and stay out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = self.read();
        let entries: usize = inner.namespaces.values().map(BTreeMap::len).sum();
        f.debug_struct("SharedMap")
            .field("namespaces", &inner.namespaces.len())
            .field("entries", &entries)
            .finish()
    }
}

impl SharedMap {
    // A panic while holding the lock cannot leave an entry half-written (every
    // change is one map operation), so a poisoned lock is still consistent.
    fn read(&self) -> RwLockReadGuard<'_, Inner> {
        self.inner
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Inner> {
        self.inner
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn get(&self, namespace: &Namespace, key: &Key, now: Instant) -> Option<Vec<u8>> {
        let inner = self.read();
        let entry = inner.namespaces.get(namespace)?.get(key)?;
        entry.is_live(now).then(|| entry.value.clone())
    }

    pub(crate) fn get_entry(
        &self,
        namespace: &Namespace,
        key: &Key,
        now: Instant,
    ) -> Option<EntryView> {
        let inner = self.read();
        let entry = inner.namespaces.get(namespace)?.get(key)?;
        entry
            .is_live(now)
            .then(|| (entry.value.clone(), entry.version.clone(), entry.expires_at))
    }

    pub(crate) fn set(
        &self,
        namespace: &Namespace,
        key: &Key,
        value: &[u8],
        expires_at: Option<Instant>,
        now: Instant,
    ) {
        let mut inner = self.write();
        inner.sweep(now);
        inner.write_entry(namespace, key, value, Version::generate(), expires_at);
    }

    /// Writes if the key meets `condition`, deciding under the write lock so
    /// that of racing writers exactly one sees the version it expects.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn set_if(
        &self,
        namespace: &Namespace,
        key: &Key,
        value: &[u8],
        expires_at: Option<Instant>,
        now: Instant,
        condition: &Condition,
        new_version: &Version,
    ) -> Result<()> {
        let mut inner = self.write();
        inner.sweep(now);
        if decide_write(
            condition,
            new_version,
            inner.live_version(namespace, key, now),
        )? {
            inner.write_entry(namespace, key, value, new_version.clone(), expires_at);
        }
        Ok(())
    }

    /// Deletes if the key is at `expected`; an absent key is a conflict.
    pub(crate) fn delete_if(
        &self,
        namespace: &Namespace,
        key: &Key,
        expected: &Version,
        now: Instant,
    ) -> Result<()> {
        let mut inner = self.write();
        decide_delete(expected, inner.live_version(namespace, key, now))?;
        if let Some(entries) = inner.namespaces.get_mut(namespace) {
            entries.remove(key);
        }
        Ok(())
    }

    pub(crate) fn delete(&self, namespace: &Namespace, key: &Key) {
        let mut inner = self.write();
        if let Some(entries) = inner.namespaces.get_mut(namespace) {
            entries.remove(key);
        }
    }

    pub(crate) fn clear(&self, namespace: &Namespace) {
        self.write().namespaces.remove(namespace);
    }

    /// Up to `limit` live entries with `prefix` after the key `after`, in key
    /// order, and whether more may follow.
    pub(crate) fn list(
        &self,
        namespace: &Namespace,
        prefix: &Prefix,
        after: Option<&str>,
        limit: usize,
        now: Instant,
    ) -> (Vec<ListedView>, bool) {
        let inner = self.read();
        let Some(entries) = inner.namespaces.get(namespace) else {
            return (Vec::new(), false);
        };
        let start = match after {
            Some(after) if after >= prefix.as_str() => Bound::Excluded(after),
            _ => Bound::Included(prefix.as_str()),
        };
        let mut matching = entries
            .range::<str, _>((start, Bound::Unbounded))
            .take_while(|(key, _)| prefix.matches(key.as_str()))
            .filter(|(_, entry)| entry.is_live(now));
        let items: Vec<ListedView> = matching
            .by_ref()
            .take(limit)
            .map(|(key, entry)| {
                let version = entry.version.clone();
                (key.clone(), version, entry.expires_at, entry.value.len())
            })
            .collect();
        let more = items.len() == limit && matching.next().is_some();
        (items, more)
    }

    /// Removes every key with `prefix`; returns how many live ones went.
    pub(crate) fn delete_prefix(
        &self,
        namespace: &Namespace,
        prefix: &Prefix,
        now: Instant,
    ) -> u64 {
        let mut inner = self.write();
        let Some(entries) = inner.namespaces.get_mut(namespace) else {
            return 0;
        };
        let doomed: Vec<Key> = entries
            .range::<str, _>((Bound::Included(prefix.as_str()), Bound::Unbounded))
            .take_while(|(key, _)| prefix.matches(key.as_str()))
            .map(|(key, _)| key.clone())
            .collect();
        let mut live = 0;
        for key in doomed {
            if entries.remove(&key).is_some_and(|entry| entry.is_live(now)) {
                live += 1;
            }
        }
        live
    }

    /// The values under `keys`, read under one lock.
    pub(crate) fn get_many(
        &self,
        namespace: &Namespace,
        keys: &[Key],
        now: Instant,
    ) -> Vec<Option<Vec<u8>>> {
        let inner = self.read();
        let entries = inner.namespaces.get(namespace);
        keys.iter()
            .map(|key| {
                let entry = entries?.get(key)?;
                entry.is_live(now).then(|| entry.value.clone())
            })
            .collect()
    }

    /// Writes every `(key, value, expiry)` under one lock.
    pub(crate) fn set_many<'a>(
        &self,
        namespace: &Namespace,
        items: impl Iterator<Item = (&'a Key, &'a [u8], Option<Instant>)>,
        now: Instant,
    ) {
        let mut inner = self.write();
        inner.sweep(now);
        for (key, value, expires_at) in items {
            inner.write_entry(namespace, key, value, Version::generate(), expires_at);
        }
    }

    pub(crate) fn delete_many(&self, namespace: &Namespace, keys: &[Key]) {
        let mut inner = self.write();
        if let Some(entries) = inner.namespaces.get_mut(namespace) {
            for key in keys {
                entries.remove(key);
            }
        }
    }

    /// Gives a live entry a new expiry and entry version; false if absent.
    pub(crate) fn touch(
        &self,
        namespace: &Namespace,
        key: &Key,
        expires_at: Option<Instant>,
        now: Instant,
    ) -> bool {
        let mut inner = self.write();
        inner.sweep(now);
        let Some(entry) = inner
            .namespaces
            .get_mut(namespace)
            .and_then(|entries| entries.get_mut(key))
            .filter(|entry| entry.is_live(now))
        else {
            return false;
        };
        entry.expires_at = expires_at;
        entry.version = Version::generate();
        if let Some(at) = expires_at {
            inner.queue_expiry(at, namespace, key);
        }
        true
    }
}

impl Inner {
    fn live_version(&self, namespace: &Namespace, key: &Key, now: Instant) -> Option<&Version> {
        let entry = self.namespaces.get(namespace)?.get(key)?;
        entry.is_live(now).then_some(&entry.version)
    }

    fn write_entry(
        &mut self,
        namespace: &Namespace,
        key: &Key,
        value: &[u8],
        version: Version,
        expires_at: Option<Instant>,
    ) {
        if let Some(at) = expires_at {
            self.queue_expiry(at, namespace, key);
        }
        // Overwriting (the common case for session state) updates the entry in
        // place: no copy of the namespace or key, and the old value's buffer is
        // reused when it fits without holding on to much more than it needs.
        if let Some(entry) = self
            .namespaces
            .get_mut(namespace)
            .and_then(|entries| entries.get_mut(key))
        {
            let capacity = entry.value.capacity();
            if capacity >= value.len() && capacity <= value.len().saturating_mul(2) {
                entry.value.clear();
                entry.value.extend_from_slice(value);
            } else {
                entry.value = value.to_vec();
            }
            entry.version = version;
            entry.expires_at = expires_at;
            return;
        }
        let entry = Entry {
            value: value.to_vec(),
            version,
            expires_at,
        };
        self.namespaces
            .entry(namespace.clone())
            .or_default()
            .insert(key.clone(), entry);
    }
}

impl Default for Inner {
    fn default() -> Self {
        Inner {
            namespaces: HashMap::new(),
            expiries: BinaryHeap::new(),
            rebuild_expiries_at: MIN_REBUILD_LEN,
        }
    }
}

/// The expiry queue is never rebuilt below this length.
const MIN_REBUILD_LEN: usize = 1024;

impl Inner {
    /// Queues the expiry of a TTL entry, dropping stale items once they outnumber
    /// the live ones. Amortised O(log n): a rebuild at length L happens only after
    /// L/2 pushes since the last one.
    fn queue_expiry(&mut self, at: Instant, namespace: &Namespace, key: &Key) {
        self.expiries
            .push(Reverse((at, namespace.clone(), key.clone())));
        if self.expiries.len() <= self.rebuild_expiries_at {
            return;
        }
        let live = self.namespaces.iter().flat_map(|(namespace, entries)| {
            entries.iter().filter_map(move |(key, entry)| {
                entry
                    .expires_at
                    .map(|at| Reverse((at, namespace.clone(), key.clone())))
            })
        });
        let mut rebuilt: BinaryHeap<_> = live.collect();
        // The entry being written is not in the map yet.
        rebuilt.push(Reverse((at, namespace.clone(), key.clone())));
        self.expiries = rebuilt;
        self.rebuild_expiries_at = (2 * self.expiries.len()).max(MIN_REBUILD_LEN);
    }

    /// Removes entries whose TTL has passed. Amortised O(log n) per write.
    fn sweep(&mut self, now: Instant) {
        while let Some(Reverse((at, _, _))) = self.expiries.peek() {
            // The same boundary as `is_live`: expiries at or before `now`.
            if *at > now {
                break;
            }
            let Some(Reverse((at, namespace, key))) = self.expiries.pop() else {
                break;
            };
            if let Some(entries) = self.namespaces.get_mut(&namespace) {
                // Only if the entry is the one this expiry was queued for.
                if entries
                    .get(&key)
                    .is_some_and(|entry| entry.expires_at == Some(at))
                {
                    entries.remove(&key);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn debug_shows_no_keys_or_values() {
        let map = SharedMap::default();
        let ns = Namespace::default();
        map.set(
            &ns,
            &Key::new("secret-key").unwrap(),
            b"secret-value",
            None,
            Instant::now(),
        );
        let debug = format!("{map:?}");
        assert!(!debug.contains("secret"), "{debug}");
        assert!(debug.contains("entries: 1"), "{debug}");
    }

    #[test]
    fn a_listing_that_ends_on_a_full_page_says_nothing_more_follows() {
        let map = SharedMap::default();
        let ns = Namespace::default();
        let now = Instant::now();
        for name in ["a1", "a2", "a3", "b1"] {
            map.set(&ns, &Key::new(name).unwrap(), b"v", None, now);
        }
        let prefix = Prefix::new("a").unwrap();
        let (page, more) = map.list(&ns, &prefix, None, 2, now);
        assert_eq!(page.len(), 2);
        assert!(more, "a third key follows");
        let (page, more) = map.list(&ns, &prefix, Some("a2"), 1, now);
        assert_eq!(page.len(), 1);
        // Exactly a page left: no empty page after it (an ordered store
        // knows its end).
        assert!(!more, "a3 is the last key with the prefix");
    }

    #[test]
    fn rewriting_one_key_with_a_ttl_keeps_the_expiry_queue_bounded() {
        let map = SharedMap::default();
        let ns = Namespace::default();
        let key = Key::new("session").unwrap();
        let now = Instant::now();
        for i in 0..100_000u64 {
            let at = now + Duration::from_secs(3600 + i);
            map.set(&ns, &key, b"v", Some(at), now);
        }
        let queued = map.read().expiries.len();
        assert!(
            queued <= 2 * MIN_REBUILD_LEN,
            "{queued} queued expiries for one key"
        );
        assert_eq!(map.get(&ns, &key, now).as_deref(), Some(&b"v"[..]));
    }

    #[test]
    fn overwrites_replace_the_value_and_do_not_keep_a_large_buffer() {
        let map = SharedMap::default();
        let ns = Namespace::default();
        let key = Key::new("draft").unwrap();
        let now = Instant::now();
        let big = vec![1u8; 1 << 20];
        map.set(&ns, &key, &big, None, now);
        map.set(
            &ns,
            &key,
            b"small",
            Some(now + Duration::from_secs(60)),
            now,
        );
        {
            let inner = map.read();
            let entry = &inner.namespaces[&ns][&key];
            assert_eq!(entry.value, b"small");
            assert!(
                entry.value.capacity() <= 10,
                "kept {} bytes",
                entry.value.capacity()
            );
            assert_eq!(entry.expires_at, Some(now + Duration::from_secs(60)));
        }
        map.set(&ns, &key, b"a longer value", None, now);
        map.set(&ns, &key, b"same length v2", None, now);
        assert_eq!(
            map.get(&ns, &key, now).as_deref(),
            Some(&b"same length v2"[..])
        );
        assert_eq!(map.read().namespaces[&ns][&key].expires_at, None);
    }

    #[test]
    fn an_entry_is_readable_just_before_its_expiry_and_gone_at_it() {
        let map = SharedMap::default();
        let ns = Namespace::default();
        let key = Key::new("boundary").unwrap();
        let now = Instant::now();
        let at = now + Duration::from_secs(1);
        map.set(&ns, &key, b"v", Some(at), now);
        let before = at - Duration::from_nanos(1);
        assert_eq!(map.get(&ns, &key, before).as_deref(), Some(&b"v"[..]));
        assert!(map.get_entry(&ns, &key, before).is_some());
        // A sweep just before the expiry keeps it.
        map.set(&ns, &Key::new("trigger").unwrap(), b"z", None, before);
        assert_eq!(map.get(&ns, &key, before).as_deref(), Some(&b"v"[..]));
        assert_eq!(map.get(&ns, &key, at), None);
        assert!(map.get_entry(&ns, &key, at).is_none());
    }

    #[test]
    fn sweep_keeps_entries_that_have_not_expired() {
        let map = SharedMap::default();
        let ns = Namespace::default();
        let start = Instant::now();
        let long = Key::new("long").unwrap();
        map.set(
            &ns,
            &long,
            b"l",
            Some(start + Duration::from_secs(3600)),
            start,
        );
        for i in 0..10 {
            let short = Key::new(format!("short{i}")).unwrap();
            map.set(
                &ns,
                &short,
                b"s",
                Some(start + Duration::from_millis(i)),
                start,
            );
        }
        let later = start + Duration::from_secs(1);
        map.set(&ns, &Key::new("trigger").unwrap(), b"z", None, later);
        let inner = map.read();
        let entries = &inner.namespaces[&ns];
        assert!(
            entries.contains_key(&long),
            "the sweep removed an unexpired entry"
        );
        assert_eq!(entries.len(), 2, "expired entries were left behind");
        assert_eq!(inner.expiries.len(), 1);
    }

    #[test]
    fn sweep_removes_expired_entries_but_not_rewritten_ones() {
        let map = SharedMap::default();
        let ns = Namespace::default();
        let start = Instant::now();
        let gone = Key::new("gone").unwrap();
        let rewritten = Key::new("rewritten").unwrap();
        map.set(
            &ns,
            &gone,
            b"x",
            Some(start + Duration::from_secs(1)),
            start,
        );
        map.set(
            &ns,
            &rewritten,
            b"x",
            Some(start + Duration::from_secs(1)),
            start,
        );
        map.set(&ns, &rewritten, b"y", None, start);

        let later = start + Duration::from_secs(2);
        map.set(&ns, &Key::new("trigger").unwrap(), b"z", None, later);
        let inner = map.read();
        let entries = &inner.namespaces[&ns];
        assert!(!entries.contains_key(&gone), "expired entry was not swept");
        assert_eq!(entries[&rewritten].value, b"y");
        assert!(inner.expiries.is_empty());
    }
}
