//! Running commands, timing steps, finding the workspace and its tools.

use std::env;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use flowstore_test_servers::process;
// `which` and `is_root` live with the launcher, which needs them too: one copy.
pub(crate) use flowstore_test_servers::process::{is_root, which};

/// The workspace root (the parent of `xtask/`).
pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

/// The cargo target directory (`$CARGO_TARGET_DIR` or `<root>/target`).
pub(crate) fn target_dir() -> PathBuf {
    match env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => root().join(dir),
        _ => root().join("target"),
    }
}

/// `cargo`, the one that runs us when there is one.
pub(crate) fn cargo() -> Command {
    let mut cmd = Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(root());
    cmd
}

/// Whether we run in CI (`CI=true`, as CI services set it).
pub(crate) fn in_ci() -> bool {
    env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// The cargo home (`$CARGO_HOME`, else `~/.cargo`), where `cargo install` puts binaries.
pub(crate) fn cargo_home() -> PathBuf {
    env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|home| Path::new(&home).join(".cargo")))
        .unwrap_or_else(|| PathBuf::from(".cargo"))
}

/// Runs a command with inherited stdio, echoing it first; a non-zero exit is an
/// error. ([`process::run`] with xtask's string errors.)
pub(crate) fn run(cmd: &mut Command) -> Result<(), String> {
    process::run(cmd).map_err(|e| e.to_string())
}

/// Runs a command and returns its stdout, its stderr going to ours (progress
/// stays visible); a non-zero exit is an error. ([`process::output`] with
/// xtask's string errors.)
pub(crate) fn output(cmd: &mut Command) -> Result<String, String> {
    process::output(cmd.stderr(Stdio::inherit())).map_err(|e| e.to_string())
}

/// Installs Debian `packages` with apt-get (lists refreshed first: a fresh
/// image often has none) when we can — root and apt-get present; otherwise
/// fails saying that `needed_for` needs them and what to run. The one install
/// path for every tool xtask may have to fetch (servers, Chromium, Node.js).
pub(crate) fn apt_install(packages: &[&str], needed_for: &str) -> Result<(), String> {
    let list = packages.join(" ");
    let can_apt = which("apt-get").is_some();
    if !(can_apt && is_root()) {
        let how = if can_apt {
            format!("sudo apt-get install -y {list}")
        } else {
            format!(
                "install {list} with your package manager (on Debian: apt-get install -y {list})"
            )
        };
        return Err(format!(
            "{needed_for} needs {list}, which is missing; run:\n    {how}"
        ));
    }
    eprintln!("xtask: installing {list} (missing) with apt-get");
    let apt = |args: &[&str]| {
        run(Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive"))
    };
    apt(&["update", "-q"])?;
    apt(&[&["install", "-y", "-q"][..], packages].concat())
}

/// The time each step took, for the summary at the end.
#[derive(Debug, Default)]
pub(crate) struct Timings {
    steps: Vec<(String, Duration, bool)>,
    start: Option<Instant>,
}

impl Timings {
    /// Runs `f` as the step `name`, recording its time and outcome. Prints a
    /// banner so the log shows where each step starts.
    pub(crate) fn step<T>(
        &mut self,
        name: &str,
        f: impl FnOnce() -> Result<T, String>,
    ) -> Result<T, String> {
        self.start.get_or_insert_with(Instant::now);
        eprintln!("\n==> xtask: {name}");
        let start = Instant::now();
        let result = f();
        self.steps
            .push((name.to_string(), start.elapsed(), result.is_ok()));
        result.map_err(|e| format!("step `{name}` failed: {e}"))
    }

    /// A table of the steps and their times.
    pub(crate) fn summary(&self) -> String {
        let width = self.steps.iter().map(|(n, ..)| n.len()).max().unwrap_or(0);
        let mut out = String::from("\nxtask: step timings\n");
        for (name, time, ok) in &self.steps {
            let mark = if *ok { "ok    " } else { "FAILED" };
            let _ = writeln!(out, "  {mark} {name:<width$}  {}", format_duration(*time));
        }
        if let Some(start) = self.start {
            let _ = writeln!(
                out,
                "  total  {:<width$}  {}",
                "",
                format_duration(start.elapsed())
            );
        }
        out
    }
}

pub(crate) fn format_duration(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs >= 60.0 {
        format!("{}m{:04.1}s", (secs / 60.0) as u64, secs % 60.0)
    } else {
        format!("{secs:.1}s")
    }
}
