//! Cases for listing, prefix deletes, batches and TTL touch (SPEC §9).
//!
//! A store without the `list` (or `touch`) capability is checked to answer those
//! operations with `Unsupported` and to change nothing; the batch operations
//! work on every store.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::versions::assert_no_near_expiry;
use super::{assert_kind, get, key, must, open, open_exact, set, set_with_ttl, tidy, ttl};
use crate::conformance::factory::{StoreFactory, unique_namespace};
use crate::conformance::rt;
use crate::listing::MAX_BATCH_LEN;
use crate::{Cursor, ErrorKind, Key, ListItem, Prefix, SetItem, Store};

fn prefix(text: &str) -> Prefix {
    Prefix::new(text).unwrap_or_else(|err| panic!("test prefix {text:?} rejected: {err}"))
}

/// True when `store` lists; when it does not, checks that listing and prefix
/// deletes are an explicit `Unsupported` that removed nothing.
async fn lists<S: Store + ?Sized>(store: &S) -> bool {
    if store.capabilities().list {
        return true;
    }
    let k = key("unlisted");
    set(store, &k, b"v").await;
    let what = "listing on a store without the list capability";
    assert_kind(
        store.list(&Prefix::all(), None, 10).await,
        ErrorKind::Unsupported,
        what,
    );
    assert_kind(
        store.delete_prefix(&Prefix::all()).await,
        ErrorKind::Unsupported,
        what,
    );
    assert_eq!(
        get(store, &k).await.as_deref(),
        Some(&b"v"[..]),
        "a refused prefix delete removed a key"
    );
    false
}

/// Every item of a listing of `prefix`, page by page of `limit`, starting at
/// `cursor`; checks each page's size.
async fn list_all<S: Store + ?Sized>(
    store: &S,
    prefix: &Prefix,
    mut cursor: Option<Cursor>,
    limit: usize,
) -> Vec<ListItem> {
    let mut items = Vec::new();
    for _ in 0..100_000 {
        let page = must(
            store.list(prefix, cursor.as_ref(), limit).await,
            &format!("list {prefix:?}"),
        );
        assert!(
            page.items.len() <= limit,
            "a page of limit {limit} held {} items",
            page.items.len()
        );
        items.extend(page.items);
        match page.next {
            Some(next) => cursor = Some(next),
            None => return items,
        }
    }
    panic!("a listing of {prefix:?} did not end after 100 000 pages");
}

/// The keys of a listing, checked for order and duplicates where the store
/// promises them.
fn listed_keys<S: Store + ?Sized>(store: &S, items: &[ListItem], what: &str) -> BTreeSet<String> {
    let keys: Vec<String> = items
        .iter()
        .map(|item| item.key.as_str().to_owned())
        .collect();
    if store.capabilities().list_ordered {
        assert!(
            keys.windows(2).all(|pair| pair[0] < pair[1]),
            "{what}: a store that lists in key order, exactly once, did not"
        );
    }
    keys.into_iter().collect()
}

async fn set_all<S: Store + ?Sized>(store: &S, keys: &[Key], value: &[u8]) {
    for chunk in keys.chunks(500) {
        let items: Vec<SetItem<'_>> = chunk.iter().map(|k| SetItem::new(k, value, None)).collect();
        must(store.set_many(&items).await, "set_many");
    }
}

const MANY: usize = 2500;

/// 2 500 keys listed in small pages: each exactly once where the store says
/// so, none missing, none of another namespace whose keys share the prefix.
pub async fn listing_pages_through_every_key<F: StoreFactory>(factory: &F) {
    let base = unique_namespace("lsmany");
    let store = open_exact(factory, &base).await;
    let neighbour = open_exact(factory, &format!("{base}x")).await;
    if !lists(&store).await {
        return;
    }
    let keys: Vec<Key> = (0..MANY).map(|i| key(&format!("item/{i:05}"))).collect();
    set_all(&store, &keys, b"v").await;
    set_all(&neighbour, &keys[..50], b"foreign").await;
    let items = list_all(&store, &prefix("item/"), None, 37).await;
    if store.capabilities().list_ordered {
        assert_eq!(
            items.len(),
            MANY,
            "an ordered listing repeated or missed keys"
        );
    }
    let listed = listed_keys(&store, &items, "2 500 keys");
    let expected: BTreeSet<String> = keys.iter().map(|k| k.as_str().to_owned()).collect();
    assert_eq!(
        listed, expected,
        "the listing missed keys or showed foreign ones"
    );
    let everything = list_all(&store, &Prefix::all(), None, MAX_BATCH_LEN).await;
    assert_eq!(
        listed_keys(&store, &everything, "empty prefix"),
        expected,
        "the empty prefix lists every key of the namespace and no other"
    );
    tidy(&store).await;
    tidy(&neighbour).await;
}

