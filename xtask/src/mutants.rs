//! `cargo xtask mutants`: mutation testing of the shared conformance suite
//! (issue 15 §2). `cargo-mutants` breaks the memory store and the non-test
//! modules of `flowstore-core` one small change at a time (a `+` made `-`, a
//! function body replaced by `Default::default()`, …) and runs the tests of
//! both crates against each broken copy; a mutant the tests still pass is a
//! store bug the suite would not catch. Not part of `cargo xtask ci`: on this
//! two-core machine a full run takes hours (`docs/mutants.md` has the latest
//! figures and the command).
//!
//! The run fails when fewer than [`MIN_SCORE_PERCENT`] of the viable mutants
//! (those that build) are caught, naming the missed ones.

use std::fs;
use std::path::Path;

use crate::util::{self, cargo, target_dir, which};

/// The cargo-mutants release the figures in `docs/mutants.md` were made with.
const CARGO_MUTANTS_VERSION: &str = "27.1.0";

/// The code under test: the memory store, and the modules of `flowstore-core`
/// that every store relies on (its traits' provided methods are tested through
/// the stores that use them).
const MUTATED_FILES: &[&str] = &[
    "crates/flowstore-memory/src/**/*.rs",
    "crates/flowstore-core/src/key.rs",
    "crates/flowstore-core/src/ttl.rs",
    "crates/flowstore-core/src/namespace.rs",
    "crates/flowstore-core/src/limits.rs",
    "crates/flowstore-core/src/error.rs",
    "crates/flowstore-core/src/url.rs",
];

/// The share of viable mutants the tests must catch (issue 15 §2).
const MIN_SCORE_PERCENT: u64 = 90;

const USAGE: &str = "usage: cargo xtask mutants [--list] [--iterate] [--shard K/N] [--jobs N]";

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let mut list = false;
    let mut passthrough: Vec<String> = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--list" => list = true,
            // Test again only what the last run did not catch (after new tests).
            "--iterate" => passthrough.push(arg.clone()),
            "--shard" | "--jobs" => {
                let value = args
                    .next()
                    .ok_or_else(|| format!("{arg} needs a value\n{USAGE}"))?;
                passthrough.extend([arg.clone(), value.clone()]);
            }
            other => return Err(format!("unknown argument `{other}`\n{USAGE}")),
        }
    }
    ensure_cargo_mutants()?;

    let output = target_dir().join("mutants");
    let mut cmd = cargo();
    cmd.args(["mutants", "--no-shuffle"])
        .args(["-p", "flowstore-core", "-p", "flowstore-memory"])
        .args(["--test-package", "flowstore-core,flowstore-memory"]);
    for file in MUTATED_FILES {
        cmd.args(["-f", file]);
    }
    if list {
        cmd.arg("--list");
        return util::run(&mut cmd);
    }
    cmd.args(passthrough)
        .arg("--output")
        .arg(&output)
        // Builds of the mutated copies share one target directory of their
        // own, so dependencies are compiled once per machine, not per run,
        // and the workspace's `target/` is never touched by a broken build.
        .env("CARGO_TARGET_DIR", target_dir().join("mutants-build"));
    // cargo-mutants exits non-zero when any mutant is missed; the score below
    // is what decides.
    let status = cmd
        .status()
        .map_err(|e| format!("running cargo mutants: {e}"))?;
    // 2: some mutants missed, 3: some timed out; anything else but 0 means
    // no score was made (a failing baseline, bad arguments).
    if !matches!(status.code(), Some(0 | 2 | 3)) {
        return Err(format!("cargo mutants failed ({status})"));
    }
    let outcome = Outcome::read(&output.join("mutants.out"))?;
    eprintln!("{}", outcome.summary());
    if outcome.score_percent() < MIN_SCORE_PERCENT {
        return Err(format!(
            "{}% of viable mutants caught, below {MIN_SCORE_PERCENT}%; missed:\n{}",
            outcome.score_percent(),
            outcome.missed.join("\n")
        ));
    }
    Ok(())
}

fn ensure_cargo_mutants() -> Result<(), String> {
    if which("cargo-mutants").is_some() {
        return Ok(());
    }
    util::run(cargo().args([
        "install",
        "--locked",
        "cargo-mutants",
        "--version",
        &format!("={CARGO_MUTANTS_VERSION}"),
    ]))
}

/// What a run found, from cargo-mutants' `caught.txt`, `missed.txt`,
/// `timeout.txt` and `unviable.txt` (one mutant per line).
#[derive(Debug)]
struct Outcome {
    caught: usize,
    missed: Vec<String>,
    timeout: usize,
    unviable: usize,
}

impl Outcome {
    fn read(dir: &Path) -> Result<Outcome, String> {
        let lines = |name: &str| -> Result<Vec<String>, String> {
            let path = dir.join(name);
            match fs::read_to_string(&path) {
                Ok(text) => Ok(text.lines().map(str::to_owned).collect()),
                // A run of one shard may leave some lists unwritten.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
                Err(e) => Err(format!("reading {}: {e}", path.display())),
            }
        };
        Ok(Outcome {
            caught: lines("caught.txt")?.len(),
            missed: lines("missed.txt")?,
            timeout: lines("timeout.txt")?.len(),
            unviable: lines("unviable.txt")?.len(),
        })
    }

    /// Caught share of the viable mutants; a timeout counts as caught, as
    /// cargo-mutants counts it (a mutant that hangs the suite is detected).
    fn score_percent(&self) -> u64 {
        let viable = self.caught + self.timeout + self.missed.len();
        if viable == 0 {
            return 0;
        }
        ((self.caught + self.timeout) * 100 / viable) as u64
    }

    fn summary(&self) -> String {
        format!(
            "mutants: {} caught, {} missed, {} timed out, {} unviable: score {}%",
            self.caught,
            self.missed.len(),
            self.timeout,
            self.unviable,
            self.score_percent()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn score_counts_only_viable_mutants() {
        let outcome = Outcome {
            caught: 85,
            missed: vec!["a".into(); 10],
            timeout: 5,
            unviable: 40,
        };
        assert_eq!(outcome.score_percent(), 90);
        let nothing = Outcome {
            caught: 0,
            missed: Vec::new(),
            timeout: 0,
            unviable: 3,
        };
        assert_eq!(nothing.score_percent(), 0, "no viable mutant is no score");
    }
}
