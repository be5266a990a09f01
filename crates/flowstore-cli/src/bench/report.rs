//! Latency histograms, per-run figures and how they are printed.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::{Value, json};

use super::workload::{Limit, Workload};

/// A histogram of latencies in nanoseconds, 1 ns to 1 h, 3 significant digits.
pub(crate) fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000_000, 3)
        .expect("the histogram bounds are valid constants")
}

/// What one run measured.
#[derive(Debug, Clone)]
pub(crate) struct RunResult {
    pub(crate) histogram: Histogram<u64>,
    pub(crate) elapsed: Duration,
    /// CPU time the whole process used during the run, if it could be read.
    pub(crate) cpu: Option<Duration>,
}

impl RunResult {
    pub(crate) fn new(histogram: Histogram<u64>, elapsed: Duration, cpu: Option<Duration>) -> Self {
        RunResult {
            histogram,
            elapsed,
            cpu,
        }
    }

    pub(crate) fn ops(&self) -> u64 {
        self.histogram.len()
    }

    pub(crate) fn ops_per_sec(&self) -> f64 {
        self.ops() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Microseconds of process CPU time per operation, if it could be read.
    pub(crate) fn cpu_us_per_op(&self) -> Option<f64> {
        cpu_per_op(self.cpu, self.ops())
    }

    pub(crate) fn summary(&self) -> Summary {
        Summary::new(self.ops_per_sec(), &self.histogram, self.cpu_us_per_op())
    }
}

/// Microseconds of process CPU time per operation.
fn cpu_per_op(cpu: Option<Duration>, ops: u64) -> Option<f64> {
    cpu.filter(|_| ops > 0)
        .map(|cpu| cpu.as_secs_f64() * 1e6 / ops as f64)
}

/// Throughput and latency percentiles, in the units the report prints.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Summary {
    pub(crate) ops_per_sec: f64,
    pub(crate) p50_us: f64,
    pub(crate) p99_us: f64,
    pub(crate) p999_us: f64,
    pub(crate) max_us: f64,
    /// The client process's CPU time per operation (user + system, every thread).
    pub(crate) cpu_us_per_op: Option<f64>,
}

impl Summary {
    pub(crate) fn new(
        ops_per_sec: f64,
        histogram: &Histogram<u64>,
        cpu_us_per_op: Option<f64>,
    ) -> Self {
        let us = |nanos: u64| nanos as f64 / 1000.0;
        Summary {
            ops_per_sec,
            p50_us: us(histogram.value_at_quantile(0.50)),
            p99_us: us(histogram.value_at_quantile(0.99)),
            p999_us: us(histogram.value_at_quantile(0.999)),
            max_us: us(histogram.max()),
            cpu_us_per_op,
        }
    }

    pub(crate) fn to_json(self) -> Value {
        json!({
            "ops_per_sec": round(self.ops_per_sec, 1),
            "p50_us": round(self.p50_us, 1),
            "p99_us": round(self.p99_us, 1),
            "p999_us": round(self.p999_us, 1),
            "max_us": round(self.max_us, 1),
            "cpu_us_per_op": self.cpu_us_per_op.map(|cpu| round(cpu, 2)),
        })
    }

    /// One row of the text table.
    pub(crate) fn row(&self, run: &str, target: &str) -> String {
        format!(
            "{run:>4}  {target:<9}  {:>11.0}  {:>9.1}  {:>9.1}  {:>10.1}  {:>10}",
            self.ops_per_sec,
            self.p50_us,
            self.p99_us,
            self.p999_us,
            self.cpu_us_per_op
                .map_or_else(|| "-".to_string(), |cpu| format!("{cpu:.2}"))
        )
    }

    pub(crate) fn header() -> String {
        format!(
            "{:>4}  {:<9}  {:>11}  {:>9}  {:>9}  {:>10}  {:>10}",
            "run", "target", "ops/s", "p50 µs", "p99 µs", "p99.9 µs", "cpu µs/op"
        )
    }
}

/// Figures over all runs of one target: the median throughput, and percentiles
/// of every operation of every run together.
pub(crate) fn combine(runs: &[RunResult]) -> Summary {
    let mut histogram = new_histogram();
    for run in runs {
        histogram
            .add(&run.histogram)
            .expect("histograms with the same bounds always merge");
    }
    let rates: Vec<f64> = runs.iter().map(RunResult::ops_per_sec).collect();
    let cpu: Option<Duration> = runs.iter().map(|run| run.cpu).sum();
    let ops = runs.iter().map(RunResult::ops).sum();
    Summary::new(median(&rates), &histogram, cpu_per_op(cpu, ops))
}

/// The median (the mean of the middle two for an even count); 0 for none.
pub(crate) fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

pub(crate) fn round(value: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (value * scale).round() / scale
}

/// The text report: one row per run and target, the figures over all runs,
/// and the ratio to the baseline when there is one.
pub(crate) fn print_table(
    ours: &[RunResult],
    (theirs, label): (&[RunResult], &str),
    ratios: &[f64],
) {
    println!("{}", Summary::header());
    for (index, run) in ours.iter().enumerate() {
        let number = (index + 1).to_string();
        println!("{}", run.summary().row(&number, "flowstore"));
        if let Some(raw) = theirs.get(index) {
            println!("{}", raw.summary().row(&number, label));
        }
    }
    if ours.len() > 1 {
        println!("{}", combine(ours).row("all", "flowstore"));
        if !theirs.is_empty() {
            println!("{}", combine(theirs).row("all", label));
        }
    }
    if !ratios.is_empty() {
        let list: Vec<String> = ratios.iter().map(|ratio| format!("{ratio:.2}")).collect();
        println!(
            "flowstore / {label} ops/s: median {:.2}x (per run: {})",
            median(ratios),
            list.join(", ")
        );
    }
}

/// The JSON report: one object on one line (fields in docs/benchmarks.md).
pub(crate) fn print_json(
    workload: &Workload,
    scheme: &str,
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
        "runs": ours.len(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(&[]), 0.0);
    }

    #[test]
    fn percentiles_are_in_microseconds() {
        let mut histogram = new_histogram();
        for micros in 1..=1000u64 {
            histogram.record(micros * 1000).unwrap();
        }
        let summary = Summary::new(1.0, &histogram, None);
        assert!((summary.p50_us - 500.0).abs() < 1.0, "{}", summary.p50_us);
        assert!((summary.p99_us - 990.0).abs() < 1.0, "{}", summary.p99_us);
    }
}
