//! The wire format: status codes, error bodies, key and query decoding.

use axum::body::Body;
use axum::http::{HeaderValue, Response, StatusCode, header};
use flowstore_core::{Error, ErrorKind, Key, Result, Ttl};

/// The response header that marks a 404 as "this key is absent" (value `1`).
/// Clients treat any other 404 as an error (wrong URL, proxy page), not as absent.
// Kept equal to the client's by flowstore-http's test client_and_server_agree_on_the_wire.
pub const ABSENT_HEADER: &str = "flowstore-absent";

/// The request header in which a client names the namespace it expects
/// (percent-encoded). The server serves one namespace; a request naming another is
/// refused with 400 `config`, so a client configured for namespace `a` can never
/// read, overwrite or clear the keys of a server serving `b`. Clients that do not
/// send it (such as the original design's) are served as before.
// Kept equal to the client's by flowstore-http's test client_and_server_agree_on_the_wire.
pub const NAMESPACE_HEADER: &str = "flowstore-namespace";

/// The HTTP status for an error of `kind`.
///
/// | kind | status |
/// |---|---|
/// | `invalid_key`, `invalid_argument` | 400 |
/// | `unauthorized` (the server's own token check) | 401 |
/// | `conflict` | 409 |
/// | `value_too_large` | 413 |
/// | `unsupported` | 501 |
/// | `unavailable` | 503 |
/// | `timeout` | 504 |
/// | `corrupt`, `config`, `backend`, and `unauthorized` from the store | 500 |
pub fn status_for(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::InvalidKey | ErrorKind::InvalidArgument => StatusCode::BAD_REQUEST,
        ErrorKind::ValueTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::Unsupported => StatusCode::NOT_IMPLEMENTED,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Timeout => StatusCode::GATEWAY_TIMEOUT,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// An error response with the JSON body `{"error": kind, "message": …, "temporary": bool}`.
// Pinned to the client's parser by flowstore-http's test server_side_corrupt_stays_permanent.
pub fn error_response(status: StatusCode, err: &Error) -> Response<Body> {
    let body = serde_json::json!({
        "error": err.kind().as_str(),
        "message": err.message(),
        "temporary": err.is_temporary(),
    });
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The error response for a store error (status from [`status_for`]).
pub fn store_error_response(err: &Error) -> Response<Body> {
    error_response(status_for(err.kind()), err)
}

/// Percent-decodes a raw path segment exactly once (`%XX` only; `+` stays `+`)
/// and checks the key rules. Errors are `InvalidKey`.
pub fn decode_key(raw: &str) -> Result<Key> {
    if !raw.contains('%') {
        return Key::new(raw);
    }
    Key::from_bytes(&percent_decode(raw).ok_or_else(|| {
        Error::invalid_key("the key has a malformed %-escape (expected % and two hex digits)")
    })?)
}

fn percent_decode(raw: &str) -> Option<Vec<u8>> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hi = hex(*bytes.get(i + 1)?)?;
            let lo = hex(*bytes.get(i + 2)?)?;
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

fn hex(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

/// The query of a request: only `ttl` is known (and only where `allow_ttl`);
/// anything else is `InvalidArgument`, so a misspelt `tll=30s` is not silently
/// ignored.
pub fn parse_query(query: Option<&str>, allow_ttl: bool) -> Result<Option<Ttl>> {
    let Some(query) = query else {
        return Ok(None);
    };
    let mut ttl = None;
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        if name != "ttl" || !allow_ttl {
            return Err(Error::invalid_argument(format!(
                "unknown query parameter {:?}{}",
                truncate(name, 64),
                if allow_ttl {
                    " (only `ttl` is known)"
                } else {
                    ""
                }
            )));
        }
        if ttl.is_some() {
            return Err(Error::invalid_argument("`ttl` is given more than once"));
        }
        let value = percent_decode(value)
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or_else(|| Error::invalid_argument("`ttl` has a malformed %-escape"))?;
        ttl = Some(value.parse::<Ttl>()?);
    }
    Ok(ttl)
}

fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_decoded_once() {
        assert_eq!(decode_key("%2E%2E").unwrap().as_str(), "..");
        assert_eq!(decode_key("..").unwrap().as_str(), "..");
        assert_eq!(decode_key("%252e%252e").unwrap().as_str(), "%2e%2e");
        assert_eq!(decode_key("a%2Fb").unwrap().as_str(), "a/b");
        assert_eq!(decode_key("+plus").unwrap().as_str(), "+plus");
        assert_eq!(decode_key("%F0%9F%98%80").unwrap().as_str(), "😀");
        for bad in ["%", "%2", "%zz", "%00", "%ff", "a%2"] {
            let err = decode_key(bad).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidKey, "{bad}");
        }
    }

    #[test]
    fn query_knows_only_ttl() {
        assert_eq!(parse_query(None, true).unwrap(), None);
        assert_eq!(parse_query(Some(""), true).unwrap(), None);
        assert_eq!(
            parse_query(Some("ttl=30s"), true).unwrap(),
            Some("30s".parse().unwrap())
        );
        for bad in ["ttl=0s", "ttl=abc", "tll=30s", "ttl=1s&ttl=2s", "ttl=%zz"] {
            let err = parse_query(Some(bad), true).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{bad}");
        }
        assert!(parse_query(Some("ttl=30s"), false).is_err());
    }

    #[test]
    fn every_kind_has_a_status() {
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
    }
}
