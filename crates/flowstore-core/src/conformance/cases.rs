//! The conformance cases: one public async function per rule of the contract.
//!
//! Each case opens its own stores through the factory, in namespaces no other case
//! or run uses, and panics with a message naming the rule when the store breaks it.
//! A store that lacks a capability (TTL, clear) is checked to say `Unsupported`
//! where the case would use it; nothing is skipped silently.

use std::sync::Arc;
use std::time::Duration;

mod listing;
mod versions;
pub use listing::*;
pub use versions::*;

use super::factory::{StoreFactory, unique_namespace};
use super::rt;
use crate::{Error, ErrorKind, Key, Namespace, Result, Store, StoreExt, Ttl};

// ---------------------------------------------------------------------------
// Helpers

fn key(text: &str) -> Key {
    Key::new(text).unwrap_or_else(|err| panic!("test key {text:?} rejected: {err}"))
}

fn ns(text: &str) -> Namespace {
    Namespace::new(text).unwrap_or_else(|err| panic!("test namespace {text:?} rejected: {err}"))
}

fn ttl(duration: Duration) -> Ttl {
    Ttl::new(duration).expect("test TTL in range")
}

async fn open_exact<F: StoreFactory>(factory: &F, namespace: &str) -> F::Store {
    factory
        .open(ns(namespace))
        .await
        .unwrap_or_else(|err| panic!("cannot open a store for namespace {namespace:?}: {err:?}"))
}

/// Opens a store in a fresh namespace labelled `label`.
async fn open<F: StoreFactory>(factory: &F, label: &str) -> F::Store {
    open_exact(factory, &unique_namespace(label)).await
}

fn must<T>(result: Result<T>, what: &str) -> T {
    result.unwrap_or_else(|err| panic!("{what} failed: {err:?}"))
}

async fn get<S: Store + ?Sized>(store: &S, k: &Key) -> Option<Vec<u8>> {
    must(store.get(k).await, &format!("get {k:?}"))
}

async fn set<S: Store + ?Sized>(store: &S, k: &Key, value: &[u8]) {
    must(store.set(k, value, None).await, &format!("set {k:?}"));
}

fn assert_kind<T: std::fmt::Debug>(result: Result<T>, kind: ErrorKind, what: &str) -> Error {
    match result {
        Err(err) if err.kind() == kind => err,
        other => panic!("{what}: expected a {kind} error, got {other:?}"),
    }
}

/// Sets `value` with `ttl` and returns true when the store supports TTL; when it
/// does not, checks the refusal is an explicit `Unsupported` that wrote nothing.
async fn set_with_ttl<S: Store + ?Sized>(store: &S, k: &Key, value: &[u8], ttl: Ttl) -> bool {
    let result = store.set(k, value, Some(ttl)).await;
    if store.capabilities().ttl {
        must(result, &format!("set {k:?} with TTL {ttl}"));
        true
    } else {
        assert_kind(
            result,
            ErrorKind::Unsupported,
            "set with TTL on a store without TTL",
        );
        assert_eq!(
            get(store, k).await,
            None,
            "a refused TTL write must write nothing"
        );
        false
    }
}

/// Clears the store and returns true when it supports clear; when it does not,
/// checks the refusal is an explicit `Unsupported`.
async fn clear<S: Store + ?Sized>(store: &S) -> bool {
    let result = store.clear().await;
    if store.capabilities().clear {
        must(result, "clear");
        true
    } else {
        assert_kind(
            result,
            ErrorKind::Unsupported,
            "clear on a store without clear",
        );
        false
    }
}

/// Best-effort removal of what a case wrote, so servers do not fill up with test data.
async fn tidy<S: Store + ?Sized>(store: &S) {
    if store.capabilities().clear {
        let _ = store.clear().await;
    }
}

/// Keys the contract says must round-trip exactly.
pub fn odd_keys() -> Vec<String> {
    let mut keys: Vec<String> = [
        "/",
        "//",
        "/leading",
        "trailing/",
        "a/b/c",
        ".",
        "..",
        "../etc/passwd",
        "a/../b",
        "./a",
        "%",
        "%2e%2e",
        "%2F",
        "%00",
        "%%",
        "100%",
        "*",
        "?",
        "[",
        "]",
        "[a-z]",
        "{a,b}",
        "a*b?c[d]",
        "\\",
        "\\*",
        ":",
        "a:b",
        "a::b",
        "::",
        "'",
        "\"",
        "`",
        "'quoted'",
        "\"double\"",
        " ",
        "  ",
        " leading space",
        "trailing space ",
        "tab\there",
        "line\nbreak",
        "\r\n",
        "\u{1}",
        "\u{7f}",
        "😀",
        "ключ",
        "日本語のキー",
        "e\u{301}",
        "é",
        "Robert'); DROP TABLE students;--",
        "x' OR '1'='1",
        "_",
        "a_b",
        "a%b",
        "#fragment",
        "?query=1&b=2",
        "~user",
        "+plus",
        "=",
        "@",
        "$HOME",
        "${x}",
        "&amp;",
        "<tag>",
        "null",
        "undefined",
        "NaN",
        "0",
        "-",
        "--",
        "-dash",
    ]
    .iter()
    .map(|k| k.to_string())
    .collect();
    keys.push("k".repeat(Key::MAX_LEN));
    keys
}

