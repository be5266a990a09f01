//! `flowstore bench`: throughput and latency of `set` or `get`, optionally
//! against a raw baseline (`--compare-raw`).
//!
//! - [`workload`]: what a run does and the runner (N tasks, a shared op counter);
//! - [`report`]: histograms, per-run figures, text and JSON output;
//! - [`cpu`]: the process's CPU time, for the client's CPU cost per operation;
//! - [`baselines`]: one module per backend with a raw baseline.
//!
//! Before the runs, every key of the workload is written once, so `get` finds
//! them and every measured `set` replaces an existing entry (the steady state
//! of a session store). With `--compare-raw`, flowstore and raw runs alternate
//! (F R, R F, F R, …) on the same file and namespace, and the ratio reported is
//! the median of the per-round ratios.

mod baselines;
mod cpu;
mod report;
mod workload;

use std::sync::Arc;
use std::time::Duration;

use flowstore::url::StoreUrl;
use flowstore::{Namespace, parse_duration};
use serde_json::json;

use crate::cli::BenchArgs;
use crate::commands::Outcome;
use crate::failure::Failure;
use report::{RunResult, Summary, combine, median, round};
use workload::{Limit, StoreTarget, Target, Workload};

/// The namespace `bench` writes to unless `--namespace` or the URL names one (or
/// the store is a flowstore server, which serves its own).
const BENCH_NAMESPACE: &str = "flowstore-bench";

/// Operations per run when neither `--ops` nor `--duration` is given.
const DEFAULT_OPS: u64 = 10_000;

pub(crate) async fn run(
    url: &str,
    namespace: Option<Namespace>,
    args: BenchArgs,
) -> Result<Outcome, Failure> {
    let limit = match (&args.duration, args.ops) {
        (Some(text), _) => {
            let duration =
                parse_duration(text).map_err(|err| Failure::store("--duration", &err))?;
            if duration.is_zero() {
                return Err(Failure::new("--duration: must be longer than 0"));
            }
            Limit::Duration(duration)
        }
        (None, ops) => Limit::Ops(ops.unwrap_or(DEFAULT_OPS)),
    };
    let workload = Workload {
        op: args.op,
        concurrency: args.concurrency,
        value_size: args.value_size,
        keys: args.keys,
        limit,
    };
    let runs = args.runs.unwrap_or(if args.compare_raw { 3 } else { 1 });

    let mut parsed = StoreUrl::parse(url).map_err(|err| Failure::store("--store", &err))?;
    let scheme = parsed.scheme().unwrap_or_default();
    let url_names_namespace = parsed
        .take("namespace")
        .map_err(|err| Failure::store("--store", &err))?
        .is_some();
    // A flowstore server serves its own namespace and refuses clients that ask
    // for another, so over HTTP the bench takes the server's.
    let serves_own_namespace = matches!(scheme.as_str(), "http" | "https");
    let namespace = match namespace {
        Some(namespace) => Some(namespace),
        None if url_names_namespace || serves_own_namespace => None,
        None => Some(Namespace::new(BENCH_NAMESPACE).expect("a valid constant")),
    };

    let store = crate::open_store(url, namespace).await?;
    let flowstore: Arc<dyn Target> = Arc::new(
        StoreTarget::new(Arc::clone(&store), &workload)
            .map_err(|err| Failure::store("bench", &err))?,
    );
    let (raw, raw_description) = if args.compare_raw {
        let baseline = baselines::open(url, store.namespace(), &workload).await?;
        (Some(baseline.target), Some(baseline.description))
    } else {
        (None, None)
    };

    eprintln!(
        "flowstore bench: {} on {scheme}:// (namespace {:?}), {} tasks, {}-byte values, {} keys, {}, {runs} run(s){}",
        workload.op.as_str(),
        store.namespace().as_str(),
        workload.concurrency,
        workload.value_size,
        workload.keys,
        describe_limit(limit),
        if raw.is_some() {
            ", interleaved with the raw baseline"
        } else {
            ""
        },
    );
    if let Some(description) = raw_description {
        eprintln!("raw baseline: {description}");
    }
    eprintln!("writing {} keys first…", workload.keys);
    workload::populate(Arc::clone(&flowstore), &workload).await?;

    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    for round in 0..runs {
        let number = round + 1;
        // Alternate who goes first, so neither always runs on a warmer file.
        let raw_first = round % 2 == 1;
        if let (Some(raw), true) = (&raw, raw_first) {
            theirs.push(run_one(raw, &workload, &format!("run {number}/{runs} raw")).await?);
        }
        ours.push(
            run_one(
                &flowstore,
                &workload,
                &format!("run {number}/{runs} flowstore"),
            )
            .await?,
        );
        if let (Some(raw), false) = (&raw, raw_first) {
            theirs.push(run_one(raw, &workload, &format!("run {number}/{runs} raw")).await?);
        }
    }
    drop(flowstore);
    drop(store);

    let ratios: Vec<f64> = ours
        .iter()
        .zip(&theirs)
        .map(|(ours, theirs)| ours.ops_per_sec() / theirs.ops_per_sec().max(1e-9))
        .collect();
    if args.json {
        print_json(
            &workload,
            &scheme,
            runs,
            &ours,
            (&theirs, raw_description),
            &ratios,
        );
    } else {
        print_table(&ours, &theirs, &ratios);
    }
    Ok(Outcome::Done)
}

