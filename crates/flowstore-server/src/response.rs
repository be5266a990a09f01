//! Error answers: the protocol's status code and JSON body, as axum responses.

use axum::body::Body;
use axum::http::{HeaderValue, Response, StatusCode, header};
use flowstore_core::Error;
use flowstore_http::protocol::{ERROR_CONTENT_TYPE, encode_error, status_for};

/// An error answer with `status` and the protocol's JSON error body
/// (see [`flowstore_http::protocol::encode_error`]).
pub(crate) fn error_response(status: StatusCode, err: &Error) -> Response<Body> {
    let mut response = Response::new(Body::from(encode_error(err)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(ERROR_CONTENT_TYPE),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The error answer for a store error (status from [`status_for`]).
pub(crate) fn store_error_response(err: &Error) -> Response<Body> {
    error_response(status_for(err.kind()), err)
}
