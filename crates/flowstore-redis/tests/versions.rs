//! Versioned entries on Redis beyond the shared conformance cases: values
//! written by the release before versions existed (raw bytes, no header) are
//! read and rewritten, the stored header is what docs/formats.md says, damaged
//! headers are `Corrupt` and left alone, and a server that lost its script
//! cache still runs the scripts.
//!
//! Each test runs on every topology (single server, Cluster, Sentinel) at the
//! URL of its variable; ignored by a plain `cargo test`, failing when forced
//! without it.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use flowstore_core::{Condition, Current, ErrorKind, Key, Namespace, Store, StoreExt, Version};
use flowstore_redis::RedisStore;
use flowstore_redis::fred::interfaces::{KeysInterface, LuaInterface};
use flowstore_redis::fred::types::Expiration;

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

/// The Redis key of `key` in `namespace`, as every release names it.
fn redis_key(namespace: &str, key: &str) -> String {
    format!("{namespace}:{key}")
}

/// Writes `value` the way the release before versions (da248d2) wrote it in
/// `RedisStore::set`: the raw bytes under `namespace:key`, `SET … PX` with a
/// TTL, plain `SET` without.
async fn write_as_previous_release(
    store: &RedisStore,
    namespace: &str,
    key: &str,
    value: &[u8],
    ttl: Option<Duration>,
) {
    let expire = ttl.map(|ttl| Expiration::PX(ttl.as_millis() as i64));
    let () = store
        .client()
        .set(
            redis_key(namespace, key),
            Bytes::copy_from_slice(value),
            expire,
            None,
            false,
        )
        .await
        .unwrap();
}

async fn raw(store: &RedisStore, namespace: &str, key: &str) -> Option<Vec<u8>> {
    let value: Option<Bytes> = store.client().get(redis_key(namespace, key)).await.unwrap();
    value.map(Vec::from)
}

/// Values the previous release may hold: text, JSON, empty, binary, and the
/// envelopes of the encrypt and compress wrappers (which also start with 0xFF).
const LEGACY_VALUES: [&[u8]; 6] = [
    b"plain text",
    b"{\"step\":2}",
    b"",
    b"\x00\x01\x02\xfe",
    b"\xFFfse\x01\x00\x00\x00\x01nonce-and-ciphertext",
    b"\xFFfsz\x01\x00raw value",
];

async fn legacy_values_are_read_then_rewritten(var: &str) {
    let ns = "verlegacy";
    let store = open(var, ns).await;
    for (i, legacy) in LEGACY_VALUES.into_iter().enumerate() {
        let name = format!("old{i}");
        let k = key(&name);
        write_as_previous_release(&store, ns, &name, legacy, None).await;

        // Plain get and get_entry read the value byte for byte.
        assert_eq!(store.get(&k).await.unwrap().as_deref(), Some(legacy));
        let entry = store.get_entry(&k).await.unwrap().expect("legacy entry");
        assert_eq!(entry.value, legacy);
        assert_eq!(entry.expires_at, None);
        let legacy_version = entry.version;
        assert!(
            legacy_version.as_str().starts_with("legacy."),
            "{legacy_version:?}"
        );
        // Stable: reading again gives the same pseudo-version.
        let again = store.get_entry(&k).await.unwrap().unwrap().version;
        assert_eq!(again, legacy_version);

        // Conditions see the legacy entry as present, at that version.
        let err = store.set_if_absent(&k, b"new", None).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Conflict);
        assert_eq!(
            err.current(),
            Some(&Current::Version(legacy_version.clone()))
        );
        let stale = Version::generate();
        let err = store
            .set_if_version(&k, b"new", None, &stale)
            .await
            .unwrap_err();
        assert_eq!(err.current_version(), Some(&legacy_version));
        assert_eq!(raw(&store, ns, &name).await.as_deref(), Some(legacy));

        // A conditional write at the legacy version replaces it with a
        // versioned entry.
        let written = store
            .set_if_version(&k, b"rewritten", None, &legacy_version)
            .await
            .unwrap();
        let entry = store.get_entry(&k).await.unwrap().unwrap();
        assert_eq!(
            (entry.value.as_slice(), &entry.version),
            (&b"rewritten"[..], &written)
        );
        assert_ne!(written, legacy_version);
        let stored = raw(&store, ns, &name).await.unwrap();
        assert!(
            stored.starts_with(b"\xFFfsv\x01"),
            "no header after a rewrite"
        );
    }

    // An old-release process writing again (a rolling upgrade): different
    // bytes give a different pseudo-version, so a stale condition fails.
    let k = key("rolling");
    write_as_previous_release(&store, ns, "rolling", b"first", None).await;
    let first = store.get_entry(&k).await.unwrap().unwrap().version;
    write_as_previous_release(&store, ns, "rolling", b"second", None).await;
    let err = store
        .set_if_version(&k, b"lost update", None, &first)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert_eq!(
        store.get(&k).await.unwrap().as_deref(),
        Some(&b"second"[..])
    );

    // delete_if at the legacy version deletes; plain set over a legacy value
    // gives it a header.
    let second = store.get_entry(&k).await.unwrap().unwrap().version;
    store.delete_if_version(&k, &second).await.unwrap();
    assert_eq!(store.get(&k).await.unwrap(), None);
    let k = key("plain");
    write_as_previous_release(&store, ns, "plain", b"old", None).await;
    store.set(&k, b"new", None).await.unwrap();
    assert_eq!(store.get(&k).await.unwrap().as_deref(), Some(&b"new"[..]));
    assert!(
        !store
            .get_entry(&k)
            .await
            .unwrap()
            .unwrap()
            .version
            .as_str()
            .starts_with("legacy.")
    );
    store.clear().await.unwrap();
}

