//! Server processes that never outlive their owner: each is the leader of its
//! own process group, watched by a guardian shell.

use std::ffi::OsStr;
use std::fs;
use std::io::{self, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

use crate::context;
use crate::dirs::keep_dirs;
use crate::wait::wait_until;

/// Sends `signal` (a name such as `KILL`) to every process in a process group.
pub(crate) fn signal_group(pgid: u32, signal: &str) {
    let _ = Command::new("kill")
        .args(["-s", signal, "--", &format!("-{pgid}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

// ---------------------------------------------------------------------------
// Process handling
// ---------------------------------------------------------------------------

/// A server process, leader of its own process group, watched by a guardian.
#[derive(Debug)]
pub(crate) struct Proc {
    child: Child,
    guardian: Option<Guardian>,
    /// The leader has been waited for: its pid may be reused, never signal it again.
    reaped: bool,
}

/// A `sh` process that kills a process group (and removes a directory) when the
/// pipe from its owner closes without the word `done`: i.e. when the owner died
/// without dropping its servers. It ignores terminal signals, so Ctrl-C on the
/// owner does not take it down before it has done its work.
#[derive(Debug)]
struct Guardian {
    child: Child,
    stdin: Option<ChildStdin>,
}

const GUARDIAN_SCRIPT: &str = r#"trap '' INT TERM HUP QUIT
read -r line
if [ "$line" != done ]; then
  kill -s "$2" -- "-$1" 2>/dev/null
  sleep 1
  kill -s KILL -- "-$1" 2>/dev/null
  rm -rf -- "$3"
fi"#;

impl Guardian {
    fn spawn(pgid: u32, first_signal: &str, dir: &Path) -> io::Result<Guardian> {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(GUARDIAN_SCRIPT)
            .arg("flowstore-guardian")
            .arg(pgid.to_string())
            .arg(first_signal)
            .arg(if keep_dirs() {
                OsStr::new("")
            } else {
                dir.as_os_str()
            })
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .map_err(|e| context(e, "cannot start the guardian shell (sh)"))?;
        let stdin = child.stdin.take();
        Ok(Guardian { child, stdin })
    }

    fn dismiss(&mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.write_all(b"done\n");
        }
        let _ = self.child.wait();
    }
}

impl Drop for Guardian {
    fn drop(&mut self) {
        self.dismiss();
    }
}

impl Proc {
    /// Spawns `cmd` as the leader of a new process group, output to `log`.
    pub(crate) fn spawn(
        mut cmd: Command,
        log: &Path,
        first_signal: &str,
        dir: &Path,
    ) -> io::Result<Proc> {
        let log_file = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .map_err(|e| context(e, format!("cannot open {}", log.display())))?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .process_group(0)
            .spawn()
            .map_err(|e| context(e, format!("cannot start {cmd:?}")))?;
        let mut proc = Proc {
            child,
            guardian: None,
            reaped: false,
        };
        proc.guardian = Some(Guardian::spawn(proc.child.id(), first_signal, dir)?);
        Ok(proc)
    }

    pub(crate) fn pgid(&self) -> u32 {
        self.child.id()
    }

    pub(crate) fn exited(&mut self) -> bool {
        if !self.reaped {
            self.reaped = !matches!(self.child.try_wait(), Ok(None));
        }
        self.reaped
    }

    /// Waits up to `timeout` for the process to exit by itself.
    pub(crate) fn wait_exit(&mut self, timeout: Duration) -> bool {
        wait_until("exit", timeout, || Ok(self.exited())).is_ok()
    }

    /// SIGKILLs the whole process group and reaps the leader.
    pub(crate) fn kill(mut self) {
        self.kill_now();
    }

    pub(crate) fn kill_now(&mut self) {
        if !self.reaped {
            // While the leader is unreaped its pid (the group id) cannot be reused.
            signal_group(self.pgid(), "KILL");
            let _ = self.child.kill();
            let _ = self.child.wait();
            self.reaped = true;
        }
        if let Some(mut g) = self.guardian.take() {
            g.dismiss();
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill_now();
    }
}
