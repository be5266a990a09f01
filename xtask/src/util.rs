//! Running commands, timing steps, finding things.

use std::env;
use std::ffi::OsStr;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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

pub(crate) fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// An executable named `name` on `PATH`.
pub(crate) fn which(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = env::var_os("PATH")?;
    env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
}

/// A command line as a user would type it (environment overrides first).
pub(crate) fn display(cmd: &Command) -> String {
    let mut line = String::new();
    for (key, value) in cmd.get_envs() {
        if let Some(value) = value {
            let _ = write!(line, "{}={} ", key.to_string_lossy(), quote(value));
        }
    }
    let program = Path::new(cmd.get_program());
    if program.file_name() == Some(OsStr::new("cargo")) {
        line.push_str("cargo");
    } else {
        line.push_str(&quote(program.as_os_str()));
    }
    for arg in cmd.get_args() {
        line.push(' ');
        line.push_str(&quote(arg));
    }
    line
}

fn quote(s: &OsStr) -> String {
    let s = s.to_string_lossy();
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,@+%".contains(c))
    {
        s.into_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Runs a command with inherited stdio, echoing it first; a non-zero exit is an error.
pub(crate) fn run(cmd: &mut Command) -> Result<(), String> {
    let line = display(cmd);
    eprintln!("$ {line}");
    let status = cmd
        .stdin(Stdio::null())
        .status()
        .map_err(|e| format!("cannot run `{line}`: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{line}` failed ({status})"))
    }
}

/// Runs a command and returns its stdout; a non-zero exit is an error.
pub(crate) fn output(cmd: &mut Command) -> Result<String, String> {
    let line = display(cmd);
    let out = cmd
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run `{line}`: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!("`{line}` failed ({})", out.status))
    }
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