async fn legacy_ttl_is_read_and_kept_until_rewritten(var: &str) {
    let ns = "verlegacyttl";
    let store = open(var, ns).await;
    let k = key("expiring");
    let hour = Duration::from_secs(3600);
    let before = SystemTime::now();
    write_as_previous_release(&store, ns, "expiring", b"old", Some(hour)).await;
    let entry = store.get_entry(&k).await.unwrap().unwrap();
    let expires_at = entry.expires_at.expect("a legacy TTL is read");
    let skew = Duration::from_secs(60);
    assert!(expires_at > before + hour - skew && expires_at < SystemTime::now() + hour + skew);
    // Rewritten conditionally without a TTL: the TTL goes, like a plain set.
    store
        .set_if_version(&k, b"new", None, &entry.version)
        .await
        .unwrap();
    assert_eq!(store.get_entry(&k).await.unwrap().unwrap().expires_at, None);
    store.clear().await.unwrap();
}

async fn stored_values_carry_the_documented_header(var: &str) {
    let ns = "verformat";
    let store = open(var, ns).await;
    let k = key("k");
    let version = store.set_versioned(&k, b"payload", None).await.unwrap();
    let stored = raw(&store, ns, "k").await.unwrap();
    let mut expected = b"\xFFfsv\x01".to_vec();
    expected.push(version.as_str().len() as u8);
    expected.extend_from_slice(version.as_str().as_bytes());
    expected.extend_from_slice(b"payload");
    assert_eq!(stored, expected);
    // Plain set writes a header with a fresh version too.
    store.set(&k, b"plain", None).await.unwrap();
    let stored = raw(&store, ns, "k").await.unwrap();
    assert!(stored.starts_with(b"\xFFfsv\x01") && stored.ends_with(b"plain"));
    store.clear().await.unwrap();
}

async fn damaged_headers_are_corrupt_and_left_alone(var: &str) {
    let ns = "vercorrupt";
    let store = open(var, ns).await;
    let damaged: [&[u8]; 3] = [
        b"\xFFfsv\x02\x01vpayload",
        b"\xFFfsv\x01\x09abc",
        b"\xFFfsv",
    ];
    for (i, bytes) in damaged.into_iter().enumerate() {
        let name = format!("bad{i}");
        let k = key(&name);
        write_as_previous_release(&store, ns, &name, bytes, None).await;
        let corrupt =
            |err: flowstore_core::Error| assert_eq!(err.kind(), ErrorKind::Corrupt, "{err:?}");
        corrupt(store.get(&k).await.unwrap_err());
        corrupt(store.get_entry(&k).await.unwrap_err());
        corrupt(store.set_if_absent(&k, b"x", None).await.unwrap_err());
        corrupt(
            store
                .set_if_version(&k, b"x", None, &Version::generate())
                .await
                .unwrap_err(),
        );
        corrupt(
            store
                .delete_if_version(&k, &Version::generate())
                .await
                .unwrap_err(),
        );
        assert_eq!(raw(&store, ns, &name).await.as_deref(), Some(bytes));
        // An unconditional write replaces it, as a plain set does.
        let version = Version::generate();
        store
            .set_if(&k, b"fixed", None, &Condition::Always, &version)
            .await
            .unwrap();
        assert_eq!(store.get_entry(&k).await.unwrap().unwrap().version, version);
    }
    store.clear().await.unwrap();
}

async fn scripts_run_after_the_script_cache_is_flushed(var: &str) {
    let store = open(var, "verflush").await;
    let k = key("k");
    let first = store.set_if_absent(&k, b"1", None).await.unwrap();
    // On a cluster fred sends SCRIPT FLUSH to every primary.
    let () = store.client().script_flush_cluster(false).await.unwrap();
    let second = store.set_if_version(&k, b"2", None, &first).await.unwrap();
    let () = store.client().script_flush_cluster(false).await.unwrap();
    assert_eq!(store.get_entry(&k).await.unwrap().unwrap().version, second);
    let () = store.client().script_flush_cluster(false).await.unwrap();
    store.delete_if_version(&k, &second).await.unwrap();
    assert_eq!(store.get(&k).await.unwrap(), None);
    store.clear().await.unwrap();
}

macro_rules! topology {
    ($name:ident, $var:literal) => {
        mod $name {
            #[tokio::test]
            #[ignore = concat!("needs ", $var)]
            async fn legacy_values_are_read_then_rewritten() {
                super::legacy_values_are_read_then_rewritten($var).await;
            }

            #[tokio::test]
            #[ignore = concat!("needs ", $var)]
            async fn legacy_ttl_is_read_and_kept_until_rewritten() {
                super::legacy_ttl_is_read_and_kept_until_rewritten($var).await;
            }

            #[tokio::test]
            #[ignore = concat!("needs ", $var)]
            async fn stored_values_carry_the_documented_header() {
                super::stored_values_carry_the_documented_header($var).await;
            }

            #[tokio::test]
            #[ignore = concat!("needs ", $var)]
            async fn damaged_headers_are_corrupt_and_left_alone() {
                super::damaged_headers_are_corrupt_and_left_alone($var).await;
            }

            #[tokio::test]
            #[ignore = concat!("needs ", $var)]
            async fn scripts_run_after_the_script_cache_is_flushed() {
                super::scripts_run_after_the_script_cache_is_flushed($var).await;
            }
        }
    };
}

topology!(single, "FLOWSTORE_TEST_REDIS_URL");
topology!(cluster, "FLOWSTORE_TEST_REDIS_CLUSTER_URL");
topology!(sentinel, "FLOWSTORE_TEST_REDIS_SENTINEL_URL");
