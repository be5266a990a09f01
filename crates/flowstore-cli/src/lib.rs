#![doc = include_str!("../README.md")]
//!
//! # The library
//!
//! This crate's library holds the `flowstore` command ([`main`]) and the
//! benchmark harness behind `flowstore bench` ([`bench`](mod@bench)), which the
//! workspace's unpublished `flowstore-bench` crate reuses for its raw-client
//! baselines. It is **not a stable API**: depend on the `flowstore` crate to
//! use flowstore from Rust.
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

pub mod bench;
mod cli;
mod commands;
mod copy;
mod failure;
mod flows;
mod list;
mod pretty_json;
mod read;
mod serve;
mod stack;
mod transfer;
mod versions;

use std::process::ExitCode;

use clap::Parser;
use cli::{Cli, Command, FlowsCommand};
use commands::Outcome;
pub use failure::Failure;
use stack::open_store;

/// The `flowstore` command: parses the command line, runs the command and
/// returns its exit status (0 success, 1 `get`/`stat`/`flows show` found nothing, 2 any
/// error, 3 a failed condition, with one line on stderr).
pub fn main() -> ExitCode {
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
    ExitCode::from(failure.exit_code())
}

async fn run(cli: Cli) -> Result<Outcome, Failure> {
    if let Command::Copy(args) = cli.command {
        // Each side of a copy has its own options; a global one would be ambiguous.
        if cli.options.any() {
            return Err(Failure::new(
                "copy: give the namespace and wrapper options of each side as --from-… and --to-… \
                 (e.g. --from-encrypt-key-env), not --namespace/--encrypt-key-env/…",
            ));
        }
        return copy::command(*args).await;
    }
    let namespace = cli.options.namespace()?;
    // Built before any store is opened, so a bad key variable fails first. The
    // server also reports the store's operations at /metrics.
    let stack = cli
        .options
        .stack(matches!(cli.command, Command::Serve(_)))?;
    match cli.command {
        Command::Get { key } => {
            let key = commands::parse_key(&key)?;
            let store = open_store(&cli.store, namespace, &stack).await?;
            commands::get(&store, &key).await
        }
        Command::Set {
            key,
            value,
            ttl,
            condition,
        } => {
            let key = commands::parse_key(&key)?;
            let ttl = commands::parse_ttl(ttl.as_deref())?;
            let condition = versions::parse_condition(&condition)?;
            let store = open_store(&cli.store, namespace, &stack).await?;
            match condition {
                Some(condition) => versions::set_if(&store, &key, value, ttl, &condition).await,
                None => commands::set(&store, &key, value, ttl).await,
            }
        }
        Command::Delete {
            prefix: Some(prefix),
            yes,
            all,
            ..
        } => {
            list::check_delete_all(&prefix, all)?;
            let prefix = list::parse_prefix("--prefix", prefix)?;
            commands::confirm_precheck("delete --prefix", yes)?;
            let store = open_store(&cli.store, namespace, &stack).await?;
            list::delete_prefix(&store, &prefix, yes).await
        }
        Command::Delete {
            key,
            if_version,
            all,
            ..
        } => {
            // clap's `requires` lets `delete KEY --all` through; it must not
            // look like it deleted everything.
            if all {
                return Err(Failure::new(
                    "delete --all goes only with an empty --prefix \"\"; nothing was deleted",
                ));
            }
            // clap requires KEY when --prefix is absent.
            let key = commands::parse_key(&key.unwrap_or_default())?;
            let expected = versions::parse_version("--if-version", if_version.as_deref())?;
            let store = open_store(&cli.store, namespace, &stack).await?;
            match expected {
                Some(expected) => versions::delete_if(&store, &key, &expected).await,
                None => commands::delete(&store, &key).await,
            }
        }
        Command::Stat { key, json } => {
            let key = commands::parse_key(&key)?;
            let store = open_store(&cli.store, namespace, &stack).await?;
            versions::stat(&store, &key, json).await
        }
        Command::List(args) => {
            let prefix = list::parse_prefix("PREFIX", args.prefix.clone())?;
            let store = open_store(&cli.store, namespace, &stack).await?;
            list::list(&store, &prefix, list::Format::of(&args)).await
        }
        Command::Export(args) => {
            let prefix = list::parse_prefix("--prefix", args.prefix.clone())?;
            let store = open_store(&cli.store, namespace, &stack).await?;
            transfer::export_command(&store, &prefix, args.output.as_deref()).await
        }
        Command::Import(args) => {
            let store = open_store(&cli.store, namespace, &stack).await?;
            transfer::import_command(&store, args.file.as_deref(), args.if_absent).await
        }
        Command::Flows(FlowsCommand::List(args)) => {
            let layout = flows::layout(&args.layout.prefix)?;
            let store = open_store(&cli.store, namespace, &stack).await?;
            let format = if args.json {
                flows::Format::Json
            } else {
                flows::Format::Text
            };
            flows::list(&store, &layout, &args.flow_id, format).await
        }
        Command::Flows(FlowsCommand::Show(args)) => {
            let layout = flows::layout(&args.layout.prefix)?;
            let flow = flowstore_flow::FlowRef::new(args.flow_id)
                .variant(args.variant)
                .instance(args.instance);
            let store = open_store(&cli.store, namespace, &stack).await?;
            flows::show(&store, &layout, &flow).await
        }
        Command::Copy(_) => unreachable!("copy returned above"),
        Command::Clear { yes } => {
            commands::confirm_precheck("clear", yes)?;
            let store = open_store(&cli.store, namespace, &stack).await?;
            commands::clear(&store, yes).await
        }
        Command::AcknowledgeDataLoss => {
            let store = open_store(&cli.store, namespace, &stack).await?;
            commands::acknowledge_data_loss(&store).await
        }
        Command::Bench(args) => bench::command::run(&cli.store, namespace, &stack, args).await,
        Command::Serve(args) => serve::run(&cli.store, namespace, &stack, args).await,
    }
}
