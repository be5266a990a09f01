//! The one error type every store returns.
//!
//! An [`Error`] carries a [`ErrorKind`] (what went wrong, in terms a caller can act
//! on), a one-line message, whether retrying may help, and the underlying cause as
//! [`std::error::Error::source`]. Backends map their client's errors to kinds in
//! one function each, so callers never match on strings.
//!
//! An error also carries its context as data: the [`Operation`] that failed and
//! the backend (or wrapper) that made it, set where the error is made and read
//! with [`Error::operation`] and [`Error::backend_name`]. The context never holds
//! the key or the value: keys can be personal data. [`Display`](fmt::Display)
//! shows the context (`timeout: sqlite get: the database is locked`);
//! [`Error::message`] stays the bare message, so no layer writes the operation
//! or the backend into it.
//!
//! Messages must never contain passwords, tokens, key material or stored values:
//! whoever builds an `Error` writes a message fit for a log line.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use crate::operation::Operation;
use crate::version::{Current, Version};

/// The result type of every flowstore operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The boxed cause kept inside an [`Error`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What went wrong, in terms a caller can act on.
///
/// New kinds may be added (hence `#[non_exhaustive]`); match with a wildcard arm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The key breaks the key rules (empty, over 1024 bytes, contains NUL, not UTF-8).
    InvalidKey,
    /// A call-time argument is out of range (a zero TTL, a bad option value).
    InvalidArgument,
    /// The value is larger than the store's maximum value size; nothing was written.
    ValueTooLarge,
    /// The backend could not be reached (refused, reset, pool exhausted, DNS).
    Unavailable,
    /// The backend did not answer in time.
    Timeout,
    /// Stored bytes failed an integrity check (bad ciphertext, wrong key, hostile
    /// compressed frame, unknown envelope version).
    Corrupt,
    /// The backend refused our credentials or token.
    Unauthorized,
    /// A conditional write's condition failed (SPEC §8): the key was not at the
    /// expected entry version, or not absent. [`Error::current`] says what it
    /// held when the store knew it cheaply. Permanent: never retried.
    Conflict,
    /// The backend is known to have lost data it acknowledged (a Redis server
    /// that came back empty, or was flushed by someone else): a read cannot
    /// tell "absent" from "lost", so it fails with this instead of answering
    /// `None`, until the loss is acknowledged
    /// ([`Store::acknowledge_data_loss`](crate::Store::acknowledge_data_loss)).
    /// Permanent: never retried.
    DataLoss,
    /// The store cannot perform this operation.
    Unsupported,
    /// Bad configuration: URL, option, table name, missing key material.
    Config,
    /// Anything else the backend reported.
    Backend,
}

impl ErrorKind {
    /// Every kind, in declaration order.
    pub const ALL: [ErrorKind; 12] = [
        ErrorKind::InvalidKey,
        ErrorKind::InvalidArgument,
        ErrorKind::ValueTooLarge,
        ErrorKind::Unavailable,
        ErrorKind::Timeout,
        ErrorKind::Corrupt,
        ErrorKind::Unauthorized,
        ErrorKind::Conflict,
        ErrorKind::DataLoss,
        ErrorKind::Unsupported,
        ErrorKind::Config,
        ErrorKind::Backend,
    ];

    /// The stable snake_case name of the kind, as used on the wire (HTTP error
    /// bodies), in metrics labels and in logs.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidKey => "invalid_key",
            ErrorKind::InvalidArgument => "invalid_argument",
            ErrorKind::ValueTooLarge => "value_too_large",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Corrupt => "corrupt",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::Conflict => "conflict",
            ErrorKind::DataLoss => "data_loss",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Config => "config",
            ErrorKind::Backend => "backend",
        }
    }

    /// Whether an error of this kind is temporary unless said otherwise: only
    /// `Unavailable` and `Timeout` are.
    pub const fn is_temporary_by_default(self) -> bool {
        matches!(self, ErrorKind::Unavailable | ErrorKind::Timeout)
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text was not the name of an [`ErrorKind`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownErrorKind;

impl fmt::Display for UnknownErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("unknown error kind")
    }
}

