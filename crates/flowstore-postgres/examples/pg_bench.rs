//! A quick throughput comparison: flowstore-postgres against raw deadpool +
//! tokio-postgres doing the same work (one prepared statement per operation),
//! interleaved in one run.
//!
//! ```text
//! cargo run --release -p flowstore-postgres --example pg_bench -- \
//!     postgres://postgres@127.0.0.1:5432/test [seconds-per-run] [rounds]
//! ```
//!
//! 1 KiB values, each task on its own 100 keys. Prints ops/s per run and the
//! median ratio flowstore / raw. `flowstore bench` is the real benchmark; this
//! is a development aid.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use flowstore_core::{Key, Namespace, Store};
use flowstore_postgres::{PostgresBuilder, PostgresStore, deadpool_postgres, tokio_postgres};

const KEYS_PER_TASK: usize = 100;
const VALUE: [u8; 1024] = [b'x'; 1024];

#[derive(Clone, Copy, Debug, PartialEq)]
enum Op {
    Get,
    Set,
}

#[derive(Clone, Copy, Debug)]
enum Client {
    Raw,
    Flowstore,
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/test".into());
    let seconds: f64 = args.next().map_or(3.0, |s| s.parse().unwrap());
    let rounds: usize = args.next().map_or(3, |s| s.parse().unwrap());
    let run_for = Duration::from_secs_f64(seconds);

    let mut builder = PostgresBuilder::from_url(&url)
        .unwrap()
        .namespace(Namespace::new("bench-flowstore").unwrap());
    if let Ok(lanes) = std::env::var("FLOWSTORE_BENCH_LANES") {
        builder = builder.write_lanes(lanes.parse().unwrap());
    }
    let only: Option<String> = std::env::var("FLOWSTORE_BENCH_ONLY").ok();
    let store = builder.open().await.unwrap();
    let config: tokio_postgres::Config = url.parse().unwrap();
    let manager = Manager::from_config(
        config,
        tokio_postgres::NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    let pool = Pool::builder(manager)
        .max_size(flowstore_postgres::DEFAULT_POOL_SIZE)
        .runtime(Runtime::Tokio1)
        .build()
        .unwrap();

    for concurrency in [1usize, 32] {
        for op in [Op::Set, Op::Get] {
            let name = format!("{op:?}{concurrency}").to_lowercase();
            if only
                .as_ref()
                .is_some_and(|only| !only.split(',').any(|o| o == name))
            {
                continue;
            }
            let mut ratios = Vec::new();
            for round in 0..rounds {
                // Alternate which goes first, so neither always runs on a warmer server.
                let (raw, fs) = if round % 2 == 0 {
                    let raw = run(Client::Raw, op, concurrency, run_for, &store, &pool).await;
                    (
                        raw,
                        run(Client::Flowstore, op, concurrency, run_for, &store, &pool).await,
                    )
                } else {
                    let fs = run(Client::Flowstore, op, concurrency, run_for, &store, &pool).await;
                    (
                        run(Client::Raw, op, concurrency, run_for, &store, &pool).await,
                        fs,
                    )
                };
                println!(
                    "{op:?} c={concurrency} round {round}: raw {raw:.0}/s flowstore {fs:.0}/s ratio {:.2}",
                    fs / raw
                );
                ratios.push(fs / raw);
            }
            ratios.sort_by(f64::total_cmp);
            println!(
                "== {op:?} c={concurrency}: median ratio {:.2}",
                ratios[ratios.len() / 2]
            );
        }
    }
    store
        .with_namespace(Namespace::new("bench-raw").unwrap())
        .clear()
        .await
        .unwrap();
    store.clear().await.unwrap();
}

async fn run(
    client: Client,
    op: Op,
    concurrency: usize,
    run_for: Duration,
    store: &PostgresStore,
    pool: &Pool,
) -> f64 {
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let table = store.table().as_str().to_string();
    let mut tasks = Vec::new();
    for task in 0..concurrency {
        let (stop, count, store, pool, table) = (
            stop.clone(),
            count.clone(),
            store.clone(),
            pool.clone(),
            table.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let keys: Vec<Key> = (0..KEYS_PER_TASK)
                .map(|i| Key::new(format!("t{task}-k{i}")).unwrap())
                .collect();
            let upsert = format!(
                "INSERT INTO \"{table}\" (namespace, key, value, expires_at) VALUES ($1, $2, $3, NULL) \
                 ON CONFLICT (namespace, key) DO UPDATE SET value = EXCLUDED.value, expires_at = NULL"
            );
            let select = format!(
                "SELECT value FROM \"{table}\" WHERE namespace = $1 AND key = $2 \
                 AND (expires_at IS NULL OR expires_at > now())"
            );
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let key = &keys[i % KEYS_PER_TASK];
                i += 1;
                match (client, op) {
                    (Client::Flowstore, Op::Set) => store.set(key, &VALUE, None).await.unwrap(),
                    (Client::Flowstore, Op::Get) => {
                        std::hint::black_box(store.get(key).await.unwrap());
                    }
                    (Client::Raw, op) => {
                        let conn = pool.get().await.unwrap();
                        if op == Op::Set {
                            let statement = conn.prepare_cached(&upsert).await.unwrap();
                            conn.execute(&statement, &[&"bench-raw", &key.as_str(), &&VALUE[..]])
                                .await
                                .unwrap();
                        } else {
                            let statement = conn.prepare_cached(&select).await.unwrap();
                            let row = conn
                                .query_opt(&statement, &[&"bench-raw", &key.as_str()])
                                .await
                                .unwrap();
                            std::hint::black_box(row.map(|row| row.get::<_, Vec<u8>>(0)));
                        }
                    }
                }
                count.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let started = Instant::now();
    tokio::time::sleep(run_for).await;
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.unwrap();
    }
    count.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}
