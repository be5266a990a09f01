//! The `test` step's run: the workspace's test binaries, several at a time.
//!
//! `cargo test` runs one test binary after the other, and each with as many test
//! threads as there are cores (two on the CI machine). The suites spend most of
//! their time waiting — for TTLs to pass, for servers, for faults to heal — not
//! computing (a whole sequential run used about 15% of two cores), so xtask
//! builds them with `cargo test --no-run` and then runs [`JOBS`] binaries at once,
//! each with [`TEST_THREADS`] test threads. Every binary still runs every test
//! (with `--include-ignored`); each binary's output is printed in one piece when
//! it ends, and a failing binary fails the step after all have run.
//!
//! `FLOWSTORE_CI_TEST_JOBS` and `RUST_TEST_THREADS` override the two numbers
//! (`FLOWSTORE_CI_TEST_JOBS=1 RUST_TEST_THREADS=2` is `cargo test`'s own pace).

use std::collections::VecDeque;
use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::thread;
use std::time::Instant;

use crate::util::{self, format_duration};

/// Test binaries run at once.
const JOBS: usize = 3;
/// Test threads in each binary (`cargo test`'s default is the number of cores).
const TEST_THREADS: usize = 8;

/// Test binaries that run with no other test binary beside them, as
/// (package directory name, target): they count what a shared server did
/// (`INFO commandstats`), which another binary's commands would change. Their
/// sources say "Alone in its test binary".
const RUN_ALONE: [(&str, &str); 1] = [("flowstore-redis", "cluster_batches")];

/// A test binary `cargo test --no-run` built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TestBinary {
    /// The package's directory: `cargo test` runs a test binary there.
    package_dir: PathBuf,
    /// The target's name (`conformance`, `flowstore_core`, …).
    target: String,
    executable: PathBuf,
}

impl TestBinary {
    fn runs_alone(&self) -> bool {
        let package = self.package_dir.file_name().and_then(|n| n.to_str());
        RUN_ALONE
            .iter()
            .any(|(p, t)| package == Some(*p) && self.target == *t)
    }

    fn label(&self) -> String {
        let package = self
            .package_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        format!("{package} {}", self.target)
    }
}

/// Builds the test binaries with `build`, a `cargo test …` command without
/// the `--` part.
pub(crate) fn build(build: &mut Command) -> Result<Vec<TestBinary>, String> {
    build.args(["--no-run", "--message-format=json-render-diagnostics"]);
    let messages = util::output(build)?;
    let binaries = test_binaries(&messages);
    if binaries.is_empty() {
        return Err("cargo test --no-run reported no test binaries".to_owned());
    }
    Ok(binaries)
}

/// Runs each of `binaries` with `test_args` and the environment `envs`.
pub(crate) fn run(
    binaries: Vec<TestBinary>,
    test_args: &[&str],
    envs: &[(&str, String)],
) -> Result<(), String> {
    if binaries.is_empty() {
        // Never a passing step that ran nothing (after a failed build, say).
        return Err("no test binaries to run".to_owned());
    }
    let jobs = env_number("FLOWSTORE_CI_TEST_JOBS").unwrap_or(JOBS);
    let threads = env_number("RUST_TEST_THREADS").unwrap_or(TEST_THREADS);
    eprintln!(
        "running {} test binaries, {jobs} at a time, {threads} test threads each",
        binaries.len()
    );
    let dylib_path = dylib_path()?;
    let command = |binary: &TestBinary| {
        let mut cmd = Command::new(&binary.executable);
        cmd.args(test_args)
            .current_dir(&binary.package_dir)
            .env("CARGO_MANIFEST_DIR", &binary.package_dir)
            .env("RUST_TEST_THREADS", threads.to_string())
            .env(DYLIB_PATH_VAR, &dylib_path)
            .envs(envs.iter().map(|(k, v)| (k, v)));
        cmd
    };
    let failed = Mutex::new(Vec::new());
    let (alone, together): (Vec<_>, Vec<_>) = binaries.into_iter().partition(|b| b.runs_alone());
    for binary in &alone {
        if !run_one(binary, &mut command(binary)) {
            failed.lock().unwrap().push(binary.label());
        }
    }
    let queue = Mutex::new(VecDeque::from(together));
    thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| {
                loop {
                    // Its own statement: a guard in the `while let` would be
                    // held through the run, one binary at a time.
                    let next = queue.lock().unwrap().pop_front();
                    let Some(binary) = next else { break };
                    if !run_one(&binary, &mut command(&binary)) {
                        failed.lock().unwrap().push(binary.label());
                    }
                }
            });
        }
    });
    let failed = failed.into_inner().unwrap();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("test binaries failed: {}", failed.join(", ")))
    }
}

