//! PostgreSQL fault tests: what a `PostgresStore` does when its server stops
//! abruptly (`pg_ctl stop -m immediate`, like a crash) and comes back, and when
//! its pool is exhausted.
//!
//! Each test starts a throwaway server of its own (`flowstore_test_servers`),
//! never the shared one. They need PostgreSQL's server binaries, so a plain
//! `cargo test` skips them visibly (ignored); `cargo xtask ci` runs them with
//! `--include-ignored`. Run serially: `--test-threads 1`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use flowstore_core::{ErrorKind, Key, Namespace, Store};
use flowstore_postgres::{PostgresBuilder, PostgresStore};
use flowstore_test_servers::Postgres;
use flowstore_tests::faults::{HANG_SLACK, RECOVERY, assert_temporary, within};

const WAIT_TIMEOUT: Duration = Duration::from_millis(500);
const CREATE_TIMEOUT: Duration = Duration::from_secs(2);
const OPERATION_TIMEOUT: Duration = Duration::from_secs(5);

fn key(text: &str) -> Key {
    Key::new(text).unwrap()
}

/// Runs `op`, checking it ends within the store's own bound (plus slack).
async fn bounded<T>(what: &str, op: impl std::future::Future<Output = T>) -> T {
    within(
        WAIT_TIMEOUT + CREATE_TIMEOUT + CREATE_TIMEOUT + OPERATION_TIMEOUT,
        what,
        op,
    )
    .await
}

async fn open(url: &str, pool_size: usize) -> PostgresStore {
    PostgresBuilder::from_url(url)
        .unwrap()
        .namespace(Namespace::new("faults").unwrap())
        .pool_size(pool_size)
        .wait_timeout(WAIT_TIMEOUT)
        .create_timeout(CREATE_TIMEOUT)
        .recycle_timeout(CREATE_TIMEOUT)
        .operation_timeout(OPERATION_TIMEOUT)
        .open()
        .await
        .expect("cannot open the store on the throwaway server")
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
/// acknowledged write, until `stop`. Every read gives a value between the last
/// acknowledged write and the last attempted one: never `None`, never older.
async fn writer(store: PostgresStore, k: Key, stop: Arc<AtomicBool>) -> Seen {
    let mut seen = Seen::default();
    while !stop.load(Ordering::Relaxed) {
        let next = seen.attempted + 1;
        let result = bounded("set", store.set(&k, next.to_string().as_bytes(), None)).await;
        seen.attempted = next;
        match result {
            Ok(()) => {
                seen.acked = next;
                if seen.errors > 0 {
                    seen.successes_after_errors += 1;
                }
            }
            Err(err) => {
                assert_temporary(&err, "set during the outage");
                seen.errors += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        }
        match bounded("get", store.get(&k)).await {
            Ok(Some(bytes)) => {
                let value: u64 = String::from_utf8(bytes).unwrap().parse().unwrap();
                assert!(
                    (seen.acked..=seen.attempted).contains(&value),
                    "{k:?} read {value}, but the last acknowledged write was {} and the last attempted {}",
                    seen.acked,
                    seen.attempted
                );
            }
            Ok(None) => panic!("{k:?} read as absent after an acknowledged write"),
            Err(err) => {
                assert_temporary(&err, "get during the outage");
                seen.errors += 1;
            }
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL server binaries (initdb); run by `cargo xtask ci`"]
async fn immediate_stop_keeps_acknowledged_writes_and_the_pool_recovers() {
    let mut pg = tokio::task::spawn_blocking(Postgres::start)
        .await
        .unwrap()
        .expect("cannot start a throwaway PostgreSQL");
    let url = pg.url();
    let store = open(&url, 8).await;

    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..16)
        .map(|i| {
            tokio::spawn(writer(
                store.clone(),
                key(&format!("writer{i}")),
                Arc::clone(&stop),
            ))
        })
        .collect();

    tokio::time::sleep(Duration::from_secs(1)).await;
    pg = tokio::task::spawn_blocking(move || {
        pg.stop_immediate().expect("pg_ctl stop -m immediate");
        pg
    })
    .await
    .unwrap();
    // The writers run into the outage.
    tokio::time::sleep(Duration::from_secs(1)).await;
    pg = tokio::task::spawn_blocking(move || {
        pg.start_again().expect("restart PostgreSQL");
        pg
    })
    .await
    .unwrap();

    // The same store object serves again: a write after the restart succeeds.
    let probe = key("probe");
    let started = Instant::now();
    loop {
        match bounded("set after restart", store.set(&probe, b"back", None)).await {
            Ok(()) => break,
            Err(err) => assert_temporary(&err, "set while recovering"),
        }
        assert!(started.elapsed() < RECOVERY, "the pool did not recover");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let mut seen = Vec::new();
    for writer in writers {
        seen.push(writer.await.expect("a writer panicked"));
    }
    assert!(
        seen.iter().any(|s| s.errors > 0),
        "no operation failed: the outage was not observed ({seen:?})"
    );
    assert!(
        seen.iter().all(|s| s.acked > 0),
        "a writer never got a write acknowledged ({seen:?})"
    );

    // Every acknowledged write survived the crash: read through a fresh store
    // (new pool, new connections), so nothing can come from the old one.
    let fresh = open(&url, 2).await;
    for (i, s) in seen.iter().enumerate() {
        let k = key(&format!("writer{i}"));
        let value: u64 = match fresh.get(&k).await.unwrap() {
            Some(bytes) => String::from_utf8(bytes).unwrap().parse().unwrap(),
            None => panic!("{k:?} lost: acknowledged up to {}", s.acked),
        };
        assert!(
            (s.acked..=s.attempted).contains(&value),
            "{k:?} holds {value}, but {} was acknowledged (last attempted {})",
            s.acked,
            s.attempted
        );
    }
    assert_eq!(fresh.get(&probe).await.unwrap(), Some(b"back".to_vec()));
    drop((store, fresh));
    tokio::task::spawn_blocking(move || drop(pg)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL server binaries (initdb); run by `cargo xtask ci`"]
async fn full_pool_gives_unavailable_within_the_wait_timeout() {
    let pg = tokio::task::spawn_blocking(Postgres::start)
        .await
        .unwrap()
        .expect("cannot start a throwaway PostgreSQL");
    let store = open(&pg.url(), 2).await;
    let held = (
        store.pool().get().await.unwrap(),
        store.pool().get().await.unwrap(),
    );

    let callers: Vec<_> = (0..50)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let k = key(&format!("k{i}"));
                let limit = WAIT_TIMEOUT + HANG_SLACK;
                let result = tokio::time::timeout(limit, async {
                    if i % 2 == 0 {
                        store.get(&k).await.map(drop)
                    } else {
                        store.set(&k, b"v", None).await
                    }
                })
                .await
                .unwrap_or_else(|_| panic!("caller {i} still waiting after {limit:?}"));
                result.expect_err("a caller got through a full pool")
            })
        })
        .collect();
    for caller in callers {
        let err = caller.await.unwrap();
        assert_eq!(err.kind(), ErrorKind::Unavailable, "{err:?}");
        assert!(err.is_temporary());
    }

    drop(held);
    store.set(&key("after"), b"ok", None).await.unwrap();
    assert_eq!(
        store.get(&key("after")).await.unwrap(),
        Some(b"ok".to_vec())
    );
    drop(store);
    tokio::task::spawn_blocking(move || drop(pg)).await.unwrap();
}
