//! Running host commands and finding programs: the one home of `which`,
//! `is_root` and `run` for the launcher and for `xtask`.

use std::env;
use std::ffi::OsStr;
use std::fmt::Write as _;
use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// An executable file named `name` in a directory of `PATH`.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = env::var_os("PATH")?;
    env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
}

/// Whether this process runs as root (uid 0).
pub fn is_root() -> bool {
    static ROOT: OnceLock<bool> = OnceLock::new();
    *ROOT.get_or_init(|| {
        // `/proc/self` is owned by the process's user; `id -u` where there is no `/proc`.
        fs::metadata("/proc/self")
            .map(|m| m.uid() == 0)
            .unwrap_or_else(|_| {
                Command::new("id")
                    .arg("-u")
                    .output()
                    .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
            })
    })
}

/// Runs `cmd` with the terminal's stdout and stderr (stdin closed), echoing it
/// to stderr first as `$ LINE`; a non-zero exit is an error naming the command.
pub fn run(cmd: &mut Command) -> io::Result<()> {
    let line = display(cmd);
    eprintln!("$ {line}");
    let status = cmd
        .stdin(Stdio::null())
        .status()
        .map_err(|e| io::Error::new(e.kind(), format!("cannot run `{line}`: {e}")))?;
    if status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!("`{line}` failed ({status})")))
    }
}

/// Runs `cmd` to completion quietly (stdin closed) and returns its stdout; a
/// non-zero exit is an error carrying everything it printed.
pub fn output(cmd: &mut Command) -> io::Result<String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| io::Error::new(e.kind(), format!("cannot run `{}`: {e}", display(cmd))))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        Ok(stdout)
    } else {
        Err(io::Error::other(format!(
            "`{}` failed ({}):\n{stdout}{}",
            display(cmd),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )))
    }
}

/// A command line as a user would type it in a shell: environment overrides
/// first, then the program and its arguments, quoted where needed.
pub fn display(cmd: &Command) -> String {
    let mut line = String::new();
    for (key, value) in cmd.get_envs() {
        if let Some(value) = value {
            let _ = write!(line, "{}={} ", key.to_string_lossy(), quote(value));
        }
    }
    let program = Path::new(cmd.get_program());
    // `$CARGO` is a long toolchain path; what a user types is `cargo`.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_quotes_what_a_shell_would_split() {
        let mut cmd = Command::new("/usr/bin/cargo");
        cmd.args(["test", "a b", "it's", ""]).env("X", "1 2");
        assert_eq!(display(&cmd), r"X='1 2' cargo test 'a b' 'it'\''s' ''");
    }

    #[test]
    fn which_finds_sh_and_not_a_made_up_name() {
        assert!(which("sh").is_some());
        assert!(which("flowstore-no-such-program").is_none());
    }

    #[test]
    fn a_failing_command_is_an_error_with_its_output() {
        let err = output(Command::new("sh").args(["-c", "echo out; echo err >&2; exit 3"]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("out") && err.contains("err"), "{err}");
        assert_eq!(
            output(Command::new("sh").args(["-c", "echo hi"])).unwrap(),
            "hi\n"
        );
        assert!(run(&mut Command::new("false")).is_err());
    }
}
