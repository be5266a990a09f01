//! Issue 15 §2, "a failure is never `Ok(None)`", for every backend behind a
//! network connection: a TCP fault proxy (`flowstore_test_servers::FaultProxy`)
//! sits between the store and its server, and the shared check
//! (`flowstore_core::conformance::faults`) runs every operation while the proxy
//! resets connections, then while it blackholes them (the server looks hung:
//! each operation must fail at the store's own timeout, not hang), and checks
//! the data after it heals.
//!
//! Starts throwaway servers of its own; ignored under a plain `cargo test`
//! (`cargo xtask ci` runs it with `--include-ignored`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use flowstore_core::conformance::faults::failures_are_never_absent;
use flowstore_core::{Namespace, Store};
use flowstore_test_servers::{
    FaultProxy, POSTGRES_DATABASE, POSTGRES_ROLE, Postgres, ProxyMode, RedisOptions, RedisServer,
};
use flowstore_tests::faults::within;
use flowstore_tests::serve::spawn_server;

/// Every store's own bound on one operation in these tests.
const TIMEOUT: Duration = Duration::from_millis(800);

fn local(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn namespace() -> Namespace {
    Namespace::new("never-absent").unwrap()
}

/// The shared check, with the proxy first resetting, then blackholing.
async fn check_both_faults(store: &dyn Store, proxy: &FaultProxy) {
    for fault in [ProxyMode::Reset, ProxyMode::Blackhole] {
        within(
            Duration::from_secs(120),
            &format!("the check under {fault:?}"),
            failures_are_never_absent(
                store,
                || proxy.set_mode(fault),
                || proxy.set_mode(ProxyMode::Pass),
            ),
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts redis-server"]
async fn redis_failures_are_never_absent() {
    let redis = RedisServer::start(RedisOptions::new()).expect("start redis-server");
    let proxy = FaultProxy::start(local(redis.port())).unwrap();
    let store = flowstore_redis::RedisStore::from_url(&format!("redis://{}", proxy.addr()))
        .unwrap()
        .namespace(namespace())
        .command_timeout(TIMEOUT)
        .connect_timeout(TIMEOUT)
        .open()
        .await
        .unwrap();
    check_both_faults(&store, &proxy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL server binaries (initdb)"]
async fn postgres_failures_are_never_absent() {
    let pg = tokio::task::spawn_blocking(Postgres::start)
        .await
        .unwrap()
        .expect("cannot start a throwaway PostgreSQL");
    let port: u16 = pg
        .url()
        .rsplit_once(':')
        .and_then(|(_, rest)| rest.split('/').next()?.parse().ok())
        .expect("a port in the server's URL");
    let proxy = FaultProxy::start(local(port)).unwrap();
    let url = format!(
        "postgres://{POSTGRES_ROLE}@{}/{POSTGRES_DATABASE}",
        proxy.addr()
    );
    let store = flowstore_postgres::PostgresBuilder::from_url(&url)
        .unwrap()
        .namespace(namespace())
        .pool_size(4)
        .wait_timeout(TIMEOUT)
        .create_timeout(TIMEOUT)
        .recycle_timeout(TIMEOUT)
        .operation_timeout(TIMEOUT)
        .open()
        .await
        .unwrap();
    check_both_faults(&store, &proxy).await;
    drop(pg);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "serial with the other fault tests"]
async fn http_failures_are_never_absent() {
    let server_addr = spawn_server(Arc::new(flowstore_memory::MemoryStore::new()), None).await;
    let proxy = FaultProxy::start(server_addr).unwrap();
    // The server's namespace (the default), which the client must match.
    let store = flowstore_http::HttpStore::builder(format!("http://{}", proxy.addr()))
        .connect_timeout(TIMEOUT)
        .request_timeout(TIMEOUT)
        .open()
        .unwrap();
    check_both_faults(&store, &proxy).await;
}
