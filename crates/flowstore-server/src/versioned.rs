//! The answers a server gives by entry versions (SPEC §8): an entry with its
//! `ETag` and expiry, a write with its new `ETag`, and the `412` of a failed
//! condition. Each carries the `Flowstore-Versioned` marker, which tells the
//! client the condition was evaluated (a server that ignored it never sends it).

use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode, header};
use flowstore_core::{Entry, Error, ErrorKind, Version};
use flowstore_http::protocol::{
    EXPIRES_AT_HEADER, VERSIONED_HEADER, VERSIONED_VALUE, current_headers, etag_value,
    format_expires_at,
};

use crate::response::error_response;

/// Adds the marker that says this answer was given by entry versions.
pub(crate) fn mark(headers: &mut HeaderMap) {
    headers.insert(
        HeaderName::from_static(VERSIONED_HEADER),
        HeaderValue::from_static(VERSIONED_VALUE),
    );
}

/// Adds the entry's `ETag`, its expiry when it has one, and the marker to the
/// headers of a `GET` answer.
pub(crate) fn entry_headers(entry: &Entry, headers: &mut HeaderMap) {
    headers.insert(header::ETAG, etag_value(&entry.version));
    if let Some(at) = entry.expires_at {
        // Digits, `-`, `:`, `.`, `T` and `Z`: always a valid header value.
        if let Ok(value) = HeaderValue::try_from(format_expires_at(at)) {
            headers.insert(HeaderName::from_static(EXPIRES_AT_HEADER), value);
        }
    }
    mark(headers);
}

/// The `204` of a write at `version`: the new `ETag` and the marker.
pub(crate) fn written(version: Option<&Version>) -> Response<Body> {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::NO_CONTENT;
    let headers = response.headers_mut();
    if let Some(version) = version {
        headers.insert(header::ETAG, etag_value(version));
    }
    mark(headers);
    response
}

/// The `412 Precondition Failed` of a `Conflict`: kind `conflict` in the body,
/// the current `ETag` (or `Flowstore-Absent: 1`) when the store said, and the
/// marker. Any other error is `None`.
pub(crate) fn conflict_response(err: &Error) -> Option<Response<Body>> {
    if err.kind() != ErrorKind::Conflict {
        return None;
    }
    let mut response = error_response(StatusCode::PRECONDITION_FAILED, err);
    let headers = response.headers_mut();
    current_headers(err.current(), headers);
    mark(headers);
    Some(response)
}

/// The `501` for a conditional request (or a proposed version) to a server
/// whose store keeps no entry versions: nothing was written.
pub(crate) fn no_versions() -> Error {
    Error::unsupported(
        "this server's store keeps no entry versions, so it cannot honour If-Match, \
         If-None-Match or Flowstore-New-Version; nothing was written",
    )
}
