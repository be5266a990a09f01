//! `cargo xtask fuzz [TARGET] [SECS]`: the libFuzzer targets of `fuzz/`
//! (docs/fuzzing.md), one after another, `SECS` seconds each (default 60),
//! or only `TARGET`. Installs `cargo-fuzz` when it is missing.
//!
//! The targets build with `--sanitizer none`: that is what runs on a stable
//! toolchain (the sanitizers need nightly's `-Zsanitizer`). The crates forbid
//! `unsafe`, so AddressSanitizer would add little; coverage-guided fuzzing
//! with debug assertions and overflow checks is what the runs are for.
//!
//! The corpus of each target stays in `fuzz/corpus/<target>` between runs (not
//! committed), a crash's input in `fuzz/artifacts/<target>/`. Prints how many
//! inputs each target ran, and in how long: the figures docs/fuzzing.md records.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use crate::util::{self, cargo, root, which};

const DEFAULT_SECS: u64 = 60;
const USAGE: &str = "cargo xtask fuzz [TARGET] [SECS]";

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let mut target = None;
    let mut secs = DEFAULT_SECS;
    for arg in args {
        match arg.parse::<u64>() {
            Ok(0) => return Err(format!("SECS must be at least 1\nusage: {USAGE}")),
            Ok(n) => secs = n,
            Err(_) if target.is_none() => target = Some(arg.clone()),
            Err(_) => return Err(format!("unexpected argument `{arg}`\nusage: {USAGE}")),
        }
    }
    ensure_cargo_fuzz()?;
    let all = targets()?;
    let chosen: Vec<String> = match target {
        Some(target) if all.contains(&target) => vec![target],
        Some(target) => {
            return Err(format!(
                "no fuzz target `{target}`; the targets are: {}",
                all.join(" ")
            ));
        }
        None => all,
    };
    let mut results = Vec::new();
    for target in &chosen {
        eprintln!("\n==> xtask fuzz: {target} for {secs} s");
        results.push((target.as_str(), fuzz_one(target, secs)));
    }
    eprintln!("\nxtask fuzz: results ({secs} s each)");
    let mut failed = Vec::new();
    for (target, result) in &results {
        match result {
            Ok(done) => eprintln!("  ok      {target:<20} {done}"),
            Err(err) => {
                eprintln!("  FAILED  {target:<20} {err}");
                failed.push(*target);
            }
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "fuzz targets failed: {} (the crashing inputs are in fuzz/artifacts/)",
            failed.join(" ")
        ))
    }
}

/// `cargo fuzz` with the options every call shares.
fn cargo_fuzz(subcommand: &str) -> Command {
    let mut cmd = cargo();
    cmd.args(["fuzz", subcommand, "--fuzz-dir"])
        .arg(root().join("fuzz"));
    cmd
}

fn ensure_cargo_fuzz() -> Result<(), String> {
    let installed = cargo()
        .args(["fuzz", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if installed {
        return Ok(());
    }
    if which("c++").is_none() {
        return Err(
            "cargo-fuzz builds libFuzzer (C++): install a C++ compiler (g++ or clang)".into(),
        );
    }
    eprintln!("==> xtask fuzz: installing cargo-fuzz");
    util::run(cargo().args(["install", "cargo-fuzz", "--locked"]))
}

/// The targets `fuzz/Cargo.toml` declares.
fn targets() -> Result<Vec<String>, String> {
    let listed = util::output(&mut cargo_fuzz("list"))?;
    let targets: Vec<String> = listed
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(String::from)
        .collect();
    if targets.is_empty() {
        return Err("`cargo fuzz list` names no target".into());
    }
    Ok(targets)
}

/// Runs `target` for `secs` seconds; libFuzzer's closing line
/// (`Done N runs in S second(s)`) on success.
fn fuzz_one(target: &str, secs: u64) -> Result<String, String> {
    let mut cmd = cargo_fuzz("run");
    cmd.args(["--sanitizer", "none", "--target-dir"])
        .arg(util::target_dir().join("fuzz"))
        .arg(target)
        .arg("--")
        .arg(format!("-max_total_time={secs}"))
        // No per-input timeout or memory limit beyond libFuzzer's defaults
        // (1200 s, 2 GiB): a slow or huge input is a finding too.
        .arg("-print_final_stats=1")
        .stderr(Stdio::piped());
    eprintln!("$ {cmd:?}");
    let mut child = cmd
        .spawn()
        .map_err(|err| format!("cannot run cargo fuzz: {err}"))?;
    let stderr = child.stderr.take().expect("stderr is piped");
    let mut done = None;
    for line in BufReader::new(stderr).lines() {
        let line = line.map_err(|err| format!("reading cargo fuzz's output: {err}"))?;
        eprintln!("{line}");
        if line.starts_with("Done ") {
            done = Some(line);
        }
    }
    let status = child.wait().map_err(|err| err.to_string())?;
    match (status.success(), done) {
        (true, Some(done)) => Ok(done),
        (true, None) => Err("libFuzzer printed no `Done` line".into()),
        (false, _) => Err(format!("cargo fuzz run exited with {status}")),
    }
}
