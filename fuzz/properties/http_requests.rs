//! The request path of `flowstore serve`: any method, path, query, headers
//! and body, sent to the router (`flowstore_server::router`) over a memory
//! store with tower's `oneshot`, as hyper would hand it over.

use std::sync::Arc;

use arbitrary::{Arbitrary, Unstructured};
use flowstore_core::listing::Prefix;
use flowstore_core::{Entry, Key, Store};
use flowstore_memory::MemoryStore;
use flowstore_server::axum::body::{Body, to_bytes};
use flowstore_server::axum::http::{Method, Request, StatusCode, header};
use flowstore_server::protocol::{
    ABSENT_HEADER, ACKNOWLEDGE_DATA_LOSS_PATH, BATCH_DELETE_PATH, BATCH_GET_PATH, BATCH_SET_PATH,
    DELETE_PREFIX_PATH, ERROR_CONTENT_TYPE, NAMESPACE_HEADER, NEW_VERSION_HEADER, VERSIONED_HEADER,
    decode_error, decode_key,
};
use flowstore_server::{ServerConfig, Token, router};
use tower::ServiceExt;

use super::{SECRET, block_on};

/// The bearer token of a server with one.
fn token() -> String {
    format!("tok-{SECRET}")
}

#[derive(Arbitrary, Debug)]
struct HttpCase {
    /// The server has a token (else it serves loopback hosts only).
    with_token: bool,
    method: u8,
    path: PathCase,
    query: Option<String>,
    auth: Auth,
    headers: Vec<(u8, Vec<u8>)>,
    /// The body starts with the secret marker: no error may quote it.
    mark_body: bool,
    body: Vec<u8>,
}

#[derive(Arbitrary, Debug)]
enum PathCase {
    /// `/states/{segment}` (with the secret marker in front when `marked`).
    State { segment: String, marked: bool },
    /// One of the other routes.
    Route(u8),
    /// `/flows/{flow}/summary` or `/instances`.
    Flow { flow: String, instances: bool },
    /// Anything.
    Raw(String),
}

#[derive(Arbitrary, Debug)]
enum Auth {
    None,
    Good,
    Raw(Vec<u8>),
}

const METHODS: [&str; 9] = [
    "GET", "PUT", "DELETE", "POST", "PATCH", "HEAD", "OPTIONS", "TRACE", "BREW",
];

const ROUTES: [&str; 11] = [
    "/states",
    "/states/",
    "/healthz",
    "/metrics",
    "/openapi.yaml",
    BATCH_GET_PATH,
    BATCH_SET_PATH,
    BATCH_DELETE_PATH,
    DELETE_PREFIX_PATH,
    ACKNOWLEDGE_DATA_LOSS_PATH,
    "/console/",
];

const HEADERS: [&str; 12] = [
    "if-match",
    "if-none-match",
    NAMESPACE_HEADER,
    NEW_VERSION_HEADER,
    VERSIONED_HEADER,
    "content-length",
    "content-type",
    "host",
    "origin",
    "transfer-encoding",
    "expect",
    "authorization",
];

