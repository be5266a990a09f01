//! Redis fault tests: what a `RedisStore` does when its server crashes, when a
//! Redis Cluster primary or a Sentinel-managed primary dies and its replica
//! takes over, and when the server refuses our credentials on reconnect.
//!
//! Each test starts throwaway servers of its own (`flowstore_test_servers`),
//! never the shared ones. They need `redis-server` on `PATH`, so a plain `cargo
//! test` skips them visibly (ignored); `cargo xtask ci` runs them with
//! `--include-ignored`. They take a lock, so they run one at a time.

#![allow(
    clippy::await_holding_lock,
    reason = "the serial lock is held for a whole test on purpose; each test has its own runtime"
)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use flowstore_core::{ErrorKind, Key, Namespace, Store};
use flowstore_redis::RedisStore;
use flowstore_test_servers::{
    RedisCluster, RedisOptions, RedisSentinel, RedisServer, redis_command,
};
use flowstore_tests::faults::{RECOVERY, assert_temporary, within};

/// The tests of this binary run one at a time even without `--test-threads 1`:
/// each starts servers whose failovers must not compete for the CPU.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The store's command timeout in these tests.
const COMMAND_TIMEOUT: Duration = Duration::from_millis(800);

fn key(text: &str) -> Key {
    Key::new(text).unwrap()
}

/// Runs `op`, checking it ends within the store's own bound (plus slack).
async fn timed<T>(what: &str, op: impl std::future::Future<Output = T>) -> T {
    within(COMMAND_TIMEOUT, what, op).await
}

/// What one writer saw: the last value whose `set` was acknowledged, and the
/// highest value it tried to write (a failed `set` has an unknown outcome).
#[derive(Debug, Default, Clone, Copy)]
struct Seen {
    acked: u64,
    attempted: u64,
    errors: u64,
    successes_after_errors: u64,
}

