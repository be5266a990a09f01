//! Listing, prefix deletes and touch on both browser stores, beyond the shared
//! suite: the order of keys above U+FFFF against U+E000..=U+FFFF (IndexedDB
//! compares UTF-16 code units, flowstore's key order is UTF-8 bytes), keys that
//! are not this namespace's in Web Storage, and what touch leaves alone.
#![cfg(target_arch = "wasm32")]

use std::collections::BTreeSet;
use std::time::Duration;

use flowstore_browser::{IndexedDbStore, LocalStorageStore};
use flowstore_core::conformance::{rt, unique_namespace};
use flowstore_core::{Cursor, ErrorKind, Key, ListItem, Namespace, Prefix, Store, Ttl};
use wasm_bindgen_test::wasm_bindgen_test;

wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

fn ns(label: &str) -> Namespace {
    Namespace::new(unique_namespace(label)).unwrap()
}

fn key(text: &str) -> Key {
    Key::new(text).unwrap()
}

fn prefix(text: &str) -> Prefix {
    Prefix::new(text).unwrap()
}

async fn idb(label: &str) -> IndexedDbStore {
    IndexedDbStore::builder()
        .database("flowstore-listing")
        .namespace(ns(label))
        .open()
        .await
        .unwrap()
}

fn local(label: &str) -> LocalStorageStore {
    LocalStorageStore::new().unwrap().with_namespace(ns(label))
}

fn raw_local() -> web_sys::Storage {
    web_sys::window().unwrap().local_storage().unwrap().unwrap()
}

/// Every item of a listing of `prefix`, in pages of `limit`.
async fn list_all(store: &dyn Store, prefix: &Prefix, limit: usize) -> Vec<ListItem> {
    let mut items = Vec::new();
    let mut cursor: Option<Cursor> = None;
    loop {
        let page = store.list(prefix, cursor.as_ref(), limit).await.unwrap();
        assert!(page.items.len() <= limit);
        items.extend(page.items);
        match page.next {
            Some(next) => cursor = Some(next),
            None => return items,
        }
    }
}

fn keys_of(items: &[ListItem]) -> Vec<String> {
    items
        .iter()
        .map(|item| item.key.as_str().to_owned())
        .collect()
}

/// Keys around the point where UTF-16 and UTF-8 orders disagree: U+D7FF (just
/// below the surrogates), U+E000 and U+FFFD (above them in UTF-16 but below
/// every astral character in UTF-8), astral characters (surrogate pairs).
const AROUND_SURROGATES: [&str; 8] = [
    "a\u{D7FF}",
    "a\u{D7FF}z",
    "a\u{E000}",
    "a\u{FFFD}",
    "a\u{FFFF}x",
    "a\u{10000}",
    "a\u{1F600}",
    "a\u{10FFFF}",
];

async fn set_keys(store: &dyn Store, names: &[&str]) {
    for name in names {
        store.set(&key(name), b"v", None).await.unwrap();
    }
}

