//! Entry versions over raw HTTP/1.1 (SPEC §8): `ETag` and expiry on GET,
//! `If-Match` / `If-None-Match: *` / `Flowstore-New-Version` on PUT and DELETE,
//! 412 for a failed condition, 400 for forms the store cannot express, and 501
//! from a server whose store keeps no versions.

mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use common::{RawResponse, local_config, raw, spawn_server};
use flowstore_core::conformance::doubles::RequiredOnly;
use flowstore_core::{Key, Namespace, Store, StoreExt, Ttl, Version};
use flowstore_http::protocol::parse_expires_at;
use flowstore_memory::MemoryStore;

fn memory() -> MemoryStore {
    MemoryStore::new().with_namespace(Namespace::new("srv").unwrap())
}

fn key(text: &str) -> Key {
    Key::new(text).unwrap()
}

fn etag_of(response: &RawResponse) -> Version {
    let etag = response.header("etag").expect("an ETag");
    let inner = etag.strip_prefix('"').unwrap().strip_suffix('"').unwrap();
    Version::new(inner).unwrap()
}

async fn stored_version(store: &MemoryStore, name: &str) -> Option<Version> {
    store
        .get_entry(&key(name))
        .await
        .unwrap()
        .map(|entry| entry.version)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_answers_the_etag_and_the_expiry() {
    let store = memory();
    let addr = spawn_server(Arc::new(store.clone()), local_config()).await;
    let version = store.set_versioned(&key("k"), b"v", None).await.unwrap();
    let got = raw(addr, "GET", "/states/k", &[], None).await;
    assert_eq!((got.status, &got.body[..]), (200, &b"v"[..]));
    assert_eq!(etag_of(&got), version);
    assert_eq!(got.header("flowstore-versioned"), Some("1"));
    assert_eq!(
        got.header("flowstore-expires-at"),
        None,
        "no TTL, no expiry"
    );

    let before = SystemTime::now();
    store
        .set(&key("t"), b"v", Some(Ttl::from_secs(60).unwrap()))
        .await
        .unwrap();
    let got = raw(addr, "GET", "/states/t", &[], None).await;
    let text = got.header("flowstore-expires-at").expect("an expiry");
    assert_eq!(text.len(), "2026-12-04T23:16:45.123Z".len(), "{text}");
    let at = parse_expires_at(text).unwrap();
    let low = before + Duration::from_secs(59);
    let high = SystemTime::now() + Duration::from_secs(61);
    assert!(at > low && at < high, "{text}");

    let absent = raw(addr, "GET", "/states/none", &[], None).await;
    assert_eq!(absent.status, 404);
    assert_eq!(absent.header("flowstore-absent"), Some("1"));
    assert_eq!(absent.header("etag"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_answers_the_version_it_wrote() {
    let store = memory();
    let addr = spawn_server(Arc::new(store.clone()), local_config()).await;
    // A plain PUT (the original design's client) still gets a 204, now with
    // the generated version.
    let plain = raw(addr, "PUT", "/states/k", &[], Some(b"one")).await;
    assert_eq!(plain.status, 204);
    assert_eq!(Some(etag_of(&plain)), stored_version(&store, "k").await);
    // A proposed version is the one written.
    let proposed = raw(
        addr,
        "PUT",
        "/states/k",
        &["Flowstore-New-Version: mine-1"],
        Some(b"two"),
    )
    .await;
    assert_eq!(proposed.status, 204);
    assert_eq!(etag_of(&proposed).as_str(), "mine-1");
    assert_eq!(
        stored_version(&store, "k").await.unwrap().as_str(),
        "mine-1"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn if_match_writes_only_at_that_version() {
    let store = memory();
    let addr = spawn_server(Arc::new(store.clone()), local_config()).await;
    let first = store.set_versioned(&key("k"), b"one", None).await.unwrap();
    let if_match = format!("If-Match: {}", first.to_etag());
    let ok = raw(
        addr,
        "PUT",
        "/states/k",
        &[&if_match, "Flowstore-New-Version: second"],
        Some(b"two"),
    )
    .await;
    assert_eq!(ok.status, 204);
    assert_eq!(etag_of(&ok).as_str(), "second");

    // The same request again (a retry whose answer was lost): the key is at its
    // own proposed version, so it is `Ok`, not a conflict.
    let retry = raw(
        addr,
        "PUT",
        "/states/k",
        &[&if_match, "Flowstore-New-Version: second"],
        Some(b"two"),
    )
    .await;
    assert_eq!(retry.status, 204, "{retry:?}");

    // A stale version: 412 with kind `conflict` and the current ETag; nothing written.
    let stale = raw(
        addr,
        "PUT",
        "/states/k",
        &[&if_match, "Flowstore-New-Version: third"],
        Some(b"three"),
    )
    .await;
    assert_eq!(stale.status, 412);
    assert_eq!(stale.error_kind(), "conflict");
    assert_eq!(stale.json()["temporary"], false);
    assert_eq!(etag_of(&stale).as_str(), "second");
    assert_eq!(stale.header("flowstore-versioned"), Some("1"));
    assert_eq!(
        store.get(&key("k")).await.unwrap().as_deref(),
        Some(&b"two"[..])
    );

    // On an absent key: 412 that says it is absent.
    let absent = raw(addr, "PUT", "/states/none", &[&if_match], Some(b"x")).await;
    assert_eq!(absent.status, 412);
    assert_eq!(absent.header("flowstore-absent"), Some("1"));
    assert_eq!(absent.header("etag"), None);
    assert_eq!(store.get(&key("none")).await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn if_none_match_star_creates_only() {
    let store = memory();
    let addr = spawn_server(Arc::new(store.clone()), local_config()).await;
    let created = raw(
        addr,
        "PUT",
        "/states/k?ttl=60s",
        &["If-None-Match: *"],
        Some(b"one"),
    )
    .await;
    assert_eq!(created.status, 204);
    let entry = store.get_entry(&key("k")).await.unwrap().unwrap();
    assert_eq!(entry.version, etag_of(&created));
    assert!(entry.expires_at.is_some(), "the TTL was applied");
    let again = raw(
        addr,
        "PUT",
        "/states/k",
        &["If-None-Match: *"],
        Some(b"two"),
    )
    .await;
    assert_eq!(again.status, 412);
    assert_eq!(again.error_kind(), "conflict");
    assert_eq!(etag_of(&again), entry.version);
    assert_eq!(
        store.get(&key("k")).await.unwrap().as_deref(),
        Some(&b"one"[..])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_if_match() {
    let store = memory();
    let addr = spawn_server(Arc::new(store.clone()), local_config()).await;
    let version = store.set_versioned(&key("k"), b"v", None).await.unwrap();
    let stale = raw(addr, "DELETE", "/states/k", &["If-Match: \"old\""], None).await;
    assert_eq!(stale.status, 412);
    assert_eq!(etag_of(&stale), version);
    assert!(store.get(&key("k")).await.unwrap().is_some());
    let if_match = format!("If-Match: {}", version.to_etag());
    let deleted = raw(addr, "DELETE", "/states/k", &[&if_match], None).await;
    assert_eq!(deleted.status, 204);
    assert_eq!(deleted.header("flowstore-versioned"), Some("1"));
    assert_eq!(store.get(&key("k")).await.unwrap(), None);
    // Absent is a conflict for a conditional delete.
    let gone = raw(addr, "DELETE", "/states/k", &[&if_match], None).await;
    assert_eq!(gone.status, 412);
    assert_eq!(gone.header("flowstore-absent"), Some("1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conditions_the_store_cannot_express_are_400_and_write_nothing() {
    let store = memory();
    let addr = spawn_server(Arc::new(store.clone()), local_config()).await;
    let version = store.set_versioned(&key("k"), b"kept", None).await.unwrap();
    let tag = format!("If-Match: {}", version.to_etag());
    let puts: [&[&str]; 9] = [
        &["If-Match: *"],
        &["If-Match: W/\"abc\""],
        &["If-Match: \"a\", \"b\""],
        &["If-Match: \"a\"", "If-Match: \"b\""],
        &["If-None-Match: \"abc\""],
        &[&tag, "If-None-Match: *"],
        &["If-Unmodified-Since: Sat, 01 Jan 2000 00:00:00 GMT"],
        &["Flowstore-New-Version: has space"],
        &["Flowstore-New-Version: \"quoted\""],
    ];
    for headers in puts {
        let response = raw(addr, "PUT", "/states/k", headers, Some(b"new")).await;
        assert_eq!(response.status, 400, "{headers:?}");
        assert_eq!(response.error_kind(), "invalid_argument", "{headers:?}");
    }
    let deletes: [&[&str]; 3] = [
        &["If-None-Match: *"],
        &["If-Match: *"],
        &["Flowstore-New-Version: v2"],
    ];
    for headers in deletes {
        let response = raw(addr, "DELETE", "/states/k", headers, None).await;
        assert_eq!(response.status, 400, "{headers:?}");
    }
    for headers in [["If-None-Match: \"x\""], ["If-Match: \"x\""]] {
        let response = raw(addr, "GET", "/states/k", &headers, None).await;
        assert_eq!(response.status, 400, "{headers:?}");
    }
    let entry = store.get_entry(&key("k")).await.unwrap().unwrap();
    assert_eq!((&entry.value[..], entry.version), (&b"kept"[..], version));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_without_versions_refuses_conditions_with_501() {
    let store = memory();
    let addr = spawn_server(Arc::new(RequiredOnly(store.clone())), local_config()).await;
    // The plain protocol is unchanged: no ETag, no marker.
    let put = raw(addr, "PUT", "/states/k", &[], Some(b"kept")).await;
    assert_eq!(put.status, 204);
    assert_eq!(put.header("etag"), None);
    let got = raw(addr, "GET", "/states/k", &[], None).await;
    assert_eq!((got.status, got.header("etag")), (200, None));
    assert_eq!(got.header("flowstore-versioned"), None);
    for headers in [
        &["If-Match: \"v\""][..],
        &["If-None-Match: *"],
        &["Flowstore-New-Version: v"],
    ] {
        let response = raw(addr, "PUT", "/states/k", headers, Some(b"new")).await;
        assert_eq!(response.status, 501, "{headers:?}");
        assert_eq!(response.error_kind(), "unsupported");
    }
    let response = raw(addr, "DELETE", "/states/k", &["If-Match: \"v\""], None).await;
    assert_eq!(response.status, 501);
    assert_eq!(
        store.get(&key("k")).await.unwrap().as_deref(),
        Some(&b"kept"[..])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_allows_the_conditional_headers_and_exposes_the_etag() {
    let mut config = local_config();
    config.allow_origins = vec!["https://app.example".into()];
    let addr = spawn_server(Arc::new(memory()), config).await;
    let preflight = raw(
        addr,
        "OPTIONS",
        "/states/k",
        &[
            "Origin: https://app.example",
            "Access-Control-Request-Method: PUT",
            "Access-Control-Request-Headers: if-match, if-none-match, flowstore-new-version",
        ],
        None,
    )
    .await;
    let allowed = preflight
        .header("access-control-allow-headers")
        .unwrap()
        .to_ascii_lowercase();
    for name in ["if-match", "if-none-match", "flowstore-new-version"] {
        assert!(allowed.contains(name), "{name} in {allowed}");
    }
    let put = raw(
        addr,
        "PUT",
        "/states/k",
        &["Origin: https://app.example"],
        Some(b"v"),
    )
    .await;
    let exposed = put
        .header("access-control-expose-headers")
        .unwrap()
        .to_ascii_lowercase();
    for name in ["etag", "flowstore-expires-at", "flowstore-versioned"] {
        assert!(exposed.contains(name), "{name} in {exposed}");
    }
}
