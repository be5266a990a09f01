#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

mod baselines;
mod batch;
mod compare_raw;
mod encrypt_compress;
mod versions;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use flowstore_cli::Failure;

/// flowstore's benchmarks against the plain use of each backend's client
/// library, and of the encrypt + compress wrappers against direct calls.
///
/// Exit status: 0 on success, 2 on any error (one line on stderr).
#[derive(Debug, Parser)]
#[command(name = "flowstore-bench", max_term_width = 100)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a workload through flowstore and, interleaved, directly through the
    /// backend's client library (sqlite: rusqlite, postgres: deadpool-postgres,
    /// redis: fred, http: a minimal axum server), and print the ratio.
    CompareRaw(compare_raw::CompareRawArgs),
    /// Time a set + get of a 1 KiB JSON value through the compress and encrypt
    /// wrappers against the same lz4_flex and aes-gcm calls made directly.
    EncryptCompress(encrypt_compress::EncryptCompressArgs),
    /// A conditional set (compare-and-set from the version last written)
    /// against a plain set of the same store, interleaved, on distinct keys.
    Conditional(versions::ConditionalArgs),
    /// Tasks incrementing one counter by read-modify-write with conditional
    /// writes: increments per second, and the final count checked exact.
    Counter(versions::CounterArgs),
    /// A batch read of N keys against N sequential gets of the same keys,
    /// interleaved: the ratio of keys read per second.
    Batch(batch::BatchArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut builder = match cli.command {
        // One task timing calls that never wait: no worker threads to hand off to.
        Command::EncryptCompress(_) => tokio::runtime::Builder::new_current_thread(),
        Command::CompareRaw(_)
        | Command::Conditional(_)
        | Command::Counter(_)
        | Command::Batch(_) => tokio::runtime::Builder::new_multi_thread(),
    };
    let runtime = match builder.enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => return fail(&Failure::io("cannot start the async runtime", &err)),
    };
    let outcome = runtime.block_on(async {
        match cli.command {
            Command::CompareRaw(args) => compare_raw::run(args).await,
            Command::EncryptCompress(args) => encrypt_compress::run(&args).await,
            Command::Conditional(args) => versions::conditional(args).await,
            Command::Batch(args) => batch::run(args).await,
            Command::Counter(args) => versions::counter(args).await,
        }
    });
    // Let the store's background work (e.g. SQLite's writer) wind down first.
    drop(runtime);
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => fail(&failure),
    }
}

fn fail(failure: &Failure) -> ExitCode {
    eprintln!("flowstore-bench: {failure}");
    ExitCode::from(2)
}
