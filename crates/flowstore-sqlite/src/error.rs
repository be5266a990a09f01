//! The one place SQLite errors become flowstore errors.

use std::fmt;

use flowstore_core::{Error, ErrorKind, Operation};
use rusqlite::ErrorCode;

/// This backend's name in errors' context.
pub(crate) const BACKEND: &str = "sqlite";

/// Records the operation (and this backend) on an error returned by it; an
/// error that already names them keeps its own.
pub(crate) fn in_op(operation: Operation) -> impl FnOnce(Error) -> Error + Copy {
    move |err| err.with_backend(BACKEND).with_operation(operation)
}

/// The SQLite error kept as an [`Error`]'s source: its text and codes. (A
/// `rusqlite::Error` is not `Clone`, and one failed commit answers a whole batch
/// of callers, each with its own `Error`.)
#[derive(Debug, Clone)]
pub(crate) struct SqliteCause {
    text: String,
}

impl fmt::Display for SqliteCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::error::Error for SqliteCause {}

/// Maps an SQLite error met while doing `what` (e.g. "cannot write", a short
/// phrase for the message) to a flowstore error of this backend (the caller's
/// operation is recorded where the store returns it, see [`in_op`]):
///
/// - busy / locked (a lock still held after `busy_timeout`) → `Timeout`
/// - I/O error, locking protocol failure → `Unavailable` (temporary)
/// - cannot open (missing directory, no permission), permission denied,
///   read-only database → `Config`
/// - corrupt, not a database, a stored value of the wrong type → `Corrupt`
/// - too big → `ValueTooLarge`
/// - disk full, out of memory, everything else → `Backend`
pub(crate) fn map_error(err: &rusqlite::Error, what: &str) -> Error {
    let (kind, detail) = match err {
        rusqlite::Error::SqliteFailure(failure, _) => match failure.code {
            ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => (
                ErrorKind::Timeout,
                "the database is still locked by another connection after busy_timeout",
            ),
            ErrorCode::CannotOpen => (
                ErrorKind::Config,
                "cannot open the database file (does its directory exist, is it writable?)",
            ),
            ErrorCode::SystemIoFailure => (ErrorKind::Unavailable, "disk I/O error"),
            ErrorCode::FileLockingProtocolFailed => (ErrorKind::Unavailable, "file locking failed"),
            ErrorCode::PermissionDenied => (ErrorKind::Config, "permission denied"),
            ErrorCode::ReadOnly => (ErrorKind::Config, "the database is read-only"),
            ErrorCode::AuthorizationForStatementDenied => {
                (ErrorKind::Unauthorized, "not authorized")
            }
            ErrorCode::DatabaseCorrupt => (ErrorKind::Corrupt, "the database file is corrupt"),
            ErrorCode::NotADatabase => (ErrorKind::Corrupt, "the file is not an SQLite database"),
            ErrorCode::TooBig => (ErrorKind::ValueTooLarge, "value too big for SQLite"),
            ErrorCode::DiskFull => (ErrorKind::Backend, "the disk is full"),
            ErrorCode::OutOfMemory => (ErrorKind::Backend, "SQLite ran out of memory"),
            _ => (ErrorKind::Backend, "SQLite error"),
        },
        rusqlite::Error::InvalidColumnType(..)
        | rusqlite::Error::FromSqlConversionFailure(..)
        | rusqlite::Error::Utf8Error(..) => (
            ErrorKind::Corrupt,
            "a stored row does not have the expected type",
        ),
        _ => (ErrorKind::Backend, "SQLite error"),
    };
    Error::new(kind, format!("{what}: {detail}"))
        .with_backend(BACKEND)
        .with_source(SqliteCause {
            text: err.to_string(),
        })
}

/// Whether `err` is SQLite's "busy" (a lock held elsewhere).
pub(crate) fn is_busy(err: &rusqlite::Error) -> bool {
    matches!(
        err.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(code: i32) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), None)
    }

    #[test]
    fn codes_map_to_kinds() {
        use rusqlite::ffi;
        let cases = [
            (ffi::SQLITE_BUSY, ErrorKind::Timeout),
            (ffi::SQLITE_LOCKED, ErrorKind::Timeout),
            (ffi::SQLITE_CANTOPEN, ErrorKind::Config),
            (ffi::SQLITE_IOERR, ErrorKind::Unavailable),
            (ffi::SQLITE_PERM, ErrorKind::Config),
            (ffi::SQLITE_READONLY, ErrorKind::Config),
            (ffi::SQLITE_CORRUPT, ErrorKind::Corrupt),
            (ffi::SQLITE_NOTADB, ErrorKind::Corrupt),
            (ffi::SQLITE_TOOBIG, ErrorKind::ValueTooLarge),
            (ffi::SQLITE_FULL, ErrorKind::Backend),
            (ffi::SQLITE_NOMEM, ErrorKind::Backend),
            (ffi::SQLITE_CONSTRAINT, ErrorKind::Backend),
        ];
        for (code, kind) in cases {
            let err = map_error(&failure(code), "cannot write");
            assert_eq!(err.kind(), kind, "code {code}");
            assert!(std::error::Error::source(&err).is_some());
            assert_eq!(err.backend_name(), Some("sqlite"));
            assert!(err.message().starts_with("cannot write: "), "{err}");
        }
        assert!(map_error(&failure(ffi::SQLITE_BUSY), "x").is_temporary());
        assert!(map_error(&failure(ffi::SQLITE_IOERR), "x").is_temporary());
        assert!(!map_error(&failure(ffi::SQLITE_CORRUPT), "x").is_temporary());
    }
}
