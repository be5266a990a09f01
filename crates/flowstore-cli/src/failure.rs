//! What the command prints on stderr before exiting with status 2.

use std::fmt;

use flowstore::Error;

/// A one-line message for stderr. Keys are quoted with `{:?}`, so a newline in a
/// key shows as `\n` and the message stays on one line.
#[derive(Debug)]
pub struct Failure(String);

impl Failure {
    /// A failure with `message` (made one line if it is not).
    pub fn new(message: impl Into<String>) -> Self {
        Failure(message.into().replace('\r', "\\r").replace('\n', "\\n"))
    }

    /// `context: <the error and its causes on one line>`.
    pub fn store(context: impl fmt::Display, err: &Error) -> Self {
        Failure::new(format!("{context}: {}", err.to_one_line()))
    }

    /// An I/O failure on stdin/stdout.
    pub fn io(context: impl fmt::Display, err: &std::io::Error) -> Self {
        Failure::new(format!("{context}: {err}"))
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Failure {}

impl From<Error> for Failure {
    fn from(err: Error) -> Self {
        Failure::new(err.to_one_line())
    }
}
