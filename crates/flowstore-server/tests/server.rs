//! The server over raw HTTP/1.1: what exactly goes over the wire.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{local_config, raw, raw_chunked, spawn_server};
use flowstore_core::conformance::doubles::{Op, ScriptedStore, Step};
use flowstore_core::{ErrorKind, Key, Namespace, Store};
use flowstore_fallback::FallbackStore;
use flowstore_memory::MemoryStore;
use flowstore_server::{ServerConfig, Token};

fn memory() -> MemoryStore {
    MemoryStore::new().with_namespace(Namespace::new("srv").unwrap())
}

fn key(text: &str) -> Key {
    Key::new(text).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_get_delete_round_trip() {
    let addr = spawn_server(Arc::new(memory()), local_config()).await;
    let put = raw(
        addr,
        "PUT",
        "/states/k",
        &["Content-Type: text/plain"],
        Some(b"v1"),
    )
    .await;
    assert_eq!(put.status, 204);
    let got = raw(addr, "GET", "/states/k", &[], None).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body, b"v1");
    assert_eq!(got.header("content-type"), Some("application/octet-stream"));
    assert_eq!(got.header("cache-control"), Some("no-store"));
    assert_eq!(
        raw(addr, "DELETE", "/states/k", &[], None).await.status,
        204
    );
    let gone = raw(addr, "GET", "/states/k", &[], None).await;
    assert_eq!(gone.status, 404);
    assert_eq!(gone.header("flowstore-absent"), Some("1"));
    // Deleting a missing key is fine too.
    assert_eq!(
        raw(addr, "DELETE", "/states/k", &[], None).await.status,
        204
    );
    // Empty values are values.
    assert_eq!(
        raw(addr, "PUT", "/states/e", &[], Some(b"")).await.status,
        204
    );
    let empty = raw(addr, "GET", "/states/e", &[], None).await;
    assert_eq!((empty.status, empty.body.len()), (200, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dot_keys_are_keys_not_path_steps() {
    let store = Arc::new(memory());
    let addr = spawn_server(store.clone(), local_config()).await;
    store.set(&key("keep"), b"kept", None).await.unwrap();
    // `..` arrives encoded (%2E%2E, either case) or raw: the same key, decoded once.
    assert_eq!(
        raw(addr, "PUT", "/states/%2E%2E", &[], Some(b"dots"))
            .await
            .status,
        204
    );
    assert_eq!(
        store.get(&key("..")).await.unwrap().as_deref(),
        Some(&b"dots"[..])
    );
    assert_eq!(
        raw(addr, "GET", "/states/..", &[], None).await.body,
        b"dots"
    );
    assert_eq!(
        raw(addr, "GET", "/states/%2e%2e", &[], None).await.body,
        b"dots"
    );
    // `%252e%252e` is the key `%2e%2e`, a different key.
    assert_eq!(
        raw(addr, "PUT", "/states/%252e%252e", &[], Some(b"pct"))
            .await
            .status,
        204
    );
    assert_eq!(
        store.get(&key("%2e%2e")).await.unwrap().as_deref(),
        Some(&b"pct"[..])
    );
    assert_eq!(
        store.get(&key("..")).await.unwrap().as_deref(),
        Some(&b"dots"[..])
    );
    // DELETE of key `..` deletes that key and nothing else: never a clear.
    for target in ["/states/..", "/states/%2E%2E"] {
        store.set(&key(".."), b"dots", None).await.unwrap();
        assert_eq!(raw(addr, "DELETE", target, &[], None).await.status, 204);
        assert_eq!(store.get(&key("..")).await.unwrap(), None, "{target}");
        assert_eq!(
            store.get(&key("keep")).await.unwrap().as_deref(),
            Some(&b"kept"[..]),
            "{target}"
        );
        assert!(
            store.get(&key("%2e%2e")).await.unwrap().is_some(),
            "{target}"
        );
    }
    // `.` likewise.
    assert_eq!(
        raw(addr, "PUT", "/states/%2E", &[], Some(b"dot"))
            .await
            .status,
        204
    );
    assert_eq!(
        store.get(&key(".")).await.unwrap().as_deref(),
        Some(&b"dot"[..])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odd_keys_are_one_segment() {
    let store = Arc::new(memory());
    let addr = spawn_server(store.clone(), local_config()).await;
    let cases = [
        ("a%2Fb", "a/b"),
        ("%2F", "/"),
        ("%3F", "?"),
        ("%23fragment", "#fragment"),
        ("a%20b", "a b"),
        ("+plus", "+plus"),
        ("%F0%9F%98%80", "😀"),
        ("line%0Abreak", "line\nbreak"),
        ("100%25", "100%"),
    ];
    for (encoded, decoded) in cases {
        let put = raw(
            addr,
            "PUT",
            &format!("/states/{encoded}"),
            &[],
            Some(decoded.as_bytes()),
        )
        .await;
        assert_eq!(put.status, 204, "{encoded}");
        assert_eq!(
            store.get(&key(decoded)).await.unwrap().as_deref(),
            Some(decoded.as_bytes()),
            "{encoded}"
        );
    }
    // An unencoded `/` makes two segments: refused, not read as key `a/b`.
    let two = raw(addr, "GET", "/states/a/b", &[], None).await;
    assert_eq!(
        (two.status, two.error_kind().as_str()),
        (400, "invalid_key")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_keys_are_400_with_a_short_message() {
    let addr = spawn_server(Arc::new(memory()), local_config()).await;
    let long = "k".repeat(1025);
    for target in [
        "/states/".to_string(),
        "/states/%00".to_string(),
        "/states/a%00b".to_string(),
        "/states/%FF".to_string(),
        "/states/%zz".to_string(),
        "/states/%2".to_string(),
        format!("/states/{long}"),
    ] {
        for method in ["GET", "PUT", "DELETE"] {
            let body = (method == "PUT").then_some(&b"v"[..]);
            let response = raw(addr, method, &target, &[], body).await;
            assert_eq!(response.status, 400, "{method} {target}");
            assert_eq!(response.error_kind(), "invalid_key", "{method} {target}");
            let message = response.json()["message"].as_str().unwrap().to_string();
            assert!(!message.is_empty() && message.len() < 200, "{message}");
            assert_eq!(response.header("flowstore-absent"), None);
        }
    }
    // The longest key is fine.
    let ok = raw(
        addr,
        "GET",
        &format!("/states/{}", "k".repeat(1024)),
        &[],
        None,
    )
    .await;
    assert_eq!(ok.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_limit_is_the_store_limit() {
    let store = Arc::new(memory().with_max_value_size(1024));
    let addr = spawn_server(store.clone(), local_config()).await;
    assert_eq!(
        raw(addr, "PUT", "/states/k", &[], Some(&[1u8; 1024]))
            .await
            .status,
        204
    );
    // Declared too large: refused before reading, the old value stays.
    let over = raw(addr, "PUT", "/states/k", &[], Some(&[2u8; 1025])).await;
    assert_eq!(
        (over.status, over.error_kind().as_str()),
        (413, "value_too_large")
    );
    assert_eq!(store.get(&key("k")).await.unwrap(), Some(vec![1u8; 1024]));
    // Chunked, no length: cut off at the limit, the old value stays.
    let chunked = raw_chunked(addr, "PUT", "/states/k", &[3u8; 64 * 1024]).await;
    assert_eq!(
        (chunked.status, chunked.error_kind().as_str()),
        (413, "value_too_large")
    );
    assert_eq!(store.get(&key("k")).await.unwrap(), Some(vec![1u8; 1024]));
    // Chunked within the limit is fine.
    assert_eq!(
        raw_chunked(addr, "PUT", "/states/k", &[4u8; 1000])
            .await
            .status,
        204
    );
    assert_eq!(store.get(&key("k")).await.unwrap(), Some(vec![4u8; 1000]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttl_query_uses_the_duration_grammar() {
    let store = Arc::new(memory());
    let addr = spawn_server(store.clone(), local_config()).await;
    assert_eq!(
        raw(addr, "PUT", "/states/t?ttl=100ms", &[], Some(b"v"))
            .await
            .status,
        204
    );
    assert_eq!(raw(addr, "GET", "/states/t", &[], None).await.status, 200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let expired = raw(addr, "GET", "/states/t", &[], None).await;
    assert_eq!(
        (expired.status, expired.header("flowstore-absent")),
        (404, Some("1"))
    );
    for query in ["ttl=0s", "ttl=soon", "ttl=1.5s", "tll=30s", "ttl=1s&ttl=2s"] {
        let response = raw(addr, "PUT", &format!("/states/t?{query}"), &[], Some(b"v")).await;
        assert_eq!(
            (response.status, response.error_kind().as_str()),
            (400, "invalid_argument"),
            "{query}"
        );
    }
    assert_eq!(
        store.get(&key("t")).await.unwrap(),
        None,
        "a refused TTL wrote something"
    );
    let get_with_ttl = raw(addr, "GET", "/states/t?ttl=1s", &[], None).await;
    assert_eq!(get_with_ttl.status, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_states_clears_only_this_namespace() {
    let shared = MemoryStore::new();
    let mine = Arc::new(shared.with_namespace(Namespace::new("mine").unwrap()));
    let theirs = shared.with_namespace(Namespace::new("theirs").unwrap());
    let addr = spawn_server(mine.clone(), local_config()).await;
    mine.set(&key("a"), b"1", None).await.unwrap();
    theirs.set(&key("a"), b"2", None).await.unwrap();
    assert_eq!(raw(addr, "DELETE", "/states", &[], None).await.status, 204);
    assert_eq!(mine.get(&key("a")).await.unwrap(), None);
    assert_eq!(
        theirs.get(&key("a")).await.unwrap().as_deref(),
        Some(&b"2"[..])
    );
    // `GET /states` is a listing (SPEC §9), never a read of the whole namespace
    // through `clear`'s path: another method on it stays 405.
    assert_eq!(raw(addr, "GET", "/states", &[], None).await.status, 200);
    assert_eq!(
        raw(addr, "PUT", "/states", &[], Some(b"v")).await.status,
        405
    );
}

/// Asks `target` with an unknown query parameter and checks the answer is the
/// one every `/states` route gives for it: 400, the JSON error body with kind
/// `invalid_argument` and the same message.
async fn assert_unknown_parameter_refused(target: &str) {
    let addr = spawn_server(Arc::new(memory()), local_config()).await;
    let reference = raw(addr, "GET", "/states/k?verbose=1", &[], None).await;
    assert_eq!(reference.status, 400);
    let response = raw(addr, "GET", &format!("{target}?verbose=1"), &[], None).await;
    assert_eq!(response.status, 400, "{target}: {response:?}");
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(response.json(), reference.json(), "{target}");
    assert_eq!(
        response.json(),
        serde_json::json!({
            "error": "invalid_argument",
            "message": "unknown query parameter \"verbose\"",
            "temporary": false,
        })
    );
    // Without the parameter the route answers as before.
    assert_eq!(
        raw(addr, "GET", target, &[], None).await.status,
        200,
        "{target}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_refuses_unknown_query_parameters() {
    assert_unknown_parameter_refused("/healthz").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_refuses_unknown_query_parameters() {
    assert_unknown_parameter_refused("/metrics").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_refuses_unknown_query_parameters() {
    assert_unknown_parameter_refused("/openapi.yaml").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_states_route_refuses_unknown_query_parameters() {
    let store = Arc::new(memory());
    let addr = spawn_server(store.clone(), local_config()).await;
    store.set(&key("k"), b"v", None).await.unwrap();
    for (method, target) in [
        ("GET", "/states/k?x"),
        ("GET", "/states/k?ttl=1s"),
        ("PUT", "/states/k?x=1"),
        ("PUT", "/states/k?ttl=1s&x=1"),
        ("DELETE", "/states/k?x=1"),
        ("DELETE", "/states?x=1"),
    ] {
        let body = (method == "PUT").then_some(&b"w"[..]);
        let response = raw(addr, method, target, &[], body).await;
        assert_eq!(
            (response.status, response.error_kind().as_str()),
            (400, "invalid_argument"),
            "{method} {target}"
        );
    }
    assert_eq!(
        store.get(&key("k")).await.unwrap().as_deref(),
        Some(&b"v"[..]),
        "a refused request changed the store"
    );
    // Unknown routes stay plain 404s, query or not.
    let unknown = raw(addr, "GET", "/nope?x=1", &[], None).await;
    assert_eq!(
        (unknown.status, unknown.header("flowstore-absent")),
        (404, None)
    );
}

/// Every operation of the OpenAPI document, as `(method, path template)`,
/// read from its `paths` (two-space path lines, four-space method lines; no
/// YAML parser among the dependencies). The count is checked against the
/// operations' `operationId`s, so an operation this reading misses fails the
/// test instead of going unchecked.
fn documented_operations() -> Vec<(String, String)> {
    let document = flowstore_server::OPENAPI_YAML;
    let paths = document
        .split_once("\npaths:\n")
        .and_then(|(_, rest)| rest.split_once("\ncomponents:\n"))
        .map(|(paths, _)| paths)
        .expect("the document has `paths` before `components`");
    let mut operations = Vec::new();
    let mut path = None;
    for line in paths.lines() {
        if let Some(template) = line.strip_prefix("  /").and_then(|l| l.strip_suffix(':')) {
            path = Some(format!("/{template}"));
        } else if let Some(method) = line.strip_prefix("    ").and_then(|l| l.strip_suffix(':'))
            && matches!(method, "get" | "put" | "post" | "delete" | "patch" | "head")
        {
            let path = path.clone().expect("a method line under a path");
            operations.push((method.to_ascii_uppercase(), path));
        }
    }
    assert_eq!(
        operations.len(),
        // An operation's own `operationId` (six spaces in); links name
        // theirs deeper.
        document
            .lines()
            .filter(|line| line.starts_with("      operationId:"))
            .count(),
        "every operation of the document was read: {operations:?}"
    );
    operations
}

/// Every path and method the served OpenAPI document lists (the console's
/// page included) refuses an unknown query parameter with `400
/// invalid_argument`: a route added without `checked` (app.rs) fails here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_operation_refuses_unknown_query_parameters() {
    let store = Arc::new(memory());
    let mut config = local_config();
    config.console = true;
    let addr = spawn_server(store.clone(), config).await;
    store.set(&key("k"), b"v", None).await.unwrap();
    let operations = documented_operations();
    assert!(operations.len() >= 17, "{operations:?}");
    for (method, template) in operations {
        let path = template.replace("{key}", "k").replace("{flowId}", "f");
        assert!(!path.contains('{'), "a path parameter left in {template}");
        let target = format!("{path}?zz=1");
        let body = matches!(method.as_str(), "PUT" | "POST" | "PATCH").then_some(&b"{}"[..]);
        let response = raw(addr, &method, &target, &[], body).await;
        // The status first: a route without the check answers as usual,
        // often without an error body.
        assert_eq!(response.status, 400, "{method} {target}: {response:?}");
        assert_eq!(
            response.error_kind(),
            "invalid_argument",
            "{method} {target}"
        );
    }
    assert_eq!(
        store.get(&key("k")).await.unwrap().as_deref(),
        Some(&b"v"[..]),
        "a refused request changed the store"
    );
}

/// `HEAD` is `GET` without the body: it knows the listing's parameters as
/// `GET` does (it was refused with 400 while `GET` answered 200).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_knows_the_query_parameters_get_knows() {
    let addr = spawn_server(Arc::new(memory()), local_config()).await;
    for target in [
        "/states?limit=1",
        "/states?prefix=a&limit=2",
        "/flows/f/summary?limit=1",
        "/flows/f/instances?prefix=useflow",
    ] {
        let get = raw(addr, "GET", target, &[], None).await;
        assert_eq!(get.status, 200, "GET {target}: {get:?}");
        let head = raw(addr, "HEAD", target, &[], None).await;
        assert_eq!(head.status, 200, "HEAD {target}: {head:?}");
        assert!(head.body.is_empty(), "HEAD {target} has a body");
    }
    let head = raw(addr, "HEAD", "/states?zz=1", &[], None).await;
    assert_eq!(head.status, 400, "{head:?}");
}

/// A method a route does not have is 405 whatever the query holds: the query
/// check sits in front of the route's handlers, not of its "method not
/// allowed" answer (found by `cargo xtask api-fuzz`: `TRACE /states?prefix=a`
/// was a 400 the OpenAPI document does not allow).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_method_a_route_lacks_is_405_whatever_the_query() {
    let store = Arc::new(memory());
    let addr = spawn_server(store.clone(), local_config()).await;
    store.set(&key("k"), b"v", None).await.unwrap();
    for (method, target) in [
        ("TRACE", "/states?prefix=a"),
        ("TRACE", "/states/k?ttl=1s"),
        ("POST", "/states/k?x=1"),
        ("PUT", "/states?limit=1"),
        ("GET", "/batch/get?x=1"),
        ("POST", "/healthz?x=1"),
        ("DELETE", "/openapi.yaml?x=1"),
        ("TRACE", "/flows/f/summary?limit=1"),
    ] {
        let response = raw(addr, method, target, &[], None).await;
        assert_eq!(response.status, 405, "{method} {target}: {response:?}");
    }
    // A method the route has still meets the query check first.
    let response = raw(addr, "GET", "/states?x=1", &[], None).await;
    assert_eq!(
        (response.status, response.error_kind().as_str()),
        (400, "invalid_argument")
    );
    assert_eq!(
        store.get(&key("k")).await.unwrap().as_deref(),
        Some(&b"v"[..]),
        "a refused request changed the store"
    );
}

fn with_token(token: &str) -> ServerConfig {
    let mut config = local_config();
    config.token = Some(Token::new(token).unwrap());
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_is_required_everywhere_but_healthz() {
    let addr = spawn_server(Arc::new(memory()), with_token("s3cret")).await;
    for (method, target) in [
        ("GET", "/states/k"),
        ("PUT", "/states/k"),
        ("DELETE", "/states/k"),
        ("DELETE", "/states"),
        ("GET", "/metrics"),
        ("GET", "/openapi.yaml"),
    ] {
        let body = (method == "PUT").then_some(&b"v"[..]);
        for headers in [
            &[][..],
            &["Authorization: Bearer wrong"][..],
            &["Authorization: Basic s3cret"][..],
        ] {
            let response = raw(addr, method, target, headers, body).await;
            assert_eq!(response.status, 401, "{method} {target} {headers:?}");
            assert_eq!(response.error_kind(), "unauthorized");
            assert_eq!(response.header("www-authenticate"), Some("Bearer"));
            assert!(!String::from_utf8_lossy(&response.body).contains("s3cret"));
        }
    }
    let auth = ["Authorization: Bearer s3cret"];
    assert_eq!(
        raw(addr, "PUT", "/states/k", &auth, Some(b"v"))
            .await
            .status,
        204
    );
    assert_eq!(
        raw(
            addr,
            "GET",
            "/states/k",
            &["authorization: bearer s3cret"],
            None
        )
        .await
        .body,
        b"v"
    );
    let health = raw(addr, "GET", "/healthz", &[], None).await;
    assert_eq!(health.status, 200);
    assert_eq!(health.json()["status"], "ok");
    let metrics = raw(addr, "GET", "/metrics", &auth, None).await;
    assert_eq!(metrics.status, 200);
    let text = String::from_utf8(metrics.body).unwrap();
    assert!(text.contains("flowstore_http_requests_total"), "{text}");
    assert!(
        text.contains("flowstore_http_request_duration_seconds"),
        "{text}"
    );
    assert!(!text.contains("s3cret"));
    let openapi = raw(addr, "GET", "/openapi.yaml", &auth, None).await;
    assert_eq!(openapi.status, 200);
    assert!(
        String::from_utf8(openapi.body)
            .unwrap()
            .starts_with("openapi: 3")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_loopback_without_token_is_refused() {
    let store: Arc<dyn Store> = Arc::new(memory());
    let mut open = local_config();
    open.listen = "0.0.0.0:0".into();
    let err = flowstore_server::bind(store.clone(), open.clone())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.message().contains("--insecure-no-token"), "{err}");
    let mut told = open.clone();
    told.insecure_no_token = true;
    assert!(flowstore_server::bind(store.clone(), told).await.is_ok());
    let mut guarded = open;
    guarded.token = Some(Token::new("t").unwrap());
    assert!(flowstore_server::bind(store, guarded).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_is_off_by_default_and_per_origin() {
    let preflight = [
        "Origin: https://app.example",
        "Access-Control-Request-Method: PUT",
        "Access-Control-Request-Headers: authorization, content-type",
    ];
    let off = spawn_server(Arc::new(memory()), local_config()).await;
    let response = raw(off, "OPTIONS", "/states/k", &preflight, None).await;
    assert_eq!(response.header("access-control-allow-origin"), None);

    let mut config = with_token("tok");
    config.allow_origins = vec!["https://app.example".into()];
    let on = spawn_server(Arc::new(memory()), config).await;
    // The preflight carries no token and must still succeed.
    let response = raw(on, "OPTIONS", "/states/k", &preflight, None).await;
    assert!(
        response.status == 200 || response.status == 204,
        "{response:?}"
    );
    assert_eq!(
        response.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    let allowed = response
        .header("access-control-allow-headers")
        .unwrap()
        .to_ascii_lowercase();
    assert!(
        allowed.contains("authorization") && allowed.contains("content-type"),
        "{allowed}"
    );
    let methods = response.header("access-control-allow-methods").unwrap();
    assert!(
        methods.contains("PUT") && methods.contains("DELETE"),
        "{methods}"
    );
    // The batch routes and prefix deletes are POSTs, touch a PATCH.
    assert!(
        methods.contains("POST") && methods.contains("PATCH"),
        "{methods}"
    );
    // Another origin gets no grant.
    let other = [
        "Origin: https://evil.example",
        "Access-Control-Request-Method: PUT",
    ];
    let response = raw(on, "OPTIONS", "/states/k", &other, None).await;
    assert_eq!(response.header("access-control-allow-origin"), None);
    // The real request: the grant and the absent marker exposed, also on a 401.
    let get = raw(
        on,
        "GET",
        "/states/k",
        &["Origin: https://app.example", "Authorization: Bearer tok"],
        None,
    )
    .await;
    assert_eq!(get.status, 404);
    assert_eq!(
        get.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert!(
        get.header("access-control-expose-headers")
            .unwrap()
            .contains("flowstore-absent")
    );
    let denied = raw(
        on,
        "GET",
        "/states/k",
        &["Origin: https://app.example"],
        None,
    )
    .await;
    assert_eq!(denied.status, 401);
    assert_eq!(
        denied.header("access-control-allow-origin"),
        Some("https://app.example")
    );
}

#[test]
fn bad_origins_are_config_errors() {
    let mut config = local_config();
    config.allow_origins = vec!["app.example.com/".into()];
    let err = flowstore_server::router(Arc::new(memory()), &config).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
}

/// The original design's TypeScript APIStore: key not encoded, bearer token,
/// `Content-Type: application/json`, and `response.json()` on the GET body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_store_of_the_original_design_works_unchanged() {
    let addr = spawn_server(Arc::new(memory()), with_token("browser-token")).await;
    let document = br#"{"step":2,"answers":{"name":"Ada","plan":"pro"},"done":false}"#;
    let headers = [
        "Authorization: Bearer browser-token",
        "Content-Type: application/json",
    ];
    let put = raw(
        addr,
        "PUT",
        "/states/signup:user-42_flow.v1",
        &headers,
        Some(document),
    )
    .await;
    assert_eq!(put.status, 204);
    let get = raw(
        addr,
        "GET",
        "/states/signup:user-42_flow.v1",
        &headers[..1],
        None,
    )
    .await;
    assert_eq!(get.status, 200);
    assert_eq!(get.body, document, "bytes must come back exactly");
    let parsed: serde_json::Value = serde_json::from_slice(&get.body).unwrap();
    assert_eq!(parsed["answers"]["plan"], "pro");
    // "Any non-OK GET is no state": an absent key is a 404.
    assert_eq!(
        raw(addr, "GET", "/states/other", &headers[..1], None)
            .await
            .status,
        404
    );
    assert_eq!(
        raw(
            addr,
            "DELETE",
            "/states/signup:user-42_flow.v1",
            &headers[..1],
            None
        )
        .await
        .status,
        204
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_errors_keep_their_kind() {
    let store = Arc::new(ScriptedStore::new(memory()));
    let addr = spawn_server(store.clone(), local_config()).await;
    // The memory store keeps entry versions, so the server reads with
    // `get_entry` and writes with `set_if`: those are the calls to fail.
    store.fail_next(Op::GetEntry, ErrorKind::Corrupt, 1);
    let corrupt = raw(addr, "GET", "/states/k", &[], None).await;
    assert_eq!(corrupt.status, 500);
    assert_eq!(corrupt.json()["error"], "corrupt");
    assert_eq!(corrupt.json()["temporary"], false);
    for (kind, status, temporary) in [
        (ErrorKind::Unavailable, 503, true),
        (ErrorKind::Timeout, 504, true),
        (ErrorKind::Unsupported, 501, false),
        (ErrorKind::Backend, 500, false),
    ] {
        store.fail_next(Op::SetIf, kind, 1);
        if matches!(
            kind,
            ErrorKind::Unavailable | ErrorKind::Timeout | ErrorKind::Unsupported
        ) {
            // These retreat to a plain `set` (see below); fail it too.
            store.fail_next(Op::Set, kind, 1);
        }
        let response = raw(addr, "PUT", "/states/k", &[], Some(b"v")).await;
        assert_eq!(response.status, status, "{kind}");
        assert_eq!(response.error_kind(), kind.as_str());
        assert_eq!(response.json()["temporary"], temporary, "{kind}");
    }
    // A versioned write that is unavailable while a plain one is not: the
    // PUT is served by `set`, without an ETag.
    store.fail_next(Op::SetIf, ErrorKind::Unavailable, 1);
    let retreat = raw(addr, "PUT", "/states/k", &[], Some(b"plain")).await;
    assert_eq!((retreat.status, retreat.header("etag")), (204, None));
    assert_eq!(
        store.get(&key("k")).await.unwrap().as_deref(),
        Some(&b"plain"[..])
    );
    // /healthz reports a store that cannot be reached.
    store.fail_next(Op::Ping, ErrorKind::Unavailable, 1);
    let health = raw(addr, "GET", "/healthz", &[], None).await;
    assert_eq!(
        (health.status, health.error_kind().as_str()),
        (503, "unavailable")
    );
    assert_eq!(raw(addr, "GET", "/healthz", &[], None).await.status, 200);
}

type Double = Arc<ScriptedStore<MemoryStore>>;

/// A fallback over two scripted memory stores, both passing every call.
fn fallback_pair() -> (Double, Double, Arc<dyn Store>) {
    let primary = Arc::new(ScriptedStore::new(memory()));
    let fallback = Arc::new(ScriptedStore::new(memory()));
    let store = FallbackStore::new(vec![
        Arc::clone(&primary) as Arc<dyn Store>,
        Arc::clone(&fallback) as Arc<dyn Store>,
    ])
    .unwrap();
    (primary, fallback, Arc::new(store))
}

// Issue 15, defect 1: with the primary down and the fallback serving, every
// request succeeds, so the probe must say so (200 degraded), not fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_is_degraded_while_a_fallback_serves() {
    let (primary, _fallback, store) = fallback_pair();
    let addr = spawn_server(store, local_config()).await;
    assert_eq!(
        raw(addr, "GET", "/healthz", &[], None).await.json(),
        serde_json::json!({"status": "ok"})
    );
    primary.outage(ErrorKind::Unavailable);
    assert_eq!(
        raw(addr, "PUT", "/states/k", &[], Some(b"v")).await.status,
        204
    );
    // The version is the primary's, so none is known while it is down: the
    // GET is served from the fallback without an ETag.
    let read = raw(addr, "GET", "/states/k", &[], None).await;
    assert_eq!((read.status, read.body.as_slice()), (200, &b"v"[..]));
    assert_eq!(read.header("etag"), None);
    // A conditional write is refused while the primary is down.
    let conditional = raw(addr, "PUT", "/states/k", &["If-None-Match: *"], Some(b"w")).await;
    assert_eq!(conditional.status, 503);
    let health = raw(addr, "GET", "/healthz", &[], None).await;
    assert_eq!(health.status, 200);
    assert_eq!(health.header("cache-control"), Some("no-store"));
    assert_eq!(
        health.json(),
        serde_json::json!({
            "status": "degraded",
            "down": [{"store": "primary", "error": "unavailable"}],
        })
    );
    // The scripted message never reaches this unauthenticated route.
    assert!(!String::from_utf8_lossy(&health.body).contains("scripted"));
    primary.heal();
    assert_eq!(
        raw(addr, "GET", "/healthz", &[], None).await.json()["status"],
        "ok"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_is_down_with_503_when_no_store_serves() {
    let (primary, fallback, store) = fallback_pair();
    let addr = spawn_server(store, local_config()).await;
    primary.outage(ErrorKind::Unavailable);
    fallback.outage(ErrorKind::Timeout);
    let health = raw(addr, "GET", "/healthz", &[], None).await;
    assert_eq!(health.status, 503);
    assert_eq!(
        health.json(),
        serde_json::json!({
            "status": "down",
            "error": "unavailable",
            "down": [
                {"store": "primary", "error": "unavailable"},
                {"store": "fallback 1", "error": "timeout"},
            ],
        })
    );
    assert!(!String::from_utf8_lossy(&health.body).contains("scripted"));
}

// Issue 15, defect 2: the probe read a key users can write, so it cost as much
// as what they stored there. It must read no user data at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_reads_no_user_data() {
    let store = Arc::new(ScriptedStore::new(memory()));
    let addr = spawn_server(store.clone(), local_config()).await;
    let large = vec![7u8; 4 * 1024 * 1024];
    for target in ["/states/__flowstore_healthz__", "/states/k"] {
        assert_eq!(
            raw(addr, "PUT", target, &[], Some(&large)).await.status,
            204
        );
    }
    let reads = || store.calls(Op::Get) + store.calls(Op::GetEntry);
    let reads_before = reads();
    for _ in 0..3 {
        let health = raw(addr, "GET", "/healthz", &[], None).await;
        assert_eq!(health.status, 200);
        assert!(
            health.body.len() < 64,
            "a probe answered {} bytes",
            health.body.len()
        );
    }
    assert_eq!(reads(), reads_before, "the probe read a key");
    assert_eq!(store.calls(Op::Ping), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_requests_time_out_with_504() {
    let store = Arc::new(ScriptedStore::new(memory()));
    store.push(Op::GetEntry, Step::Delay(Duration::from_secs(5)));
    let mut config = local_config();
    config.request_timeout = Duration::from_millis(100);
    let addr = spawn_server(store, config).await;
    let response = raw(addr, "GET", "/states/k", &[], None).await;
    assert_eq!(
        (response.status, response.error_kind().as_str()),
        (504, "timeout")
    );
    assert_eq!(response.json()["temporary"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_routes_are_plain_404s() {
    let addr = spawn_server(Arc::new(memory()), local_config()).await;
    for target in ["/", "/state/k", "/api/states/k", "/states.json"] {
        let response = raw(addr, "GET", target, &[], None).await;
        assert_eq!(response.status, 404, "{target}");
        assert_eq!(response.header("flowstore-absent"), None, "{target}");
    }
    assert_eq!(
        raw(addr, "POST", "/states/k", &[], Some(b"v")).await.status,
        405
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_in_flight_requests() {
    let store = Arc::new(ScriptedStore::new(memory()));
    // A plain PUT on a versioned store is `set_if(Always, …)`.
    store.push(Op::SetIf, Step::Delay(Duration::from_millis(500)));
    let server = flowstore_server::bind(store.clone(), local_config())
        .await
        .unwrap();
    let addr = server.local_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));
    let slow_put =
        tokio::spawn(async move { raw(addr, "PUT", "/states/slow", &[], Some(b"done")).await });
    // Wait until the PUT has reached the store, then ask the server to stop.
    while store.calls(Op::SetIf) == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    stop.send(()).unwrap();
    let response = slow_put.await.unwrap();
    assert_eq!(response.status, 204, "the in-flight request was cut off");
    running.await.unwrap().unwrap();
    assert_eq!(
        store.get(&key("slow")).await.unwrap().as_deref(),
        Some(&b"done"[..])
    );
    // Once stopped, nothing listens any more.
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_reports_the_bound_address() {
    let store: Arc<dyn Store> = Arc::new(memory());
    let server = flowstore_server::bind(store, local_config()).await.unwrap();
    let addr = server.local_addr();
    assert!(addr.ip().is_loopback());
    assert_ne!(addr.port(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_closed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut config = local_config();
    config.idle_timeout = Duration::from_millis(100);
    let addr = spawn_server(Arc::new(memory()), config).await;
    // A connection that never sends a request is closed by the server. (The
    // 60 s guard only keeps a broken server from hanging the test.)
    let mut silent = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(60), silent.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "an idle connection was kept open");
    // So is a keep-alive connection after its request was answered.
    let mut kept = tokio::net::TcpStream::connect(addr).await.unwrap();
    kept.write_all(format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(60), kept.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "an idle keep-alive connection was kept open");
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&answer)
    );
}
