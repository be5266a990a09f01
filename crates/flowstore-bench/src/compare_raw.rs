//! `flowstore-bench compare-raw`: the harness of `flowstore bench` with the
//! backend's raw baseline interleaved (see [`crate::baselines`]).

use clap::Args;
use flowstore::{Namespace, OpenOptions};
use flowstore_cli::Failure;
use flowstore_cli::bench::{self, BenchArgs, Op, Plan};

use crate::baselines;

/// Options of `flowstore-bench compare-raw`.
#[derive(Debug, Args)]
pub(crate) struct CompareRawArgs {
    /// The store: sqlite://relative/path.db, sqlite:///absolute/path.db,
    /// postgres://…, redis://… (single node) or http://… (a `flowstore serve`).
    #[arg(long, value_name = "URL")]
    store: String,

    /// The namespace [default: the URL's ?namespace=, else `flowstore-bench`;
    /// over HTTP the server's].
    #[arg(long, value_name = "NS")]
    namespace: Option<String>,

    #[command(flatten)]
    bench: BenchArgs,

    /// Rounds of one flowstore run and one raw run, interleaved.
    #[arg(long, value_name = "R", default_value_t = 3,
          value_parser = clap::value_parser!(u32).range(1..=100))]
    runs: u32,
}

pub(crate) async fn run(args: CompareRawArgs) -> Result<(), Failure> {
    if args.bench.op == Op::SetIf {
        return Err(Failure::new(
            "compare-raw: the raw baselines have no conditional write; `flowstore-bench conditional` compares set-if with a plain set",
        ));
    }
    let plan = Plan {
        workload: args.bench.workload()?,
        runs: args.runs,
        json: args.bench.json,
        calibrate: args.bench.calibrate,
    };
    let url = &args.store;
    let explicit = args
        .namespace
        .as_deref()
        .map(|ns| Namespace::new(ns).map_err(|err| Failure::store("--namespace", &err)))
        .transpose()?;
    let scheme = bench::scheme_of(url)?;
    // Refused before anything is opened or written.
    baselines::check_scheme(url)?;
    let mut options = OpenOptions::new();
    if let Some(namespace) = bench::namespace_for(url, explicit)? {
        options = options.namespace(namespace);
    }
    // The store alone, no wrappers: the baselines compare the backends.
    let store = flowstore::open_with(url, &options)
        .await
        .map_err(|err| Failure::store("cannot open the store", &err))?;
    // Opened after the store, which creates its schema, on the same data.
    let baseline = baselines::open(url, store.namespace(), &plan.workload).await?;
    bench::run(store, &scheme, &plan, Some(baseline)).await
}