// ---------------------------------------------------------------------------
// Basic reads and writes

/// A key never written reads as `Ok(None)`.
pub async fn absent_key_is_none<F: StoreFactory>(factory: &F) {
    let store = open(factory, "absent").await;
    assert_eq!(get(&store, &key("never-written")).await, None);
}

/// A value written reads back byte for byte.
pub async fn set_then_get_round_trips<F: StoreFactory>(factory: &F) {
    let store = open(factory, "roundtrip").await;
    let k = key("user:42/checkout");
    set(&store, &k, br#"{"step":2}"#).await;
    assert_eq!(
        get(&store, &k).await.as_deref(),
        Some(&br#"{"step":2}"#[..])
    );
    tidy(&store).await;
}

/// A second `set` replaces the first value.
pub async fn overwrite_replaces_value<F: StoreFactory>(factory: &F) {
    let store = open(factory, "overwrite").await;
    let k = key("k");
    set(&store, &k, b"first, and longer than the second").await;
    set(&store, &k, b"second").await;
    assert_eq!(get(&store, &k).await.as_deref(), Some(&b"second"[..]));
    tidy(&store).await;
}

/// A write acknowledged through one client is visible through another client of
/// the same backend and namespace (read-your-writes).
pub async fn second_client_reads_your_writes<F: StoreFactory>(factory: &F) {
    let namespace = unique_namespace("clients");
    let writer = open_exact(factory, &namespace).await;
    let reader = open_exact(factory, &namespace).await;
    let k = key("shared");
    for round in 0..5u8 {
        set(&writer, &k, &[round]).await;
        assert_eq!(get(&reader, &k).await, Some(vec![round]), "round {round}");
    }
    must(writer.delete(&k).await, "delete");
    assert_eq!(get(&reader, &k).await, None);
    tidy(&writer).await;
}

/// Every key shape the contract allows round-trips exactly, and no two of them
/// land on the same entry.
pub async fn odd_keys_round_trip<F: StoreFactory>(factory: &F) {
    let store = open(factory, "oddkeys").await;
    let keys = odd_keys();
    for (i, text) in keys.iter().enumerate() {
        set(&store, &key(text), format!("value-{i}").as_bytes()).await;
    }
    for (i, text) in keys.iter().enumerate() {
        assert_eq!(
            get(&store, &key(text)).await,
            Some(format!("value-{i}").into_bytes()),
            "key {text:?} did not round-trip"
        );
    }
    for text in &keys {
        must(store.delete(&key(text)).await, "delete odd key");
        assert_eq!(
            get(&store, &key(text)).await,
            None,
            "key {text:?} not deleted"
        );
    }
}

/// Keys that differ only in case, whitespace, Unicode normalisation, encoding or
/// pattern syntax are different keys.
pub async fn similar_keys_do_not_collide<F: StoreFactory>(factory: &F) {
    let store = open(factory, "similar").await;
    let keys = [
        "key",
        "Key",
        "KEY",
        "key ",
        " key",
        "kéy",
        "ke\u{301}y",
        "k%65y",
        "k_y",
        "k?y",
        "k*",
        "k.y",
        "k/y",
        "k:y",
        "k\\y",
        "k%2Fy",
    ];
    for (i, text) in keys.iter().enumerate() {
        set(&store, &key(text), &[i as u8]).await;
    }
    for (i, text) in keys.iter().enumerate() {
        assert_eq!(
            get(&store, &key(text)).await,
            Some(vec![i as u8]),
            "key {text:?}"
        );
    }
    tidy(&store).await;
}

/// Keys of exactly 1024 bytes (ASCII and four-byte characters) round-trip.
pub async fn longest_keys_round_trip<F: StoreFactory>(factory: &F) {
    let store = open(factory, "longkeys").await;
    let ascii = key(&"a".repeat(Key::MAX_LEN));
    let emoji = key(&"😀".repeat(Key::MAX_LEN / 4));
    set(&store, &ascii, b"ascii").await;
    set(&store, &emoji, b"emoji").await;
    assert_eq!(get(&store, &ascii).await.as_deref(), Some(&b"ascii"[..]));
    assert_eq!(get(&store, &emoji).await.as_deref(), Some(&b"emoji"[..]));
    tidy(&store).await;
}

// ---------------------------------------------------------------------------
// Values

/// Values are binary-safe: every byte value, and byte sequences that are not UTF-8.
pub async fn binary_value_round_trips<F: StoreFactory>(factory: &F) {
    let store = open(factory, "binary").await;
    let all_bytes: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).collect();
    let k = key("bin");
    set(&store, &k, &all_bytes).await;
    assert_eq!(get(&store, &k).await, Some(all_bytes));
    let not_utf8 = vec![0xc3, 0x28, 0xff, 0xfe, 0x00, 0x80];
    set(&store, &k, &not_utf8).await;
    assert_eq!(get(&store, &k).await, Some(not_utf8));
    tidy(&store).await;
}

/// An empty value is a value: `Some(vec![])`, not `None`.
pub async fn empty_value_is_not_absent<F: StoreFactory>(factory: &F) {
    let store = open(factory, "empty").await;
    let k = key("empty");
    set(&store, &k, b"").await;
    assert_eq!(
        get(&store, &k).await,
        Some(Vec::new()),
        "empty value read as absent"
    );
    tidy(&store).await;
}

fn patterned(len: usize, seed: u32) -> Vec<u8> {
    // A cheap pseudo-random pattern: not all one byte, so compression and
    // truncation bugs show.
    let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state as u8
        })
        .collect()
}

