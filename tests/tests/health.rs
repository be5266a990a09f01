//! Issue 15, defect 1, end to end: a server over a fallback whose Redis primary
//! is killed keeps serving from its SQLite fallback, and `/healthz` says so
//! (`200 degraded`, the primary named by role, never by URL) instead of failing
//! and taking every replica out of a load balancer at once.
//!
//! Starts a throwaway `redis-server` of its own (`flowstore_tests::servers`),
//! never the shared one; ignored under a plain `cargo test`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use flowstore_core::{Namespace, Store};
use flowstore_fallback::FallbackStore;
use flowstore_redis::RedisStore;
use flowstore_server::ServerConfig;
use flowstore_sqlite::SqliteStore;
use flowstore_test_servers::{RedisOptions, RedisServer};

/// The Redis store's command timeout: well below the server's request timeout,
/// so a probe of a dead primary ends in time.
const COMMAND_TIMEOUT: Duration = Duration::from_millis(500);

/// One HTTP/1.1 request; the status code and the body.
fn request(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text[9..12].parse().unwrap();
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts redis-server"]
async fn healthz_is_degraded_while_the_sqlite_fallback_serves_for_a_dead_redis() {
    let mut redis = RedisServer::start(RedisOptions::new()).expect("start redis-server");
    let namespace = Namespace::new("health").unwrap();
    let primary = RedisStore::from_url(&redis.url())
        .unwrap()
        .namespace(namespace.clone())
        .command_timeout(COMMAND_TIMEOUT)
        .open()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let fallback = SqliteStore::builder(dir.path().join("fallback.db"))
        .namespace(namespace)
        .open()
        .await
        .unwrap();
    let store: Arc<dyn Store> = Arc::new(
        FallbackStore::builder()
            .store(primary)
            .store(fallback)
            .build()
            .unwrap(),
    );
    let mut config = ServerConfig::default();
    config.listen = "127.0.0.1:0".into();
    let server = flowstore_server::bind(store, config).await.unwrap();
    let addr = server.local_addr();
    tokio::spawn(server.run(std::future::pending()));

    let (status, body) = tokio::task::spawn_blocking(move || request(addr, "GET", "/healthz", b""))
        .await
        .unwrap();
    assert_eq!((status, body.as_str()), (200, r#"{"status":"ok"}"#));

    redis.kill();
    let port = redis.port().to_string();
    let checks = tokio::task::spawn_blocking(move || {
        assert_eq!(request(addr, "PUT", "/states/k", b"v").0, 204);
        assert_eq!(
            request(addr, "GET", "/states/k", b""),
            (200, "v".to_owned())
        );
        request(addr, "GET", "/healthz", b"")
    });
    let (status, body) = checks.await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(
        body == r#"{"status":"degraded","down":[{"store":"primary","error":"unavailable"}]}"#
            || body == r#"{"status":"degraded","down":[{"store":"primary","error":"timeout"}]}"#,
        "{body}"
    );
    assert!(!body.contains(&port) && !body.contains("redis"), "{body}");
}
