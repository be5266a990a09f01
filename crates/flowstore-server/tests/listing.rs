//! The routes of SPEC §9 on the wire: listing, batches, prefix deletes in
//! steps, touch — their bounds, their refusals, and auth on each.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{local_config, raw, spawn_server};
use flowstore_core::conformance::doubles::RequiredOnly;
use flowstore_core::{Key, Namespace, Prefix, SetItem, Store, Ttl};
use flowstore_memory::MemoryStore;
use flowstore_server::{ServerConfig, Token};
use serde_json::{Value, json};

fn memory() -> MemoryStore {
    MemoryStore::new().with_namespace(Namespace::new("srv").unwrap())
}

fn key(text: &str) -> Key {
    Key::new(text).unwrap()
}

const JSON: &[&str] = &["Content-Type: application/json"];

async fn post(addr: std::net::SocketAddr, target: &str, body: &Value) -> common::RawResponse {
    let bytes = serde_json::to_vec(body).unwrap();
    raw(addr, "POST", target, JSON, Some(&bytes)).await
}

async fn fill(store: &MemoryStore, prefix: &str, count: usize) {
    let keys: Vec<Key> = (0..count)
        .map(|i| key(&format!("{prefix}{i:05}")))
        .collect();
    for chunk in keys.chunks(1000) {
        let items: Vec<SetItem<'_>> = chunk.iter().map(|k| SetItem::new(k, b"v", None)).collect();
        store.set_many(&items).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_pages_carry_key_version_expiry_size_and_cursor() {
    let store = memory();
    let addr = spawn_server(Arc::new(store.clone()), local_config()).await;
    let ttl: Ttl = "1h".parse().unwrap();
    store.set(&key("a/1"), b"one", Some(ttl)).await.unwrap();
    store.set(&key("a/2"), b"two!", None).await.unwrap();
    store.set(&key("a/3"), b"3", None).await.unwrap();
    store.set(&key("b/1"), b"x", None).await.unwrap();

    let first = raw(addr, "GET", "/states?prefix=a%2F&limit=2", &[], None).await;
    assert_eq!(first.status, 200, "{first:?}");
    assert_eq!(first.header("content-type"), Some("application/json"));
    let page = first.json();
    assert_eq!(page["ordered"], true);
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["key"], "a/1");
    assert_eq!(items[0]["size"], 3);
    assert!(items[0]["version"].is_string(), "{page}");
    let expiry = items[0]["expires_at"].as_str().unwrap();
    assert!(
        expiry.len() == 24 && expiry.ends_with('Z') && expiry.as_bytes()[10] == b'T',
        "RFC 3339 UTC with ms: {expiry}"
    );
    assert_eq!(items[1]["key"], "a/2");
    assert_eq!(items[1]["expires_at"], Value::Null);
    let next = page["next"].as_str().expect("a cursor");

    let second = raw(
        addr,
        "GET",
        &format!("/states?prefix=a%2F&limit=2&cursor={next}"),
        &[],
        None,
    )
    .await;
    assert_eq!(second.status, 200);
    let page = second.json();
    let keys: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["a/3"]);
    assert_eq!(page["next"], Value::Null, "the last page has no cursor");

    // Everything, in one page of the default size.
    let all = raw(addr, "GET", "/states", &[], None).await.json();
    assert_eq!(all["items"].as_array().unwrap().len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_refuses_foreign_cursors_and_limits_out_of_bounds() {
    let store = memory();
    fill(&store, "k", 150).await;
    let addr = spawn_server(Arc::new(store), local_config()).await;
    for target in [
        "/states?cursor=redis.0001",
        "/states?cursor=not%20a%20cursor",
        "/states?limit=0",
        "/states?limit=1001",
        "/states?limit=-1",
        "/states?limit=ten",
        "/states?prefix=a&prefix=b",
        "/states?prefix=%00",
    ] {
        let response = raw(addr, "GET", target, &[], None).await;
        assert_eq!(response.status, 400, "{target}: {response:?}");
        assert!(
            ["invalid_argument", "invalid_key"].contains(&response.error_kind().as_str()),
            "{target}: {response:?}"
        );
    }
    let default = raw(addr, "GET", "/states", &[], None).await.json();
    assert_eq!(
        default["items"].as_array().unwrap().len(),
        100,
        "the default page size"
    );
    assert!(default["next"].is_string());
    let max = raw(addr, "GET", "/states?limit=1000", &[], None)
        .await
        .json();
    assert_eq!(max["items"].as_array().unwrap().len(), 150);
    assert_eq!(max["next"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_query_parameters_are_refused_on_every_new_route() {
    let store = memory();
    store.set(&key("k"), b"v", None).await.unwrap();
    let addr = spawn_server(Arc::new(store.clone()), local_config()).await;
    let keys = serde_json::to_vec(&json!({"keys": ["k"]})).unwrap();
    let prefix = serde_json::to_vec(&json!({"prefix": "k"})).unwrap();
    let touch = serde_json::to_vec(&json!({"ttl": null})).unwrap();
    let set = serde_json::to_vec(&json!({"items": []})).unwrap();
    for (method, target, body) in [
        ("GET", "/states?verbose=1", None),
        ("GET", "/states?ttl=1s", None),
        ("POST", "/batch/get?verbose=1", Some(&keys)),
        ("POST", "/batch/set?ttl=1s", Some(&set)),
        ("POST", "/batch/delete?verbose=1", Some(&keys)),
        ("POST", "/delete-prefix?prefix=k", Some(&prefix)),
        ("PATCH", "/states/k?ttl=1s", Some(&touch)),
        // What a prefix delete must never be: a query on `clear`'s route.
        ("DELETE", "/states?prefix=zzz", None),
    ] {
        let response = raw(addr, method, target, JSON, body.map(Vec::as_slice)).await;
        assert_eq!(response.status, 400, "{method} {target}: {response:?}");
        assert_eq!(response.error_kind(), "invalid_argument");
    }
    assert_eq!(
        store.get(&key("k")).await.unwrap().as_deref(),
        Some(&b"v"[..]),
        "a refused request removed a key"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_answer_in_request_order_with_text_and_base64() {
    let store = memory();
    let addr = spawn_server(Arc::new(store.clone()), local_config()).await;
    let set = post(
        addr,
        "/batch/set",
        &json!({"items": [
            {"key": "t", "value": "héllo", "encoding": "text"},
            {"key": "b", "value": "AP8=", "encoding": "base64", "ttl": "1h"},
            {"key": "t", "value": "again", "encoding": "text", "ttl": null},
        ]}),
    )
    .await;
    assert_eq!(set.status, 204, "{set:?}");
    assert_eq!(store.get(&key("b")).await.unwrap(), Some(vec![0, 0xff]));
    let entry = store.get_entry(&key("b")).await.unwrap().unwrap();
    assert!(entry.expires_at.is_some(), "the entry's own TTL");
    let get = post(
        addr,
        "/batch/get",
        &json!({"keys": ["b", "nope", "t", "b"]}),
    )
    .await;
    assert_eq!(get.status, 200, "{get:?}");
    assert_eq!(
        get.json(),
        json!({"values": [
            {"value": "AP8=", "encoding": "base64"},
            null,
            {"value": "again", "encoding": "text"},
            {"value": "AP8=", "encoding": "base64"},
        ]})
    );
    let delete = post(addr, "/batch/delete", &json!({"keys": ["b", "nope"]})).await;
    assert_eq!(delete.status, 204);
    assert_eq!(store.get(&key("b")).await.unwrap(), None);
    assert!(store.get(&key("t")).await.unwrap().is_some());

    for (target, body) in [
        ("/batch/get", json!({"keys": ["a\u{0}b"]})),
        ("/batch/get", json!({"key": ["a"]})),
        (
            "/batch/set",
            json!({"items": [{"key": "x", "value": "***", "encoding": "base64"}]}),
        ),
        (
            "/batch/set",
            json!({"items": [{"key": "x", "value": "v", "encoding": "rot13"}]}),
        ),
        (
            "/batch/set",
            json!({"items": [{"key": "x", "value": "v", "encoding": "text", "ttl": "0s"}]}),
        ),
    ] {
        let response = post(addr, target, &body).await;
        assert_eq!(response.status, 400, "{target} {body}: {response:?}");
        assert!(
            ["invalid_argument", "invalid_key"].contains(&response.error_kind().as_str()),
            "{response:?}"
        );
    }
    let not_json = raw(addr, "POST", "/batch/get", JSON, Some(b"{")).await;
    assert_eq!(not_json.status, 400);
    assert_eq!(
        store.get(&key("x")).await.unwrap(),
        None,
        "a refused batch wrote"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_over_the_limits_write_nothing() {
    let store = memory().with_max_value_size(1000);
    let addr = spawn_server(Arc::new(store.clone()), local_config()).await;
    // One value over the store's limit: 413, and the other entry is not written.
    let big = "x".repeat(1001);
    let response = post(
        addr,
        "/batch/set",
        &json!({"items": [
            {"key": "small", "value": "s", "encoding": "text"},
            {"key": "big", "value": big, "encoding": "text"},
        ]}),
    )
    .await;
    assert_eq!(response.status, 413, "{response:?}");
    assert_eq!(response.error_kind(), "value_too_large");
    assert_eq!(store.get(&key("small")).await.unwrap(), None);

    // A body over the route's limit (each value within the store's, but
    // escaped to twice its size): 413 before it is parsed.
    let items: Vec<Value> = (0..1000)
        .map(|i| json!({"key": format!("k{i}"), "value": "\n".repeat(999), "encoding": "text"}))
        .collect();
    let response = post(addr, "/batch/set", &json!({ "items": items })).await;
    assert_eq!(response.status, 413, "{}", response.status);
    assert_eq!(response.error_kind(), "value_too_large");
    assert_eq!(store.get(&key("k0")).await.unwrap(), None);

    // More entries than MAX_BATCH_LEN: 400, nothing written or removed.
    store.set(&key("n0"), b"kept", None).await.unwrap();
    let keys: Vec<String> = (0..=1000).map(|i| format!("n{i}")).collect();
    let items: Vec<Value> = keys
        .iter()
        .map(|k| json!({"key": k, "value": "", "encoding": "text"}))
        .collect();
    for (target, body) in [
        ("/batch/set", json!({ "items": items })),
        ("/batch/get", json!({ "keys": keys })),
        ("/batch/delete", json!({ "keys": keys })),
    ] {
        let response = post(addr, target, &body).await;
        assert_eq!(response.status, 400, "{target}");
        assert_eq!(response.error_kind(), "invalid_argument");
    }
    assert_eq!(
        store.get(&key("n0")).await.unwrap().as_deref(),
        Some(&b"kept"[..])
    );
    assert_eq!(store.get(&key("n1")).await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefix_deletes_go_in_bounded_steps() {
    let store = memory();
    fill(&store, "p/", 2500).await;
    fill(&store, "q/", 10).await;
    store.set(&key("p"), b"not under p/", None).await.unwrap();
    let addr = spawn_server(Arc::new(store.clone()), local_config()).await;
    let mut body = json!({"prefix": "p/"});
    let mut steps = Vec::new();
    loop {
        let response = post(addr, "/delete-prefix", &body).await;
        assert_eq!(response.status, 200, "{response:?}");
        let answer = response.json();
        steps.push(answer["deleted"].as_u64().unwrap());
        match answer["next"].as_str() {
            Some(next) => body = json!({"prefix": "p/", "cursor": next}),
            None => break,
        }
        assert!(steps.len() < 10, "the prefix delete does not end");
    }
    assert_eq!(
        steps,
        [1000, 1000, 500],
        "one step removes at most 1000 keys"
    );
    let left = store.list(&Prefix::all(), None, 1000).await.unwrap();
    assert_eq!(left.items.len(), 11, "only p/… went");

    // The empty prefix must be said to be meant.
    for body in [
        json!({"prefix": ""}),
        json!({"prefix": "q/", "all": true}),
        json!({}),
    ] {
        let response = post(addr, "/delete-prefix", &body).await;
        assert_eq!(response.status, 400, "{body}");
        assert_eq!(response.error_kind(), "invalid_argument");
    }
    assert_eq!(
        store
            .list(&Prefix::all(), None, 1000)
            .await
            .unwrap()
            .items
            .len(),
        11
    );
    let all = post(addr, "/delete-prefix", &json!({"prefix": "", "all": true})).await;
    assert_eq!(all.json(), json!({"deleted": 11, "next": null}));
    let foreign = post(
        addr,
        "/delete-prefix",
        &json!({"prefix": "p", "cursor": "redis.00"}),
    )
    .await;
    assert_eq!(foreign.status, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn touch_changes_the_ttl_and_says_absent() {
    let store = memory();
    let addr = spawn_server(Arc::new(store.clone()), local_config()).await;
    store
        .set(&key("k"), b"v", Some("1h".parse().unwrap()))
        .await
        .unwrap();
    let before = store.get_entry(&key("k")).await.unwrap().unwrap();
    let body = serde_json::to_vec(&json!({"ttl": null})).unwrap();
    let response = raw(addr, "PATCH", "/states/k", JSON, Some(&body)).await;
    assert_eq!(response.status, 204, "{response:?}");
    let after = store.get_entry(&key("k")).await.unwrap().unwrap();
    assert_eq!(after.expires_at, None, "the TTL went");
    assert_eq!(after.value, b"v");
    assert_ne!(after.version, before.version, "a touch is a write");

    let absent = raw(addr, "PATCH", "/states/nope", JSON, Some(&body)).await;
    assert_eq!(absent.status, 404);
    assert_eq!(absent.header("flowstore-absent"), Some("1"));
    assert_eq!(store.get(&key("nope")).await.unwrap(), None);

    let short = serde_json::to_vec(&json!({"ttl": "200ms"})).unwrap();
    assert_eq!(
        raw(addr, "PATCH", "/states/k", JSON, Some(&short))
            .await
            .status,
        204
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(store.get(&key("k")).await.unwrap(), None, "it expired");

    store.set(&key("k"), b"v", None).await.unwrap();
    for (headers, body) in [
        (JSON, &b"{}"[..]),
        (JSON, &br#"{"ttl":"0s"}"#[..]),
        (JSON, &br#"{"ttl":"soon"}"#[..]),
        (&["If-Match: \"x\""][..], &br#"{"ttl":null}"#[..]),
    ] {
        let response = raw(addr, "PATCH", "/states/k", headers, Some(body)).await;
        assert_eq!(response.status, 400, "{headers:?} {body:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_without_listing_answers_501() {
    let store = memory();
    store.set(&key("k"), b"v", None).await.unwrap();
    let addr = spawn_server(Arc::new(RequiredOnly(store.clone())), local_config()).await;
    let list = raw(addr, "GET", "/states", &[], None).await;
    assert_eq!(list.status, 501);
    assert_eq!(list.error_kind(), "unsupported");
    let delete = post(addr, "/delete-prefix", &json!({"prefix": "k"})).await;
    assert_eq!(delete.status, 501);
    let body = serde_json::to_vec(&json!({"ttl": null})).unwrap();
    let touch = raw(addr, "PATCH", "/states/k", JSON, Some(&body)).await;
    assert_eq!(touch.status, 501);
    assert!(store.get(&key("k")).await.unwrap().is_some());
    // The batches work on every store.
    let get = post(addr, "/batch/get", &json!({"keys": ["k"]})).await;
    assert_eq!(
        get.json(),
        json!({"values": [{"value": "v", "encoding": "text"}]})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_new_route_needs_the_token() {
    let store = memory();
    store.set(&key("k"), b"v", None).await.unwrap();
    let mut config: ServerConfig = local_config();
    config.token = Some(Token::new("s3cret").unwrap());
    let addr = spawn_server(Arc::new(store.clone()), config).await;
    let keys = serde_json::to_vec(&json!({"keys": ["k"]})).unwrap();
    let set =
        serde_json::to_vec(&json!({"items": [{"key": "k", "value": "w", "encoding": "text"}]}))
            .unwrap();
    let prefix = serde_json::to_vec(&json!({"prefix": "", "all": true})).unwrap();
    let touch = serde_json::to_vec(&json!({"ttl": "1s"})).unwrap();
    let routes: [(&str, &str, Option<&[u8]>); 6] = [
        ("GET", "/states?prefix=k", None),
        ("POST", "/batch/get", Some(&keys)),
        ("POST", "/batch/set", Some(&set)),
        ("POST", "/batch/delete", Some(&keys)),
        ("POST", "/delete-prefix", Some(&prefix)),
        ("PATCH", "/states/k", Some(&touch)),
    ];
    for (method, target, body) in routes {
        for headers in [
            &["Content-Type: application/json"][..],
            &["Authorization: Bearer wrong"][..],
        ] {
            let response = raw(addr, method, target, headers, body).await;
            assert_eq!(response.status, 401, "{method} {target}");
            assert_eq!(response.error_kind(), "unauthorized");
            assert_eq!(response.header("www-authenticate"), Some("Bearer"));
        }
    }
    let entry = store.get_entry(&key("k")).await.unwrap().unwrap();
    assert_eq!(entry.value, b"v", "nothing was written");
    assert_eq!(entry.expires_at, None, "nothing was touched");
    let auth = ["Authorization: Bearer s3cret"];
    assert_eq!(raw(addr, "GET", "/states", &auth, None).await.status, 200);
}

/// What the OpenAPI document now says of these bodies, checked against the
/// server (`cargo xtask api-fuzz` found the document saying less): a
/// `delete-prefix` cursor may be `null` (the first step), base64 values must
/// be canonical, batch-set entries have no other fields, and a TTL past 100
/// years or of zero is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_are_checked_as_the_openapi_document_says() {
    let store = memory();
    store.set(&key("a1"), b"v", None).await.unwrap();
    let addr = spawn_server(Arc::new(store.clone()), local_config()).await;

    let step = post(
        addr,
        "/delete-prefix",
        &json!({"prefix": "a", "cursor": null}),
    )
    .await;
    assert_eq!(step.status, 200, "{step:?}");
    assert_eq!(step.json()["deleted"], 1);

    for entry in [
        // "j8==": the last character leaves bits over that are not zero.
        json!({"key": "b", "value": "Xo1r3sOq01mkj8==", "encoding": "base64"}),
        json!({"key": "b", "value": "v", "encoding": "text", "extra": 1}),
        json!({"key": "b", "value": "v", "encoding": "text", "ttl": "0s"}),
        json!({"key": "b", "value": "v", "encoding": "text", "ttl": "36526d"}),
        json!({"key": "b\u{0}", "value": "v", "encoding": "text"}),
    ] {
        let response = post(addr, "/batch/set", &json!({"items": [entry]})).await;
        assert_eq!(response.status, 400, "{entry}: {response:?}");
    }
    let longest =
        json!({"key": "b", "value": "Xo1r3sOq01mkjw==", "encoding": "base64", "ttl": "36525d"});
    let response = post(addr, "/batch/set", &json!({"items": [longest]})).await;
    assert_eq!(response.status, 204, "{response:?}");
    assert!(store.get(&key("b")).await.unwrap().is_some());
}
