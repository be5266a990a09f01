//! Issue 15 §3: 64 concurrent `set`s of one key, on PostgreSQL and SQLite —
//! the key absent when they start (where two inserts race for the row), then
//! present (where updates race). No caller may see a unique violation, a
//! "database is busy" or any other error, and the key must end holding one of
//! the values written.
//!
//! The writers are spread over several store instances (several PostgreSQL
//! pools, several SQLite connections to one file, as several processes would
//! have), so the race is between connections, not queued inside one.
//!
//! PostgreSQL runs on a throwaway server of its own; ignored under a plain
//! `cargo test` (`cargo xtask ci` runs it with `--include-ignored`).

use std::sync::Arc;

use flowstore_core::{Key, Namespace, Store};
use flowstore_test_servers::Postgres;

const WRITERS: usize = 64;
/// Store instances the writers are spread over.
const INSTANCES: usize = 4;
/// Rounds of the race, each starting from an absent key.
const ROUNDS: usize = 5;

fn namespace() -> Namespace {
    Namespace::new("upserts").unwrap()
}

/// Runs the race `ROUNDS` times on `stores`.
async fn race(backend: &str, stores: Vec<Arc<dyn Store>>) {
    let k = Key::new("contended").unwrap();
    for round in 0..ROUNDS {
        stores[0].delete(&k).await.unwrap();
        for phase in ["absent", "present"] {
            let written: Vec<Vec<u8>> = (0..WRITERS)
                .map(|w| format!("{phase}-{round}-{w}").into_bytes())
                .collect();
            let barrier = Arc::new(tokio::sync::Barrier::new(WRITERS));
            let tasks: Vec<_> = written
                .iter()
                .enumerate()
                .map(|(w, value)| {
                    let store = Arc::clone(&stores[w % stores.len()]);
                    let (k, value, barrier) = (k.clone(), value.clone(), Arc::clone(&barrier));
                    tokio::spawn(async move {
                        barrier.wait().await;
                        store.set(&k, &value, None).await
                    })
                })
                .collect();
            for (w, task) in tasks.into_iter().enumerate() {
                if let Err(err) = task.await.unwrap() {
                    panic!("{backend}, round {round}, key {phase}: writer {w} got {err:?}");
                }
            }
            for store in &stores {
                let value = store.get(&k).await.unwrap();
                assert!(
                    value.as_ref().is_some_and(|v| written.contains(v)),
                    "{backend}, round {round}, key {phase}: the key holds {value:?}, \
                     not one of the values written"
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL server binaries (initdb)"]
async fn postgres_concurrent_upserts_of_one_key() {
    let pg = tokio::task::spawn_blocking(Postgres::start)
        .await
        .unwrap()
        .expect("cannot start a throwaway PostgreSQL");
    let mut stores: Vec<Arc<dyn Store>> = Vec::new();
    for _ in 0..INSTANCES {
        let store = flowstore_postgres::PostgresBuilder::from_url(&pg.url())
            .unwrap()
            .namespace(namespace())
            .pool_size(WRITERS / INSTANCES)
            .open()
            .await
            .unwrap();
        stores.push(Arc::new(store));
    }
    race("postgres", stores).await;
    tokio::task::spawn_blocking(move || drop(pg)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_concurrent_upserts_of_one_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("upserts.db");
    let mut stores: Vec<Arc<dyn Store>> = Vec::new();
    for _ in 0..INSTANCES {
        let store = flowstore_sqlite::SqliteStore::builder(&path)
            .namespace(namespace())
            .open()
            .await
            .unwrap();
        stores.push(Arc::new(store));
    }
    race("sqlite", stores).await;
}
