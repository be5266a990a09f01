//! What versioned entries cost (issue 12 §6), measured through flowstore alone:
//!
//! - `conditional`: a conditional `set` (`set_if_version` from the version the
//!   task last wrote) against a plain `set` of the same store, interleaved in
//!   one run, on distinct keys. The plain side writes the same key names in a
//!   sibling namespace (`<namespace>.plain`), so neither side's writes change
//!   the versions the other expects.
//! - `counter`: N tasks incrementing one counter by read-modify-write
//!   (`get_entry`, then `set_if_version`, again on `Conflict`): successful
//!   increments per second, and a check that the final count is exactly the
//!   number of successful increments.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Args;
use flowstore::{Error, ErrorKind, Key, Namespace, OpenOptions, Store, StoreExt, async_trait};
use flowstore_cli::Failure;
use flowstore_cli::bench::{self, Baseline, BenchArgs, Op, Plan, StoreTarget, Target};

/// Options of `flowstore-bench conditional`.
#[derive(Debug, Args)]
pub(crate) struct ConditionalArgs {
    /// The store (any URL `flowstore` opens, with entry versions).
    #[arg(long, value_name = "URL")]
    store: String,

    /// The namespace [default: the URL's ?namespace=, else `flowstore-bench`].
    #[arg(long, value_name = "NS")]
    namespace: Option<String>,

    #[command(flatten)]
    bench: BenchArgs,

    /// Rounds of one conditional run and one plain run, interleaved.
    #[arg(long, value_name = "R", default_value_t = 5,
          value_parser = clap::value_parser!(u32).range(1..=100))]
    runs: u32,
}

/// Plain `set`s standing in for the conditional writes of a `set-if` run.
struct PlainSet(StoreTarget);

#[async_trait]
impl Target for PlainSet {
    async fn set(&self, key: usize, stamp: u64) -> Result<(), Error> {
        self.0.set(key, stamp).await
    }

    async fn get(&self, key: usize) -> Result<bool, Error> {
        self.0.get(key).await
    }

    async fn set_if(&self, key: usize, stamp: u64) -> Result<(), Error> {
        self.0.set(key, stamp).await
    }
}

async fn open(url: &str, namespace: Option<&str>) -> Result<Arc<dyn Store>, Failure> {
    let explicit = namespace
        .map(|ns| Namespace::new(ns).map_err(|err| Failure::store("--namespace", &err)))
        .transpose()?;
    let mut options = OpenOptions::new();
    if let Some(namespace) = bench::namespace_for(url, explicit)? {
        options = options.namespace(namespace);
    }
    let store = flowstore::open_with(url, &options)
        .await
        .map_err(|err| Failure::store("cannot open the store", &err))?;
    if !store.capabilities().versions {
        return Err(Failure::new(format!(
            "{url}: this store has no entry versions, so no conditional writes to measure"
        )));
    }
    Ok(store)
}

pub(crate) async fn conditional(args: ConditionalArgs) -> Result<(), Failure> {
    let mut workload = args.bench.workload()?;
    workload.op = Op::SetIf;
    let plan = Plan {
        workload,
        runs: args.runs,
        json: args.bench.json,
        calibrate: args.bench.calibrate,
    };
    let store = open(&args.store, args.namespace.as_deref()).await?;
    let plain_namespace = format!("{}.plain", store.namespace().as_str());
    let plain_store = open(&args.store, Some(&plain_namespace)).await?;
    let plain = StoreTarget::new(plain_store, &plan.workload)
        .map_err(|err| Failure::store("bench", &err))?;
    // The conditional side's keys are written by the harness; these by hand,
    // so that both sides replace existing entries.
    for key in 0..plan.workload.keys {
        plain
            .set(key as usize, key)
            .await
            .map_err(|err| Failure::store("bench: writing the plain side's keys", &err))?;
    }
    let baseline = Baseline {
        target: Arc::new(PlainSet(plain)),
        description: "the same store's plain set, same key names in namespace <namespace>.plain",
        label: "plain set",
    };
    let scheme = bench::scheme_of(&args.store)?;
    bench::run(store, &scheme, &plan, Some(baseline)).await
}

/// Options of `flowstore-bench counter`.
#[derive(Debug, Args)]
pub(crate) struct CounterArgs {
    /// The store (any URL `flowstore` opens, with entry versions).
    #[arg(long, value_name = "URL")]
    store: String,

    /// The namespace [default: the URL's ?namespace=, else `flowstore-bench`].
    #[arg(long, value_name = "NS")]
    namespace: Option<String>,

    /// Tasks incrementing the one counter.
    #[arg(long, value_name = "N", default_value_t = 32,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    tasks: u32,

    /// How long each run lasts: 500ms, 5s, 1m.
    #[arg(long, value_name = "DURATION", default_value = "5s")]
    duration: String,

    /// Runs, each on a fresh counter.
    #[arg(long, value_name = "R", default_value_t = 5,
          value_parser = clap::value_parser!(u32).range(1..=100))]
    runs: u32,

    /// Print one JSON object instead of lines of text.
    #[arg(long)]
    json: bool,
}