/// Prefixes are literal: glob and `LIKE` characters match only themselves, a
/// prefix equal to a whole key lists it (and longer keys), and a prefix that
/// matches nothing lists nothing.
pub async fn listing_prefixes_are_literal<F: StoreFactory>(factory: &F) {
    let store = open(factory, "lslit").await;
    if !lists(&store).await {
        return;
    }
    let names = [
        "a*b", "a?b", "a[b]", "a%b", "a_b", "a\\b", "aXb", "ab", "a", "a*", "b*", "%", "_x", "[",
        "flow/1", "flow/10", "flow/2",
    ];
    let keys: Vec<Key> = names.iter().map(|name| key(name)).collect();
    set_all(&store, &keys, b"v").await;
    for probe in [
        "a*", "a?", "a[", "a[b", "a%", "a_", "a\\", "%", "_", "[", "*", "?", "flow/1", "a", "a*b",
        "zz", "",
    ] {
        let items = list_all(&store, &prefix(probe), None, 5).await;
        let listed = listed_keys(&store, &items, probe);
        let expected: BTreeSet<String> = names
            .iter()
            .filter(|name| name.starts_with(probe))
            .map(|name| name.to_string())
            .collect();
        assert_eq!(listed, expected, "prefix {probe:?} is not taken literally");
    }
    tidy(&store).await;
}

/// A listing shows entry versions that agree with `get_entry`, the expiry of
/// entries with a TTL (none without), a stored size, and no expired keys.
pub async fn listing_shows_versions_expiry_and_size<F: StoreFactory>(factory: &F) {
    let store = open(factory, "lsmeta").await;
    if !lists(&store).await {
        return;
    }
    let plain = key("meta/plain");
    let lasting = key("meta/lasting");
    let fleeting = key("meta/fleeting");
    set(&store, &plain, &[7; 300]).await;
    let has_ttl = set_with_ttl(&store, &lasting, b"x", ttl(Duration::from_secs(3600))).await;
    if has_ttl {
        must(
            store
                .set(&fleeting, b"x", Some(ttl(Duration::from_millis(100))))
                .await,
            "set with a short TTL",
        );
        rt::sleep(Duration::from_millis(400)).await;
    }
    let before = rt::wall_clock();
    let items = list_all(&store, &prefix("meta/"), None, 10).await;
    let by_key: HashMap<&str, &ListItem> =
        items.iter().map(|item| (item.key.as_str(), item)).collect();
    assert!(
        !by_key.contains_key(fleeting.as_str()),
        "an expired key is listed"
    );
    let item = by_key
        .get(plain.as_str())
        .expect("a present key is not listed");
    assert!(
        item.stored_size > 0,
        "a 300-byte value has a stored size of 0"
    );
    if store.capabilities().versions {
        let entry = must(store.get_entry(&plain).await, "get_entry").expect("entry");
        assert_eq!(
            item.version.as_ref(),
            Some(&entry.version),
            "the listed version is not the entry's"
        );
        // Both say whether it expires; when (a wrapper may add a default TTL)
        // agrees within the time between the two reads.
        assert_eq!(
            item.expires_at.is_some(),
            entry.expires_at.is_some(),
            "the listing and get_entry disagree on whether the entry expires"
        );
        if let (Some(listed), Some(read)) = (item.expires_at, entry.expires_at) {
            let apart = listed
                .duration_since(read)
                .unwrap_or_else(|err| err.duration());
            assert!(
                apart < Duration::from_secs(5),
                "the listed expiry {listed:?} is not the entry's {read:?}"
            );
        }
    }
    if has_ttl {
        let item = by_key
            .get(lasting.as_str())
            .expect("a key with a TTL is not listed");
        let at = item
            .expires_at
            .expect("a key with a TTL is listed without an expiry");
        let lower = before + Duration::from_secs(3500);
        let upper = before + Duration::from_secs(3700);
        assert!(
            at > lower && at < upper,
            "a 1 h TTL is listed as expiring at {at:?} (listed at {before:?})"
        );
    }
    tidy(&store).await;
}

