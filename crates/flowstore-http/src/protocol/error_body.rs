//! Errors on the wire: a status code and a JSON body that carries the error kind,
//! so a server-side `Corrupt` reaches the client as a permanent `Corrupt`.

use flowstore_core::{Error, ErrorKind};
use http::StatusCode;

/// The `Content-Type` of an error body.
pub const ERROR_CONTENT_TYPE: &str = "application/json";

/// The longest message [`decode_error`] keeps, in characters: a hostile or
/// confused server cannot flood the client's logs through it.
const MAX_MESSAGE_CHARS: usize = 512;

/// The HTTP status for an error of `kind`.
///
/// | kind | status |
/// |---|---|
/// | `invalid_key`, `invalid_argument` | 400 |
/// | `unauthorized` (the server's own token check) | 401 |
/// | `conflict` (a failed condition: `If-Match`, `If-None-Match`) | 412 |
/// | `value_too_large` | 413 |
/// | `unsupported` | 501 |
/// | `unavailable` | 503 |
/// | `timeout` | 504 |
/// | `corrupt`, `data_loss`, `config`, `backend`, and `unauthorized` from the store | 500 |
///
/// (The server answers its own token check with 401 explicitly; a store's
/// `Unauthorized` is the server's problem, not the client's, hence 500.)
pub fn status_for(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::InvalidKey | ErrorKind::InvalidArgument => StatusCode::BAD_REQUEST,
        ErrorKind::ValueTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorKind::Conflict => StatusCode::PRECONDITION_FAILED,
        ErrorKind::Unsupported => StatusCode::NOT_IMPLEMENTED,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Timeout => StatusCode::GATEWAY_TIMEOUT,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The JSON body of an error answer:
/// `{"error":"<kind>","message":"<one line>","temporary":<bool>}`.
///
/// The message is the error's own one-line message, never its sources (which
/// may quote a backend's answer) nor its context (operation and backend): the
/// client names its own.
pub fn encode_error(err: &Error) -> Vec<u8> {
    let body = serde_json::json!({
        "error": err.kind().as_str(),
        "message": err.message(),
        "temporary": err.is_temporary(),
    });
    serde_json::to_vec(&body).unwrap_or_default()
}

/// The error an error body describes, or `None` if `body` is not a flowstore
/// error body (an HTML error page, a proxy's answer, an unknown kind).
///
/// The message is prefixed `server:` and cut to 512 characters. Without a
/// `temporary` field, the kind's default applies, and a `backend` error on a 5xx
/// or 429 is temporary.
pub fn decode_error(status: StatusCode, body: &[u8]) -> Option<Error> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let kind: ErrorKind = value.get("error")?.as_str()?.parse().ok()?;
    let message = value
        .get("message")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("(no message)");
    let message: String = message.chars().take(MAX_MESSAGE_CHARS).collect();
    let temporary = value
        .get("temporary")
        .and_then(serde_json::Value::as_bool)
        .unwrap_or_else(|| {
            kind.is_temporary_by_default()
                || (kind == ErrorKind::Backend
                    && (status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS))
        });
    Some(Error::new(kind, format!("server: {message}")).with_temporary(temporary))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_an_error_status() {
        for kind in ErrorKind::ALL {
            let status = status_for(kind);
            assert!(
                status.is_client_error() || status.is_server_error(),
                "{kind}"
            );
        }
        assert_eq!(
            status_for(ErrorKind::Corrupt),
            StatusCode::INTERNAL_SERVER_ERROR
        );
        // A failed condition is HTTP's own: 412 Precondition Failed.
        assert_eq!(
            status_for(ErrorKind::Conflict),
            StatusCode::PRECONDITION_FAILED
        );
    }

    #[test]
    fn the_body_is_byte_for_byte_the_published_shape() {
        let err = Error::new(ErrorKind::Corrupt, "bad \"frame\"");
        assert_eq!(
            encode_error(&err),
            br#"{"error":"corrupt","message":"bad \"frame\"","temporary":false}"#
        );
        let err = Error::unavailable("down");
        assert_eq!(
            encode_error(&err),
            br#"{"error":"unavailable","message":"down","temporary":true}"#
        );
        // The server's context stays on the server (its log lines): the body
        // keeps its shape, and the client adds its own context.
        let err = Error::unavailable("down")
            .with_backend("sqlite")
            .with_operation(flowstore_core::Operation::Get);
        assert_eq!(
            encode_error(&err),
            br#"{"error":"unavailable","message":"down","temporary":true}"#
        );
    }

    #[test]
    fn every_kind_survives_the_round_trip() {
        for kind in ErrorKind::ALL {
            for temporary in [false, true] {
                let sent = Error::new(kind, "why").with_temporary(temporary);
                let got = decode_error(status_for(kind), &encode_error(&sent)).unwrap();
                assert_eq!(got.kind(), kind);
                assert_eq!(got.is_temporary(), temporary, "{kind}");
                assert_eq!(got.message(), "server: why");
            }
        }
    }

    #[test]
    fn error_bodies_keep_their_kind() {
        let body = br#"{"error":"corrupt","message":"bad frame","temporary":false}"#;
        let err = decode_error(StatusCode::INTERNAL_SERVER_ERROR, body).unwrap();
        assert_eq!(err.kind(), ErrorKind::Corrupt);
        assert!(!err.is_temporary());
        // Without the `temporary` field: the kind's default, and 5xx backend errors retry.
        let err =
            decode_error(StatusCode::INTERNAL_SERVER_ERROR, br#"{"error":"corrupt"}"#).unwrap();
        assert!(!err.is_temporary());
        let err =
            decode_error(StatusCode::INTERNAL_SERVER_ERROR, br#"{"error":"backend"}"#).unwrap();
        assert!(err.is_temporary());
        let long = format!(
            r#"{{"error":"backend","message":"{}"}}"#,
            "x".repeat(10_000)
        );
        let err = decode_error(StatusCode::BAD_REQUEST, long.as_bytes()).unwrap();
        assert_eq!(err.message().len(), "server: ".len() + MAX_MESSAGE_CHARS);
        assert!(decode_error(StatusCode::INTERNAL_SERVER_ERROR, b"<html>oops</html>").is_none());
        assert!(decode_error(StatusCode::INTERNAL_SERVER_ERROR, br#"{"error":"nope"}"#).is_none());
    }
}
