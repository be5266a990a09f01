//! The workload options shared by `flowstore bench` and `flowstore-bench
//! compare-raw`, and the [`Workload`] they describe.

use clap::{Args, ValueEnum};
use flowstore::parse_duration;

use super::workload::{Limit, Workload};
use crate::failure::Failure;

/// Operations per run when neither `--ops` nor `--duration` is given.
const DEFAULT_OPS: u64 = 10_000;

/// What every run does: the operation, tasks, values, keys, how long, and how
/// the report is printed.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// The operation to measure.
    #[arg(long, value_enum, default_value_t = Op::Set)]
    pub op: Op,

    /// Tasks issuing operations at once.
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub concurrency: u32,

    /// Size of each value, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 1024)]
    pub value_size: usize,

    /// Operations per run, in total across tasks [default: 10000].
    #[arg(long, value_name = "N", conflicts_with = "duration",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub ops: Option<u64>,

    /// Run for this long instead of a number of operations: 500ms, 10s, 1m.
    #[arg(long, value_name = "DURATION")]
    pub duration: Option<String>,

    /// Distinct keys the workload cycles through (all written first for `get`).
    #[arg(long, value_name = "N", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub keys: u64,

    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,

    /// First run the workload against a target that does nothing, and print
    /// what the harness alone reaches on this machine: a store measured near
    /// that rate is limited by the client machine, not by the store.
    #[arg(long)]
    pub calibrate: bool,
}

impl BenchArgs {
    /// The workload these options describe; a bad or zero `--duration` is an error.
    pub fn workload(&self) -> Result<Workload, Failure> {
        let limit = match (&self.duration, self.ops) {
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
        Ok(Workload {
            op: self.op,
            concurrency: self.concurrency,
            value_size: self.value_size,
            keys: self.keys,
            limit,
        })
    }
}

/// The operation a benchmark measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Op {
    /// Write a value (replacing the key's earlier one).
    Set,
    /// Read a value written before the run.
    Get,
    /// Write a value only if the key is still at the entry version last seen
    /// for it (a compare-and-set; on a conflict with another writer, learn the
    /// current version and try again). Needs a store with entry versions.
    SetIf,
}

impl Op {
    /// `set`, `get` or `set-if`, as in the options and the JSON report.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Set => "set",
            Op::Get => "get",
            Op::SetIf => "set-if",
        }
    }
}
