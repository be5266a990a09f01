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

use std::time::Duration;

use flowstore_core::conformance::faults::failures_are_never_absent;
use flowstore_core::{Namespace, Store};
use flowstore_test_servers::{FaultProxy, ProxyMode};
use flowstore_tests::faults::within;
use flowstore_tests::proxied::{self, Remote};

/// Every store's own bound on one operation in these tests.
const TIMEOUT: Duration = Duration::from_millis(800);

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

/// Starts `remote` behind a fault proxy and runs the check on it.
async fn check(remote: Remote) {
    let target = proxied::start(remote, &namespace(), TIMEOUT).await;
    check_both_faults(&*target.store, &target.proxy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts redis-server"]
async fn redis_failures_are_never_absent() {
    check(Remote::Redis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL server binaries (initdb)"]
async fn postgres_failures_are_never_absent() {
    check(Remote::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "serial with the other fault tests"]
async fn http_failures_are_never_absent() {
    check(Remote::Http).await;
}
