//! `cargo xtask ci`: everything CI runs, in order, failing fast.
//!
//! 1. `fmt`: `cargo fmt --all --check`
//! 2. `clippy`: `cargo clippy --workspace --all-targets --all-features -- -D warnings`
//! 3. `doc`: `RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --all-features`
//! 4. `check`: `cargo check -p <crate>` for every crate under `crates/` on its own
//!    (default features), `--no-default-features` for the facade `flowstore`, and
//!    `flowstore-http`'s protocol-only build (what `flowstore-server` depends on)
//! 5. `wasm`: `cargo check --target wasm32-unknown-unknown` for `flowstore-core` and
//!    every crate whose manifest says `[package.metadata.flowstore] wasm = true`
//! 6. `browser`: `flowstore-browser`'s wasm tests in headless Chromium and its example
//!    app's reload check (see [`browser`]; installs Chromium, chromedriver and the
//!    matching `wasm-bindgen-cli` when missing)
//! 7. `test`: installs Debian's `nodejs` when `node` is missing (the JavaScript
//!    round trip of `flowstore-flow`, see [`node`]), starts the throwaway servers
//!    (unless the `FLOWSTORE_TEST_*_URL` variables are set), builds the `signup`
//!    example of `flowstore-flow` (its end-to-end test runs the binary), then
//!    builds `cargo test --workspace --all-features --no-run` and runs every test
//!    binary with `--include-ignored` (so the server-backed suites run; all but
//!    `flowstore-browser-e2e`, which the `browser` step runs), several at a time
//!    (see [`test_run`]), then the doctests
//! 8. `package`: `cargo package --workspace` (each publishable crate packaged and
//!    verified by building it from its `.crate` file; the unpublished crates
//!    excluded)
//!
//! All steps share one target directory.

use std::collections::BTreeSet;
use std::fs;

use crate::browser;
use crate::node;
use crate::test_run;
use crate::test_servers::{self, Kind};
use crate::util::{self, Timings, cargo};

const STEPS: [&str; 8] = [
    "fmt", "clippy", "doc", "check", "wasm", "browser", "test", "package",
];
/// The workspace's crates that are not published (`publish = false`).
const UNPUBLISHED: [&str; 4] = [
    "xtask",
    "flowstore-tests",
    "flowstore-test-servers",
    "flowstore-browser-e2e",
];
pub(crate) const WASM_TARGET: &str = "wasm32-unknown-unknown";