/// Values of sizes around page and buffer boundaries (1 B to 64 KiB + 1),
/// each with its own byte pattern, round-trip whole: no truncation, no mix-up.
pub async fn values_of_many_sizes_round_trip<F: StoreFactory>(factory: &F) {
    let store = open(factory, "sizes").await;
    let sizes: Vec<usize> = [
        1, 255, 256, 1023, 1024, 1025, 4095, 4096, 4097, 8191, 8192, 8193,
    ]
    .into_iter()
    .chain([16384, 32767, 32768, 32769, 65535, 65536, 65537])
    .filter(|&size| size <= store.max_value_size())
    .collect();
    let value =
        |size: usize| -> Vec<u8> { (0..size).map(|i| ((i * 31 + size) % 251) as u8).collect() };
    for &size in &sizes {
        set(&store, &key(&format!("size:{size}")), &value(size)).await;
    }
    for &size in &sizes {
        let read = get(&store, &key(&format!("size:{size}"))).await;
        let read = read.unwrap_or_else(|| panic!("the {size}-byte value is absent"));
        assert_eq!(
            read.len(),
            size,
            "the {size}-byte value came back truncated or padded"
        );
        assert!(
            read == value(size),
            "the {size}-byte value came back changed"
        );
    }
    tidy(&store).await;
}

/// A 1 MiB value round-trips.
pub async fn one_mib_value_round_trips<F: StoreFactory>(factory: &F) {
    let store = open(factory, "onemib").await;
    let value = patterned(1024 * 1024, 1);
    let k = key("big");
    set(&store, &k, &value).await;
    assert!(get(&store, &k).await == Some(value), "1 MiB value changed");
    tidy(&store).await;
}

/// A value of exactly the store's maximum size round-trips.
pub async fn max_size_value_round_trips<F: StoreFactory>(factory: &F) {
    let store = open(factory, "maxsize").await;
    let value = patterned(store.max_value_size(), 2);
    let k = key("max");
    set(&store, &k, &value).await;
    assert!(
        get(&store, &k).await == Some(value),
        "max-size value changed"
    );
    tidy(&store).await;
}

/// One byte over the limit is `ValueTooLarge`, permanent, and writes nothing: an
/// existing value stays, an absent key stays absent.
pub async fn oversized_value_is_rejected_and_old_value_kept<F: StoreFactory>(factory: &F) {
    let store = open(factory, "toolarge").await;
    let too_large = vec![7u8; store.max_value_size() + 1];
    let k = key("kept");
    set(&store, &k, b"old").await;
    let err = assert_kind(
        store.set(&k, &too_large, None).await,
        ErrorKind::ValueTooLarge,
        "oversized set",
    );
    assert!(!err.is_temporary(), "ValueTooLarge must not be retried");
    assert_eq!(get(&store, &k).await.as_deref(), Some(&b"old"[..]));
    let fresh = key("fresh");
    assert_kind(
        store.set(&fresh, &too_large, None).await,
        ErrorKind::ValueTooLarge,
        "oversized set of a new key",
    );
    assert_eq!(get(&store, &fresh).await, None);
    tidy(&store).await;
}

