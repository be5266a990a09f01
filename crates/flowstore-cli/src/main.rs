#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

mod bench;
mod cli;
mod commands;
mod failure;
mod serve;
mod stack;

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use flowstore::{Namespace, OpenOptions, Store};

use cli::{Cli, Command};
use commands::Outcome;
use failure::Failure;

fn main() -> ExitCode {
    // Usage errors exit with 2, `--help` and `--version` with 0 (clap's rules).
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => return fail(&Failure::io("cannot start the async runtime", &err)),
    };
    let outcome = runtime.block_on(run(cli));
    // Let the store's background work (e.g. SQLite's writer) wind down first.
    drop(runtime);
    match outcome {
        Ok(Outcome::Done) => ExitCode::SUCCESS,
        Ok(Outcome::Absent) => ExitCode::from(1),
        Err(failure) => fail(&failure),
    }
}

fn fail(failure: &Failure) -> ExitCode {
    eprintln!("flowstore: {failure}");
    ExitCode::from(2)
}

async fn run(cli: Cli) -> Result<Outcome, Failure> {
    let namespace = cli
        .namespace
        .as_deref()
        .map(|ns| Namespace::new(ns).map_err(|err| Failure::store("--namespace", &err)))
        .transpose()?;
    // The server also reports the store's operations at /metrics.
    stack::configure(&cli, matches!(cli.command, Command::Serve(_)))?;
    match cli.command {
        Command::Get { key } => {
            let key = commands::parse_key(&key)?;
            let store = open_store(&cli.store, namespace).await?;
            commands::get(&store, &key).await
        }
        Command::Set { key, value, ttl } => {
            let key = commands::parse_key(&key)?;
            let ttl = commands::parse_ttl(ttl.as_deref())?;
            let store = open_store(&cli.store, namespace).await?;
            commands::set(&store, &key, value, ttl).await
        }
        Command::Delete { key } => {
            let key = commands::parse_key(&key)?;
            let store = open_store(&cli.store, namespace).await?;
            commands::delete(&store, &key).await
        }
        Command::Clear { yes } => {
            commands::clear_precheck(yes)?;
            let store = open_store(&cli.store, namespace).await?;
            commands::clear(&store, yes).await
        }
        Command::Bench(args) => bench::run(&cli.store, namespace, args).await,
        Command::Serve(args) => serve::run(&cli.store, namespace, args).await,
    }
}

/// Opens the store with the wrappers of the global options (`--encrypt-key-env`,
/// `--compress`, `--retry`, `--fallback`; see [`stack`]); an explicit
/// `--namespace` beats the URL's `namespace` parameter. The URL is never
/// printed: it may hold a password.
pub(crate) async fn open_store(
    url: &str,
    namespace: Option<Namespace>,
) -> Result<Arc<dyn Store>, Failure> {
    let mut options = OpenOptions::new();
    if let Some(namespace) = namespace {
        options = options.namespace(namespace);
    }
    flowstore::open_stack(url, &options, &stack::current())
        .await
        .map_err(|err| Failure::store("cannot open the store", &err))
}
