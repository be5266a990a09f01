//! The one place where PostgreSQL, pool and timeout failures become flowstore
//! [`Error`]s (SPEC §3). See `docs/backends/postgres.md` for the table.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{PoolError, TimeoutType};
use flowstore_core::{Error, ErrorKind, Operation};
use tokio_postgres::error::SqlState;

/// This backend's name in errors' context.
pub(crate) const BACKEND: &str = "postgres";

/// What the store was doing when a failure happened: one of its operations
/// (recorded as the error's context), or work that is none (opening the store,
/// sweeping expired rows), which the message names instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Doing {
    /// A store operation.
    Op(Operation),
    /// Opening the store (checking out the first connection, the schema).
    Open,
    /// Deleting expired rows.
    Sweep,
}

impl From<Operation> for Doing {
    fn from(operation: Operation) -> Self {
        Doing::Op(operation)
    }
}

impl Doing {
    /// Adds this backend and the operation (if any) to `err`, keeping context
    /// it already has.
    pub(crate) fn context(self, err: Error) -> Error {
        let err = err.with_backend(BACKEND);
        match self {
            Doing::Op(operation) => err.with_operation(operation),
            Doing::Open | Doing::Sweep => err,
        }
    }

    /// The words before the message, for work that is no operation.
    fn prefix(self) -> &'static str {
        match self {
            Doing::Op(_) => "",
            Doing::Open => "cannot open the store: ",
            Doing::Sweep => "cannot sweep expired rows: ",
        }
    }
}

/// Something that went wrong talking to PostgreSQL, before it is classified.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The client library reported an error (connection or SQLSTATE).
    Pg(tokio_postgres::Error),
    /// The pool could not hand out a connection.
    Pool(PoolError),
    /// The operation did not finish within the operation timeout.
    Elapsed(Duration),
    /// The store's writer task is gone (its runtime shut down).
    WriterGone,
}

impl From<tokio_postgres::Error> for Failure {
    fn from(err: tokio_postgres::Error) -> Self {
        Failure::Pg(err)
    }
}

impl From<PoolError> for Failure {
    fn from(err: PoolError) -> Self {
        match err {
            // Unwrap so a connection error is classified like any other.
            PoolError::Backend(err) => Failure::Pg(err),
            other => Failure::Pool(other),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Pg(err) => fmt::Display::fmt(err, f),
            Failure::Pool(err) => fmt::Display::fmt(err, f),
            Failure::Elapsed(after) => write!(f, "no answer within {after:?}"),
            Failure::WriterGone => f.write_str("the store's writer task has stopped"),
        }
    }
}

impl std::error::Error for Failure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Failure::Pg(err) => err.source(),
            Failure::Pool(err) => std::error::Error::source(err),
            Failure::Elapsed(_) | Failure::WriterGone => None,
        }
    }
}

impl Failure {
    /// Whether the connection that produced this failure must not be reused:
    /// it timed out mid-statement (it may be stuck) or it broke.
    pub(crate) fn poisons_connection(&self) -> bool {
        match self {
            Failure::Elapsed(_) => true,
            Failure::Pg(err) => err.is_closed() || io_cause(err).is_some(),
            Failure::Pool(_) | Failure::WriterGone => false,
        }
    }
}

/// How a failure is reported: kind, whether retrying may help, and a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Classified {
    pub(crate) kind: ErrorKind,
    pub(crate) temporary: bool,
    pub(crate) message: String,
}

