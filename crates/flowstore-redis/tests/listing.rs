//! Listing, batches and touch on Redis beyond the shared conformance cases:
//! names with glob metacharacters (in the namespace and the prefix), what a
//! listed item says of legacy values and of the stored header, a listing
//! resumed by a fresh client, touch on legacy and damaged values. (The batch
//! read's command count on a Cluster is in `cluster_batches.rs`.)
//!
//! Each test runs on the topologies at the URL of its variable; ignored by a
//! plain `cargo test`, failing when forced without it.

use std::collections::BTreeSet;
use std::time::Duration;

use bytes::Bytes;
use flowstore_core::{ErrorKind, Key, ListItem, Namespace, Prefix, SetItem, Store, Ttl};
use flowstore_redis::RedisStore;
use flowstore_redis::fred::interfaces::{KeysInterface, LuaInterface};
use flowstore_redis::fred::types::Key as RedisKey;

async fn open(var: &str, namespace: &str) -> RedisStore {
    let url = std::env::var(var).unwrap_or_else(|_| panic!("{var} is not set"));
    let store = RedisStore::from_url(&url)
        .unwrap()
        .namespace(Namespace::new(namespace).unwrap())
        .open()
        .await
        .unwrap();
    store.clear().await.unwrap();
    store
}

fn key(text: &str) -> Key {
    Key::new(text).unwrap()
}

fn prefix(text: &str) -> Prefix {
    Prefix::new(text).unwrap()
}

