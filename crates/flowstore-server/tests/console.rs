//! The web console on the wire: its files (public, with a strict policy),
//! the flow routes it reads (authenticated, bounded, paged), and the
//! DNS-rebinding guard of a server without a token.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use common::{RawResponse, local_config, raw, read_response, spawn_server};
use flowstore_core::{Key, Namespace, Store};
use flowstore_memory::MemoryStore;
use flowstore_server::{ServerConfig, Token};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

const TOKEN: &str = "console-test-token";
const AUTH: &[&str] = &["Authorization: Bearer console-test-token"];

fn memory() -> MemoryStore {
    MemoryStore::new().with_namespace(Namespace::new("srv").unwrap())
}

fn console_config(token: bool) -> ServerConfig {
    let mut config = local_config();
    config.console = true;
    if token {
        config.token = Some(Token::new(TOKEN).unwrap());
    }
    config
}

/// A GET with `host` as the `Host` header.
async fn get_with_host(addr: SocketAddr, target: &str, host: &str) -> RawResponse {
    let head = format!("GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(head.as_bytes()).await.expect("write");
    read_response(&mut stream).await
}

fn instance(flow: &str, instance: &str, step: &str, status: &str) -> Value {
    json!({
        "flowId": flow,
        "instanceId": instance,
        "variantId": "default",
        "state": {
            "stepId": step,
            "context": {},
            "path": [],
            "history": [],
            "status": status,
            "startedAt": 1733300000000u64,
            "__meta": { "savedAt": 1733300007000u64, "version": "2" }
        }
    })
}

async fn put(store: &MemoryStore, key: &str, value: &[u8]) {
    store
        .set(&Key::new(key).unwrap(), value, None)
        .await
        .unwrap();
}

/// onboarding: 3 at profile, 2 at welcome, 1 at <b>plan</b>, 2 complete, 1
/// status "paused", 1 value that is not a flow; around it, keys that are not
/// onboarding's.
async fn seed(store: &MemoryStore) {
    let rows = [
        ("u1", "profile", "active"),
        ("u2", "profile", "active"),
        ("u3", "profile", "active"),
        ("u4", "welcome", "active"),
        ("u5", "welcome", "active"),
        ("u6", "<b>plan</b>", "active"),
        ("u7", "done", "complete"),
        ("u8", "done", "complete"),
        ("u9", "profile", "paused"),
    ];
    for (id, step, status) in rows {
        let value = serde_json::to_vec(&instance("onboarding", id, step, status)).unwrap();
        put(store, &format!("useflow:onboarding:default:{id}"), &value).await;
    }
    put(store, "useflow:onboarding:default:broken", b"not json").await;
    let other = serde_json::to_vec(&instance("onboarding2", "x", "profile", "active")).unwrap();
    put(store, "useflow:onboarding2:default:x", &other).await;
    put(store, "app:onboarding:default:y", &other).await;
    put(store, "useflow:checkout:default:z", &other).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_is_off_by_default() {
    let addr = spawn_server(Arc::new(memory()), local_config()).await;
    for target in ["/console", "/console/", "/console/console.js"] {
        let response = raw(addr, "GET", target, &[], None).await;
        assert_eq!(response.status, 404, "{target}: {response:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_files_are_public_with_a_strict_policy() {
    let addr = spawn_server(Arc::new(memory()), console_config(true)).await;

    let redirect = raw(addr, "GET", "/console", &[], None).await;
    assert_eq!(redirect.status, 308);
    assert_eq!(redirect.header("location"), Some("console/"));

    let page = raw(addr, "GET", "/console/", &[], None).await;
    assert_eq!(page.status, 200, "{page:?}");
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let html = String::from_utf8(page.body.clone()).unwrap();
    assert!(html.contains(r#"<script type="module" src="console.js">"#));
    let csp = page.header("content-security-policy").expect("a policy");
    for directive in [
        "script-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "{csp}");
    }
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));

    for (file, kind) in [
        ("console.js", "text/javascript; charset=utf-8"),
        ("api.js", "text/javascript; charset=utf-8"),
        ("console.css", "text/css; charset=utf-8"),
    ] {
        let asset = raw(addr, "GET", &format!("/console/{file}"), &[], None).await;
        assert_eq!(asset.status, 200, "{file}");
        assert_eq!(asset.header("content-type"), Some(kind), "{file}");
        assert!(asset.header("content-security-policy").is_some(), "{file}");
    }
    let missing = raw(addr, "GET", "/console/secrets.txt", &[], None).await;
    assert_eq!(missing.status, 404);
    let traversal = raw(addr, "GET", "/console/..%2Fopenapi.yaml", &[], None).await;
    assert_eq!(traversal.status, 404);

    // The data is not public.
    let states = raw(addr, "GET", "/states", &[], None).await;
    assert_eq!(states.status, 401);
    let summary = raw(addr, "GET", "/flows/onboarding/summary", &[], None).await;
    assert_eq!(summary.status, 401);
    let instances = raw(addr, "GET", "/flows/onboarding/instances", &[], None).await;
    assert_eq!(instances.status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_token_only_loopback_hosts_are_answered() {
    let addr = spawn_server(Arc::new(memory()), console_config(false)).await;
    let port = addr.port();
    for target in [
        "/healthz",
        "/states",
        "/console/",
        "/flows",
        "/flows/f/summary",
    ] {
        for host in [
            format!("evil.example.com:{port}"),
            "evil.example.com".to_owned(),
            format!("localhost.evil.example.com:{port}"),
            format!("192.168.1.20:{port}"),
        ] {
            let response = get_with_host(addr, target, &host).await;
            assert_eq!(response.status, 421, "{target} for {host}: {response:?}");
            assert_eq!(response.error_kind(), "unauthorized");
        }
        for host in [
            format!("localhost:{port}"),
            format!("127.0.0.1:{port}"),
            format!("127.0.0.2:{port}"),
            format!("[::1]:{port}"),
            "localhost".to_owned(),
        ] {
            let response = get_with_host(addr, target, &host).await;
            assert_eq!(response.status, 200, "{target} for {host}: {response:?}");
        }
    }

    // An absolute-form target names the host the server goes by; `Host` is
    // then ignored (RFC 9112 §3.2.2), so it cannot vouch for the request.
    let absolute = get_with_host(addr, "http://evil.example.com/states", "localhost").await;
    assert_eq!(absolute.status, 421, "{absolute:?}");
    let absolute = get_with_host(
        addr,
        &format!("http://localhost:{port}/states"),
        "evil.example.com",
    )
    .await;
    assert_eq!(absolute.status, 200, "{absolute:?}");

    // With a token, the token is the guard: any host is served.
    let with_token = spawn_server(Arc::new(memory()), console_config(true)).await;
    let head = format!(
        "GET /states HTTP/1.1\r\nHost: flowstore.internal.example:8080\r\n{}\r\nConnection: close\r\n\r\n",
        AUTH[0]
    );
    let mut stream = TcpStream::connect(with_token).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    assert_eq!(read_response(&mut stream).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_summary_counts_a_flow_in_bounded_steps() {
    let store = memory();
    seed(&store).await;
    let addr = spawn_server(Arc::new(store.clone()), console_config(true)).await;

    let whole = raw(addr, "GET", "/flows/onboarding/summary", AUTH, None).await;
    assert_eq!(whole.status, 200, "{whole:?}");
    assert_eq!(whole.header("content-type"), Some("application/json"));
    let whole = whole.json();
    assert_eq!(
        whole,
        json!({
            "prefix": "useflow:onboarding:",
            "scanned": 10,
            "steps": { "<b>plan</b>": 1, "profile": 3, "welcome": 2 },
            "completed": 2,
            "other": 1,
            "invalid": 1,
            "vanished": 0,
            "next": null,
            "ordered": true,
        })
    );

    // Three keys per request: the same counts, added up over the pages.
    let mut cursor: Option<String> = None;
    let mut requests = 0;
    let (mut scanned, mut completed, mut invalid, mut profile) = (0, 0, 0, 0);
    loop {
        let target = match &cursor {
            Some(next) => format!("/flows/onboarding/summary?limit=3&cursor={next}"),
            None => "/flows/onboarding/summary?limit=3".to_owned(),
        };
        let page = raw(addr, "GET", &target, AUTH, None).await;
        assert_eq!(page.status, 200, "{page:?}");
        let page = page.json();
        requests += 1;
        assert!(page["scanned"].as_u64().unwrap() <= 3, "{page}");
        scanned += page["scanned"].as_u64().unwrap();
        completed += page["completed"].as_u64().unwrap();
        invalid += page["invalid"].as_u64().unwrap();
        profile += page["steps"]["profile"].as_u64().unwrap_or(0);
        match page["next"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert!(requests >= 4, "{requests}");
    assert_eq!((scanned, completed, invalid, profile), (10, 2, 1, 3));

    // Another first segment.
    let app = raw(
        addr,
        "GET",
        "/flows/onboarding/summary?prefix=app",
        AUTH,
        None,
    )
    .await;
    assert_eq!(app.status, 200);
    assert_eq!(app.json()["steps"], json!({ "profile": 1 }));
    assert_eq!(app.json()["prefix"], "app:onboarding:");

    let empty = raw(addr, "GET", "/flows/nothing/summary", AUTH, None).await;
    assert_eq!(empty.json()["scanned"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_are_listed_with_step_status_and_versions() {
    let store = memory();
    seed(&store).await;
    let addr = spawn_server(Arc::new(store.clone()), console_config(true)).await;

    let first = raw(
        addr,
        "GET",
        "/flows/onboarding/instances?limit=4",
        AUTH,
        None,
    )
    .await;
    assert_eq!(first.status, 200, "{first:?}");
    let first = first.json();
    let items = first["items"].as_array().unwrap();
    assert_eq!(items.len(), 4);
    // Memory lists in key order: `broken` sorts first.
    assert_eq!(items[0]["key"], "useflow:onboarding:default:broken");
    assert_eq!(items[0]["invalid"], "not a flow instance");
    assert_eq!(items[0]["step"], Value::Null);
    let u1 = &items[1];
    assert_eq!(u1["key"], "useflow:onboarding:default:u1");
    // snake_case, like the listing's fields.
    assert_eq!(u1["instance_id"], "u1");
    assert_eq!(u1["variant_id"], "default");
    assert_eq!(u1["step"], "profile");
    assert_eq!(u1["status"], "active");
    assert_eq!(u1["saved_at"], 1733300007000u64);
    assert_eq!(u1["schema_version"], "2");
    assert_eq!(u1["expires_at"], Value::Null);
    assert_eq!(u1["invalid"], Value::Null);
    for camel in [
        "instanceId",
        "variantId",
        "savedAt",
        "schemaVersion",
        "expiresAt",
    ] {
        assert!(u1.get(camel).is_none(), "{camel} in {u1}");
    }
    let version = store
        .get_entry(&Key::new("useflow:onboarding:default:u1").unwrap())
        .await
        .unwrap()
        .unwrap()
        .version;
    assert_eq!(u1["version"], version.as_str());
    let next = first["next"].as_str().expect("more instances");

    let mut seen = 4;
    let mut cursor = next.to_owned();
    loop {
        let page = raw(
            addr,
            "GET",
            &format!("/flows/onboarding/instances?limit=4&cursor={cursor}"),
            AUTH,
            None,
        )
        .await
        .json();
        seen += page["items"].as_array().unwrap().len();
        match page["next"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
    }
    assert_eq!(seen, 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flow_routes_refuse_bad_input() {
    let addr = spawn_server(Arc::new(memory()), console_config(true)).await;
    for target in [
        "/flows/a:b/summary",
        "/flows/a%3Ab/summary",
        // Escapes that do not decode (found by the http_request fuzz target:
        // they were the router's plain-text 400).
        "/flows/GG%EL%D%E%%DE%%/summary",
        "/flows/%zz/instances",
        "/flows/%FF%FE/summary",
        "/flows/onboarding/summary?prefix=a:b",
        "/flows/onboarding/summary?prefix=",
        "/flows/onboarding/summary?limit=0",
        "/flows/onboarding/summary?limit=1001",
        "/flows/onboarding/instances?limit=5000",
        "/flows/onboarding/summary?ttl=1s",
        "/flows/onboarding/instances?flow=x",
        "/flows?prefix=a:b",
        "/flows?prefix=",
        "/flows?limit=0",
        "/flows?limit=1001",
        "/flows?cursor=",
        "/flows?ttl=1s",
    ] {
        let response = raw(addr, "GET", target, AUTH, None).await;
        assert_eq!(response.status, 400, "{target}: {response:?}");
        assert_eq!(response.error_kind(), "invalid_argument", "{target}");
    }
    for target in ["/flows/onboarding/summary", "/flows"] {
        let post = raw(addr, "POST", target, AUTH, Some(b"")).await;
        assert_eq!(post.status, 405, "{target}");
    }
}

/// With a token and the console on, only the console's files and `/healthz`
/// are public: every other route, the admin one included, wants the token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_console_on_every_other_route_still_needs_the_token() {
    let addr = spawn_server(Arc::new(memory()), console_config(true)).await;
    for (method, target) in [
        ("GET", "/states/k"),
        ("GET", "/states"),
        ("POST", "/batch/get"),
        ("POST", "/batch/set"),
        ("POST", "/batch/delete"),
        ("POST", "/delete-prefix"),
        ("POST", "/admin/acknowledge-data-loss"),
        ("GET", "/metrics"),
        ("GET", "/openapi.yaml"),
        ("GET", "/flows"),
        ("GET", "/flows/signup/summary"),
        ("GET", "/flows/signup/instances"),
    ] {
        let response = raw(addr, method, target, &[], Some(b"{}")).await;
        assert_eq!(response.status, 401, "{method} {target}: {response:?}");
    }
    for target in ["/healthz", "/console/"] {
        let response = raw(addr, "GET", target, &[], None).await;
        assert_eq!(response.status, 200, "{target}: {response:?}");
    }
}

/// Without a token, a page on another site cannot write or delete through
/// the user's browser: a request whose `Origin` is neither loopback nor an
/// allowed origin is refused and changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_token_another_sites_page_is_refused() {
    let store = Arc::new(memory());
    put(&store, "keep", b"v").await;
    let mut config = console_config(false);
    config.allow_origins = vec!["https://app.example".into()];
    let addr = spawn_server(store.clone(), config).await;
    let body = br#"{"all":true}"#;
    let evil = raw(
        addr,
        "POST",
        "/delete-prefix",
        &["Origin: https://evil.example", "Content-Type: text/plain"],
        Some(body),
    )
    .await;
    assert_eq!(evil.status, 403, "{evil:?}");
    let null_origin = raw(
        addr,
        "POST",
        "/delete-prefix",
        &["Origin: null"],
        Some(body),
    )
    .await;
    assert_eq!(null_origin.status, 403, "{null_origin:?}");
    assert!(
        store
            .get(&Key::new("keep").unwrap())
            .await
            .unwrap()
            .is_some(),
        "nothing deleted"
    );
    for origin in [
        "http://127.0.0.1:8080",
        "http://localhost:3000",
        "https://app.example",
    ] {
        let response = raw(
            addr,
            "GET",
            "/states",
            &[&format!("Origin: {origin}")],
            None,
        )
        .await;
        assert_eq!(response.status, 200, "{origin}: {response:?}");
    }
    let no_origin = raw(addr, "GET", "/states", &[], None).await;
    assert_eq!(no_origin.status, 200, "{no_origin:?}");
}

/// Stored ids and step names can be any length: answers repeat at most 200
/// characters of each, in the instance rows and the summary's step counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_stored_strings_are_cut_in_answers() {
    let store = Arc::new(memory());
    let long = "s".repeat(10_000);
    let value = instance("big", "u1", &long, "active").to_string();
    put(&store, "useflow:big:default:u1", value.as_bytes()).await;
    let addr = spawn_server(store, console_config(true)).await;

    let rows = raw(addr, "GET", "/flows/big/instances", AUTH, None).await;
    assert_eq!(rows.status, 200, "{rows:?}");
    let rows: Value = serde_json::from_slice(&rows.body).unwrap();
    let step = rows["items"][0]["step"].as_str().unwrap();
    assert_eq!(step.chars().count(), 201, "200 characters and an ellipsis");
    assert!(step.ends_with('…'));

    let summary = raw(addr, "GET", "/flows/big/summary", AUTH, None).await;
    let summary: Value = serde_json::from_slice(&summary.body).unwrap();
    let steps = summary["steps"].as_object().unwrap();
    assert_eq!(steps.len(), 1);
    assert!(steps.keys().all(|step| step.chars().count() == 201));
}

/// `GET /flows` finds the flow ids under the layout's first segment, one
/// bounded `list` per request, and pages with `next` like the listing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flow_ids_are_discovered_in_bounded_pages() {
    let store = memory();
    seed(&store).await;
    put(&store, "useflow:loose", b"x").await;
    put(&store, "useflow::empty-id", b"x").await;
    let addr = spawn_server(Arc::new(store.clone()), console_config(true)).await;

    let whole = raw(addr, "GET", "/flows", AUTH, None).await;
    assert_eq!(whole.status, 200, "{whole:?}");
    assert_eq!(whole.header("content-type"), Some("application/json"));
    assert_eq!(
        whole.json(),
        json!({
            "prefix": "useflow:",
            "scanned": 14,
            "flows": [
                { "flow_id": "checkout", "keys": 1 },
                { "flow_id": "onboarding", "keys": 10 },
                { "flow_id": "onboarding2", "keys": 1 },
            ],
            "other": 2,
            "next": null,
            "ordered": true,
        })
    );

    // Two keys per request: the same ids and counts, added up over the
    // pages (a flow spans several).
    let mut counts = std::collections::BTreeMap::<String, u64>::new();
    let mut cursor: Option<String> = None;
    let (mut requests, mut scanned, mut other) = (0, 0, 0);
    loop {
        let target = match &cursor {
            Some(next) => format!("/flows?limit=2&cursor={next}"),
            None => "/flows?limit=2".to_owned(),
        };
        let page = raw(addr, "GET", &target, AUTH, None).await;
        assert_eq!(page.status, 200, "{page:?}");
        let page = page.json();
        requests += 1;
        let listed = page["scanned"].as_u64().unwrap();
        assert!(listed <= 2, "{page}");
        scanned += listed;
        other += page["other"].as_u64().unwrap();
        for flow in page["flows"].as_array().unwrap() {
            *counts
                .entry(flow["flow_id"].as_str().unwrap().to_owned())
                .or_default() += flow["keys"].as_u64().unwrap();
        }
        match page["next"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert!(requests >= 7, "{requests}");
    assert_eq!((scanned, other), (14, 2));
    assert_eq!(
        counts.into_iter().collect::<Vec<_>>(),
        [
            ("checkout".to_owned(), 1),
            ("onboarding".to_owned(), 10),
            ("onboarding2".to_owned(), 1),
        ]
    );

    // Another first segment.
    let app = raw(addr, "GET", "/flows?prefix=app", AUTH, None).await;
    assert_eq!(app.status, 200, "{app:?}");
    assert_eq!(
        app.json()["flows"],
        json!([{ "flow_id": "onboarding", "keys": 1 }])
    );
    assert_eq!(app.json()["prefix"], "app:");
    let none = raw(addr, "GET", "/flows?prefix=nothing", AUTH, None).await;
    assert_eq!(none.json()["flows"], json!([]));
    assert_eq!(none.json()["next"], Value::Null);
}

/// `X-Content-Type-Options: nosniff` on every answer: data, errors, the
/// fallback's 404, the console's files, the refusals of a server without
/// a token and CORS preflights.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_says_nosniff() {
    let store = memory();
    put(&store, "k", b"<html><script>alert(1)</script>").await;
    for console in [true, false] {
        let mut config = console_config(true);
        config.console = console;
        let addr = spawn_server(Arc::new(store.clone()), config).await;
        for (target, headers, status) in [
            ("/states/k", AUTH, 200),
            ("/states/k", &[][..], 401),
            ("/states/absent", AUTH, 404),
            ("/no-such-route", AUTH, 404),
            ("/healthz", &[][..], 200),
            ("/flows", AUTH, 200),
            // Off, the console is no public path: the token is asked for.
            ("/console/", &[][..], if console { 200 } else { 401 }),
        ] {
            let response = raw(addr, "GET", target, headers, None).await;
            assert_eq!(response.status, status, "{target}: {response:?}");
            assert_eq!(
                response.header("x-content-type-options"),
                Some("nosniff"),
                "{target} (console {console})"
            );
        }
    }

    // The refusals of a server without a token, and a CORS preflight, which
    // CORS answers without ever reaching the front door.
    let mut config = console_config(false);
    config.allow_origins = vec!["https://app.example".into()];
    let addr = spawn_server(Arc::new(store), config).await;
    let misdirected = get_with_host(addr, "/states/k", "evil.example.com").await;
    let foreign = raw(
        addr,
        "GET",
        "/states/k",
        &["Origin: https://evil.example"],
        None,
    )
    .await;
    let preflight = raw(
        addr,
        "OPTIONS",
        "/states/k",
        &[
            "Origin: https://app.example",
            "Access-Control-Request-Method: DELETE",
        ],
        None,
    )
    .await;
    assert_eq!(
        preflight.header("access-control-allow-origin"),
        Some("https://app.example"),
        "answered by CORS: {preflight:?}"
    );
    for (what, response, status) in [
        ("wrong Host", misdirected, 421),
        ("foreign Origin", foreign, 403),
        ("preflight", preflight, 200),
    ] {
        assert_eq!(response.status, status, "{what}: {response:?}");
        assert_eq!(
            response.header("x-content-type-options"),
            Some("nosniff"),
            "{what}"
        );
    }
}
