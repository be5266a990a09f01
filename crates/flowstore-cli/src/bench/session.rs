//! One benchmark from start to end: the keys written first, the runs (the
//! store's, interleaved with a baseline's when there is one), the report.

use std::sync::Arc;

use flowstore::Store;

use super::report::{RunResult, print_json, print_table};
use super::workload::{self, Limit, StoreTarget, Target, Workload};
use crate::failure::Failure;

/// What to run and how to report it.
#[derive(Debug, Clone)]
pub struct Plan {
    /// What every run does.
    pub workload: Workload,
    /// Runs of the store (and as many of the baseline, interleaved).
    pub runs: u32,
    /// One JSON object on stdout instead of a table.
    pub json: bool,
    /// Run the workload against a target that does nothing first, and report
    /// the harness's own rate and CPU cost on stderr.
    pub calibrate: bool,
}

/// Another target the same workload runs against, to compare the store with:
/// e.g. the backend's client library used directly (`flowstore-bench`).
pub struct Baseline {
    /// The baseline itself.
    pub target: Arc<dyn Target>,
    /// What it is, in one line, for the report.
    pub description: &'static str,
    /// Its name in the report's rows and ratio line (at most 9 characters):
    /// `raw` for a client library used directly.
    pub label: &'static str,
}

impl std::fmt::Debug for Baseline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Baseline")
            .field("description", &self.description)
            .field("label", &self.label)
            .finish_non_exhaustive()
    }
}

/// Runs `plan` against `store` (whose URL has scheme `scheme`) and prints the
/// report on stdout, progress on stderr.
///
/// Every key of the workload is written once first, through the store, so
/// `get` finds them and every measured `set` replaces an existing entry (the
/// steady state of a session store). With a `baseline`, store and baseline runs
/// alternate (F R, R F, F R, …) so neither always runs on a warmer file, cache
/// or connection, and the ratio reported is the median of the per-round ratios.
pub async fn run(
    store: Arc<dyn Store>,
    scheme: &str,
    plan: &Plan,
    baseline: Option<Baseline>,
) -> Result<(), Failure> {
    let (workload, runs) = (&plan.workload, plan.runs);
    let flowstore: Arc<dyn Target> = Arc::new(
        StoreTarget::new(Arc::clone(&store), workload)
            .map_err(|err| Failure::store("bench", &err))?,
    );
    let (raw, raw_description, raw_label) = match baseline {
        Some(baseline) => (
            Some(baseline.target),
            Some(baseline.description),
            baseline.label,
        ),
        None => (None, None, "raw"),
    };

    eprintln!(
        "flowstore bench: {} on {scheme}:// (namespace {:?}), {} tasks, {}-byte values, {} keys, {}, {runs} run(s){}",
        workload.op.as_str(),
        store.namespace().as_str(),
        workload.concurrency,
        workload.value_size,
        workload.keys,
        describe_limit(workload.limit),
        if raw.is_some() {
            ", interleaved with the baseline"
        } else {
            ""
        },
    );
    if let Some(description) = raw_description {
        eprintln!("baseline ({raw_label}): {description}");
    }
    if plan.calibrate {
        calibrate(workload).await?;
    }
    eprintln!("writing {} keys first…", workload.keys);
    workload::populate(Arc::clone(&flowstore), workload).await?;

    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    for round in 0..runs {
        let number = round + 1;
        // Alternate who goes first, so neither always runs on a warmer file.
        let raw_first = round % 2 == 1;
        if let (Some(raw), true) = (&raw, raw_first) {
            theirs.push(run_one(raw, workload, &format!("run {number}/{runs} {raw_label}")).await?);
        }
        ours.push(
            run_one(
                &flowstore,
                workload,
                &format!("run {number}/{runs} flowstore"),
            )
            .await?,
        );
        if let (Some(raw), false) = (&raw, raw_first) {
            theirs.push(run_one(raw, workload, &format!("run {number}/{runs} {raw_label}")).await?);
        }
    }
    drop(flowstore);
    drop(store);

    let ratios: Vec<f64> = ours
        .iter()
        .zip(&theirs)
        .map(|(ours, theirs)| ours.ops_per_sec() / theirs.ops_per_sec().max(1e-9))
        .collect();
    if plan.json {
        print_json(workload, scheme, &ours, (&theirs, raw_description), &ratios);
    } else {
        print_table(&ours, (&theirs, raw_label), &ratios);
    }
    Ok(())
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

/// A target that answers at once: what is left of a run is the harness.
struct Noop;

#[flowstore::async_trait]
impl Target for Noop {
    async fn set(&self, _key: usize, _stamp: u64) -> Result<(), flowstore::Error> {
        Ok(())
    }

    async fn get(&self, _key: usize) -> Result<bool, flowstore::Error> {
        Ok(true)
    }

    async fn set_if(&self, _key: usize, _stamp: u64) -> Result<(), flowstore::Error> {
        Ok(())
    }
}

/// Runs `workload` against [`Noop`] and prints the harness's own figures.
async fn calibrate(workload: &Workload) -> Result<(), Failure> {
    let noop: Arc<dyn Target> = Arc::new(Noop);
    let result = workload::run(noop, workload, "calibration").await?;
    let cpu = result
        .cpu_us_per_op()
        .map_or_else(String::new, |cpu| format!(", {cpu:.2} µs CPU/op"));
    eprintln!(
        "calibration: the harness alone (a target that does nothing) reaches {:.0} ops/s{cpu}, p50 {:.2} µs; a store measured near this rate is limited by this machine, not by the store",
        result.ops_per_sec(),
        result.summary().p50_us,
    );
    Ok(())
}

fn describe_limit(limit: Limit) -> String {
    match limit {
        Limit::Ops(ops) => format!("{ops} ops per run"),
        Limit::Duration(duration) => format!("{} ms per run", duration.as_millis()),
    }
}