async fn run_one(
    target: &Arc<dyn Target>,
    workload: &Workload,
    label: &str,
) -> Result<RunResult, Failure> {
    let result = workload::run(Arc::clone(target), workload, label).await?;
    let cpu = result
        .cpu_us_per_op()
        .map_or_else(String::new, |cpu| format!(", {cpu:.2} µs CPU/op"));
    eprintln!(
        "  {label}: {} ops in {:.2} s, {:.0} ops/s{cpu}",
        result.ops(),
        result.elapsed.as_secs_f64(),
        result.ops_per_sec()
    );
    Ok(result)
}

fn describe_limit(limit: Limit) -> String {
    match limit {
        Limit::Ops(ops) => format!("{ops} ops per run"),
        Limit::Duration(duration) => format!("{} ms per run", duration.as_millis()),
    }
}

fn print_table(ours: &[RunResult], theirs: &[RunResult], ratios: &[f64]) {
    println!("{}", Summary::header());
    for (index, run) in ours.iter().enumerate() {
        let number = (index + 1).to_string();
        println!("{}", run.summary().row(&number, "flowstore"));
        if let Some(raw) = theirs.get(index) {
            println!("{}", raw.summary().row(&number, "raw"));
        }
    }
    if ours.len() > 1 {
        println!("{}", combine(ours).row("all", "flowstore"));
        if !theirs.is_empty() {
            println!("{}", combine(theirs).row("all", "raw"));
        }
    }
    if !ratios.is_empty() {
        let list: Vec<String> = ratios.iter().map(|ratio| format!("{ratio:.2}")).collect();
        println!(
            "flowstore / raw ops/s: median {:.2}x (per run: {})",
            median(ratios),
            list.join(", ")
        );
    }
}

fn print_json(
    workload: &Workload,
    scheme: &str,
    runs: u32,
    ours: &[RunResult],
    (theirs, raw_description): (&[RunResult], Option<&str>),
    ratios: &[f64],
) {
    let summary = combine(ours);
    let mut object = json!({
        "store": format!("{scheme}://"),
        "op": workload.op.as_str(),
        "concurrency": workload.concurrency,
        "value_size": workload.value_size,
        "keys": workload.keys,
        "runs": runs,
        "ops_per_sec": round(summary.ops_per_sec, 1),
        "p50_us": round(summary.p50_us, 1),
        "p99_us": round(summary.p99_us, 1),
        "p999_us": round(summary.p999_us, 1),
        "max_us": round(summary.max_us, 1),
        "cpu_us_per_op": summary.cpu_us_per_op.map(|cpu| round(cpu, 2)),
        "total_ops": ours.iter().map(RunResult::ops).sum::<u64>(),
        "per_run": ours.iter().map(|run| run.summary().to_json()).collect::<Vec<_>>(),
    });
    match workload.limit {
        Limit::Ops(ops) => object["ops"] = json!(ops),
        Limit::Duration(duration) => object["duration_ms"] = json!(duration_ms(duration)),
    }
    if !theirs.is_empty() {
        let raw = combine(theirs);
        object["raw_baseline"] = json!(raw_description);
        object["raw_ops_per_sec"] = json!(round(raw.ops_per_sec, 1));
        object["raw_p50_us"] = json!(round(raw.p50_us, 1));
        object["raw_p99_us"] = json!(round(raw.p99_us, 1));
        object["raw_p999_us"] = json!(round(raw.p999_us, 1));
        object["raw_cpu_us_per_op"] = json!(raw.cpu_us_per_op.map(|cpu| round(cpu, 2)));
        object["raw_per_run"] = json!(
            theirs
                .iter()
                .map(|run| run.summary().to_json())
                .collect::<Vec<_>>()
        );
        object["ratio"] = json!(round(median(ratios), 3));
        object["ratios"] = json!(ratios.iter().map(|r| round(*r, 3)).collect::<Vec<_>>());
    }
    println!("{object}");
}

fn duration_ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