async fn list_all(store: &RedisStore, prefix: &Prefix, limit: usize) -> Vec<ListItem> {
    let mut items = Vec::new();
    let mut cursor = None;
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

fn names(items: &[ListItem]) -> BTreeSet<String> {
    items
        .iter()
        .map(|item| item.key.as_str().to_owned())
        .collect()
}

/// A namespace and keys full of `*?[]\`: the SCAN pattern escapes them, so a
/// listing and a prefix delete see exactly the literal matches, and never the
/// keys of a namespace the unescaped pattern would match.
async fn glob_characters_are_literal(var: &str) {
    let store = open(var, "ls-glob[a-c]*?\\").await;
    // `ls-glob[a-c]*?\` as a pattern would match this namespace's keys.
    let lookalike = open(var, "ls-globb-x\\").await;
    let names_in = [
        "*", "?", "[", "]", "\\", "a*", "a*b", "a?b", "a[b]", "a[bc]", "ab", "a\\*", "a\\b",
        "x{y}z",
    ];
    let keys: Vec<Key> = names_in.iter().map(|name| key(name)).collect();
    let items: Vec<SetItem<'_>> = keys.iter().map(|k| SetItem::new(k, b"v", None)).collect();
    store.set_many(&items).await.unwrap();
    lookalike.set_many(&items).await.unwrap();
    for probe in [
        "", "*", "?", "[", "a*", "a?", "a[b", "a[", "a\\", "\\", "a[bc]", "x{",
    ] {
        let listed = names(&list_all(&store, &prefix(probe), 3).await);
        let expected: BTreeSet<String> = names_in
            .iter()
            .filter(|name| name.starts_with(probe))
            .map(|name| name.to_string())
            .collect();
        assert_eq!(listed, expected, "prefix {probe:?}");
    }
    assert_eq!(store.delete_prefix(&prefix("a[")).await.unwrap(), 2);
    assert_eq!(store.delete_prefix(&prefix("a*")).await.unwrap(), 2);
    assert_eq!(store.delete_prefix(&prefix("*")).await.unwrap(), 1);
    let left = names(&list_all(&store, &Prefix::all(), 100).await);
    assert_eq!(left.len(), names_in.len() - 5, "{left:?}");
    assert_eq!(
        names(&list_all(&lookalike, &Prefix::all(), 100).await).len(),
        names_in.len(),
        "a prefix delete reached another namespace"
    );
    store.clear().await.unwrap();
    lookalike.clear().await.unwrap();
}

/// A listed item carries the stored size with the header (6 bytes, then the
/// version, then the value), the version `get_entry` reports, for a legacy
/// value (no header) too, and no keys of the namespace that are not valid
/// flowstore keys.
async fn listed_items_describe_the_stored_entry(var: &str) {
    let ns = "ls-meta";
    let store = open(var, ns).await;
    let fresh = key("fresh");
    store.set(&fresh, b"0123456789", None).await.unwrap();
    let () = store
        .client()
        .set(format!("{ns}:legacy"), "old bytes", None, None, false)
        .await
        .unwrap();
    // Under the namespace but no flowstore key (empty key, bytes not UTF-8).
    let () = store
        .client()
        .set(format!("{ns}:"), "x", None, None, false)
        .await
        .unwrap();
    let mut not_utf8 = format!("{ns}:").into_bytes();
    not_utf8.push(0xFF);
    let () = store
        .client()
        .set(
            RedisKey::from(Bytes::from(not_utf8)),
            "x",
            None,
            None,
            false,
        )
        .await
        .unwrap();
    let items = list_all(&store, &Prefix::all(), 10).await;
    assert_eq!(
        names(&items),
        BTreeSet::from(["fresh".to_string(), "legacy".to_string()])
    );
    for item in &items {
        let entry = store.get_entry(&item.key).await.unwrap().unwrap();
        assert_eq!(item.version.as_ref(), Some(&entry.version));
        let expected = match item.key.as_str() {
            "fresh" => 6 + entry.version.as_str().len() as u64 + 10,
            _ => "old bytes".len() as u64,
        };
        assert_eq!(item.stored_size, expected, "{:?}", item.key);
    }
    assert!(items.iter().any(|item| {
        item.version
            .as_ref()
            .unwrap()
            .as_str()
            .starts_with("legacy.")
    }));
    for name in [format!("{ns}:legacy"), format!("{ns}:")] {
        let _: i64 = store.client().del(name).await.unwrap();
    }
    let mut not_utf8 = format!("{ns}:").into_bytes();
    not_utf8.push(0xFF);
    let _: i64 = store
        .client()
        .del(RedisKey::from(Bytes::from(not_utf8)))
        .await
        .unwrap();
    store.clear().await.unwrap();
}

/// Pages read by one client, the rest by a freshly opened one from the
/// cursor: every key is listed, none outside the prefix.
async fn cursor_resumes_in_a_fresh_client(var: &str) {
    let ns = "ls-resume";
    let first = open(var, ns).await;
    let keys: Vec<Key> = (0..300).map(|i| key(&format!("r/{i:03}"))).collect();
    let items: Vec<SetItem<'_>> = keys.iter().map(|k| SetItem::new(k, b"v", None)).collect();
    first.set_many(&items).await.unwrap();
    first.set(&key("other"), b"v", None).await.unwrap();
    let mut seen = Vec::new();
    let mut cursor = None;
    while seen.len() < 40 {
        let page = first
            .list(&prefix("r/"), cursor.as_ref(), 20)
            .await
            .unwrap();
        seen.extend(page.items);
        cursor = Some(page.next.expect("the listing ended early"));
    }
    drop(first);
    let url = std::env::var(var).unwrap();
    let second = RedisStore::from_url(&url)
        .unwrap()
        .namespace(Namespace::new(ns).unwrap())
        .open()
        .await
        .unwrap();
    while let Some(at) = cursor {
        let page = second.list(&prefix("r/"), Some(&at), 20).await.unwrap();
        seen.extend(page.items);
        cursor = page.next;
    }
    let expected: BTreeSet<String> = keys.iter().map(|k| k.as_str().to_owned()).collect();
    assert_eq!(names(&seen), expected);
    second.clear().await.unwrap();
}

/// Whether `cursor` carries a cut inside one SCAN step (see `src/list.rs`:
/// format, node, SCAN cursor, address length, address, then the cut key).
fn has_cut(cursor: &flowstore_core::Cursor) -> bool {
    let hex = cursor.as_str().strip_prefix("redis.").unwrap();
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(&hex[at..at + 2], 16).unwrap())
        .collect();
    bytes.len() > 12 + usize::from(bytes[11])
}

/// Pages of one key: a SCAN step that finds two keys of one hash bucket
/// hands out one and cuts the step (the cursor names the last key handed
/// out); the listing still shows every key.
async fn one_key_pages_list_every_key(var: &str) {
    let store = open(var, "ls-one").await;
    let keys: Vec<Key> = (0..300).map(|i| key(&format!("o/{i:03}"))).collect();
    let items: Vec<SetItem<'_>> = keys.iter().map(|k| SetItem::new(k, b"v", None)).collect();
    store.set_many(&items).await.unwrap();
    let (mut seen, mut cuts, mut cursor) = (Vec::new(), 0, None);
    loop {
        let page = store.list(&prefix("o/"), cursor.as_ref(), 1).await.unwrap();
        assert!(page.items.len() <= 1);
        seen.extend(page.items);
        match page.next {
            Some(next) => {
                cuts += usize::from(has_cut(&next));
                cursor = Some(next);
            }
            None => break,
        }
    }
    let expected: BTreeSet<String> = keys.iter().map(|k| k.as_str().to_owned()).collect();
    assert_eq!(names(&seen), expected);
    // 300 keys share hash buckets somewhere: the cut was exercised.
    assert!(cuts > 0, "no SCAN step found two keys at once");
    store.clear().await.unwrap();
}

