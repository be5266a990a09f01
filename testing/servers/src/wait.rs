//! Polling until a server is ready, with a deadline.

use std::fmt::Write as _;
use std::io;
use std::thread;
use std::time::{Duration, Instant};

/// An error that makes [`wait_until`] stop waiting at once (marked by its kind).
pub fn give_up(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::Unsupported, msg.into())
}

/// Polls `ready` every 50 ms until it returns `Ok(true)`; gives up with an error
/// when `timeout` passes (naming `what` and the last error `ready` returned) or at
/// once when `ready` returns an error made by [`give_up`].
pub fn wait_until(
    what: &str,
    timeout: Duration,
    mut ready: impl FnMut() -> io::Result<bool>,
) -> io::Result<()> {
    let deadline = Instant::now() + timeout;
    let mut last_error = None;
    loop {
        match ready() {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(e) if e.kind() == io::ErrorKind::Unsupported => return Err(e),
            Err(e) => last_error = Some(e),
        }
        if Instant::now() >= deadline {
            let mut msg = format!("timed out after {timeout:?} waiting for {what}");
            if let Some(e) = last_error {
                let _ = write!(msg, " (last error: {e})");
            }
            return Err(io::Error::new(io::ErrorKind::TimedOut, msg));
        }
        thread::sleep(Duration::from_millis(50));
    }
}