/// What one counter run did.
struct CounterRun {
    increments: u64,
    conflicts: u64,
    elapsed: Duration,
}

pub(crate) async fn counter(args: CounterArgs) -> Result<(), Failure> {
    let duration = flowstore::parse_duration(&args.duration)
        .map_err(|err| Failure::store("--duration", &err))?;
    let store = open(&args.store, args.namespace.as_deref()).await?;
    let mut runs = Vec::new();
    for run in 1..=args.runs {
        let key = Key::new(format!("bench-counter:{run}:{}", std::process::id()))
            .map_err(|err| Failure::store("bench", &err))?;
        let result = counter_run(&store, &key, args.tasks, duration).await?;
        eprintln!(
            "  run {run}/{}: {} increments ({:.0}/s), {} conflicts ({:.0}/s), final count exact",
            args.runs,
            result.increments,
            result.increments as f64 / result.elapsed.as_secs_f64(),
            result.conflicts,
            result.conflicts as f64 / result.elapsed.as_secs_f64(),
        );
        let _ = store.delete(&key).await;
        runs.push(result);
    }
    let rate = |count: fn(&CounterRun) -> u64| {
        let rates: Vec<f64> = runs
            .iter()
            .map(|run| count(run) as f64 / run.elapsed.as_secs_f64())
            .collect();
        median(rates)
    };
    let increments = rate(|run| run.increments);
    let conflicts = rate(|run| run.conflicts);
    let scheme = bench::scheme_of(&args.store)?;
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "store": format!("{scheme}://"),
                "tasks": args.tasks,
                "runs": runs.len(),
                "increments_per_sec": increments.round(),
                "conflicts_per_sec": conflicts.round(),
                "exact": true,
            })
        );
    } else {
        println!(
            "{scheme}://, {} tasks on one key: median {increments:.0} increments/s, {conflicts:.0} conflicts/s over {} runs; every final count exact",
            args.tasks,
            runs.len()
        );
    }
    Ok(())
}

async fn counter_run(
    store: &Arc<dyn Store>,
    key: &Key,
    tasks: u32,
    duration: Duration,
) -> Result<CounterRun, Failure> {
    store
        .set_if_absent(key, b"0", None)
        .await
        .map_err(|err| Failure::store("bench: creating the counter", &err))?;
    let increments = Arc::new(AtomicU64::new(0));
    let conflicts = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            let (store, key) = (Arc::clone(store), key.clone());
            let (increments, conflicts, stop) = (
                Arc::clone(&increments),
                Arc::clone(&conflicts),
                Arc::clone(&stop),
            );
            tokio::spawn(async move {
                while start.elapsed() < duration && !stop.load(Ordering::Relaxed) {
                    match increment(&*store, &key).await {
                        Ok(true) => increments.fetch_add(1, Ordering::Relaxed),
                        Ok(false) => conflicts.fetch_add(1, Ordering::Relaxed),
                        Err(err) => {
                            stop.store(true, Ordering::Relaxed);
                            return Err(err);
                        }
                    };
                }
                Ok(())
            })
        })
        .collect();
    for handle in handles {
        handle
            .await
            .map_err(|err| Failure::new(format!("bench: a task failed: {err}")))?
            .map_err(|err| Failure::store("bench: increment", &err))?;
    }
    let elapsed = start.elapsed();
    let increments = increments.load(Ordering::Relaxed);
    let final_count = read_count(&**store, key)
        .await
        .map_err(|err| Failure::store("bench: reading the counter", &err))?;
    if final_count != increments {
        return Err(Failure::new(format!(
            "bench: lost updates: {increments} increments succeeded but the counter reads {final_count}"
        )));
    }
    Ok(CounterRun {
        increments,
        conflicts: conflicts.load(Ordering::Relaxed),
        elapsed,
    })
}

/// One attempt: `true` if the increment landed, `false` on a conflict.
async fn increment(store: &dyn Store, key: &Key) -> Result<bool, Error> {
    let entry = store
        .get_entry(key)
        .await?
        .ok_or_else(|| Error::backend("the counter disappeared"))?;
    let next = parse_count(&entry.value)? + 1;
    match store
        .set_if_version(key, next.to_string().as_bytes(), None, &entry.version)
        .await
    {
        Ok(_) => Ok(true),
        Err(err) if err.kind() == ErrorKind::Conflict => Ok(false),
        Err(err) => Err(err),
    }
}

async fn read_count(store: &dyn Store, key: &Key) -> Result<u64, Error> {
    let value = store
        .get(key)
        .await?
        .ok_or_else(|| Error::backend("the counter disappeared"))?;
    parse_count(&value)
}

fn parse_count(value: &[u8]) -> Result<u64, Error> {
    std::str::from_utf8(value)
        .ok()
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| Error::corrupt("the counter is not a number"))
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => 0.0,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}
