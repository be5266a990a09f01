//! Issue 15 §3, the history check, per backend: many tasks run mixed
//! `get`/`set`/`delete` on a few shared keys, and every read must be one some
//! write could have produced at that point (`flowstore_tests::history`). It
//! prints each backend's p99 latency.
//!
//! CI runs it small (16 tasks × 200 operations on 4 keys); `cargo xtask faults
//! --full` sets `FLOWSTORE_FAULTS_FULL=1` for the full size (200 × 2 000 on 8
//! keys), whose latest figures are in docs/faults.md.
//!
//! Memory, SQLite (a temporary file) and `flowstore serve` (over SQLite) run
//! in-process; PostgreSQL, Redis and Redis Cluster use the servers of
//! `FLOWSTORE_TEST_POSTGRES_URL`, `FLOWSTORE_TEST_REDIS_URL` and
//! `FLOWSTORE_TEST_REDIS_CLUSTER_URL` (`cargo xtask ci` and `cargo xtask
//! faults` start them), each run in a namespace of its own. The tests take a
//! lock so that they run one at a time, so that no two of this binary's
//! backends share the machine; other test binaries and servers may still run
//! alongside (`cargo xtask ci` runs several at once), so the printed
//! latencies are indicative, not a benchmark.

#![allow(
    clippy::await_holding_lock,
    reason = "the serial lock is held for a whole test on purpose; each test has its own runtime"
)]

use std::sync::{Arc, Mutex, MutexGuard};

use flowstore_core::{Namespace, Store};
use flowstore_tests::history::{self, Size};

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn env_url(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| panic!("{var} is not set"))
}

/// A namespace no other run uses, so that runs against a shared server never
/// see each other's keys.
fn namespace(backend: &str) -> Namespace {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    Namespace::new(format!("history-{backend}-{}-{nanos}", std::process::id())).unwrap()
}

/// Runs the history on `store` (empty keys), checks it, prints its figures.
async fn check_history(backend: &str, store: Arc<dyn Store>) {
    let size = Size::from_env();
    for i in 0..size.keys {
        store.delete(&history::history_key(i)).await.unwrap();
    }
    let run = history::run(Arc::clone(&store), size).await;
    let violations = history::check(&run.ops);
    let total = run.ops.len();
    println!(
        "history {backend}: {} tasks × {} ops on {} keys: {total} ops in {:.2?}, \
         p50 {:.2?}, p99 {:.2?}, max {:.2?}, {} failed, {} reads unexplained",
        size.tasks,
        size.ops_per_task,
        size.keys,
        run.elapsed,
        run.latency_quantile(0.5),
        run.latency_quantile(0.99),
        run.latency_quantile(1.0),
        run.failures(),
        violations.len(),
    );
    let reads = run
        .ops
        .iter()
        .filter(|op| op.ok && matches!(op.action, history::Action::Get(Some(_))))
        .count();
    // Otherwise the check had nothing to check.
    assert!(reads > 0, "{backend}: no read found a value");
    assert!(
        violations.is_empty(),
        "{backend}: {} reads no write explains, the first: {}",
        violations.len(),
        violations
            .iter()
            .take(5)
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    );
    // No fault was injected: every operation must have succeeded.
    assert_eq!(run.failures(), 0, "{backend}: operations failed");
    store.clear().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "serial with the other fault tests"]
async fn memory_history() {
    let _serial = serial();
    let store = flowstore_memory::MemoryStore::new();
    check_history("memory", Arc::new(store)).await;
}

async fn sqlite(dir: &tempfile::TempDir) -> flowstore_sqlite::SqliteStore {
    flowstore_sqlite::SqliteStore::open(dir.path().join("history.db"))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "serial with the other fault tests"]
async fn sqlite_history() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    check_history("sqlite", Arc::new(sqlite(&dir).await)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "serial with the other fault tests"]
async fn http_history() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let addr = flowstore_tests::serve::spawn_server(Arc::new(sqlite(&dir).await), None).await;
    let client = flowstore_tests::serve::client(addr, None);
    check_history("http (serve over sqlite)", Arc::new(client)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs FLOWSTORE_TEST_POSTGRES_URL"]
async fn postgres_history() {
    let _serial = serial();
    let store = flowstore_postgres::PostgresBuilder::from_url(&env_url(
        flowstore_test_servers::POSTGRES_URL_VAR,
    ))
    .unwrap()
    .namespace(namespace("postgres"))
    .open()
    .await
    .unwrap();
    check_history("postgres", Arc::new(store)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs FLOWSTORE_TEST_REDIS_URL"]
async fn redis_history() {
    let _serial = serial();
    let store =
        flowstore_redis::RedisStore::from_url(&env_url(flowstore_test_servers::REDIS_URL_VAR))
            .unwrap()
            .namespace(namespace("redis"))
            .open()
            .await
            .unwrap();
    check_history("redis", Arc::new(store)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs FLOWSTORE_TEST_REDIS_CLUSTER_URL"]
async fn redis_cluster_history() {
    let _serial = serial();
    let store = flowstore_redis::RedisStore::from_url(&env_url(
        flowstore_test_servers::REDIS_CLUSTER_URL_VAR,
    ))
    .unwrap()
    .namespace(namespace("cluster"))
    .open()
    .await
    .unwrap();
    check_history("redis cluster", Arc::new(store)).await;
}