/// IndexedDB lists such keys exactly once, in its UTF-16 order — which is not
/// key order, so it does not claim `list_ordered` — and a prefix's range holds
/// exactly that prefix's keys in both places where a scalar-value upper bound
/// would go wrong (a prefix ending in U+D7FF or U+FFFF).
#[wasm_bindgen_test]
async fn indexeddb_lists_astral_keys_exactly_once_in_utf16_order() {
    let store = idb("lsutf16").await;
    assert!(store.capabilities().list);
    assert!(
        !store.capabilities().list_ordered,
        "IndexedDB's order is UTF-16's, not key order"
    );
    set_keys(&store, &AROUND_SURROGATES).await;
    store.set(&key("b"), b"v", None).await.unwrap();
    let mut utf16: Vec<&str> = AROUND_SURROGATES.to_vec();
    utf16.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));
    let mut utf8 = utf16.clone();
    utf8.sort();
    assert_ne!(utf16, utf8, "the keys do not tell the two orders apart");
    for limit in [1, 2, 3, 100] {
        let listed = keys_of(&list_all(&store, &prefix("a"), limit).await);
        assert_eq!(
            listed, utf16,
            "pages of {limit}: not each key once in UTF-16 order"
        );
    }
    for (probe, expected) in [
        ("a\u{D7FF}", &["a\u{D7FF}", "a\u{D7FF}z"][..]),
        ("a\u{FFFF}", &["a\u{FFFF}x"][..]),
        ("a\u{FFFD}", &["a\u{FFFD}"][..]),
        ("a\u{1F600}", &["a\u{1F600}"][..]),
        ("a\u{10FFFF}", &["a\u{10FFFF}"][..]),
    ] {
        let listed = keys_of(&list_all(&store, &prefix(probe), 1).await);
        assert_eq!(listed, expected, "prefix {probe:?}");
    }
    assert_eq!(store.delete_prefix(&prefix("a\u{D7FF}")).await.unwrap(), 2);
    assert_eq!(store.delete_prefix(&prefix("a\u{FFFF}")).await.unwrap(), 1);
    let rest: BTreeSet<String> = keys_of(&list_all(&store, &Prefix::all(), 10).await)
        .into_iter()
        .collect();
    let expected: BTreeSet<String> = [
        "a\u{E000}",
        "a\u{FFFD}",
        "a\u{10000}",
        "a\u{1F600}",
        "a\u{10FFFF}",
        "b",
    ]
    .iter()
    .map(|name| name.to_string())
    .collect();
    assert_eq!(rest, expected, "a prefix delete removed other keys");
    store.clear().await.unwrap();
}

/// Web Storage listings sort in Rust, so the same keys come in key (UTF-8)
/// order, each once, as `list_ordered` claims.
#[wasm_bindgen_test]
async fn web_storage_lists_astral_keys_in_key_order() {
    let store = local("lsutf8");
    assert!(store.capabilities().list_ordered);
    set_keys(&store, &AROUND_SURROGATES).await;
    let mut utf8: Vec<&str> = AROUND_SURROGATES.to_vec();
    utf8.sort();
    for limit in [1, 3, 100] {
        let listed = keys_of(&list_all(&store, &prefix("a"), limit).await);
        assert_eq!(listed, utf8, "pages of {limit}");
    }
    assert_eq!(
        keys_of(&list_all(&store, &prefix("a\u{FFFF}"), 1).await),
        ["a\u{FFFF}x"]
    );
    store.clear().await.unwrap();
}

/// A Web Storage listing and prefix delete see this namespace's entries only:
/// not another namespace's (one whose name extends this one's included), not
/// keys of other scripts of the page, even when they look like flowstore's.
#[wasm_bindgen_test]
async fn web_storage_listing_skips_foreign_keys() {
    let name = unique_namespace("lsforeign");
    let store = LocalStorageStore::new()
        .unwrap()
        .with_namespace(Namespace::new(name.clone()).unwrap());
    let neighbour = LocalStorageStore::new()
        .unwrap()
        .with_namespace(Namespace::new(format!("{name}x")).unwrap());
    set_keys(&store, &["k/1", "k/2"]).await;
    set_keys(&neighbour, &["k/1", "k/3"]).await;
    let raw = raw_local();
    let foreign = [
        "k/9".to_owned(),
        format!("other-app/{name}/k/4"),
        format!("flowstore/{name}/k/5"),
        format!("flowstore/{}:{name}k/6", name.len()),
        format!("flowstore/{}:{name}x/k/7", name.len()),
    ];
    for raw_key in &foreign {
        raw.set_item(raw_key, "not flowstore's").unwrap();
    }
    for limit in [1, 10] {
        assert_eq!(
            keys_of(&list_all(&store, &Prefix::all(), limit).await),
            ["k/1", "k/2"]
        );
    }
    assert_eq!(store.delete_prefix(&prefix("k/")).await.unwrap(), 2);
    for raw_key in &foreign {
        assert_eq!(
            raw.get_item(raw_key).unwrap().as_deref(),
            Some("not flowstore's"),
            "a prefix delete removed {raw_key:?}"
        );
        raw.remove_item(raw_key).unwrap();
    }
    assert_eq!(
        keys_of(&list_all(&neighbour, &Prefix::all(), 10).await),
        ["k/1", "k/3"]
    );
    neighbour.clear().await.unwrap();
}