// ---------------------------------------------------------------------------
// Invalid keys: rejected by the shared key rules before any store sees them.

async fn assert_invalid_key_rejected<F: StoreFactory>(factory: &F, label: &str, raw: &[u8]) {
    let store = open(factory, label).await;
    let err = assert_kind(Key::from_bytes(raw), ErrorKind::InvalidKey, label);
    assert!(!err.is_temporary(), "InvalidKey must not be retried");
    // The store is untouched: a neighbouring key is still readable and absent.
    assert_eq!(get(&store, &key("neighbour")).await, None);
}

/// The empty key is `InvalidKey`.
pub async fn empty_key_is_invalid<F: StoreFactory>(factory: &F) {
    assert_invalid_key_rejected(factory, "emptykey", b"").await;
}

/// A 1025-byte key is `InvalidKey`.
pub async fn overlong_key_is_invalid<F: StoreFactory>(factory: &F) {
    assert_invalid_key_rejected(factory, "longkey", &[b'k'; Key::MAX_LEN + 1]).await;
}

/// A key containing NUL is `InvalidKey`.
pub async fn nul_key_is_invalid<F: StoreFactory>(factory: &F) {
    assert_invalid_key_rejected(factory, "nulkey", b"a\0b").await;
}

/// A key that is not UTF-8 is `InvalidKey`.
pub async fn non_utf8_key_is_invalid<F: StoreFactory>(factory: &F) {
    assert_invalid_key_rejected(factory, "utf8key", &[b'k', 0xff]).await;
}

// ---------------------------------------------------------------------------
// Delete

/// A deleted key reads as absent.
pub async fn delete_removes_value<F: StoreFactory>(factory: &F) {
    let store = open(factory, "delete").await;
    let k = key("gone");
    set(&store, &k, b"v").await;
    must(store.delete(&k).await, "delete");
    assert_eq!(get(&store, &k).await, None);
}

/// Deleting a key that is not there is `Ok`, twice over.
pub async fn delete_missing_is_ok<F: StoreFactory>(factory: &F) {
    let store = open(factory, "deletemissing").await;
    let k = key("never");
    must(store.delete(&k).await, "delete of a missing key");
    must(store.delete(&k).await, "second delete of a missing key");
}

/// Deleting one key leaves its neighbours (including prefix-sharing ones) alone.
pub async fn delete_only_touches_its_key<F: StoreFactory>(factory: &F) {
    let store = open(factory, "deleteone").await;
    let keys = ["a", "a:b", "ab", "a*", "b"].map(key);
    for k in &keys {
        set(&store, k, k.as_str().as_bytes()).await;
    }
    must(store.delete(&keys[0]).await, "delete");
    assert_eq!(get(&store, &keys[0]).await, None);
    for k in &keys[1..] {
        assert_eq!(get(&store, k).await.as_deref(), Some(k.as_str().as_bytes()));
    }
    tidy(&store).await;
}

// ---------------------------------------------------------------------------
// TTL

/// An entry with a TTL that has not passed reads normally.
pub async fn ttl_entry_is_readable_before_expiry<F: StoreFactory>(factory: &F) {
    let store = open(factory, "ttllive").await;
    let k = key("live");
    if set_with_ttl(&store, &k, b"v", ttl(Duration::from_secs(3600))).await {
        assert_eq!(get(&store, &k).await.as_deref(), Some(&b"v"[..]));
    }
    tidy(&store).await;
}

/// An entry is still there after most of its TTL has passed: a store that cut
/// TTLs short (seconds read as milliseconds, say) fails here, where a read right
/// after the write would not notice.
pub async fn ttl_entry_lives_most_of_its_ttl<F: StoreFactory>(factory: &F) {
    let store = open(factory, "ttlmost").await;
    let k = key("most");
    if set_with_ttl(&store, &k, b"v", ttl(Duration::from_secs(3))).await {
        rt::sleep(Duration::from_millis(1500)).await;
        assert_eq!(
            get(&store, &k).await.as_deref(),
            Some(&b"v"[..]),
            "an entry with a 3 s TTL was gone after 1.5 s"
        );
    }
    tidy(&store).await;
}