/// One task's stream: set its key to 1, 2, 3, … and read it back after each
/// write, until `stop`. Every read must give a value between the last
/// acknowledged write and the last attempted one: never `None`, never older.
async fn writer(store: Arc<RedisStore>, k: Key, stop: Arc<AtomicBool>) -> Seen {
    let mut seen = Seen::default();
    let mut had_error = false;
    while !stop.load(Ordering::Relaxed) {
        let next = seen.attempted + 1;
        let result = timed("set", store.set(&k, next.to_string().as_bytes(), None)).await;
        seen.attempted = next;
        match result {
            Ok(()) => seen.acked = next,
            Err(err) => {
                assert_temporary(&err, "set during the outage");
                seen.errors += 1;
                had_error = true;
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        }
        match timed("get", store.get(&k)).await {
            Ok(Some(bytes)) => {
                let value: u64 = String::from_utf8(bytes).unwrap().parse().unwrap();
                assert!(
                    (seen.acked..=seen.attempted).contains(&value),
                    "{k:?} read {value}, but the last acknowledged write was {} and the last attempted {}",
                    seen.acked,
                    seen.attempted
                );
                if had_error {
                    seen.successes_after_errors += 1;
                }
            }
            Ok(None) => panic!(
                "{k:?} read as absent after write {} was acknowledged",
                seen.acked
            ),
            Err(err) => {
                assert_temporary(&err, "get during the outage");
                seen.errors += 1;
                had_error = true;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server on PATH (run by cargo xtask ci)"]
async fn sigkill_during_a_stream_of_operations() {
    let _serial = serial();
    // AOF with fsync on every write: whatever was acknowledged survives the crash,
    // so after the restart a key that exists must read back, never as absent.
    let mut server = RedisServer::start(
        RedisOptions::new()
            .arg("--appendonly")
            .arg("yes")
            .arg("--appendfsync")
            .arg("always"),
    )
    .expect("start redis-server");
    let store = Arc::new(
        RedisStore::from_url(&server.url())
            .unwrap()
            .namespace(Namespace::new("faults").unwrap())
            .command_timeout(COMMAND_TIMEOUT)
            .open()
            .await
            .unwrap(),
    );

    let stop = Arc::new(AtomicBool::new(false));
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            tokio::spawn(writer(
                Arc::clone(&store),
                key(&format!("stream:{i}")),
                Arc::clone(&stop),
            ))
        })
        .collect();

    tokio::time::sleep(Duration::from_millis(500)).await;
    server.kill();
    // Down for a while: several command timeouts' worth of failing operations.
    tokio::time::sleep(COMMAND_TIMEOUT * 3).await;
    server.restart().expect("restart redis-server");

    // Let the stream run until every writer has succeeded again after its errors.
    let deadline = Instant::now() + RECOVERY;
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let probe = store.get(&key("stream:0")).await;
        if probe.is_ok() {
            tokio::time::sleep(Duration::from_secs(1)).await;
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the store did not recover: {probe:?}"
        );
    }
    stop.store(true, Ordering::Relaxed);
    let mut total_errors = 0;
    let mut seens = Vec::new();
    for task in tasks {
        let seen = task.await.expect("writer panicked");
        seens.push(seen);
        total_errors += seen.errors;
        assert!(seen.acked > 0, "{seen:?}");
        if seen.errors > 0 {
            assert!(
                seen.successes_after_errors > 0,
                "a writer never recovered: {seen:?}"
            );
        }
    }
    assert!(
        total_errors > 0,
        "no operation failed: the server was not really down"
    );

    // The same store object still works, and every key holds its last
    // acknowledged value or a later attempted one.
    for (i, seen) in seens.iter().enumerate() {
        let k = key(&format!("stream:{i}"));
        let value: u64 = String::from_utf8(store.get(&k).await.unwrap().expect("key is absent"))
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            (seen.acked..=seen.attempted).contains(&value),
            "{k:?}: {value}, {seen:?}"
        );
    }
    store.clear().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server on PATH (run by cargo xtask ci)"]
async fn cluster_keeps_serving_after_a_primary_fails_over() {
    let _serial = serial();
    let mut cluster = RedisCluster::start().expect("start the Redis Cluster");
    let store = RedisStore::from_url(&cluster.url())
        .unwrap()
        .namespace(Namespace::new("failover").unwrap())
        .command_timeout(COMMAND_TIMEOUT)
        .open()
        .await
        .unwrap();
    assert!(store.is_cluster());

    // Keys spread over every slot range, including the doomed primary's.
    let keys: Vec<Key> = (0..300).map(|i| key(&format!("user:{i}"))).collect();
    for k in &keys {
        store.set(k, k.as_str().as_bytes(), None).await.unwrap();
    }

    // Replication is asynchronous: wait until the replica has everything the
    // primary acknowledged, so the failover loses nothing we wrote.
    wait_caught_up(
        cluster.node(RedisCluster::REPLICATED_PRIMARY),
        cluster.node(RedisCluster::REPLICA).port(),
    )
    .await;

    cluster.node_mut(RedisCluster::REPLICATED_PRIMARY).kill();

    // Until the replica is promoted, keys of the dead primary's slots fail with
    // temporary errors (never `None`); then everything is served again.
    serve_after_failover(&store, &keys).await;

    // Writes, deletes and clear work on the new topology with the same store.
    for k in &keys {
        store.set(k, b"after", None).await.unwrap();
        assert_eq!(store.get(k).await.unwrap().as_deref(), Some(&b"after"[..]));
    }
    store.delete(&keys[0]).await.unwrap();
    assert_eq!(store.get(&keys[0]).await.unwrap(), None);
    store.clear().await.unwrap();
    for k in &keys {
        assert_eq!(store.get(k).await.unwrap(), None);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server on PATH (run by cargo xtask ci)"]
async fn sentinel_primary_fails_over_to_its_replica() {
    let _serial = serial();
    let mut setup = RedisSentinel::start().expect("start the Sentinel setup");
    let store = RedisStore::from_url(&setup.url())
        .unwrap()
        .namespace(Namespace::new("sentinel-failover").unwrap())
        .command_timeout(COMMAND_TIMEOUT)
        .open()
        .await
        .unwrap();
    let keys: Vec<Key> = (0..50).map(|i| key(&format!("user:{i}"))).collect();
    for k in &keys {
        store.set(k, k.as_str().as_bytes(), None).await.unwrap();
    }
    let replica_port = setup.replica().port();
    wait_caught_up(setup.primary(), replica_port).await;

    setup.primary().kill();
    serve_after_failover(&store, &keys).await;

    // The promoted replica takes writes through the same store.
    for k in &keys {
        store.set(k, b"after", None).await.unwrap();
        assert_eq!(store.get(k).await.unwrap().as_deref(), Some(&b"after"[..]));
    }
    store.clear().await.unwrap();
    assert_eq!(store.get(&keys[0]).await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server on PATH (run by cargo xtask ci)"]
async fn credentials_refused_on_reconnect_are_unauthorized_at_once() {
    let _serial = serial();
    // The default command timeout: a refusal must not wait for it.
    const TIMEOUT: Duration = Duration::from_secs(5);
    const OLD: &str = "old-secret-5b1f";
    let server = RedisServer::start(RedisOptions::new()).expect("start redis-server");
    // An ACL user with a password (the default user stays open, so the test's
    // own one-command connections need no AUTH).
    let acl = |args: &[&str]| {
        let mut command = vec!["ACL", "SETUSER", "flowstore"];
        command.extend_from_slice(args);
        server.cmd(&command).expect("ACL SETUSER");
    };
    acl(&["on", &format!(">{OLD}"), "~*", "&*", "+@all"]);
    let url = format!("redis://flowstore:{OLD}@127.0.0.1:{}", server.port());
    let store = RedisStore::from_url(&url)
        .unwrap()
        .namespace(Namespace::new("auth").unwrap())
        .command_timeout(TIMEOUT)
        .open()
        .await
        .unwrap();
    let k = key("k");
    store.set(&k, b"before", None).await.unwrap();

    // The password changes and our (already authenticated) connection is
    // closed: fred reconnects with the old password and is refused.
    acl(&["resetpass", ">new-secret-9c2e"]);
    server
        .cmd(&["CLIENT", "KILL", "USER", "flowstore"])
        .expect("CLIENT KILL");

    let refused = |err: &flowstore_core::Error, what: &str| {
        assert_eq!(err.kind(), ErrorKind::Unauthorized, "{what}: {err:?}");
        assert!(!err.is_temporary(), "{what}: retried? {err:?}");
        assert!(!format!("{err:?}").contains(OLD), "{what}: {err:?}");
    };
    let started = Instant::now();
    let err = within(TIMEOUT, "get after the refusal", store.get(&k))
        .await
        .unwrap_err();
    refused(&err, "the get waiting for the reconnection");
    let took = started.elapsed();
    assert!(
        took < TIMEOUT,
        "the refusal took {took:?}, as long as the command timeout"
    );
    // While the refusal lasts, commands fail at once and are not sent.
    let started = Instant::now();
    let err = store.set(&k, b"refused", None).await.unwrap_err();
    refused(&err, "a set while refused");
    refused(
        &store.delete(&k).await.unwrap_err(),
        "a delete while refused",
    );
    refused(&store.clear().await.unwrap_err(), "a clear while refused");
    // The data-loss marker's commands too (acknowledging writes the markers).
    refused(
        &store.acknowledge_data_loss().await.unwrap_err(),
        "an acknowledgement while refused",
    );
    assert!(started.elapsed() < TIMEOUT, "{:?}", started.elapsed());

    // The old password is accepted again: the same store recovers on its own
    // (fred keeps reconnecting), and nothing refused was written.
    acl(&[&format!(">{OLD}")]);
    let deadline = Instant::now() + RECOVERY;
    let value = loop {
        match store.get(&k).await {
            Ok(value) => break value,
            Err(err) => refused(&err, "a get before the next reconnection"),
        }
        assert!(Instant::now() < deadline, "the store did not recover");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(value.as_deref(), Some(&b"before"[..]));
    store.set(&k, b"after", None).await.unwrap();
    assert_eq!(store.get(&k).await.unwrap().as_deref(), Some(&b"after"[..]));
    store.clear().await.unwrap();
}

/// Waits until the replica on `replica_port` has everything `primary` acknowledged.
async fn wait_caught_up(primary: &RedisServer, replica_port: u16) {
    let deadline = Instant::now() + RECOVERY;
    loop {
        let offset = |port: u16, field: &str| {
            let info = redis_command(port, &["INFO", "replication"])
                .unwrap()
                .text();
            info_u64(&info, field)
        };
        let primary_offset = offset(primary.port(), "master_repl_offset");
        if primary_offset.is_some() && primary_offset == offset(replica_port, "slave_repl_offset") {
            return;
        }
        assert!(Instant::now() < deadline, "the replica never caught up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn info_u64(info: &str, field: &str) -> Option<u64> {
    info.lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|value| value.trim().parse().ok())
}

/// Reads every key until all are served again after a failover. Meanwhile every
/// failure must be temporary, and no key may read as absent or changed (the
/// replica had caught up before the primary died).
async fn serve_after_failover(store: &RedisStore, keys: &[Key]) {
    let deadline = Instant::now() + RECOVERY;
    let mut failures = 0u64;
    loop {
        let mut all_ok = true;
        for k in keys {
            match timed("get during failover", store.get(k)).await {
                Ok(value) => assert_eq!(
                    value.as_deref(),
                    Some(k.as_str().as_bytes()),
                    "{k:?} lost or changed by the failover"
                ),
                Err(err) => {
                    assert_temporary(&err, "get during failover");
                    failures += 1;
                    all_ok = false;
                }
            }
        }
        if all_ok {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the store did not recover after the failover"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        failures > 0,
        "no operation failed: the primary was not really down"
    );
}
