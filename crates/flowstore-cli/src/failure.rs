//! What the command prints on stderr before exiting with status 2 (3 for a
//! failed condition).

use std::fmt;

use flowstore::{Error, ErrorKind};

/// The exit status of a failed condition (`--if-version`, `--if-absent`).
pub(crate) const CONFLICT_EXIT: u8 = 3;

/// The exit status of every other failure.
pub(crate) const FAILURE_EXIT: u8 = 2;

/// A one-line message for stderr, and the exit status. Keys are quoted with
/// `{:?}`, so a newline in a key shows as `\n` and the message stays on one line.
#[derive(Debug)]
pub struct Failure {
    message: String,
    exit: u8,
}

impl Failure {
    /// A failure with `message` (made one line if it is not).
    pub fn new(message: impl Into<String>) -> Self {
        Failure {
            message: message.into().replace('\r', "\\r").replace('\n', "\\n"),
            exit: FAILURE_EXIT,
        }
    }

    /// `context: <the error and its causes on one line>`; a `Conflict` (a
    /// failed condition) exits with 3, naming the current entry
    /// version when the store said.
    pub fn store(context: impl fmt::Display, err: &Error) -> Self {
        if err.kind() == ErrorKind::Conflict {
            let current = match err.current() {
                Some(flowstore::Current::Version(version)) => {
                    format!(" (the key is at version {version})")
                }
                Some(flowstore::Current::Absent) => " (the key is absent)".to_owned(),
                None => String::new(),
            };
            let mut failure = Failure::new(format!(
                "{context}: the condition failed{current}; nothing was changed"
            ));
            failure.exit = CONFLICT_EXIT;
            return failure;
        }
        if err.kind() == ErrorKind::DataLoss {
            return Failure::new(format!(
                "{context}: {}; once you have restored what you can, run `flowstore --store URL acknowledge-data-loss` to read from the store again",
                err.to_one_line()
            ));
        }
        Failure::new(format!("{context}: {}", err.to_one_line()))
    }

    /// The exit status: 3 for a failed condition, 2 for anything else.
    pub fn exit_code(&self) -> u8 {
        self.exit
    }

    /// An I/O failure on stdin/stdout.
    pub fn io(context: impl fmt::Display, err: &std::io::Error) -> Self {
        Failure::new(format!("{context}: {err}"))
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

impl From<Error> for Failure {
    fn from(err: Error) -> Self {
        Failure::new(err.to_one_line())
    }
}
