//! flowstore's CI and maintenance tasks. Run `cargo xtask help`.
//!
//! - `cargo xtask ci [--keep-going] [STEP...]`: everything CI runs (see [`ci`]), or
//!   only the named steps.
//! - `cargo xtask servers`: start throwaway PostgreSQL/Redis servers, print their
//!   `export` lines, wait for Ctrl-C.
//! - `cargo xtask bench [BACKEND...] [--ops N] [--runs N]`: the documented benchmark
//!   comparisons through `flowstore-bench compare-raw`; `cargo xtask bench versions
//!   [--runs N]`: what entry versions cost (`conditional` and `counter`);
//!   `cargo xtask bench batch [--runs N]`: a batch get of 100 keys against 100
//!   sequential gets.
//! - `cargo xtask faults [--full]`: the fault tests of issue 15 §3 on their own
//!   (see [`faults`]); `--full` at full size.
//! - `cargo xtask browser`: the browser tests (see [`browser`]); `cargo xtask
//!   screenshots`: the web console's screenshots in `docs/`.
//! - `cargo xtask api-fuzz [--max-examples N] [--seed N]`: the OpenAPI document
//!   against a running `flowstore serve`, with Schemathesis (see [`api_fuzz`]).
//! - `cargo xtask fuzz [TARGET] [SECS]`: the libFuzzer targets of `fuzz/` (see
//!   [`fuzz`] and docs/fuzzing.md).
//!
//! This crate keeps to `std` and one std-only crate of the workspace,
//! `flowstore-test-servers` (`testing/servers`: the throwaway-server launcher, and
//! the `which`/`is_root`/`run` helpers): it is built first on every CI run. What
//! needs real libraries (the WebDriver check of the browser example app) lives in
//! the test crate `flowstore-browser-e2e` (`testing/browser-e2e`), which xtask runs.

mod api_fuzz;
mod bench;
mod bench_batch;
mod bench_versions;
mod browser;
mod ci;
mod faults;
mod fuzz;
mod mutants;
mod node;
mod test_run;
mod test_servers;
#[cfg(test)]
mod tidy;
mod util;

use std::process::ExitCode;

const HELP: &str = "\
usage: cargo xtask <command>

commands:
  ci [--keep-going] [STEP...]
                   run everything CI runs, in order, or only the named steps:
                   fmt clippy doc check wasm browser test package; stops at the
                   first failure unless --keep-going
  servers          start throwaway PostgreSQL and Redis servers (single, cluster,
                   sentinel), print `export FLOWSTORE_TEST_…_URL=…` lines, wait for Ctrl-C
  faults [--full]  the fault tests (history check, TCP fault proxy, concurrent
                   upserts, Redis Cluster resharding) with their output, one at a
                   time; --full at full size (figures in docs/faults.md)
  browser          the flowstore-browser wasm tests in headless Chromium, the
                   example app's reload check and the web console's checks
                   (installs what they need)
  screenshots      run the web console's browser check and write a PNG of each
                   console page into docs/ (commit them; CI does not write them)
  bench [BACKEND...] [--ops N] [--runs N]
                   run `flowstore-bench compare-raw` for the documented targets;
                   backends: sqlite postgres redis (default: all)
  bench versions [--runs N]
                   conditional against plain set on each backend at c=1 and 32,
                   and a 32-task read-modify-write counter on every backend
  bench batch [--runs N]
                   a batch get of 100 keys against 100 sequential gets on
                   PostgreSQL, Redis, Redis Cluster and flowstore serve
  mutants [--list] [--iterate] [--shard K/N] [--jobs N]
                   cargo-mutants over flowstore-memory and flowstore-core's key,
                   ttl, namespace, limits, error and url modules, tested by both
                   crates' tests; fails below 90% caught (hours: not part of ci)
  api-fuzz [--max-examples N] [--seed N]
                   drive the OpenAPI document against `flowstore serve` (memory
                   store, with a token; without and with --console) with
                   Schemathesis, every check on (installed with pip into
                   target/api-fuzz-venv); fails on any response the document
                   does not allow. Not part of `ci`
  fuzz [TARGET] [SECS]
                   run the libFuzzer targets of fuzz/ (or only TARGET) for SECS
                   seconds each (default 60), with cargo-fuzz on the stable
                   toolchain (--sanitizer none; installs cargo-fuzz when
                   missing); see docs/fuzzing.md
  help             this text

Server URLs are taken from FLOWSTORE_TEST_POSTGRES_URL, FLOWSTORE_TEST_REDIS_URL,
FLOWSTORE_TEST_REDIS_CLUSTER_URL and FLOWSTORE_TEST_REDIS_SENTINEL_URL when set;
otherwise xtask starts throwaway servers (installing redis-server/postgresql/openssl
with apt-get when missing and run as root) and stops them afterwards. A throwaway
PostgreSQL also speaks TLS: FLOWSTORE_TEST_POSTGRES_TLS_URL (verify-full against
its own CA) is set with it.
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (command, rest) = match args.split_first() {
        Some((command, rest)) => (command.as_str(), rest),
        None => ("help", &[][..]),
    };
    let result = match command {
        "ci" => ci::run(rest),
        "servers" => test_servers::serve(rest),
        "bench" => bench::run(rest),
        "faults" => faults::run(rest),
        "browser" => browser::run(),
        "screenshots" => browser::screenshots(),
        "mutants" => mutants::run(rest),
        "api-fuzz" => api_fuzz::run(rest),
        "fuzz" => fuzz::run(rest),
        "help" | "-h" | "--help" => {
            print!("{HELP}");
            Ok(())
        }
        other => Err(format!("unknown command `{other}`\n\n{HELP}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask {command}: error: {message}");
            ExitCode::FAILURE
        }
    }
}