/// Runs one binary, printing its whole output at the end; true when it passed.
fn run_one(binary: &TestBinary, cmd: &mut Command) -> bool {
    let start = Instant::now();
    let result = cmd.stdin(Stdio::null()).output();
    let took = format_duration(start.elapsed());
    // One write, so that binaries ending together do not interleave.
    let (ok, text) = match result {
        Ok(out) => (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        ),
        Err(e) => (
            false,
            format!("cannot run {}: {e}\n", binary.executable.display()),
        ),
    };
    let verdict = if ok { "ok" } else { "FAILED" };
    eprint!(
        "\n==> {} ({}): {verdict} in {took}\n{text}",
        binary.label(),
        binary.executable.display()
    );
    ok
}

fn env_number(var: &str) -> Option<usize> {
    env::var(var).ok()?.trim().parse().ok().filter(|n| *n > 0)
}

// ---------------------------------------------------------------------------
// What cargo would set up

#[cfg(target_os = "macos")]
const DYLIB_PATH_VAR: &str = "DYLD_FALLBACK_LIBRARY_PATH";
#[cfg(windows)]
const DYLIB_PATH_VAR: &str = "PATH";
#[cfg(not(any(target_os = "macos", windows)))]
const DYLIB_PATH_VAR: &str = "LD_LIBRARY_PATH";

/// The library path cargo gives test binaries: the toolchain's libraries (a
/// proc-macro crate's tests link the standard library dynamically) and
/// `target/debug/deps`, before what was there.
fn dylib_path() -> Result<std::ffi::OsString, String> {
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let sysroot = util::output(Command::new(rustc).args(["--print", "sysroot"]))?;
    let mut dirs = vec![
        Path::new(sysroot.trim()).join("lib"),
        util::target_dir().join("debug").join("deps"),
    ];
    if let Some(old) = env::var_os(DYLIB_PATH_VAR) {
        dirs.extend(env::split_paths(&old));
    }
    env::join_paths(dirs).map_err(|e| format!("cannot build {DYLIB_PATH_VAR}: {e}"))
}

// ---------------------------------------------------------------------------
// cargo's JSON messages (xtask has no JSON parser: the fields needed are strings)