/// After its TTL passes an entry reads as `Ok(None)`; entries without TTL stay.
pub async fn ttl_entry_expires<F: StoreFactory>(factory: &F) {
    let store = open(factory, "ttlexpire").await;
    let short = key("short");
    let forever = key("forever");
    set(&store, &forever, b"stays").await;
    if set_with_ttl(&store, &short, b"v", ttl(Duration::from_millis(100))).await {
        rt::sleep(Duration::from_millis(400)).await;
        assert_eq!(get(&store, &short).await, None, "entry outlived its TTL");
        assert_eq!(get(&store, &forever).await.as_deref(), Some(&b"stays"[..]));
        // An expired key can be written again.
        set(&store, &short, b"again").await;
        assert_eq!(get(&store, &short).await.as_deref(), Some(&b"again"[..]));
    }
    tidy(&store).await;
}

/// Removing expired entries (a background sweep, or one done on writes) leaves
/// every entry that has not expired: one with a long TTL, one with none.
pub async fn sweep_leaves_unexpired_entries<F: StoreFactory>(factory: &F) {
    let store = open(factory, "ttlsweep").await;
    let long = key("long");
    let plain = key("plain");
    set(&store, &plain, b"plain").await;
    if set_with_ttl(&store, &long, b"long", ttl(Duration::from_secs(3600))).await {
        for i in 0..20 {
            let short = key(&format!("short:{i}"));
            must(
                store
                    .set(&short, b"s", Some(ttl(Duration::from_millis(50))))
                    .await,
                "set with a short TTL",
            );
        }
        rt::sleep(Duration::from_millis(500)).await;
        // Writes after the short TTLs passed, for stores that sweep on writes.
        for i in 0..5 {
            set(&store, &key(&format!("after:{i}")), b"a").await;
        }
        rt::sleep(Duration::from_millis(100)).await;
        assert_eq!(
            get(&store, &long).await.as_deref(),
            Some(&b"long"[..]),
            "an unexpired entry was swept"
        );
        assert_eq!(
            get(&store, &plain).await.as_deref(),
            Some(&b"plain"[..]),
            "an entry without TTL was swept"
        );
        for i in 0..20 {
            assert_eq!(
                get(&store, &key(&format!("short:{i}"))).await,
                None,
                "an expired entry is readable"
            );
        }
    }
    tidy(&store).await;
}

/// A plain `set` after a `set` with TTL removes the TTL.
pub async fn plain_set_clears_earlier_ttl<F: StoreFactory>(factory: &F) {
    let store = open(factory, "ttlcleared").await;
    let k = key("k");
    if set_with_ttl(&store, &k, b"v1", ttl(Duration::from_millis(100))).await {
        set(&store, &k, b"v2").await;
        rt::sleep(Duration::from_millis(400)).await;
        assert_eq!(
            get(&store, &k).await.as_deref(),
            Some(&b"v2"[..]),
            "a plain set must remove the earlier TTL"
        );
    }
    tidy(&store).await;
}

/// A `set` with TTL over a plain entry replaces it and then expires.
pub async fn ttl_set_replaces_plain_entry<F: StoreFactory>(factory: &F) {
    let store = open(factory, "ttlreplace").await;
    let k = key("k");
    set(&store, &k, b"plain").await;
    if set_with_ttl(&store, &k, b"ttl", ttl(Duration::from_millis(100))).await {
        rt::sleep(Duration::from_millis(400)).await;
        assert_eq!(get(&store, &k).await, None);
    } else {
        assert_eq!(get(&store, &k).await.as_deref(), Some(&b"plain"[..]));
    }
    tidy(&store).await;
}

/// The shortest (1 ms) and longest (100 years) TTLs are accepted.
pub async fn ttl_extremes_are_accepted<F: StoreFactory>(factory: &F) {
    let store = open(factory, "ttlextremes").await;
    let long = key("long");
    let short = key("short");
    if set_with_ttl(&store, &long, b"v", ttl(Ttl::MAX)).await {
        assert_eq!(get(&store, &long).await.as_deref(), Some(&b"v"[..]));
        set_with_ttl(&store, &short, b"v", ttl(Ttl::MIN)).await;
        rt::sleep(Duration::from_millis(300)).await;
        assert_eq!(get(&store, &short).await, None);
    }
    tidy(&store).await;
}

// ---------------------------------------------------------------------------
// Namespaces