/// While another task deletes and rewrites keys under the same prefix — keys
/// that sort between the stable ones, so that keys before a page's cursor
/// disappear and come back between pages — every key that stays unchanged
/// throughout the listing is listed. (A cursor that counts positions instead
/// of naming a key would skip stable keys here.)
pub async fn listing_during_writes_shows_unchanged_keys<F: StoreFactory>(factory: &F) {
    let store = Arc::new(open(factory, "lschurn").await);
    if !lists(&*store).await {
        return;
    }
    let stable: Vec<Key> = (0..400).map(|i| key(&format!("k/{i:04}/stable"))).collect();
    let churned: Vec<Key> = (0..400).map(|i| key(&format!("k/{i:04}/churn"))).collect();
    set_all(&*store, &stable, b"s").await;
    set_all(&*store, &churned, b"c").await;
    let done = Arc::new(AtomicBool::new(false));
    let churn = {
        let (store, done, churned) = (Arc::clone(&store), Arc::clone(&done), churned.clone());
        async move {
            let mut round = 0usize;
            while !done.load(Ordering::Relaxed) {
                let k = &churned[round % churned.len()];
                if round.is_multiple_of(2) {
                    must(store.delete(k).await, "churn delete");
                } else {
                    must(store.set(k, b"c", None).await, "churn set");
                }
                round += 1;
                if round.is_multiple_of(8) {
                    rt::sleep(Duration::from_millis(1)).await;
                }
            }
        }
    };
    let listing = {
        let (store, done) = (Arc::clone(&store), Arc::clone(&done));
        async move {
            let mut items = Vec::new();
            let mut cursor = None;
            loop {
                let page = must(store.list(&prefix("k/"), cursor.as_ref(), 16).await, "list");
                items.extend(page.items);
                let Some(next) = page.next else { break };
                cursor = Some(next);
                // Let the churn run between pages (on a browser's event
                // loop too, where store futures may finish without yielding).
                rt::sleep(Duration::from_millis(1)).await;
            }
            done.store(true, Ordering::Relaxed);
            items
        }
    };
    let (items, ()) = rt::join(listing, churn).await;
    let listed: BTreeSet<&str> = items.iter().map(|item| item.key.as_str()).collect();
    for k in &stable {
        assert!(
            listed.contains(k.as_str()),
            "{k:?} was unchanged throughout the listing but not listed"
        );
    }
    tidy(&*store).await;
}

/// A cursor from one store object resumes the listing in another, freshly
/// opened on the same namespace; a cursor the store did not make, or made for
/// another prefix, is `InvalidArgument`, as is a page size of 0.
pub async fn listing_cursor_resumes_from_a_fresh_store<F: StoreFactory>(factory: &F) {
    let namespace = unique_namespace("lscursor");
    let first = open_exact(factory, &namespace).await;
    if !lists(&first).await {
        return;
    }
    let keys: Vec<Key> = (0..60).map(|i| key(&format!("c/{i:03}"))).collect();
    set_all(&first, &keys, b"v").await;
    let mut seen: Vec<ListItem> = Vec::new();
    let mut cursor = None;
    // Read pages until the store hands out a cursor with items behind it.
    while seen.len() < 10 {
        let page = must(first.list(&prefix("c/"), cursor.as_ref(), 10).await, "list");
        seen.extend(page.items);
        cursor = Some(page.next.expect("the listing ended before 10 of 60 keys"));
    }
    drop(first);
    let second = open_exact(factory, &namespace).await;
    let resumed_from = cursor.clone().expect("a cursor");
    seen.extend(list_all(&second, &prefix("c/"), cursor, 10).await);
    let expected: BTreeSet<String> = keys.iter().map(|k| k.as_str().to_owned()).collect();
    let listed: BTreeSet<String> = seen
        .iter()
        .map(|item| item.key.as_str().to_owned())
        .collect();
    assert_eq!(
        listed, expected,
        "a listing resumed from a fresh store missed keys"
    );
    if second.capabilities().list_ordered {
        assert_eq!(
            seen.len(),
            keys.len(),
            "a resumed ordered listing repeated keys"
        );
    }
    assert_kind(
        second.list(&prefix("d/"), Some(&resumed_from), 10).await,
        ErrorKind::InvalidArgument,
        "a listing of one prefix resumed from a cursor of another",
    );
    let foreign = Cursor::new("not-a-cursor-of-this-store").unwrap();
    assert_kind(
        second.list(&Prefix::all(), Some(&foreign), 10).await,
        ErrorKind::InvalidArgument,
        "a listing from a cursor the store did not make",
    );
    assert_kind(
        second.list(&Prefix::all(), None, 0).await,
        ErrorKind::InvalidArgument,
        "a listing page of 0 keys",
    );
    tidy(&second).await;
}

