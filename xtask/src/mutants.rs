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
    let totals_file = output.join("totals.txt");
    // An --iterate run tests only what the last run did not catch: its score
    // adds to the totals that run left.
    let earlier = if passthrough.iter().any(|a| a == "--iterate") {
        Some(Totals::read(&totals_file)?)
    } else {
        None
    };
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
    let mut outcome = Outcome::read(&output.join("mutants.out"))?;
    if let Some(earlier) = earlier {
        outcome.caught += earlier.caught;
        outcome.unviable += earlier.unviable;
    }
    Totals {
        caught: outcome.caught,
        unviable: outcome.unviable,
    }
    .write(&totals_file)?;
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

/// What earlier runs caught (timeouts counted as caught) and found unviable:
/// the mutants an `--iterate` run does not test again.
#[derive(Debug, Default)]
struct Totals {
    caught: usize,
    unviable: usize,
}

impl Totals {
    fn read(path: &Path) -> Result<Totals, String> {
        let text = fs::read_to_string(path).map_err(|e| {
            format!(
                "reading {} (run without --iterate first): {e}",
                path.display()
            )
        })?;
        let mut totals = Totals::default();
        for line in text.lines() {
            let (name, count) = line.split_once(' ').unwrap_or((line, ""));
            let count = count
                .parse()
                .map_err(|_| format!("{}: bad line `{line}`", path.display()))?;
            match name {
                "caught" => totals.caught = count,
                "unviable" => totals.unviable = count,
                _ => return Err(format!("{}: bad line `{line}`", path.display())),
            }
        }
        Ok(totals)
    }

    fn write(&self, path: &Path) -> Result<(), String> {
        let text = format!("caught {}\nunviable {}\n", self.caught, self.unviable);
        fs::write(path, text).map_err(|e| format!("writing {}: {e}", path.display()))
    }
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

    #[test]
    fn totals_survive_a_round_trip_and_bad_files_are_refused() {
        let path = std::env::temp_dir().join(format!("xtask-mutants-{}.txt", std::process::id()));
        Totals {
            caught: 7,
            unviable: 3,
        }
        .write(&path)
        .unwrap();
        let read = Totals::read(&path).unwrap();
        assert_eq!((read.caught, read.unviable), (7, 3));
        fs::write(&path, "caught seven\n").unwrap();
        assert!(Totals::read(&path).is_err());
        fs::remove_file(&path).unwrap();
    }
}