pub(crate) fn run_ci(
    only: &BTreeSet<&str>,
    keep_going: bool,
) -> Result<Timings, (Timings, String)> {
    let mut t = Timings::default();
    let mut failures: Vec<String> = Vec::new();
    let wanted = |step: &str| only.is_empty() || only.contains(step);
    // Runs one step; on failure stops the run, or with --keep-going notes it and goes on.
    macro_rules! step {
        ($name:expr, $body:expr) => {
            if let Err(e) = t.step($name, || $body) {
                if !keep_going {
                    return Err((t, e));
                }
                failures.push(e);
            }
        };
    }
    if wanted("fmt") {
        step!("fmt", util::run(cargo().args(["fmt", "--all", "--check"])));
    }
    if wanted("clippy") {
        step!(
            "clippy",
            util::run(
                cargo()
                    .args(["clippy", "--workspace", "--all-targets", "--all-features"])
                    .args(["--", "-D", "warnings"])
            )
        );
    }
    if wanted("doc") {
        step!(
            "doc",
            util::run(
                cargo()
                    .args(["doc", "--workspace", "--no-deps", "--all-features"])
                    .env("RUSTDOCFLAGS", "-D warnings")
            )
        );
    }
    let crates = match publishable_crates() {
        Ok(c) => c,
        Err(e) => {
            failures.push(e);
            return Err((t, failures.join("\n")));
        }
    };
    if wanted("check") {
        for krate in &crates {
            step!(
                &format!("check {}", krate.name),
                util::run(cargo().args(["check", "-p", &krate.name]))
            );
            if krate.name == "flowstore" {
                step!(
                    "check flowstore --no-default-features",
                    util::run(cargo().args(["check", "-p", "flowstore", "--no-default-features"]))
                );
            }
            if krate.name == "flowstore-http" {
                step!(
                    "check flowstore-http --no-default-features --features protocol",
                    util::run(cargo().args(["check", "-p", "flowstore-http"]).args([
                        "--no-default-features",
                        "--features",
                        "protocol"
                    ]))
                );
            }
        }
    }
    if wanted("wasm") {
        step!("install wasm target", ensure_wasm_target());
        for krate in crates.iter().filter(|k| k.wasm) {
            step!(
                &format!("check {} --target {WASM_TARGET}", krate.name),
                util::run(cargo().args(["check", "-p", &krate.name, "--target", WASM_TARGET]))
            );
        }
    }
    if wanted("browser") {
        // flowstore-browser's tests run on wasm32 in headless Chromium, and the example
        // app's check in flowstore-browser-e2e (see xtask/src/browser.rs).
        let mut tools = None;
        step!(
            "browser tools",
            browser::ensure_tools().map(|t| tools = Some(t))
        );
        if let Some(tools) = &tools {
            step!("browser tests", browser::run_tests(tools));
            step!("browser example app", browser::check_example_app(tools));
        }
    }
    if wanted("test") {
        // tests/tests/flow_js_roundtrip.rs runs node, and fails without it.
        step!("node", node::ensure_node());
        let servers = match t.step("start servers", || test_servers::start(&Kind::ALL)) {
            Ok(s) => s,
            Err(e) => {
                failures.push(e);
                return Err((t, failures.join("\n")));
            }
        };
        let with_servers = |cmd: &mut std::process::Command| {
            for (var, url) in &servers.env {
                cmd.env(var, url);
            }
        };
        // flowstore-flow's tests/signup_example.rs runs the example's binary.
        // `cargo test --examples` compiles examples only as test harnesses,
        // which cannot serve: build it as the program it is first.
        step!(
            "build the signup example",
            util::run(cargo().args([
                "build",
                "-p",
                "flowstore-flow",
                "--all-features",
                "--example",
                "signup"
            ]))
        );
        let mut tests = cargo();
        tests
            .args(["test", "--workspace", "--all-features"])
            // Its WebDriver check needs Chromium and the built app: the
            // `browser` step runs it.
            .args(["--exclude", "flowstore-browser-e2e"])
            // Every target but the doctests: `--include-ignored` would also run
            // doctests marked `ignore`, which are not meant to compile.
            .args(["--lib", "--bins", "--tests", "--examples"]);
        // Built with `--no-run`, then several binaries at a time (see test_run.rs).
        let mut binaries = Vec::new();
        step!(
            "test build",
            test_run::build(&mut tests).map(|built| binaries = built)
        );
        step!(
            "test",
            test_run::run(binaries, &["--include-ignored"], &servers.env)
        );
        let mut doctests = cargo();
        doctests.args(["test", "--workspace", "--all-features", "--doc"]);
        with_servers(&mut doctests);
        step!("doctest", util::run(&mut doctests));
        // Stop the servers before packaging (and on the error paths above).
        step!("stop servers", {
            drop(servers);
            Ok(())
        });
    }
    if wanted("package") {
        let mut package = cargo();
        package.args(["package", "--workspace"]);
        // The unpublished crates (`publish = false`): xtask, tests/, testing/*.
        for krate in UNPUBLISHED {
            package.args(["--exclude", krate]);
        }
        if !util::in_ci() {
            // Locally the tree usually has uncommitted work; CI runs on a clean clone.
            package.arg("--allow-dirty");
        }
        // The verification builds use each crate's own (default) dev profile, not
        // the workspace's; without debuginfo they compile and link faster.
        package.env("CARGO_PROFILE_DEV_DEBUG", "false");
        step!("package", util::run(&mut package));
    }
    if failures.is_empty() {
        Ok(t)
    } else {
        Err((t, failures.join("\n")))
    }
}

