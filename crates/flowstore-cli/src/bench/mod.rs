//! The benchmark harness: throughput and latency of `set` or `get` on a store,
//! optionally interleaved with a baseline target.
//!
//! `flowstore bench` runs it on any store URL (with the wrapper options);
//! the unpublished `flowstore-bench` crate runs it with a raw-client baseline
//! per backend. Not a stable API.
//!
//! - [`BenchArgs`]: the workload options both commands take;
//! - [`Workload`], [`Target`]: what a run does, and what it runs against;
//! - [`run`]: the keys written first, the runs, the report (text or JSON);
//! - inside: the runner (N tasks, a shared op counter), HDR histograms, and
//!   the process's CPU time per operation (Linux).

mod args;
pub(crate) mod command;
mod cpu;
mod report;
mod session;
mod url;
mod workload;

pub use args::{BenchArgs, Op};
pub use session::{Baseline, Plan, run};
pub use url::{BENCH_NAMESPACE, namespace_for, scheme_of};
pub use workload::{Limit, StoreTarget, Target, Workload, stamped};