/// THE mapping of every failure to a SPEC §3 kind. `doing` says what the store
/// was doing; an operation is left out of the message (it is the error's
/// context), opening and sweeping are named in it.
pub(crate) fn classify(doing: Doing, failure: &Failure) -> Classified {
    use ErrorKind::*;
    let (kind, temporary, what): (ErrorKind, Option<bool>, String) = match failure {
        Failure::Elapsed(after) => (
            Timeout,
            None,
            format!("PostgreSQL did not answer within {after:?}"),
        ),
        Failure::WriterGone => (
            Unavailable,
            Some(false),
            "the store's writer task has stopped (was its runtime shut down?)".into(),
        ),
        Failure::Pool(PoolError::Timeout(TimeoutType::Wait)) => (
            Unavailable,
            None,
            "no pooled PostgreSQL connection became free within the wait timeout (pool exhausted)"
                .into(),
        ),
        Failure::Pool(PoolError::Timeout(TimeoutType::Create)) => (
            Unavailable,
            None,
            "could not open a PostgreSQL connection within the create timeout".into(),
        ),
        Failure::Pool(PoolError::Timeout(TimeoutType::Recycle)) => (
            Unavailable,
            None,
            "could not check a pooled PostgreSQL connection within the recycle timeout".into(),
        ),
        Failure::Pool(PoolError::Closed) => (
            Unavailable,
            Some(false),
            "the connection pool is closed".into(),
        ),
        Failure::Pool(PoolError::NoRuntimeSpecified) => (
            Config,
            None,
            "the connection pool has timeouts but no runtime (build it with Runtime::Tokio1)"
                .into(),
        ),
        Failure::Pool(PoolError::PostCreateHook(_)) => (
            Unavailable,
            None,
            "the pool's post-create hook refused a new connection".into(),
        ),
        Failure::Pool(PoolError::Backend(err)) | Failure::Pg(err) => classify_pg(err),
    };
    let mut classified = Classified {
        kind,
        temporary: kind.is_temporary_by_default(),
        message: format!("{}{what}", doing.prefix()),
    };
    if let Some(temporary) = temporary {
        classified.temporary = temporary;
    }
    classified
}

fn classify_pg(err: &tokio_postgres::Error) -> (ErrorKind, Option<bool>, String) {
    use ErrorKind::*;
    if let Some(db) = err.as_db_error() {
        let code = db.code();
        let text = code.code();
        let class = &text[..2.min(text.len())];
        let what = format!("server error {text}");
        return match (class, code) {
            (_, c) if *c == SqlState::QUERY_CANCELED => (
                Timeout,
                None,
                format!("{what} (statement cancelled or timed out)"),
            ),
            (_, c) if *c == SqlState::LOCK_NOT_AVAILABLE => {
                (Timeout, None, format!("{what} (lock timeout)"))
            }
            (_, c) if *c == SqlState::IDLE_IN_TRANSACTION_SESSION_TIMEOUT => (Timeout, None, what),
            (_, c)
                if *c == SqlState::T_R_SERIALIZATION_FAILURE
                    || *c == SqlState::T_R_DEADLOCK_DETECTED =>
            {
                (
                    Backend,
                    Some(true),
                    format!("{what} (serialization failure or deadlock; retry)"),
                )
            }
            (_, c) if *c == SqlState::READ_ONLY_SQL_TRANSACTION => (
                Unavailable,
                None,
                format!("{what} (server is read-only: a standby, or a failover in progress)"),
            ),
            (_, c) if *c == SqlState::INSUFFICIENT_PRIVILEGE => (
                Unauthorized,
                None,
                format!("{what} (insufficient privilege)"),
            ),
            (_, c) if *c == SqlState::INVALID_CATALOG_NAME => {
                (Config, None, format!("{what} (database does not exist)"))
            }
            (_, c) if *c == SqlState::UNDEFINED_TABLE => (
                Backend,
                None,
                format!("{what} (the table is missing: was it dropped?)"),
            ),
            (_, c) if *c == SqlState::FEATURE_NOT_SUPPORTED => (Unsupported, None, what),
            ("08", _) => (Unavailable, None, format!("{what} (connection exception)")),
            ("28", _) => (
                Unauthorized,
                None,
                format!("{what} (authentication refused)"),
            ),
            ("53", _) => (
                Unavailable,
                None,
                format!("{what} (server out of resources: connections, memory or disk)"),
            ),
            ("57", _) => (
                Unavailable,
                None,
                format!("{what} (server shutting down, restarting or not accepting connections)"),
            ),
            ("22", _) => (InvalidArgument, None, format!("{what} (data exception)")),
            ("58", _) => (Backend, Some(true), format!("{what} (server system error)")),
            _ => (Backend, None, what),
        };
    }
    if err.is_closed() {
        return (Unavailable, None, "the connection was closed".into());
    }
    if err.to_string() == "error performing TLS handshake" {
        return match io_cause(err) {
            // rustls reports certificate problems as InvalidData.
            Some(io) if io.kind() != std::io::ErrorKind::InvalidData => (
                Unavailable,
                None,
                format!("TLS handshake interrupted ({})", io.kind()),
            ),
            _ => (
                Config,
                None,
                "TLS handshake failed (server certificate not trusted, or host name mismatch)"
                    .into(),
            ),
        };
    }
    if let Some(io) = io_cause(err) {
        return match io.kind() {
            std::io::ErrorKind::TimedOut => (
                Timeout,
                None,
                "network timeout talking to the server".into(),
            ),
            _ => (
                Unavailable,
                None,
                format!("cannot reach the server ({})", io.kind()),
            ),
        };
    }
    // tokio-postgres does not expose its error kinds; its messages are stable.
    match err.to_string().as_str() {
        "timeout waiting for server" => (Unavailable, None, "connect timeout".into()),
        "authentication error" => (Unauthorized, None, "authentication failed".into()),
        "invalid connection string" | "invalid configuration" => (Config, None, err.to_string()),
        "error connecting to server" => (Unavailable, None, "cannot connect to the server".into()),
        _ => (Backend, None, err.to_string()),
    }
}