/// A damaged entry of the namespace makes a listing fail with `Corrupt`; it is
/// not skipped as if absent.
#[wasm_bindgen_test]
async fn web_storage_listing_reports_damaged_entries() {
    let store = local("lsdamaged");
    store.set(&key("good"), b"v", None).await.unwrap();
    raw_local()
        .set_item(&store.storage_key(&key("bad")), "garbage")
        .unwrap();
    let err = store.list(&Prefix::all(), None, 10).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt);
    store.clear().await.unwrap();
}

/// Web Storage `touch` rewrites the header only: the packed value is the same
/// text, the listed stored size is the entry's UTF-16 bytes, the expiry moves.
#[wasm_bindgen_test]
async fn web_storage_touch_keeps_the_packed_value() {
    let store = local("lstouch");
    let k = key("t");
    store
        .set(
            &k,
            &[0xa5; 100],
            Some(Ttl::new(Duration::from_secs(60)).unwrap()),
        )
        .await
        .unwrap();
    let raw = raw_local();
    let name = store.storage_key(&k);
    let before = raw.get_item(&name).unwrap().unwrap();
    let listed = list_all(&store, &Prefix::all(), 10).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(
        listed[0].stored_size,
        2 * before.encode_utf16().count() as u64
    );
    assert!(listed[0].expires_at.is_some());
    assert_eq!(listed[0].version, None);
    assert!(store.touch(&k, None).await.unwrap());
    let after = raw.get_item(&name).unwrap().unwrap();
    let payload = |text: &str| text.splitn(4, ';').nth(3).unwrap().to_owned();
    assert_eq!(payload(&after), payload(&before));
    assert!(after.starts_with("1;;100;"), "the expiry was not removed");
    assert_eq!(
        list_all(&store, &Prefix::all(), 10).await[0].expires_at,
        None
    );
    assert!(!store.touch(&key("absent"), None).await.unwrap());
    assert_eq!(
        raw.get_item(&store.storage_key(&key("absent"))).unwrap(),
        None
    );
    store.clear().await.unwrap();
}

/// IndexedDB: a prefix delete counts the keys it removed that had not expired;
/// touch gives a new version and leaves the value; batches answer in order.
#[wasm_bindgen_test]
async fn indexeddb_prefix_delete_counts_live_keys_and_touch_keeps_value() {
    let store = idb("lsidbdel").await;
    let short = Ttl::new(Duration::from_millis(50)).unwrap();
    store.set(&key("p/live"), b"v", None).await.unwrap();
    store.set(&key("p/gone"), b"v", Some(short)).await.unwrap();
    store.set(&key("q/gone"), b"v", Some(short)).await.unwrap();
    rt::sleep(Duration::from_millis(200)).await;
    assert_eq!(store.delete_prefix(&prefix("p/")).await.unwrap(), 1);
    assert_eq!(store.get(&key("q/gone")).await.unwrap(), None);

    let k = key("touched");
    store.set(&k, &[7; 64], None).await.unwrap();
    let before = store.get_entry(&k).await.unwrap().unwrap();
    let ttl = Ttl::new(Duration::from_secs(60)).unwrap();
    assert!(store.touch(&k, Some(ttl)).await.unwrap());
    let after = store.get_entry(&k).await.unwrap().unwrap();
    assert_eq!(after.value, vec![7; 64]);
    assert_ne!(after.version, before.version);
    assert!(after.expires_at.is_some());
    let listed = list_all(&store, &prefix("touched"), 10).await;
    assert_eq!(listed[0].version.as_ref(), Some(&after.version));
    assert_eq!(listed[0].stored_size, 64);

    let values = store
        .get_many(&[key("nope"), k.clone(), key("p/live")])
        .await
        .unwrap();
    assert_eq!(values, vec![None, Some(vec![7; 64]), None]);
    store.clear().await.unwrap();
}