/// Touch keeps the value byte for byte, gives a legacy value a header, and
/// leaves a damaged header alone with `Corrupt`.
async fn touch_rewrites_only_the_header(var: &str) {
    let ns = "touch-raw";
    let store = open(var, ns).await;
    let () = store
        .client()
        .set(format!("{ns}:legacy"), "old bytes", None, None, false)
        .await
        .unwrap();
    let legacy = key("legacy");
    let before = store.get_entry(&legacy).await.unwrap().unwrap().version;
    let ttl = Ttl::new(Duration::from_secs(60)).unwrap();
    assert!(store.touch(&legacy, Some(ttl)).await.unwrap());
    let entry = store.get_entry(&legacy).await.unwrap().unwrap();
    assert_eq!(entry.value, b"old bytes");
    assert_ne!(entry.version, before);
    assert!(entry.expires_at.is_some());
    let raw: Bytes = store.client().get(format!("{ns}:legacy")).await.unwrap();
    assert!(raw.starts_with(b"\xFFfsv\x01"), "no header after touch");
    assert!(raw.ends_with(b"old bytes"));

    let damaged = Bytes::from_static(b"\xFFfsv\x09\x02ab value");
    let () = store
        .client()
        .set(format!("{ns}:damaged"), damaged.clone(), None, None, false)
        .await
        .unwrap();
    let err = store.touch(&key("damaged"), None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt);
    let raw: Bytes = store.client().get(format!("{ns}:damaged")).await.unwrap();
    assert_eq!(raw, damaged, "touch changed a damaged entry");
    let _: i64 = store.client().del(format!("{ns}:damaged")).await.unwrap();
    store.clear().await.unwrap();
}

/// A key of the namespace that holds a list (not written by flowstore): a
/// batch read fails as `get` does, never answers it as absent; a batch of
/// absent keys and strings is answered.
async fn a_batch_read_of_another_type_fails(var: &str) {
    let ns = "batch-wrongtype";
    let store = open(var, ns).await;
    // LPUSH through a script: the crate's fred has no list commands built in.
    let _: i64 = store
        .client()
        .eval(
            "return redis.call('LPUSH', KEYS[1], 'x')",
            vec![format!("{ns}:{{t}}list")],
            Vec::<String>::new(),
        )
        .await
        .unwrap();
    store.set(&key("{t}string"), b"s", None).await.unwrap();
    let (list, string, absent) = (key("{t}list"), key("{t}string"), key("{t}absent"));
    let err = store
        .get_many(&[string.clone(), list.clone()])
        .await
        .expect_err("a batch read of a list key");
    assert_eq!(err.kind(), ErrorKind::Backend, "{err:?}");
    let err = store.get(&list).await.expect_err("a get of a list key");
    assert_eq!(err.kind(), ErrorKind::Backend, "{err:?}");
    let values = store.get_many(&[string, absent]).await.unwrap();
    assert_eq!(values, [Some(b"s".to_vec()), None]);
    let _: i64 = store.client().del(format!("{ns}:{{t}}list")).await.unwrap();
    store.clear().await.unwrap();
}

macro_rules! topology {
    ($name:ident, $var:literal) => {
        mod $name {
            #[tokio::test]
            #[ignore = concat!("needs ", $var)]
            async fn glob_characters_are_literal() {
                super::glob_characters_are_literal($var).await;
            }

            #[tokio::test]
            #[ignore = concat!("needs ", $var)]
            async fn listed_items_describe_the_stored_entry() {
                super::listed_items_describe_the_stored_entry($var).await;
            }

            #[tokio::test]
            #[ignore = concat!("needs ", $var)]
            async fn cursor_resumes_in_a_fresh_client() {
                super::cursor_resumes_in_a_fresh_client($var).await;
            }

            #[tokio::test]
            #[ignore = concat!("needs ", $var)]
            async fn one_key_pages_list_every_key() {
                super::one_key_pages_list_every_key($var).await;
            }

            #[tokio::test]
            #[ignore = concat!("needs ", $var)]
            async fn touch_rewrites_only_the_header() {
                super::touch_rewrites_only_the_header($var).await;
            }

            #[tokio::test]
            #[ignore = concat!("needs ", $var)]
            async fn a_batch_read_of_another_type_fails() {
                super::a_batch_read_of_another_type_fails($var).await;
            }
        }
    };
}

topology!(single, "FLOWSTORE_TEST_REDIS_URL");
topology!(cluster, "FLOWSTORE_TEST_REDIS_CLUSTER_URL");
topology!(sentinel, "FLOWSTORE_TEST_REDIS_SENTINEL_URL");
