//! The router as an application embeds it, driven with tower's `oneshot`
//! (no listener, so every request is exactly what the test built): the
//! DNS-rebinding guard on odd `Host` forms, and the console under
//! `Router::nest("/api", …)`.

use std::collections::BTreeSet;
use std::sync::Arc;

use flowstore_core::{Key, Namespace, Store};
use flowstore_memory::MemoryStore;
use flowstore_server::axum::Router;
use flowstore_server::axum::body::Body;
use flowstore_server::axum::http::{Request, Response, StatusCode, header};
use flowstore_server::{ServerConfig, Token};
use http_body_util::BodyExt;
use tower::ServiceExt;

const TOKEN: &str = "router-test-token";

fn store() -> MemoryStore {
    MemoryStore::new().with_namespace(Namespace::new("srv").unwrap())
}

fn config(token: bool) -> ServerConfig {
    let mut config = ServerConfig::default();
    config.console = true;
    config.metrics = false;
    config.token = token.then(|| Token::new(TOKEN).unwrap());
    config
}

async fn send(app: &Router, request: Request<Body>) -> (StatusCode, Response<Body>) {
    let response = app.clone().oneshot(request).await.expect("infallible");
    (response.status(), response)
}

async fn body_text(response: Response<Body>) -> String {
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn get(uri: &str, host: Option<&str>) -> Request<Body> {
    let mut builder = Request::builder().uri(uri);
    if let Some(host) = host {
        builder = builder.header(header::HOST, host);
    }
    builder.body(Body::empty()).unwrap()
}

/// Without a token, the authority the request is addressed to must be a
/// loopback name or address, whatever its spelling; anything else, and no
/// authority at all, is `421`.
#[tokio::test]
async fn odd_host_forms_are_judged_by_the_name_they_carry() {
    let app = flowstore_server::router(Arc::new(store()), &config(false)).unwrap();
    for host in [
        "[::1]:8080",
        "[::1]",
        "localhost.",
        "localhost.:8080",
        "LOCALHOST",
        "LocalHost:8080",
        "127.0.0.2",
        "127.0.0.2:8080",
        "127.255.255.254:1",
    ] {
        let (status, response) = send(&app, get("/states", Some(host))).await;
        assert_eq!(status, StatusCode::OK, "{host}: {response:?}");
    }
    for host in [
        "localhost.evil.com",
        "localhost.evil.com:8080",
        "evil.com.",
        "127.0.0.1.evil.com",
        "[::2]:8080",
        "[::ffff:7f00:1]",
        "0.0.0.0:8080",
        "169.254.169.254",
        "localhost:8080@evil.com",
        "",
    ] {
        let (status, response) = send(&app, get("/states", Some(host))).await;
        assert_eq!(
            status,
            StatusCode::MISDIRECTED_REQUEST,
            "{host:?}: {response:?}"
        );
    }
    // No Host and no authority in the target: nobody says where it goes.
    let (status, _) = send(&app, get("/states", None)).await;
    assert_eq!(status, StatusCode::MISDIRECTED_REQUEST);
}

/// An absolute-form target's authority is the one the server goes by (RFC
/// 9112 §3.2.2: `Host` is then ignored), so it is the one judged.
#[tokio::test]
async fn an_absolute_form_target_wins_over_host() {
    let app = flowstore_server::router(Arc::new(store()), &config(false)).unwrap();
    let cases = [
        ("http://evil.example/states", Some("localhost"), 421),
        ("http://evil.example:80/states", Some("127.0.0.1:80"), 421),
        ("http://evil.example/states", None, 421),
        ("http://localhost:8080/states", Some("evil.example"), 200),
        ("http://[::1]:8080/states", None, 200),
        ("http://127.0.0.1/states", Some("127.0.0.1"), 200),
        // Userinfo names no host: only what follows the last `@` is judged.
        ("http://u@localhost/states", None, 200),
        ("http://u:p@[::1]:8080/states", Some("evil.example"), 200),
        (
            "http://localhost@evil.example/states",
            Some("localhost"),
            421,
        ),
        ("http://localhost:8080@evil.example:8080/states", None, 421),
    ];
    for (uri, host, expected) in cases {
        let (status, response) = send(&app, get(uri, host)).await;
        assert_eq!(
            status.as_u16(),
            expected,
            "{uri} Host {host:?}: {response:?}"
        );
    }
}

/// The console nested under `/api`: the redirect, the page's files and the
/// data routes its scripts call all resolve under `/api`, because every URL
/// it uses is relative.
#[tokio::test]
async fn the_console_works_nested_under_a_path() {
    let store = store();
    store
        .set(&Key::new("k").unwrap(), b"v", None)
        .await
        .unwrap();
    let inner = flowstore_server::router(Arc::new(store), &config(true)).unwrap();
    let app = Router::new().nest("/api", inner);
    let bearer = format!("Bearer {TOKEN}");
    let authed = |uri: &str| {
        Request::builder()
            .uri(uri)
            .header(header::HOST, "flowstore.example")
            .header(header::AUTHORIZATION, &bearer)
            .body(Body::empty())
            .unwrap()
    };

    // `/api/console` → `console/`, relative: the browser lands on `/api/console/`.
    let (status, response) = send(&app, get("/api/console", Some("flowstore.example"))).await;
    assert_eq!(status, StatusCode::PERMANENT_REDIRECT);
    assert_eq!(
        response.headers().get(header::LOCATION).unwrap(),
        "console/"
    );

    let (status, page) = send(&app, get("/api/console/", Some("flowstore.example"))).await;
    assert_eq!(status, StatusCode::OK);
    let html = body_text(page).await;
    let referenced = attribute_values(&html, &["src=\"", "href=\""]);
    assert!(!referenced.is_empty());
    let mut scripts = Vec::new();
    for file in &referenced {
        assert!(
            !file.starts_with('/') && !file.contains(':'),
            "index.html refers to {file:?}, not a relative URL"
        );
        let (status, asset) = send(
            &app,
            get(&format!("/api/console/{file}"), Some("flowstore.example")),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{file}");
        if file.ends_with(".js") {
            scripts.push(body_text(asset).await);
        }
    }
    // The modules the entry point imports.
    let imports: BTreeSet<String> = scripts
        .iter()
        .flat_map(|js| attribute_values(js, &["from './"]))
        .map(|module| module.trim_end_matches('\'').to_owned())
        .collect();
    for module in &imports {
        let (status, asset) = send(
            &app,
            get(&format!("/api/console/{module}"), Some("flowstore.example")),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{module}");
        scripts.push(body_text(asset).await);
    }
    assert!(imports.contains("api.js"), "{imports:?}");

    // Every route the scripts call is `../{route}` (from `/api/console/`:
    // `/api/{route}`), never an absolute path.
    let all = scripts.join("\n");
    for absolute in [
        "fetch('/",
        "fetch(\"/",
        "fetch(`/",
        "`/states",
        "`/flows",
        "'/states",
        "'/flows",
    ] {
        assert!(!all.contains(absolute), "a script uses {absolute}");
    }
    let routes: BTreeSet<&str> = all
        .split("../")
        .skip(1)
        .map(|rest| {
            rest.split(|c: char| !c.is_ascii_alphanumeric())
                .next()
                .unwrap()
        })
        .collect();
    assert_eq!(
        routes,
        BTreeSet::from(["flows", "states"]),
        "the routes the console calls"
    );
    for (uri, expected) in [
        ("/api/states?limit=1", StatusCode::OK),
        ("/api/states/k", StatusCode::OK),
        ("/api/flows", StatusCode::OK),
        (
            "/api/flows/onboarding/summary?prefix=useflow",
            StatusCode::OK,
        ),
        ("/api/flows/onboarding/instances?limit=50", StatusCode::OK),
    ] {
        let (status, response) = send(&app, authed(uri)).await;
        assert_eq!(status, expected, "{uri}: {response:?}");
    }
    // Nested or not, the data wants the token.
    let (status, _) = send(&app, get("/api/flows", Some("flowstore.example"))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

/// The text after each of `openers` up to the next `"` or `'`.
fn attribute_values(text: &str, openers: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for opener in openers {
        for (at, _) in text.match_indices(opener) {
            let rest = &text[at + opener.len()..];
            let end = rest.find(['"', '\'']).unwrap_or(rest.len());
            found.push(rest[..end].to_owned());
        }
    }
    found
}