/// `delete_prefix` removes exactly the keys with the (literal) prefix, in this
/// namespace only, and says how many.
pub async fn delete_prefix_removes_only_its_keys<F: StoreFactory>(factory: &F) {
    let base = unique_namespace("lsdel");
    let store = open_exact(factory, &base).await;
    let neighbour = open_exact(factory, &format!("{base}x")).await;
    if !lists(&store).await {
        return;
    }
    let names = ["a/1", "a/2", "a/%", "ab", "b", "a%"];
    let keys: Vec<Key> = names.iter().map(|name| key(name)).collect();
    set_all(&store, &keys, b"v").await;
    set_all(&neighbour, &keys, b"n").await;
    assert_eq!(
        must(store.delete_prefix(&prefix("a%")).await, "delete_prefix a%"),
        1,
        "a LIKE character in a prefix deleted more than the literal key"
    );
    assert_eq!(
        must(store.delete_prefix(&prefix("a/")).await, "delete_prefix a/"),
        3
    );
    assert_eq!(
        must(store.delete_prefix(&prefix("zz")).await, "delete_prefix zz"),
        0
    );
    for (name, k) in names.iter().zip(&keys) {
        let expect_gone = name.starts_with("a/") || *name == "a%";
        assert_eq!(
            get(&store, k).await.is_none(),
            expect_gone,
            "after the prefix deletes, {name:?}"
        );
        assert_eq!(
            get(&neighbour, k).await.as_deref(),
            Some(&b"n"[..]),
            "a prefix delete reached another namespace"
        );
    }
    tidy(&store).await;
    tidy(&neighbour).await;
}

/// A batch read answers in request order, a duplicate key twice, an absent key
/// as `None`.
pub async fn batch_get_answers_in_request_order<F: StoreFactory>(factory: &F) {
    let store = open(factory, "bget").await;
    let (one, two, absent) = (key("one"), key("two"), key("absent"));
    set(&store, &one, b"1").await;
    set(&store, &two, b"2").await;
    let values = must(
        store
            .get_many(&[two.clone(), absent.clone(), one.clone(), two.clone()])
            .await,
        "get_many",
    );
    let expected = [
        Some(b"2".to_vec()),
        None,
        Some(b"1".to_vec()),
        Some(b"2".to_vec()),
    ];
    assert_eq!(
        values, expected,
        "get_many answered out of order or wrongly"
    );
    assert_eq!(
        must(store.get_many(&[]).await, "empty get_many"),
        Vec::<Option<Vec<u8>>>::new()
    );
    tidy(&store).await;
}

/// A batch write stores each entry with its own TTL, the last of two writes of
/// one key stays, and a batch delete removes its keys (absent ones are fine).
pub async fn batch_set_and_delete_apply_each_entry<F: StoreFactory>(factory: &F) {
    let store = open(factory, "bset").await;
    let (lasting, fleeting, twice, gone) =
        (key("lasting"), key("fleeting"), key("twice"), key("gone"));
    let with_ttl = store.capabilities().ttl;
    // Long enough to be read back right after the batch on a loaded machine.
    let short = with_ttl.then(|| ttl(Duration::from_secs(1)));
    let items = [
        SetItem::new(&lasting, b"L", None),
        SetItem::new(&fleeting, b"F", short),
        SetItem::new(&twice, b"first", None),
        SetItem::new(&gone, b"G", None),
        SetItem::new(&twice, b"second", None),
    ];
    must(store.set_many(&items).await, "set_many");
    assert_eq!(
        get(&store, &twice).await.as_deref(),
        Some(&b"second"[..]),
        "the last write of a key in a batch does not stay"
    );
    assert_eq!(get(&store, &fleeting).await.as_deref(), Some(&b"F"[..]));
    if with_ttl {
        rt::sleep(Duration::from_millis(1600)).await;
        assert_eq!(
            get(&store, &fleeting).await,
            None,
            "a batch entry outlived its TTL"
        );
        assert_eq!(
            get(&store, &lasting).await.as_deref(),
            Some(&b"L"[..]),
            "a batch entry without TTL expired"
        );
    }
    must(
        store
            .delete_many(&[gone.clone(), key("never-there"), gone.clone()])
            .await,
        "delete_many",
    );
    assert_eq!(get(&store, &gone).await, None, "delete_many left its key");
    assert_eq!(
        get(&store, &lasting).await.as_deref(),
        Some(&b"L"[..]),
        "delete_many removed another key"
    );
    tidy(&store).await;
}