impl std::error::Error for UnknownErrorKind {}

impl FromStr for ErrorKind {
    type Err = UnknownErrorKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ErrorKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == s)
            .ok_or(UnknownErrorKind)
    }
}

/// Whether retrying the operation may succeed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    /// Retrying will not help.
    Permanent,
    /// Retrying later may help.
    Temporary,
    /// It was temporary, but a retry layer already spent its attempts on it; an
    /// outer retry layer must not multiply them.
    Persistent,
}

/// A flowstore error: a kind, a one-line message, its context (operation and
/// backend) and the cause.
pub struct Error {
    kind: ErrorKind,
    status: Status,
    message: Cow<'static, str>,
    operation: Option<Operation>,
    backend: Option<&'static str>,
    source: Option<BoxError>,
    /// For a `Conflict`: what the key held, when the store knew it.
    current: Option<Box<Current>>,
}

impl Error {
    /// An error of `kind` with a one-line `message` (no secrets, no values).
    pub fn new(kind: ErrorKind, message: impl Into<Cow<'static, str>>) -> Self {
        let status = if kind.is_temporary_by_default() {
            Status::Temporary
        } else {
            Status::Permanent
        };
        Error {
            kind,
            status,
            message: message.into(),
            operation: None,
            backend: None,
            source: None,
            current: None,
        }
    }

    /// A `Conflict`: a conditional write's condition failed. `current` is what the
    /// key held, when the store knows it cheaply.
    pub fn conflict(message: impl Into<Cow<'static, str>>, current: Option<Current>) -> Self {
        let mut err = Error::new(ErrorKind::Conflict, message);
        err.current = current.map(Box::new);
        err
    }

    /// For a `Conflict`: what the key held when the condition failed (absent, or
    /// its entry version), if the store said.
    pub fn current(&self) -> Option<&Current> {
        self.current.as_deref()
    }

    /// For a `Conflict`: the key's entry version when the condition failed, if
    /// the key was present and the store said.
    pub fn current_version(&self) -> Option<&Version> {
        self.current().and_then(Current::version)
    }

    /// Records the operation that failed, unless one is already recorded.
    ///
    /// The first setter wins: whoever made the error knows best what it was
    /// doing, so a wrapper that passes an inner store's error on (and adds
    /// context to everything it returns) never overwrites the inner store's.
    pub fn with_operation(mut self, operation: Operation) -> Self {
        self.operation.get_or_insert(operation);
        self
    }

    /// Records the backend (or wrapper) that made the error, by its short name
    /// (`sqlite`, `redis`, `encrypt`, …), unless one is already recorded.
    ///
    /// The first setter wins, as for [`with_operation`](Error::with_operation):
    /// an error from a store wrapped by another keeps the inner store's name.
    pub fn with_backend(mut self, backend: &'static str) -> Self {
        self.backend.get_or_insert(backend);
        self
    }

    /// Keeps `source` as the underlying cause.
    pub fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// Overrides whether the error is temporary (for example an HTTP 500 that the
    /// client may retry, or a backend error known to be transient).
    pub fn with_temporary(mut self, temporary: bool) -> Self {
        self.status = if temporary {
            Status::Temporary
        } else {
            Status::Permanent
        };
        self
    }

    /// Marks a temporary error as persistent: a retry layer gave up on it, so an
    /// outer retry layer must not try again. The kind is unchanged.
    pub fn into_persistent(mut self) -> Self {
        if self.status == Status::Temporary {
            self.status = Status::Persistent;
        }
        self
    }

    /// The kind of error.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The one-line message, without the kind and without the context.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The operation that failed, if the error was made during one (errors made
    /// while opening a store or parsing a URL have none).
    pub fn operation(&self) -> Option<Operation> {
        self.operation
    }

