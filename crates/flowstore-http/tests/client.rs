//! The client's own cases: odd keys on the wire, errors from real servers that
//! misbehave in specific ways, auth, limits and plain-404 mode.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use common::{client_for, local_config, spawn_server};
use flowstore_core::conformance::doubles::{Op, ScriptedStore, Step};
use flowstore_core::{ErrorKind, Key, Namespace, Operation, Store, StoreExt};
use flowstore_http::HttpStore;
use flowstore_memory::MemoryStore;
use flowstore_server::Token;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn key(text: &str) -> Key {
    Key::new(text).unwrap()
}

fn memory() -> MemoryStore {
    MemoryStore::new().with_namespace(Namespace::new("client").unwrap())
}

fn client(addr: SocketAddr) -> HttpStore {
    HttpStore::builder(format!("http://{addr}")).open().unwrap()
}

/// Serves `app` (an ordinary axum app, not a flowstore server) on a free port.
async fn spawn_axum(app: Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// A TCP server that answers every connection with `reply` and closes.
async fn spawn_raw(reply: &'static [u8]) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf).await;
                let _ = stream.write_all(reply).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dot_and_slash_keys_stay_single_keys() {
    let backing = Arc::new(memory());
    let store = client_for(backing.clone()).await.unwrap();
    let keys = [
        "..",
        ".",
        "...",
        "%2e%2e",
        "/",
        "a/../b",
        "?",
        "#",
        "a b",
        "😀",
        "../etc/passwd",
    ];
    for (i, k) in keys.iter().enumerate() {
        store
            .set(&key(k), format!("v{i}").as_bytes(), None)
            .await
            .unwrap();
    }
    // Each arrived on the server as exactly that key.
    for (i, k) in keys.iter().enumerate() {
        let stored = backing.get(&key(k)).await.unwrap();
        assert_eq!(stored, Some(format!("v{i}").into_bytes()), "{k:?}");
    }
    // Deleting `..` deletes that key only (it must not become DELETE /states).
    store.delete(&key("..")).await.unwrap();
    assert_eq!(store.get(&key("..")).await.unwrap(), None);
    for k in keys.iter().filter(|k| **k != "..") {
        assert!(
            store.get(&key(k)).await.unwrap().is_some(),
            "{k:?} was removed"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn base_url_with_a_path_prefix() {
    // A reverse proxy would strip `/api`; here an axum app nests the router.
    let config = local_config();
    let backing: Arc<dyn Store> = Arc::new(memory());
    let app = Router::new().nest("/api", flowstore_server::router(backing, &config).unwrap());
    let addr = spawn_axum(app).await;
    let store = HttpStore::builder(format!("http://{addr}/api/"))
        .open()
        .unwrap();
    store.set(&key("k"), b"v", None).await.unwrap();
    assert_eq!(
        store.get(&key("k")).await.unwrap().as_deref(),
        Some(&b"v"[..])
    );
    // The same server without the prefix: its 404 is not "absent".
    let wrong = client(addr);
    let err = wrong.get(&key("k")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Backend);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_404_is_an_error_unless_plain_404_mode() {
    let app = Router::new().fallback(|| async { (StatusCode::NOT_FOUND, "Not Found") });
    let addr = spawn_axum(app).await;
    let strict = client(addr);
    let err = strict.get(&key("k")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Backend);
    assert!(!err.is_temporary());
    assert!(err.message().contains("plain-404"), "{err}");
    // Also through the JSON helper: never a silent None.
    assert!(
        strict
            .get_json::<serde_json::Value>(&key("k"))
            .await
            .is_err()
    );

    let plain = HttpStore::builder(format!("http://{addr}"))
        .plain_404(true)
        .open()
        .unwrap();
    assert_eq!(plain.get(&key("k")).await.unwrap(), None);
    // Plain-404 mode is for GET only: a 404 on a write is still an error.
    assert!(plain.set(&key("k"), b"v", None).await.is_err());
    let from_url = HttpStore::from_url(&format!("http://{addr}?plain_404=true"))
        .unwrap()
        .open()
        .unwrap();
    assert_eq!(from_url.get(&key("k")).await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_error_pages_are_temporary_errors() {
    let app = Router::new().route(
        "/states/{key}",
        get(|| async {
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "<html><h1>oops</h1></html>",
            )
        }),
    );
    let addr = spawn_axum(app).await;
    let err = client(addr).get(&key("k")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Backend);
    assert!(err.is_temporary(), "a 5xx may be retried");

    let app = Router::new().route(
        "/states/{key}",
        get(|| async { StatusCode::SERVICE_UNAVAILABLE }),
    );
    let err = client(spawn_axum(app).await)
        .get(&key("k"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert!(err.is_temporary());

    let app = Router::new().route(
        "/states/{key}",
        get(|| async { StatusCode::TOO_MANY_REQUESTS }),
    );
    let err = client(spawn_axum(app).await)
        .get(&key("k"))
        .await
        .unwrap_err();
    assert!(err.is_temporary());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_truncated_responses_are_errors() {
    let garbage = spawn_raw(b"this is not HTTP at all\r\n\r\n").await;
    let err = client(garbage).get(&key("k")).await.unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::Backend | ErrorKind::Unavailable),
        "{err:?}"
    );

    let truncated =
        spawn_raw(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nConnection: close\r\n\r\nonly part")
            .await;
    let err = client(truncated).get(&key("k")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err:?}");

    let silent = spawn_raw(b"").await;
    let err = client(silent).get(&key("k")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_corrupt_stays_permanent() {
    let scripted = Arc::new(ScriptedStore::new(memory()));
    let store = client_for(scripted.clone()).await.unwrap();
    // The memory store keeps entry versions, so the server reads with
    // `get_entry` and writes with `set_if`: those are the calls to fail.
    scripted.fail_next(Op::GetEntry, ErrorKind::Corrupt, 1);
    let err = store.get(&key("k")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt);
    assert!(!err.is_temporary(), "Corrupt must never be retried");
    // The other kinds arrive too, with their temporariness.
    for kind in [
        ErrorKind::Unavailable,
        ErrorKind::Timeout,
        ErrorKind::Unsupported,
        ErrorKind::Backend,
    ] {
        // The server writes with `set_if`; unavailable or unsupported, it
        // retreats to a plain `set`, so fail that too.
        scripted.fail_next(Op::SetIf, kind, 1);
        if matches!(
            kind,
            ErrorKind::Unavailable | ErrorKind::Timeout | ErrorKind::Unsupported
        ) {
            scripted.fail_next(Op::Set, kind, 1);
        }
        let err = store.set(&key("k"), b"v", None).await.unwrap_err();
        assert_eq!(err.kind(), kind);
        assert_eq!(err.is_temporary(), kind.is_temporary_by_default(), "{kind}");
    }
    scripted.fail_next(Op::Clear, ErrorKind::Unsupported, 1);
    assert_eq!(
        store.clear().await.unwrap_err().kind(),
        ErrorKind::Unsupported
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_connection_is_unavailable() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let store = client(addr);
    for (operation, result) in [
        (Operation::Get, store.get(&key("k")).await.map(|_| ())),
        (Operation::Set, store.set(&key("k"), b"v", None).await),
        (Operation::Delete, store.delete(&key("k")).await),
        (Operation::Clear, store.clear().await),
    ] {
        let err = result.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unavailable, "{err:?}");
        assert!(err.is_temporary());
        // The operation and the backend are data, not words in the message.
        assert_eq!(err.operation(), Some(operation), "{err}");
        assert_eq!(err.backend_name(), Some("http"), "{err}");
        assert!(
            err.to_string().starts_with(&format!(
                "unavailable: http {operation}: cannot connect to "
            )),
            "{err}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_server_is_a_timeout() {
    let scripted = Arc::new(ScriptedStore::new(memory()));
    // The server reads a versioned store with `get_entry`.
    scripted.push(Op::GetEntry, Step::Delay(Duration::from_secs(5)));
    let addr = spawn_server(scripted, local_config()).await.unwrap();
    let store = HttpStore::builder(format!("http://{addr}"))
        .request_timeout(Duration::from_millis(100))
        .open()
        .unwrap();
    let err = store.get(&key("k")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert!(err.is_temporary());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_or_missing_token_is_a_permanent_auth_failure() {
    let mut config = local_config();
    config.token = Some(Token::new("right-token").unwrap());
    let addr = spawn_server(Arc::new(memory()), config).await.unwrap();
    for store in [
        client(addr),
        HttpStore::builder(format!("http://{addr}"))
            .bearer_token("wrong-token")
            .open()
            .unwrap(),
    ] {
        let err = store.get(&key("k")).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unauthorized);
        assert!(!err.is_temporary());
        assert!(err.message().contains("authentication failed"), "{err}");
        assert!(!format!("{err:?}").contains("token"), "{err:?}");
    }
    let store = HttpStore::builder(format!("http://{addr}"))
        .bearer_token("right-token")
        .open()
        .unwrap();
    store.set(&key("k"), b"v", None).await.unwrap();
    assert_eq!(
        store.get(&key("k")).await.unwrap().as_deref(),
        Some(&b"v"[..])
    );
    assert!(!format!("{store:?}").contains("right-token"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_limit_below_client_limit_is_value_too_large() {
    let backing = Arc::new(memory().with_max_value_size(100));
    let addr = spawn_server(backing.clone(), local_config()).await.unwrap();
    let store = client(addr); // believes the limit is 16 MiB
    store.set(&key("k"), b"old", None).await.unwrap();
    let err = store.set(&key("k"), &[0u8; 101], None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ValueTooLarge);
    assert!(!err.is_temporary());
    // The server sends its store's bare message; the client adds its own
    // context, so the server's backend (memory) is not repeated.
    assert_eq!(err.operation(), Some(Operation::Set), "{err}");
    assert_eq!(err.backend_name(), Some("http"), "{err}");
    assert!(
        err.message().starts_with("server: value is 101 bytes"),
        "{err}"
    );
    assert!(!err.to_string().contains("memory"), "{err}");
    assert_eq!(
        store.get(&key("k")).await.unwrap().as_deref(),
        Some(&b"old"[..])
    );
    // The client's own limit is checked before sending anything.
    let small = HttpStore::builder(format!("http://{addr}"))
        .max_value_size(10)
        .open()
        .unwrap();
    assert_eq!(
        small
            .set(&key("k"), &[0u8; 11], None)
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::ValueTooLarge
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_to_a_plain_http_server_is_an_error() {
    let addr = spawn_server(Arc::new(memory()), local_config())
        .await
        .unwrap();
    let store = HttpStore::builder(format!("https://{addr}"))
        .open()
        .unwrap();
    let err = store.get(&key("k")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err:?}");
}

#[test]
fn bad_configuration_is_a_config_error() {
    for url in [
        "ftp://h",
        "http://user:pass@h:1",
        "http://h?token=x",
        "not a url",
    ] {
        let result = HttpStore::from_url(url).and_then(|builder| builder.open());
        assert_eq!(result.unwrap_err().kind(), ErrorKind::Config, "{url}");
    }
    let err = HttpStore::builder("http://h")
        .namespace("")
        .open()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    let store = HttpStore::from_url("https://h.example/x?namespace=n1")
        .unwrap()
        .open()
        .unwrap();
    assert_eq!(store.namespace().as_str(), "n1");
    assert_eq!(store.base_url(), "https://h.example/x");
}

/// A client set up for one namespace never reads, writes or clears the keys of a
/// server serving another: every request is refused with `Config`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_of_another_namespace_refuses_every_request() {
    let served = memory();
    let k = key("k");
    served.set(&k, b"kept", None).await.unwrap();
    let addr = spawn_server(Arc::new(served.clone()), local_config())
        .await
        .unwrap();

    let other = HttpStore::builder(format!("http://{addr}"))
        .namespace("staging")
        .open()
        .unwrap();
    let refused = |result: flowstore_core::Result<()>, what: &str| {
        let err = result.expect_err(what);
        assert_eq!(err.kind(), ErrorKind::Config, "{what}: {err:?}");
        assert!(!err.is_temporary(), "{what}");
    };
    refused(other.get(&k).await.map(drop), "get");
    refused(other.set(&k, b"overwritten", None).await, "set");
    refused(other.delete(&k).await, "delete");
    refused(other.clear().await, "clear");
    assert_eq!(served.get(&k).await.unwrap().as_deref(), Some(&b"kept"[..]));

    // The server's own namespace, and a client that names none, are served.
    let same = HttpStore::builder(format!("http://{addr}"))
        .namespace("client")
        .open()
        .unwrap();
    assert_eq!(same.get(&k).await.unwrap().as_deref(), Some(&b"kept"[..]));
    assert_eq!(
        client(addr).get(&k).await.unwrap().as_deref(),
        Some(&b"kept"[..])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_asks_the_servers_probe_and_reads_no_key() {
    let backing = Arc::new(ScriptedStore::new(memory()));
    let store = client_for(backing.clone()).await.unwrap();
    assert!(!store.ping().await.unwrap().is_degraded());
    assert_eq!(backing.calls(Op::Ping), 1);
    assert_eq!(backing.calls(Op::Get), 0);
    assert_eq!(backing.calls(Op::GetEntry), 0);
    // A server whose store cannot serve answers 503: the client cannot either.
    backing.outage(ErrorKind::Timeout);
    let err = store.ping().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err:?}");
    backing.heal();
    assert!(store.ping().await.is_ok());
    // A refused connection is the client's own outage.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let err = client(addr).ping().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err:?}");
}