async fn assert_isolated<F: StoreFactory>(factory: &F, first: &str, second: &str) {
    let a = open_exact(factory, first).await;
    let b = open_exact(factory, second).await;
    let k = key("same-key");
    set(&a, &k, b"from-a").await;
    set(&b, &k, b"from-b").await;
    assert_eq!(
        get(&a, &k).await.as_deref(),
        Some(&b"from-a"[..]),
        "{first:?} saw {second:?}"
    );
    assert_eq!(
        get(&b, &k).await.as_deref(),
        Some(&b"from-b"[..]),
        "{second:?} saw {first:?}"
    );
    let only_b = key("only-in-b");
    set(&b, &only_b, b"x").await;
    assert_eq!(
        get(&a, &only_b).await,
        None,
        "{first:?} saw a key of {second:?}"
    );

    // Clearing either one leaves the other intact.
    if clear(&a).await {
        assert_eq!(get(&a, &k).await, None);
        assert_eq!(
            get(&b, &k).await.as_deref(),
            Some(&b"from-b"[..]),
            "clear of {first:?} reached {second:?}"
        );
        set(&a, &k, b"from-a").await;
        clear(&b).await;
        assert_eq!(get(&b, &k).await, None);
        assert_eq!(
            get(&a, &k).await.as_deref(),
            Some(&b"from-a"[..]),
            "clear of {second:?} reached {first:?}"
        );
    } else {
        must(b.delete(&k).await, "delete");
        assert_eq!(get(&a, &k).await.as_deref(), Some(&b"from-a"[..]));
    }
    tidy(&a).await;
    tidy(&b).await;
}

/// Two namespaces never see each other's keys.
pub async fn namespaces_are_isolated<F: StoreFactory>(factory: &F) {
    let base = unique_namespace("iso");
    assert_isolated(factory, &format!("{base}-one"), &format!("{base}-two")).await;
}

/// A namespace that is a prefix of another (`flow` / `flow2`) is isolated from it.
pub async fn prefix_namespaces_are_isolated<F: StoreFactory>(factory: &F) {
    let base = unique_namespace("flow");
    assert_isolated(factory, &base, &format!("{base}2")).await;
}

/// Namespaces with glob characters (`*?[`) are isolated from those they would match.
pub async fn glob_namespaces_are_isolated<F: StoreFactory>(factory: &F) {
    let base = unique_namespace("glob");
    assert_isolated(factory, &format!("{base}*"), &format!("{base}x")).await;
    assert_isolated(factory, &format!("{base}?"), &format!("{base}y")).await;
    assert_isolated(factory, &format!("{base}[ab]"), &format!("{base}a")).await;
    assert_isolated(factory, &format!("{base}\\"), &format!("{base}\\*")).await;
}

/// Namespaces with SQL `LIKE` characters (`%_`) are isolated from those they would match.
pub async fn like_namespaces_are_isolated<F: StoreFactory>(factory: &F) {
    let base = unique_namespace("like");
    assert_isolated(factory, &format!("{base}%"), &format!("{base}zz")).await;
    assert_isolated(factory, &format!("{base}_"), &format!("{base}z")).await;
}

/// Namespace `a` + key `b:c` and namespace `a:b` + key `c` are different entries
/// (for `:`, `/` and `.` as would-be separators). A backend may instead refuse a
/// namespace containing its separator, with a `Config` error.
pub async fn separator_cannot_be_ambiguous<F: StoreFactory>(factory: &F) {
    let base = unique_namespace("sep");
    for separator in [":", "/", ".", "\u{1f}"] {
        let outer = open_exact(factory, &base).await;
        let joined = format!("{base}{separator}b");
        let inner = match factory.open(ns(&joined)).await {
            Ok(store) => store,
            Err(err) if err.kind() == ErrorKind::Config => continue,
            Err(err) => panic!(
                "opening namespace {joined:?}: expected a store or a Config error, got {err:?}"
            ),
        };
        let outer_key = key(&format!("b{separator}c"));
        let inner_key = key("c");
        set(&outer, &outer_key, b"outer").await;
        assert_eq!(
            get(&inner, &inner_key).await,
            None,
            "separator {separator:?} is ambiguous"
        );
        set(&inner, &inner_key, b"inner").await;
        assert_eq!(
            get(&outer, &outer_key).await.as_deref(),
            Some(&b"outer"[..])
        );
        tidy(&inner).await;
        assert_eq!(
            get(&outer, &outer_key).await.as_deref(),
            Some(&b"outer"[..])
        );
        tidy(&outer).await;
    }
}

