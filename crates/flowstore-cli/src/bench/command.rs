//! `flowstore bench`: the harness on the store the global options name,
//! wrappers included, with no baseline.

use flowstore::{Namespace, StackOptions};

use super::session::{self, Plan};
use super::url::{namespace_for, scheme_of};
use crate::cli::BenchCommandArgs;
use crate::commands::Outcome;
use crate::failure::Failure;

pub(crate) async fn run(
    url: &str,
    namespace: Option<Namespace>,
    stack: &StackOptions,
    args: BenchCommandArgs,
) -> Result<Outcome, Failure> {
    let plan = Plan {
        workload: args.bench.workload()?,
        runs: args.runs.unwrap_or(1),
        json: args.bench.json,
        calibrate: args.bench.calibrate,
    };
    let scheme = scheme_of(url)?;
    let namespace = namespace_for(url, namespace)?;
    let store = crate::open_store(url, namespace, stack).await?;
    session::run(store, &scheme, &plan, None).await?;
    Ok(Outcome::Done)
}
