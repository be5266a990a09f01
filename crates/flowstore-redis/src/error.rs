//! The one place where fred's errors become flowstore errors.

use flowstore_core::{Error, ErrorKind, Operation};
use fred::error::{Error as FredError, ErrorKind as FredKind};

/// This backend's name in errors' context.
pub(crate) const BACKEND: &str = "redis";

/// Records the operation (and this backend) on an error of this store; an
/// error that already names them keeps its own.
pub(crate) fn in_op(operation: Operation) -> impl FnOnce(Error) -> Error {
    move |err| err.with_backend(BACKEND).with_operation(operation)
}

/// What Redis 7.0 says when a script calls a command the ACL user may not run.
const SCRIPT_ACL_REFUSAL: &str = "can't run this command or subcommand";

/// Server error prefixes that mean "the data is not reachable right now, retry
/// later": a cluster without a quorum or in the middle of resharding, a server
/// still loading its dataset, a replica that lost its primary, a former primary
/// demoted during a failover, a busy script.
const TEMPORARY_PREFIXES: [&str; 7] = [
    "CLUSTERDOWN",
    "TRYAGAIN",
    "LOADING",
    "MASTERDOWN",
    "READONLY",
    "BUSY",
    "NOREPLICAS",
];

/// Maps an error fred returned to the kinds of SPEC §3, with this backend as
/// context (the caller adds its operation, see [`in_op`]). The fred error is
/// kept as the source. Messages never contain credentials: fred's errors carry
/// the server's reply or an I/O error, never the configuration.
pub(crate) fn map_error(err: FredError) -> Error {
    let details = err.details();
    let prefix = details.split_whitespace().next().unwrap_or("");
    let (kind, what) = match err.kind() {
        _ if matches!(prefix, "NOAUTH" | "WRONGPASS" | "NOPERM") => (
            ErrorKind::Unauthorized,
            "the server refused our credentials",
        ),
        // A command of a flowstore script (get_entry, set_if, delete_if) that
        // the ACL user may not run: Redis 7.0 answers with a plain `ERR`.
        _ if details.contains(SCRIPT_ACL_REFUSAL) => (
            ErrorKind::Unauthorized,
            "the server refused our credentials for a command of a flowstore script",
        ),
        // fred's answer when a command's connection died under it on every
        // attempt (kind `Unknown`, so matched by text).
        _ if details.starts_with("Too many failed write attempts") => {
            (ErrorKind::Unavailable, "cannot reach the server")
        }
        _ if TEMPORARY_PREFIXES.contains(&prefix) => (
            ErrorKind::Unavailable,
            "the server cannot serve this key right now",
        ),
        FredKind::Timeout => (ErrorKind::Timeout, "no answer within the command timeout"),
        FredKind::Auth => (
            ErrorKind::Unauthorized,
            "the server refused our credentials",
        ),
        FredKind::IO | FredKind::Canceled => (ErrorKind::Unavailable, "cannot reach the server"),
        FredKind::Cluster | FredKind::Routing | FredKind::Sentinel | FredKind::Backpressure => (
            ErrorKind::Unavailable,
            "no server is available for this key",
        ),
        #[cfg(feature = "tls")]
        FredKind::Tls => (ErrorKind::Unavailable, "TLS connection failed"),
        FredKind::Config | FredKind::Url => (ErrorKind::Config, "invalid client configuration"),
        _ => (ErrorKind::Backend, "the server reported an error"),
    };
    Error::new(kind, what)
        .with_backend(BACKEND)
        .with_source(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind_of(kind: FredKind, details: &'static str) -> (ErrorKind, bool) {
        let err = map_error(FredError::new(kind, details));
        (err.kind(), err.is_temporary())
    }

    #[test]
    fn connection_problems_are_temporary() {
        assert_eq!(
            kind_of(FredKind::IO, "Connection reset"),
            (ErrorKind::Unavailable, true)
        );
        assert_eq!(
            kind_of(FredKind::Canceled, "Canceled"),
            (ErrorKind::Unavailable, true)
        );
        assert_eq!(
            kind_of(FredKind::Timeout, "Request timed out."),
            (ErrorKind::Timeout, true)
        );
        for reply in [
            "CLUSTERDOWN The cluster is down",
            "TRYAGAIN Multiple keys request during rehashing of slot",
            "LOADING Redis is loading the dataset in memory",
            "MASTERDOWN Link with MASTER is down",
            "READONLY You can't write against a read only replica.",
        ] {
            assert_eq!(
                kind_of(FredKind::Unknown, reply),
                (ErrorKind::Unavailable, true),
                "{reply}"
            );
        }
        assert_eq!(
            kind_of(FredKind::Cluster, "CLUSTERDOWN x"),
            (ErrorKind::Unavailable, true)
        );
    }

    #[test]
    fn refused_credentials_are_unauthorized() {
        for reply in [
            "NOAUTH Authentication required.",
            "WRONGPASS invalid username-password pair or user is disabled.",
            "NOPERM this user has no permissions to run the 'get' command",
        ] {
            assert_eq!(
                kind_of(FredKind::Unknown, reply),
                (ErrorKind::Unauthorized, false),
                "{reply}"
            );
        }
        assert_eq!(
            kind_of(FredKind::Auth, "x"),
            (ErrorKind::Unauthorized, false)
        );
        assert_eq!(
            kind_of(
                FredKind::Unknown,
                "ERR The user executing the script can't run this command or subcommand script: 8ca4, on @user_script:33."
            ),
            (ErrorKind::Unauthorized, false)
        );
    }

    #[test]
    fn everything_else_is_a_permanent_backend_error() {
        assert_eq!(
            kind_of(
                FredKind::InvalidArgument,
                "WRONGTYPE Operation against a key holding the wrong kind of value"
            ),
            (ErrorKind::Backend, false)
        );
        assert_eq!(
            kind_of(
                FredKind::Unknown,
                "OOM command not allowed when used memory > 'maxmemory'."
            ),
            (ErrorKind::Backend, false)
        );
        assert_eq!(kind_of(FredKind::Config, "bad"), (ErrorKind::Config, false));
    }

    #[test]
    fn source_is_kept() {
        let err = map_error(FredError::new(FredKind::IO, "Connection refused"));
        assert_eq!(err.message(), "cannot reach the server");
        assert_eq!(err.backend_name(), Some("redis"));
        let err = in_op(Operation::Set)(err);
        assert_eq!(
            err.to_string(),
            "unavailable: redis set: cannot reach the server"
        );
        assert!(err.to_one_line().contains("Connection refused"));
    }
}