/// HTTP request path: whatever arrives, the server answers without panicking;
/// every error answer (4xx/5xx) carries the typed JSON error body (but for the
/// documented exceptions: absent `404`, unknown route `404`, `405`), never
/// quotes the token, a key or a value; a refused request changes nothing in
/// the store; an accepted `PUT` stores exactly the body under the decoded key.
pub fn http_request(data: &[u8]) {
    let Ok(case) = HttpCase::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    let Some(request) = build_request(&case) else {
        return;
    };
    let path = request.uri().path().to_string();
    let sent = format!(
        "{} {} {:?}",
        request.method(),
        request.uri(),
        request.headers()
    );
    let is_put = request.method() == Method::PUT;
    // A HEAD answer carries the GET answer's headers and no body.
    let is_head = request.method() == Method::HEAD;
    let sent_body = request_body(&case);
    block_on(async move {
        let store = Arc::new(MemoryStore::new());
        for (key, value) in [("a", &b"alpha"[..]), ("b/c", b"bc"), ("d", b"")] {
            let key = Key::new(key).expect("a valid key");
            store.set(&key, value, None).await.expect("seed");
        }
        let before = snapshot(store.as_ref()).await;
        let mut config = ServerConfig::default();
        config.metrics = false;
        config.token = case
            .with_token
            .then(|| Token::new(token()).expect("a valid token"));
        let app = router(Arc::clone(&store) as Arc<dyn Store>, &config).expect("router");
        let response = app.oneshot(request).await.expect("infallible");
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .map(str::to_string);
        let absent = response.headers().contains_key(ABSENT_HEADER);
        let body = to_bytes(response.into_body(), 64 << 20)
            .await
            .expect("a body");
        let after = snapshot(store.as_ref()).await;

        if status.is_client_error() || status.is_server_error() {
            let documented_untyped = status == StatusCode::METHOD_NOT_ALLOWED
                || (status == StatusCode::NOT_FOUND
                    && (absent
                        || (is_head || &body[..] == b"no such route\n")
                            && content_type.as_deref() == Some("text/plain; charset=utf-8")));
            if !documented_untyped {
                assert_eq!(
                    content_type.as_deref(),
                    Some(ERROR_CONTENT_TYPE),
                    "{status} without the error content type, for {sent}"
                );
                assert!(
                    is_head || decode_error(status, &body).is_some(),
                    "{status} without a typed error body: {:?}, for {sent}",
                    String::from_utf8_lossy(&body)
                );
            }
            assert!(
                before == after,
                "a refused request ({status}) changed the store"
            );
        }
        assert!(
            !contains(&body, SECRET.as_bytes()) || (status.is_success() && !is_put),
            "a {status} answer quotes the token, a key or a value: {}",
            String::from_utf8_lossy(&body)
        );
        if is_put && status == StatusCode::NO_CONTENT {
            let segment = path
                .strip_prefix("/states/")
                .expect("PUT only exists on states");
            let key = decode_key(segment).expect("an accepted key");
            let stored = store.get(&key).await.expect("get");
            assert_eq!(
                stored.as_deref(),
                Some(&sent_body[..]),
                "PUT stored something else"
            );
        }
    });
}

fn request_body(case: &HttpCase) -> Vec<u8> {
    let mut body = Vec::new();
    if case.mark_body {
        body.extend_from_slice(SECRET.as_bytes());
    }
    body.extend_from_slice(&case.body);
    body
}

/// The request of `case`, or `None` if `http` refuses to build it (an invalid
/// URI or header: hyper would have refused it before the router).
fn build_request(case: &HttpCase) -> Option<Request<Body>> {
    let method = METHODS[usize::from(case.method) % METHODS.len()];
    let mut uri = match &case.path {
        PathCase::State { segment, marked } => {
            let marker = if *marked { SECRET } else { "" };
            format!("/states/{marker}{segment}")
        }
        PathCase::Route(index) => ROUTES[usize::from(*index) % ROUTES.len()].to_string(),
        PathCase::Flow { flow, instances } => {
            let tail = if *instances { "instances" } else { "summary" };
            format!("/flows/{flow}/{tail}")
        }
        PathCase::Raw(path) => path.clone(),
    };
    if let Some(query) = &case.query {
        uri.push('?');
        uri.push_str(query);
    }
    let mut builder = Request::builder()
        .method(Method::from_bytes(method.as_bytes()).ok()?)
        .uri(uri);
    let has_host = case
        .headers
        .iter()
        .any(|(name, _)| HEADERS[usize::from(*name) % HEADERS.len()] == "host");
    if !has_host {
        builder = builder.header(header::HOST, "localhost");
    }
    match &case.auth {
        Auth::None => {}
        Auth::Good => {
            builder = builder.header(header::AUTHORIZATION, format!("Bearer {}", token()))
        }
        Auth::Raw(value) => builder = builder.header(header::AUTHORIZATION, &value[..]),
    }
    for (name, value) in &case.headers {
        builder = builder.header(HEADERS[usize::from(*name) % HEADERS.len()], &value[..]);
    }
    builder.body(Body::from(request_body(case))).ok()
}

/// Every entry of the store (key, value, version, expiry), in key order.
async fn snapshot(store: &dyn Store) -> Vec<(Key, Entry)> {
    let prefix = Prefix::new("").expect("the empty prefix");
    let mut entries = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .list(&prefix, cursor.as_ref(), 1000)
            .await
            .expect("list");
        for item in page.items {
            let entry = store.get_entry(&item.key).await.expect("get_entry");
            entries.extend(entry.map(|entry| (item.key, entry)));
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => return entries,
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}