/// The test binaries among `cargo test --no-run --message-format=json` messages.
fn test_binaries(messages: &str) -> Vec<TestBinary> {
    messages
        .lines()
        .filter(|line| line.contains(r#""reason":"compiler-artifact""#))
        .filter(|line| built_for_tests(line))
        .filter_map(|line| {
            let executable = string_field(line, "executable")?;
            let manifest = PathBuf::from(string_field(line, "manifest_path")?);
            Some(TestBinary {
                package_dir: manifest.parent()?.to_path_buf(),
                target: string_field(line, "name")?,
                executable: PathBuf::from(executable),
            })
        })
        .collect()
}

/// Whether an artifact message's `profile` says it was built as a test
/// harness (a binary built for `CARGO_BIN_EXE_…` has an executable too).
fn built_for_tests(line: &str) -> bool {
    line.split_once(r#""profile":{"#)
        .and_then(|(_, rest)| rest.split_once('}'))
        .is_some_and(|(profile, _)| profile.contains(r#""test":true"#))
}

/// The first string value of `"field":` in a JSON line, unescaped (`null` and
/// other non-strings give `None`).
fn string_field(line: &str, field: &str) -> Option<String> {
    let rest = &line[line.find(&format!("\"{field}\":\""))? + field.len() + 4..];
    let mut value = String::new();
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(value),
            '\\' => match chars.next()? {
                'n' => value.push('\n'),
                't' => value.push('\t'),
                'u' => {
                    let hex: String = chars.by_ref().take(4).collect();
                    value.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                }
                other => value.push(other),
            },
            c => value.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_test_binaries_in_cargo_messages() {
        let messages = concat!(
            r#"{"reason":"compiler-artifact","package_id":"path+file:///w/crates/a#0.1.0","manifest_path":"/w/crates/a/Cargo.toml","target":{"kind":["test"],"crate_types":["bin"],"name":"conformance","src_path":"/w/crates/a/tests/conformance.rs","edition":"2024","doc":false,"doctest":false,"test":true},"profile":{"opt_level":"0","debuginfo":1,"debug_assertions":true,"overflow_checks":true,"test":true},"features":[],"filenames":["/w/target/debug/deps/conformance-1"],"executable":"/w/target/debug/deps/conformance-1","fresh":true}"#,
            "\n",
            r#"{"reason":"compiler-artifact","package_id":"registry+https://github.com/rust-lang/crates.io-index#serde@1.0.0","manifest_path":"/r/serde/Cargo.toml","target":{"kind":["lib"],"crate_types":["lib"],"name":"serde","src_path":"/r/serde/src/lib.rs","edition":"2018","doc":true,"doctest":true,"test":true},"profile":{"opt_level":"2","debuginfo":0,"debug_assertions":false,"overflow_checks":false,"test":false},"features":[],"filenames":["/w/target/debug/deps/libserde.rlib"],"executable":null,"fresh":true}"#,
            "\n",
            r#"{"reason":"compiler-artifact","package_id":"path+file:///w/crates/a#0.1.0","manifest_path":"/w/crates/a/Cargo.toml","target":{"kind":["bin"],"crate_types":["bin"],"name":"a","src_path":"/w/crates/a/src/main.rs","edition":"2024","doc":true,"doctest":false,"test":true},"profile":{"opt_level":"0","debuginfo":1,"debug_assertions":true,"overflow_checks":true,"test":false},"features":[],"filenames":["/w/target/debug/a"],"executable":"/w/target/debug/a","fresh":true}"#,
            "\n",
            r#"{"reason":"build-finished","success":true}"#,
        );
        assert_eq!(
            test_binaries(messages),
            [TestBinary {
                package_dir: PathBuf::from("/w/crates/a"),
                target: "conformance".to_owned(),
                executable: PathBuf::from("/w/target/debug/deps/conformance-1"),
            }]
        );
    }

    #[test]
    fn binaries_that_must_run_alone_are_listed() {
        let root = util::root();
        let mut dirs = vec![root.join("tests")];
        for entry in std::fs::read_dir(root.join("crates")).unwrap().flatten() {
            dirs.push(entry.path().join("tests"));
        }
        for dir in dirs {
            let Ok(files) = std::fs::read_dir(&dir) else {
                continue;
            };
            for file in files.flatten().map(|f| f.path()) {
                let text = std::fs::read_to_string(&file).unwrap_or_default();
                if !text.contains("Alone in its test binary") {
                    continue;
                }
                let binary = TestBinary {
                    package_dir: dir.parent().unwrap().to_path_buf(),
                    target: file.file_stem().unwrap().to_string_lossy().into_owned(),
                    executable: PathBuf::new(),
                };
                assert!(
                    binary.runs_alone(),
                    "{} wants to run alone: add it to RUN_ALONE",
                    file.display()
                );
            }
        }
    }

    #[test]
    fn unescapes_json_strings() {
        assert_eq!(
            string_field(r#"{"a":"x\"y\\z\u00e9","b":null}"#, "a").as_deref(),
            Some("x\"y\\zé")
        );
        assert_eq!(string_field(r#"{"b":null}"#, "b"), None);
    }
}
