//! Running the `flowstore` binary in a fresh temporary directory.

#![allow(dead_code, unreachable_pub)]

use std::ffi::OsStr;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// A temporary working directory; every command runs inside it.
pub struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Self {
        Sandbox {
            dir: tempfile::tempdir().expect("a temporary directory"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The binary, in the sandbox, with `FLOWSTORE_URL` unset.
    pub fn command(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_flowstore"));
        command.current_dir(self.path()).env_remove("FLOWSTORE_URL");
        command
    }

    /// Runs with `args` and stdin closed (not a terminal).
    pub fn run<I, S>(&self, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.run_with_stdin(args, b"")
    }

    /// Runs with `args` and `stdin` piped in.
    pub fn run_with_stdin<I, S>(&self, args: I, stdin: &[u8]) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut command = self.command();
        command.args(args);
        run_command(command, stdin)
    }
}

pub fn run_command(mut command: Command, stdin: &[u8]) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the flowstore binary starts");
    let mut pipe = child.stdin.take().expect("stdin is piped");
    let input = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        // The command may exit before reading everything (e.g. a value over the limit).
        let _ = pipe.write_all(&input);
    });
    let output = child.wait_with_output().expect("the flowstore binary runs");
    writer.join().expect("the stdin writer does not panic");
    output
}

/// Asserts the exit code, printing stdout and stderr when it differs.
#[track_caller]
pub fn assert_exit(output: &Output, code: i32) {
    assert_eq!(
        output.status.code(),
        Some(code),
        "stdout: {:?}\nstderr: {}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Asserts exit 2 with exactly one line on stderr, and returns that line.
#[track_caller]
pub fn assert_error(output: &Output) -> String {
    assert_exit(output, 2);
    let stderr = String::from_utf8(output.stderr.clone()).expect("stderr is UTF-8");
    assert_eq!(stderr.lines().count(), 1, "one line on stderr: {stderr:?}");
    assert!(stderr.ends_with('\n'), "{stderr:?}");
    stderr.trim_end().to_string()
}
