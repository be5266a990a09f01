//! A quick throughput check: the store against the plain way of using rusqlite
//! from async code (one connection behind a mutex, each operation through
//! `spawn_blocking`, one transaction per write, the same pragmas and schema).
//!
//! ```text
//! cargo run --release -p flowstore-sqlite --example throughput -- [seconds per run] [runs]
//! ```
//!
//! The CLI's `flowstore bench` is the real benchmark; this is for quick checks
//! while working on the crate.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use flowstore_core::{Key, Store};
use flowstore_sqlite::rusqlite::{OptionalExtension, params};
use flowstore_sqlite::{SqliteStore, Synchronous, raw};

const VALUE_SIZE: usize = 1024;
const KEYS_PER_TASK: usize = 1000;

fn key(task: usize, i: usize) -> Key {
    Key::new(format!("bench/{task}/{}", i % KEYS_PER_TASK)).unwrap()
}

fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Makes every written value differ from the stored one: SQLite skips writing a
/// page an update leaves unchanged, so rewriting the same value would measure
/// neither disk writes nor fsyncs.
fn stamp(value: &mut [u8]) {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    value[..8].copy_from_slice(&n.to_le_bytes());
}

#[derive(Clone, Copy, PartialEq)]
enum Op {
    Set,
    Get,
}

async fn run_store(store: &SqliteStore, op: Op, concurrency: usize, duration: Duration) -> f64 {
    let deadline = Instant::now() + duration;
    let start = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|task| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut value = vec![b'x'; VALUE_SIZE];
                let mut n = 0usize;
                while Instant::now() < deadline {
                    let k = key(task, n);
                    match op {
                        Op::Set => {
                            stamp(&mut value);
                            store.set(&k, &value, None).await.unwrap();
                        }
                        Op::Get => {
                            assert!(store.get(&k).await.unwrap().is_some());
                        }
                    }
                    n += 1;
                }
                n
            })
        })
        .collect();
    let mut total = 0;
    for task in tasks {
        total += task.await.unwrap();
    }
    total as f64 / start.elapsed().as_secs_f64()
}

async fn run_raw(
    conn: Arc<Mutex<flowstore_sqlite::rusqlite::Connection>>,
    op: Op,
    concurrency: usize,
    duration: Duration,
) -> f64 {
    let deadline = Instant::now() + duration;
    let start = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|task| {
            let conn = conn.clone();
            tokio::spawn(async move {
                let mut n = 0usize;
                while Instant::now() < deadline {
                    let k = key(task, n);
                    let conn = conn.clone();
                    let mut value = vec![b'x'; VALUE_SIZE];
                    stamp(&mut value);
                    tokio::task::spawn_blocking(move || {
                        let conn = conn.lock().unwrap();
                        match op {
                            Op::Set => {
                                let tx = conn.unchecked_transaction().unwrap();
                                tx.prepare_cached(raw::UPSERT)
                                    .unwrap()
                                    .execute(params![
                                        "flow",
                                        k.as_str(),
                                        value.as_slice(),
                                        None::<i64>
                                    ])
                                    .unwrap();
                                tx.commit().unwrap();
                            }
                            Op::Get => {
                                let v: Option<Vec<u8>> = conn
                                    .prepare_cached(raw::SELECT)
                                    .unwrap()
                                    .query_row(params!["flow", k.as_str(), now_millis()], |row| {
                                        row.get(0)
                                    })
                                    .optional()
                                    .unwrap();
                                assert!(v.is_some());
                            }
                        }
                    })
                    .await
                    .unwrap();
                    n += 1;
                }
                n
            })
        })
        .collect();
    let mut total = 0;
    for task in tasks {
        total += task.await.unwrap();
    }
    total as f64 / start.elapsed().as_secs_f64()
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let seconds: f64 = args.next().map_or(0.5, |s| s.parse().unwrap());
    let rounds: usize = args.next().map_or(7, |s| s.parse().unwrap());
    let duration = Duration::from_secs_f64(seconds);
    let dir = tempfile::tempdir_in(".").unwrap();
    let path = dir.path().join("bench.db");

    let store = SqliteStore::open(&path).await.unwrap();
    let conn = Arc::new(Mutex::new(
        raw::open_connection(&path, Synchronous::Full).unwrap(),
    ));
    // Fill every key the get runs read.
    run_store(&store, Op::Set, 32, Duration::from_secs(1)).await;
    let value = vec![b'x'; VALUE_SIZE];
    for task in 0..32 {
        for i in 0..KEYS_PER_TASK {
            store.set(&key(task, i), &value, None).await.unwrap();
        }
    }

    // Interleaved short runs, so that load from elsewhere on the machine hits
    // both sides alike; the median ratio is reported.
    for (op, concurrency) in [(Op::Set, 32), (Op::Get, 1), (Op::Get, 32), (Op::Set, 1)] {
        let name = if op == Op::Set { "set" } else { "get" };
        // ONLY=set32,get1 runs just those workloads.
        if let Ok(only) = std::env::var("ONLY")
            && !only.split(',').any(|o| o == format!("{name}{concurrency}"))
        {
            continue;
        }
        let mut raws = Vec::new();
        let mut stores = Vec::new();
        let mut ratios = Vec::new();
        for round in 0..rounds {
            // Alternate which side runs first, so neither always gets the warmer file.
            let (raw_rate, store_rate) = if round % 2 == 0 {
                let raw_rate = run_raw(conn.clone(), op, concurrency, duration).await;
                (raw_rate, run_store(&store, op, concurrency, duration).await)
            } else {
                let store_rate = run_store(&store, op, concurrency, duration).await;
                (
                    run_raw(conn.clone(), op, concurrency, duration).await,
                    store_rate,
                )
            };
            raws.push(raw_rate);
            stores.push(store_rate);
            ratios.push(store_rate / raw_rate);
        }
        println!(
            "{name} c={concurrency:>2}: raw {:>9.0}/s  store {:>9.0}/s  median ratio {:.2}  (ratios {})",
            median(&mut raws),
            median(&mut stores),
            median(&mut ratios),
            ratios
                .iter()
                .map(|r| format!("{r:.2}"))
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
}
