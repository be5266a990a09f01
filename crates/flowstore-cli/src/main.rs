//! The `flowstore` command; everything it does is in the crate's library
//! (`flowstore_cli::main`), so the benchmark harness can be shared.
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

fn main() -> std::process::ExitCode {
    flowstore_cli::main()
}