fn io_cause(err: &tokio_postgres::Error) -> Option<&std::io::Error> {
    let mut cause = std::error::Error::source(err);
    while let Some(err) = cause {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            return Some(io);
        }
        cause = err.source();
    }
    None
}

/// Maps `failure` to an [`Error`] that keeps it as its source, with this
/// backend and what it was doing as context.
pub(crate) fn map_error(doing: impl Into<Doing>, failure: Failure) -> Error {
    let doing = doing.into();
    let classified = classify(doing, &failure);
    let err = Error::new(classified.kind, classified.message)
        .with_temporary(classified.temporary)
        .with_source(failure);
    doing.context(err)
}

/// One failure shared by every caller of a batch: each gets its own [`Error`],
/// all with the same kind and the same underlying cause.
#[derive(Clone, Debug)]
pub(crate) struct SharedFailure {
    doing: Doing,
    classified: Classified,
    failure: Arc<Failure>,
}

impl SharedFailure {
    pub(crate) fn new(doing: impl Into<Doing>, failure: Failure) -> SharedFailure {
        let doing = doing.into();
        SharedFailure {
            doing,
            classified: classify(doing, &failure),
            failure: Arc::new(failure),
        }
    }

    pub(crate) fn to_error(&self) -> Error {
        let err = Error::new(self.classified.kind, self.classified.message.clone())
            .with_temporary(self.classified.temporary)
            .with_source(Arc::clone(&self.failure));
        self.doing.context(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_wait_timeout_is_unavailable_and_temporary() {
        let failure = Failure::Pool(PoolError::Timeout(TimeoutType::Wait));
        let err = map_error(Operation::Get, failure);
        assert_eq!(err.kind(), ErrorKind::Unavailable);
        assert!(err.is_temporary());
        assert!(err.message().contains("pool exhausted"));
    }

    #[test]
    fn elapsed_is_timeout_and_poisons_the_connection() {
        let failure = Failure::Elapsed(Duration::from_secs(1));
        assert!(failure.poisons_connection());
        let err = map_error(Operation::Set, failure);
        assert_eq!(err.kind(), ErrorKind::Timeout);
        assert!(err.is_temporary());
    }

    #[test]
    fn closed_pool_is_unavailable_but_not_temporary() {
        let err = map_error(Operation::Get, Failure::Pool(PoolError::Closed));
        assert_eq!(err.kind(), ErrorKind::Unavailable);
        assert!(!err.is_temporary());
    }

    #[test]
    fn shared_failures_give_equal_errors_with_a_source() {
        let shared = SharedFailure::new(Operation::Set, Failure::Elapsed(Duration::from_millis(5)));
        let (a, b) = (shared.to_error(), shared.to_error());
        assert_eq!(a.kind(), b.kind());
        assert_eq!(a.message(), b.message());
        assert_eq!(a.operation(), Some(Operation::Set));
        assert_eq!(b.backend_name(), Some(BACKEND));
        assert!(std::error::Error::source(&a).is_some());
    }

    #[test]
    fn operations_are_context_and_other_work_is_named_in_the_message() {
        let err = map_error(Operation::Delete, Failure::Pool(PoolError::Closed));
        assert_eq!(err.operation(), Some(Operation::Delete));
        assert_eq!(err.backend_name(), Some("postgres"));
        assert_eq!(err.message(), "the connection pool is closed");
        assert_eq!(
            err.to_string(),
            "unavailable: postgres delete: the connection pool is closed"
        );
        let err = map_error(Doing::Open, Failure::Pool(PoolError::Closed));
        assert_eq!(err.operation(), None);
        assert_eq!(
            err.to_string(),
            "unavailable: postgres: cannot open the store: the connection pool is closed"
        );
    }
}