/// Namespace and key are not simply concatenated: namespace `ns` with key `xc`
/// is another entry than namespace `nsx` with key `c`.
pub async fn namespace_and_key_do_not_run_together<F: StoreFactory>(factory: &F) {
    let base = unique_namespace("join");
    let short = open_exact(factory, &base).await;
    let long = open_exact(factory, &format!("{base}x")).await;
    set(&short, &key("xc"), b"short").await;
    assert_eq!(
        get(&long, &key("c")).await,
        None,
        "namespace {base:?} + key \"xc\" read as namespace {base:?}x + key \"c\""
    );
    set(&long, &key("c"), b"long").await;
    assert_eq!(
        get(&short, &key("xc")).await.as_deref(),
        Some(&b"short"[..])
    );
    tidy(&short).await;
    tidy(&long).await;
}

/// `delete` removes the key of its own namespace only.
pub async fn delete_only_touches_its_namespace<F: StoreFactory>(factory: &F) {
    let base = unique_namespace("delns");
    let first = open_exact(factory, &format!("{base}-one")).await;
    let second = open_exact(factory, &format!("{base}-two")).await;
    let k = key("same-key");
    set(&first, &k, b"one").await;
    set(&second, &k, b"two").await;
    must(first.delete(&k).await, "delete");
    assert_eq!(get(&first, &k).await, None);
    assert_eq!(
        get(&second, &k).await.as_deref(),
        Some(&b"two"[..]),
        "a delete in one namespace removed the key of another"
    );
    tidy(&first).await;
    tidy(&second).await;
}

// ---------------------------------------------------------------------------
// Clear

/// `clear` removes every key of the namespace.
pub async fn clear_removes_every_key_of_namespace<F: StoreFactory>(factory: &F) {
    let store = open(factory, "clearall").await;
    let keys: Vec<Key> = (0..250).map(|i| key(&format!("item:{i}"))).collect();
    for k in &keys {
        set(&store, k, b"v").await;
    }
    set(&store, &key("*"), b"glob-looking key").await;
    if clear(&store).await {
        for k in keys.iter().chain([&key("*")]) {
            assert_eq!(get(&store, k).await, None, "{k:?} survived clear");
        }
    }
    tidy(&store).await;
}

/// `clear` leaves every other namespace alone.
pub async fn clear_leaves_other_namespaces<F: StoreFactory>(factory: &F) {
    let cleared = open(factory, "cleared").await;
    let kept = open(factory, "kept").await;
    for i in 0..20 {
        let k = key(&format!("k{i}"));
        set(&cleared, &k, b"x").await;
        set(&kept, &k, b"y").await;
    }
    if clear(&cleared).await {
        for i in 0..20 {
            let k = key(&format!("k{i}"));
            assert_eq!(get(&cleared, &k).await, None);
            assert_eq!(get(&kept, &k).await.as_deref(), Some(&b"y"[..]));
        }
    }
    tidy(&kept).await;
}

/// Clearing an empty namespace is `Ok`.
pub async fn clear_on_empty_namespace_is_ok<F: StoreFactory>(factory: &F) {
    let store = open(factory, "clearempty").await;
    clear(&store).await;
    clear(&store).await;
}

/// A store keeps working after `clear`.
pub async fn store_is_usable_after_clear<F: StoreFactory>(factory: &F) {
    let store = open(factory, "afterclear").await;
    let k = key("k");
    set(&store, &k, b"before").await;
    clear(&store).await;
    set(&store, &k, b"after").await;
    assert_eq!(get(&store, &k).await.as_deref(), Some(&b"after"[..]));
    tidy(&store).await;
}

// ---------------------------------------------------------------------------
// Health

/// A healthy store's `ping` is `Ok` and reports no part down, in an empty
/// namespace and next to a value (a probe reads no user data and changes none).
pub async fn ping_is_ok<F: StoreFactory>(factory: &F) {
    async fn ping<S: Store + ?Sized>(store: &S) -> crate::Health {
        let answer = store.ping().await;
        answer.unwrap_or_else(|err| panic!("a healthy store's ping failed: {err:?}"))
    }
    let store = open(factory, "ping").await;
    assert!(!ping(&store).await.is_degraded(), "healthy store degraded");
    let k = key("k");
    set(&store, &k, b"kept").await;
    assert!(!ping(&store).await.is_degraded(), "healthy store degraded");
    assert_eq!(get(&store, &k).await.as_deref(), Some(&b"kept"[..]));
    tidy(&store).await;
}

// ---------------------------------------------------------------------------
// Concurrency and ordering

const TASKS: usize = 64;