    /// The short name of the backend or wrapper that made the error (`sqlite`,
    /// `http`, `encrypt`, …), if it was recorded.
    ///
    /// Named `backend_name` because [`Error::backend`] makes an
    /// [`ErrorKind::Backend`] error.
    pub fn backend_name(&self) -> Option<&'static str> {
        self.backend
    }

    /// Whether retrying may succeed. This is what retry layers consult.
    pub fn is_temporary(&self) -> bool {
        self.status == Status::Temporary
    }

    /// Whether a retry layer already gave up on this (once temporary) error.
    pub fn is_persistent(&self) -> bool {
        self.status == Status::Persistent
    }

    /// Shorthand for an [`ErrorKind::InvalidKey`] error.
    pub fn invalid_key(message: impl Into<Cow<'static, str>>) -> Self {
        Error::new(ErrorKind::InvalidKey, message)
    }

    /// Shorthand for an [`ErrorKind::InvalidArgument`] error.
    pub fn invalid_argument(message: impl Into<Cow<'static, str>>) -> Self {
        Error::new(ErrorKind::InvalidArgument, message)
    }

    /// Shorthand for an [`ErrorKind::Unavailable`] error.
    pub fn unavailable(message: impl Into<Cow<'static, str>>) -> Self {
        Error::new(ErrorKind::Unavailable, message)
    }

    /// Shorthand for an [`ErrorKind::Timeout`] error.
    pub fn timeout(message: impl Into<Cow<'static, str>>) -> Self {
        Error::new(ErrorKind::Timeout, message)
    }

    /// Shorthand for an [`ErrorKind::Corrupt`] error.
    pub fn corrupt(message: impl Into<Cow<'static, str>>) -> Self {
        Error::new(ErrorKind::Corrupt, message)
    }

    /// Shorthand for an [`ErrorKind::DataLoss`] error.
    pub fn data_loss(message: impl Into<Cow<'static, str>>) -> Self {
        Error::new(ErrorKind::DataLoss, message)
    }

    /// Shorthand for an [`ErrorKind::Unsupported`] error.
    pub fn unsupported(message: impl Into<Cow<'static, str>>) -> Self {
        Error::new(ErrorKind::Unsupported, message)
    }

    /// Shorthand for an [`ErrorKind::Config`] error.
    pub fn config(message: impl Into<Cow<'static, str>>) -> Self {
        Error::new(ErrorKind::Config, message)
    }

    /// Shorthand for an [`ErrorKind::Backend`] error.
    pub fn backend(message: impl Into<Cow<'static, str>>) -> Self {
        Error::new(ErrorKind::Backend, message)
    }

    /// The message and every cause, joined by `": "`, on one line (newlines in
    /// causes are escaped). Meant for command-line tools and log lines.
    pub fn to_one_line(&self) -> String {
        let mut line = self.to_string();
        let mut cause = std::error::Error::source(self);
        while let Some(err) = cause {
            let text = err.to_string();
            // Client libraries often repeat their cause inside their own message.
            if !line.ends_with(&text) {
                line.push_str(": ");
                line.push_str(&text);
            }
            cause = err.source();
        }
        line.replace('\r', "\\r").replace('\n', "\\n")
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.kind)?;
        match (self.backend, self.operation) {
            (Some(backend), Some(operation)) => write!(f, "{backend} {operation}: ")?,
            (Some(backend), None) => write!(f, "{backend}: ")?,
            (None, Some(operation)) => write!(f, "{operation}: ")?,
            (None, None) => {}
        }
        f.write_str(&self.message)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("Error");
        debug
            .field("kind", &self.kind)
            .field("status", &self.status)
            .field("message", &self.message);
        if let Some(operation) = &self.operation {
            debug.field("operation", operation);
        }
        if let Some(backend) = &self.backend {
            debug.field("backend", backend);
        }
        if let Some(current) = &self.current {
            debug.field("current", current);
        }
        if let Some(source) = &self.source {
            debug.field("source", source);
        }
        debug.finish()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|source| source as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_names_parse_back_and_unknown_names_say_so() {
        for kind in ErrorKind::ALL {
            assert_eq!(kind.as_str().parse::<ErrorKind>(), Ok(kind));
        }
        let err = "no_such_kind".parse::<ErrorKind>().unwrap_err();
        assert_eq!(err.to_string(), "unknown error kind");
    }

    #[test]
    fn only_unavailable_and_timeout_are_temporary_by_default() {
        for kind in ErrorKind::ALL {
            let expected = matches!(kind, ErrorKind::Unavailable | ErrorKind::Timeout);
            assert_eq!(Error::new(kind, "x").is_temporary(), expected, "{kind}");
        }
    }

    #[test]
    fn data_loss_is_permanent_and_named_on_the_wire() {
        let err = Error::data_loss("the server came back empty");
        assert_eq!(err.kind(), ErrorKind::DataLoss);
        assert!(!err.is_temporary());
        assert_eq!("data_loss".parse::<ErrorKind>(), Ok(ErrorKind::DataLoss));
    }

    #[test]
    fn kind_names_round_trip() {
        for kind in ErrorKind::ALL {
            assert_eq!(kind.as_str().parse::<ErrorKind>(), Ok(kind));
        }
        assert_eq!("nope".parse::<ErrorKind>(), Err(UnknownErrorKind));
    }

    #[test]
    fn persistent_errors_are_no_longer_temporary_but_keep_their_kind() {
        let err = Error::timeout("slow").into_persistent();
        assert!(!err.is_temporary());
        assert!(err.is_persistent());
        assert_eq!(err.kind(), ErrorKind::Timeout);
        // A permanent error stays permanent, not "persistent".
        assert!(!Error::corrupt("bad").into_persistent().is_persistent());
    }

    #[test]
    fn source_is_kept_and_one_line_joins_causes() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused\nby peer");
        let err = Error::unavailable("cannot reach the server").with_source(io);
        assert!(std::error::Error::source(&err).is_some());
        assert_eq!(
            err.to_one_line(),
            "unavailable: cannot reach the server: refused\\nby peer"
        );
    }

    #[test]
    fn context_is_data_shown_by_display_but_not_in_the_message() {
        let err = Error::timeout("the database is locked")
            .with_operation(Operation::Get)
            .with_backend("sqlite");
        assert_eq!(err.operation(), Some(Operation::Get));
        assert_eq!(err.backend_name(), Some("sqlite"));
        assert_eq!(err.message(), "the database is locked");
        assert_eq!(
            err.to_string(),
            "timeout: sqlite get: the database is locked"
        );
        let debug = format!("{err:?}");
        assert!(debug.contains("operation: Get"), "{debug}");
        assert!(debug.contains(r#"backend: "sqlite""#), "{debug}");
    }

    #[test]
    fn display_shows_whatever_part_of_the_context_is_known() {
        let bare = Error::config("bad URL");
        assert_eq!((bare.operation(), bare.backend_name()), (None, None));
        assert_eq!(bare.to_string(), "config: bad URL");
        assert!(!format!("{bare:?}").contains("operation"));
        assert_eq!(
            Error::config("bad URL").with_backend("redis").to_string(),
            "config: redis: bad URL"
        );
        assert_eq!(
            Error::corrupt("bad frame")
                .with_operation(Operation::Get)
                .to_string(),
            "corrupt: get: bad frame"
        );
    }

    #[test]
    fn context_already_recorded_is_kept() {
        // An inner store's error passing through a wrapper keeps its context.
        let err = Error::unavailable("refused")
            .with_backend("redis")
            .with_operation(Operation::Delete)
            .with_backend("fallback")
            .with_operation(Operation::Get);
        assert_eq!(err.backend_name(), Some("redis"));
        assert_eq!(err.operation(), Some(Operation::Delete));
        // Setting one part leaves the other settable.
        let err = Error::corrupt("x")
            .with_operation(Operation::Get)
            .with_backend("encrypt");
        assert_eq!(err.backend_name(), Some("encrypt"));
    }

    #[test]
    fn one_line_starts_with_the_context() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let err = Error::unavailable("cannot reach the server")
            .with_source(io)
            .with_backend("postgres")
            .with_operation(Operation::Set);
        assert_eq!(
            err.to_one_line(),
            "unavailable: postgres set: cannot reach the server: refused"
        );
    }
}