/// `cargo xtask ci [--keep-going] [STEP...]`
pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let mut only = BTreeSet::new();
    let mut keep_going = false;
    for arg in args {
        if arg == "--keep-going" {
            keep_going = true;
            continue;
        }
        match STEPS.iter().find(|s| **s == arg) {
            Some(step) => {
                only.insert(*step);
            }
            None => {
                return Err(format!(
                    "unknown step `{arg}`; the steps are: {}",
                    STEPS.join(" ")
                ));
            }
        }
    }
    match run_ci(&only, keep_going) {
        Ok(t) => {
            eprint!("{}", t.summary());
            eprintln!("xtask ci: all steps passed");
            Ok(())
        }
        Err((t, e)) => {
            eprint!("{}", t.summary());
            Err(e)
        }
    }
}

/// A crate under `crates/`.
#[derive(Debug)]
pub(crate) struct Crate {
    pub(crate) name: String,
    /// Checked for wasm32 too (`flowstore-core`, or `[package.metadata.flowstore] wasm = true`).
    pub(crate) wasm: bool,
}

pub(crate) fn publishable_crates() -> Result<Vec<Crate>, String> {
    let dir = util::root().join("crates");
    let mut crates = Vec::new();
    let entries = fs::read_dir(&dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    for entry in entries.flatten() {
        let manifest = entry.path().join("Cargo.toml");
        if !manifest.is_file() {
            continue;
        }
        let text = fs::read_to_string(&manifest)
            .map_err(|e| format!("cannot read {}: {e}", manifest.display()))?;
        let name = package_name(&text)
            .ok_or_else(|| format!("{}: no [package] name", manifest.display()))?;
        let wasm = name == "flowstore-core" || wasm_opt_in(&text);
        crates.push(Crate { name, wasm });
    }
    crates.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(crates)
}

/// The `name` of a manifest's `[package]` section.
pub(crate) fn package_name(manifest: &str) -> Option<String> {
    section(manifest, "package")?.lines().find_map(|line| {
        let value = line
            .trim()
            .strip_prefix("name")?
            .trim_start()
            .strip_prefix('=')?;
        Some(value.trim().trim_matches('"').to_string())
    })
}

fn wasm_opt_in(manifest: &str) -> bool {
    section(manifest, "package.metadata.flowstore").is_some_and(|body| {
        body.lines()
            .any(|l| l.split('#').next().unwrap_or("").replace(' ', "") == "wasm=true")
    })
}

/// The body of the `[name]` section of a TOML file (up to the next header).
pub(crate) fn section<'a>(toml: &'a str, name: &str) -> Option<&'a str> {
    let header = format!("[{name}]");
    let mut offset = 0;
    let mut start = None;
    for line in toml.split_inclusive('\n') {
        let trimmed = line.trim();
        if let Some(s) = start {
            if trimmed.starts_with('[') {
                return Some(&toml[s..offset]);
            }
        } else if trimmed == header {
            start = Some(offset + line.len());
        }
        offset += line.len();
    }
    start.map(|s| &toml[s..])
}

pub(crate) fn ensure_wasm_target() -> Result<(), String> {
    let Some(rustup) = util::which("rustup") else {
        // Without rustup we cannot tell; let cargo report a missing target.
        return Ok(());
    };
    let installed =
        util::output(std::process::Command::new(&rustup).args(["target", "list", "--installed"]))?;
    if installed.lines().any(|l| l.trim() == WASM_TARGET) {
        return Ok(());
    }
    util::run(std::process::Command::new(&rustup).args(["target", "add", WASM_TARGET])).map_err(
        |e| format!("{e}\nthe wasm check needs the target: run `rustup target add {WASM_TARGET}`"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_sections() {
        let toml =
            "[package]\nname = \"a\"\n\n[package.metadata.flowstore]\nwasm = true # yes\n[lints]\n";
        assert_eq!(package_name(toml).as_deref(), Some("a"));
        assert!(wasm_opt_in(toml));
        assert!(!wasm_opt_in("[package]\nname = \"a\"\n"));
        assert_eq!(section(toml, "lints"), Some(""));
    }

    #[test]
    fn lists_crates() {
        let crates = publishable_crates().unwrap();
        assert!(crates.iter().any(|c| c.name == "flowstore-core" && c.wasm));
        assert!(crates.iter().any(|c| c.name == "flowstore-memory"));
    }
}