/// 64 concurrent tasks, each writing and reading its own key, lose nothing.
pub async fn concurrent_tasks_on_distinct_keys<F: StoreFactory>(factory: &F) {
    let store = Arc::new(open(factory, "concdistinct").await);
    let tasks = (0..TASKS)
        .map(|i| {
            let store = Arc::clone(&store);
            async move {
                let k = key(&format!("task:{i}"));
                for round in 0..5u8 {
                    let value = format!("{i}:{round}").into_bytes();
                    must(store.set(&k, &value, None).await, "concurrent set");
                    let read = must(store.get(&k).await, "concurrent get");
                    assert_eq!(read, Some(value), "task {i} lost its own write");
                }
            }
        })
        .collect();
    rt::run_concurrently(tasks).await;
    for i in 0..TASKS {
        let k = key(&format!("task:{i}"));
        assert_eq!(get(&*store, &k).await, Some(format!("{i}:4").into_bytes()));
    }
    tidy(&*store).await;
}

/// 64 concurrent tasks writing one key all succeed, and the final value is one
/// of those written (never a mix, never absent).
pub async fn concurrent_tasks_on_one_key<F: StoreFactory>(factory: &F) {
    let store = Arc::new(open(factory, "concone").await);
    let k = key("contended");
    let value_of = |i: usize| format!("writer-{i}-").repeat(50).into_bytes();
    let tasks = (0..TASKS)
        .map(|i| {
            let store = Arc::clone(&store);
            let k = k.clone();
            let value = value_of(i);
            async move {
                must(store.set(&k, &value, None).await, "contended set");
                must(store.get(&k).await, "contended get").is_some()
            }
        })
        .collect();
    let seen = rt::run_concurrently(tasks).await;
    assert!(
        seen.iter().all(|present| *present),
        "a reader saw the key absent"
    );
    let last = get(&*store, &k).await.expect("contended key is absent");
    assert!(
        (0..TASKS).any(|i| value_of(i) == last),
        "final value is not one of the written values"
    );
    tidy(&*store).await;
}

/// Writes to one key issued one after another are applied in that order.
pub async fn sequential_writes_apply_in_order<F: StoreFactory>(factory: &F) {
    let store = open(factory, "order").await;
    let k = key("counter");
    for i in 0..100u32 {
        set(&store, &k, &i.to_be_bytes()).await;
    }
    assert_eq!(get(&store, &k).await, Some(99u32.to_be_bytes().to_vec()));
    must(store.delete(&k).await, "delete");
    set(&store, &k, b"after delete").await;
    assert_eq!(get(&store, &k).await.as_deref(), Some(&b"after delete"[..]));
    tidy(&store).await;
}

// ---------------------------------------------------------------------------
// Helpers of the extension trait

/// `set_json`/`get_json` and `set_string`/`get_string` round-trip through the store.
pub async fn text_and_json_helpers_round_trip<F: StoreFactory>(factory: &F) {
    let store = open(factory, "helpers").await;
    let k = key("doc");
    let doc = serde_json::json!({"step": 3, "answers": ["a", "b"], "done": false});
    must(store.set_json(&k, &doc, None).await, "set_json");
    let back: Option<serde_json::Value> = must(store.get_json(&k).await, "get_json");
    assert_eq!(back, Some(doc));
    must(
        store.set_string(&k, "ünïcödé text", None).await,
        "set_string",
    );
    assert_eq!(
        must(store.get_string(&k).await, "get_string").as_deref(),
        Some("ünïcödé text")
    );
    let missing: Option<serde_json::Value> = must(store.get_json(&key("nope")).await, "get_json");
    assert_eq!(missing, None);
    tidy(&store).await;
}

/// Reading bytes that are not UTF-8 (or not JSON) as text is `Corrupt`, never `None`.
pub async fn non_utf8_text_is_corrupt_not_absent<F: StoreFactory>(factory: &F) {
    let store = open(factory, "badtext").await;
    let k = key("bytes");
    set(&store, &k, &[0xff, 0xfe]).await;
    assert_kind(
        store.get_string(&k).await,
        ErrorKind::Corrupt,
        "get_string of non-UTF-8",
    );
    let json: Result<Option<serde_json::Value>> = store.get_json(&k).await;
    assert_kind(json, ErrorKind::Corrupt, "get_json of non-JSON");
    // A value of the wrong shape is Corrupt too, and the error never quotes it.
    set(&store, &k, br#""sk_live_secret""#).await;
    let wrong: Result<Option<u32>> = store.get_json(&k).await;
    let err = assert_kind(wrong, ErrorKind::Corrupt, "get_json of the wrong type");
    assert!(
        !err.to_one_line().contains("sk_live") && !format!("{err:?}").contains("sk_live"),
        "the error quotes the stored value: {err:?}"
    );
    tidy(&store).await;
}
