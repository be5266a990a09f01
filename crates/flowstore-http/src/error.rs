//! Mapping what the HTTP client and the server report to `flowstore_core::Error`:
//! transport failures, cut-short bodies, and answers that are not a success.

use flowstore_core::{Error, ErrorKind, Operation};
use http::StatusCode;
use http_body_util::LengthLimitError;

use crate::protocol::decode_error;
use crate::store::{Answer, HttpStore};

/// This backend's name in errors' context. A server's error keeps the kind and
/// message it sent, and takes this client's context: the server sends no context
/// of its own.
const BACKEND: &str = "http";

/// Records the operation (and this backend) on an error of this store.
pub(crate) fn in_op(operation: Operation) -> impl FnOnce(Error) -> Error {
    move |err| err.with_backend(BACKEND).with_operation(operation)
}

impl HttpStore {
    pub(crate) fn transport_error(&self, err: hyper_util::client::legacy::Error) -> Error {
        let base = &self.inner.base;
        let timed_out = io_kind_in_chain(&err) == Some(std::io::ErrorKind::TimedOut);
        let error = if timed_out && err.is_connect() {
            Error::timeout(format!(
                "cannot connect to {base} within {} ms",
                self.inner.connect_timeout.as_millis()
            ))
        } else if err.is_connect() {
            Error::unavailable(format!("cannot connect to {base}"))
        } else if hyper_error_in_chain(&err).is_some_and(hyper::Error::is_parse) {
            Error::backend(format!(
                "{base} sent something that is not a valid HTTP response"
            ))
            .with_temporary(true)
        } else {
            Error::unavailable(format!(
                "the connection to {base} failed before an answer arrived"
            ))
        };
        error.with_source(err)
    }

    pub(crate) fn body_error(
        &self,
        err: Box<dyn std::error::Error + Send + Sync>,
        limit: usize,
    ) -> Error {
        if err.is::<LengthLimitError>() {
            return Error::backend(format!(
                "{} sent a response body over {limit} bytes",
                self.inner.base
            ));
        }
        Error::unavailable(format!(
            "the response body from {} was cut short",
            self.inner.base
        ))
        .with_source(err)
    }

    /// The error for a response to `operation` that is not a success.
    pub(crate) fn error_from(&self, operation: Operation, answer: &Answer) -> Error {
        in_op(operation)(self.error_of(answer))
    }

    /// The error for a response that is not a success, without context.
    pub(crate) fn error_of(&self, answer: &Answer) -> Error {
        let status = answer.status;
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Error::new(
                ErrorKind::Unauthorized,
                format!(
                    "authentication failed: {} answered HTTP {}",
                    self.inner.base,
                    status.as_u16()
                ),
            );
        }
        if let Some(error) = decode_error(status, &answer.body) {
            return error;
        }
        let message = format!("{} answered HTTP {}", self.inner.base, status.as_u16());
        match status.as_u16() {
            413 => Error::new(ErrorKind::ValueTooLarge, message),
            429 | 502 | 503 => Error::unavailable(message),
            408 | 504 => Error::timeout(message),
            300..=399 => Error::backend(format!(
                "{message} (a redirect; point the store at the final URL)"
            )),
            500..=599 => Error::backend(message).with_temporary(true),
            _ => Error::backend(message),
        }
    }
}

fn io_kind_in_chain(err: &(dyn std::error::Error + 'static)) -> Option<std::io::ErrorKind> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(err) = cause {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        cause = err.source();
    }
    None
}

fn hyper_error_in_chain<'a>(
    err: &'a (dyn std::error::Error + 'static),
) -> Option<&'a hyper::Error> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(err) = cause {
        if let Some(hyper) = err.downcast_ref::<hyper::Error>() {
            return Some(hyper);
        }
        cause = err.source();
    }
    None
}