/// A batch with one oversized value, or more than `MAX_BATCH_LEN` keys, is
/// refused before anything is written.
pub async fn batch_over_the_limits_writes_nothing<F: StoreFactory>(factory: &F) {
    let store = open(factory, "blimit").await;
    let (small, big) = (key("small"), key("big"));
    let oversized = vec![1; store.max_value_size() + 1];
    let items = [
        SetItem::new(&small, b"s", None),
        SetItem::new(&big, &oversized, None),
    ];
    assert_kind(
        store.set_many(&items).await,
        ErrorKind::ValueTooLarge,
        "a batch with an oversized value",
    );
    assert_eq!(
        get(&store, &small).await,
        None,
        "a refused batch wrote its other values"
    );
    let keys: Vec<Key> = (0..=MAX_BATCH_LEN).map(|i| key(&format!("n{i}"))).collect();
    let items: Vec<SetItem<'_>> = keys.iter().map(|k| SetItem::new(k, b"v", None)).collect();
    let what = "a batch of more than MAX_BATCH_LEN keys";
    assert_kind(
        store.set_many(&items).await,
        ErrorKind::InvalidArgument,
        what,
    );
    assert_eq!(
        get(&store, &keys[0]).await,
        None,
        "an overlong batch wrote values"
    );
    assert_kind(
        store.get_many(&keys).await,
        ErrorKind::InvalidArgument,
        what,
    );
    set(&store, &keys[0], b"kept").await;
    assert_kind(
        store.delete_many(&keys).await,
        ErrorKind::InvalidArgument,
        what,
    );
    assert_eq!(
        get(&store, &keys[0]).await.as_deref(),
        Some(&b"kept"[..]),
        "an overlong batch deleted keys"
    );
    tidy(&store).await;
}

/// `touch` changes a TTL without rewriting the value: an absent key stays
/// absent, `None` removes a TTL, a short TTL makes the entry expire, and the
/// entry version changes.
pub async fn touch_changes_ttl_and_keeps_value<F: StoreFactory>(factory: &F) {
    let store = open(factory, "touch").await;
    let (k, absent) = (key("touched"), key("absent"));
    if !store.capabilities().touch || !store.capabilities().ttl {
        if !store.capabilities().touch {
            set(&store, &k, b"v").await;
            assert_kind(
                store.touch(&k, None).await,
                ErrorKind::Unsupported,
                "touch on a store without touch",
            );
            assert_eq!(get(&store, &k).await.as_deref(), Some(&b"v"[..]));
        }
        tidy(&store).await;
        return;
    }
    assert!(
        !must(store.touch(&absent, None).await, "touch absent"),
        "touch says an absent key was there"
    );
    assert!(
        !must(
            store
                .touch(&absent, Some(ttl(Duration::from_secs(60))))
                .await,
            "touch absent"
        ),
        "touch says an absent key was there"
    );
    assert_eq!(get(&store, &absent).await, None, "touch created a key");
    must(
        store
            .set(&k, b"value", Some(ttl(Duration::from_secs(2))))
            .await,
        "set with TTL",
    );
    let before = store.capabilities().versions.then_some(());
    let old_version = match before {
        Some(()) => Some(
            must(store.get_entry(&k).await, "get_entry")
                .expect("entry")
                .version,
        ),
        None => None,
    };
    assert!(
        must(store.touch(&k, None).await, "touch"),
        "touch missed a present key"
    );
    rt::sleep(Duration::from_millis(2600)).await;
    assert_eq!(
        get(&store, &k).await.as_deref(),
        Some(&b"value"[..]),
        "touch(None) did not remove the TTL"
    );
    if let Some(old_version) = old_version {
        let entry = must(store.get_entry(&k).await, "get_entry").expect("entry");
        assert_ne!(entry.version, old_version, "touch kept the entry version");
        assert_no_near_expiry(entry.expires_at, "an entry touched without TTL");
    }
    assert!(must(
        store.touch(&k, Some(ttl(Duration::from_secs(1)))).await,
        "touch"
    ));
    assert_eq!(
        get(&store, &k).await.as_deref(),
        Some(&b"value"[..]),
        "touch rewrote the value"
    );
    rt::sleep(Duration::from_millis(1600)).await;
    assert_eq!(
        get(&store, &k).await,
        None,
        "a touched TTL did not expire the entry"
    );
    tidy(&store).await;
}
