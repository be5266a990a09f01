//! The query string of every route, checked in one place.
//!
//! The API knows `ttl` on `PUT /states/{key}` and `prefix`, `cursor` and
//! `limit` on `GET /states` (a listing). Any other, on any route, and any of
//! them on another route, is `400 invalid_argument`, so a misspelt `tll=30s` is never
//! silently ignored. [`known_parameters_only`] runs in front of each route's
//! handlers: the router wraps every route in `checked` (app.rs), and a server
//! test walks every path and method of the OpenAPI document with an unknown
//! parameter, so a new route that forgets `checked` fails it.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{Method, Response};
use axum::middleware::Next;
use flowstore_core::url::percent_decode_exact;
use flowstore_core::{Error, Result, Ttl};
use flowstore_http::protocol::{
    CURSOR_PARAMETER, LIMIT_PARAMETER, PREFIX_PARAMETER, STATES_PATH, TTL_PARAMETER,
};

use crate::response::store_error_response;

/// The parsed query of a request, put into the request's extensions by
/// [`known_parameters_only`] for the handler to take.
#[derive(Clone, Debug, Default)]
pub(crate) struct Query {
    /// `ttl`: the entry's time to live (`PUT /states/{key}` only).
    pub(crate) ttl: Option<Ttl>,
    /// `prefix`, decoded (`GET /states` only).
    pub(crate) prefix: Option<String>,
    /// `cursor`, decoded (`GET /states` only).
    pub(crate) cursor: Option<String>,
    /// `limit` (`GET /states` only).
    pub(crate) limit: Option<usize>,
}

/// Middleware: parses the query against the parameters the route knows, and
/// answers `400 invalid_argument` for an unknown, repeated or bad one before the
/// handler runs.
pub(crate) async fn known_parameters_only(mut request: Request, next: Next) -> Response<Body> {
    let known = known_parameters(request.method(), request.uri().path());
    match parse(request.uri().query(), known) {
        Ok(query) => {
            request.extensions_mut().insert(query);
            next.run(request).await
        }
        Err(err) => store_error_response(&err),
    }
}

const LISTING: &[&str] = &[PREFIX_PARAMETER, CURSOR_PARAMETER, LIMIT_PARAMETER];

/// The query parameters a request may carry: `ttl` on a `PUT` of a state (the
/// only `PUT` route), the listing's on `GET /states` and the flow routes,
/// nothing on any other request. `HEAD` is a `GET` without the body (axum
/// answers it with the `GET` handler), so it knows what `GET` knows. The path
/// is the router's own (without a prefix the router is nested under).
fn known_parameters(method: &Method, path: &str) -> &'static [&'static str] {
    let state = path
        .strip_prefix(STATES_PATH)
        .is_some_and(|rest| rest.starts_with('/'));
    if method == Method::PUT && state {
        &[TTL_PARAMETER]
    } else if (method == Method::GET || method == Method::HEAD)
        && (path == STATES_PATH || path == FLOWS_PATH || is_flow_route(path))
    {
        LISTING
    } else {
        &[]
    }
}

/// `GET /flows` (flow id discovery): its `prefix` is the layout's first
/// segment, `cursor` and `limit` as in a listing.
const FLOWS_PATH: &str = "/flows";

/// `/flows/{flowId}/summary` and `/flows/{flowId}/instances`: their `prefix`
/// is the layout's first segment, `cursor` and `limit` as in a listing.
fn is_flow_route(path: &str) -> bool {
    path.strip_prefix("/flows/")
        .and_then(|rest| {
            rest.strip_suffix("/summary")
                .or_else(|| rest.strip_suffix("/instances"))
        })
        .is_some_and(|flow| !flow.is_empty() && !flow.contains('/'))
}

/// Parses `query` (the part after `?`, if any), knowing only the parameters in
/// `known`. Anything else is `InvalidArgument`.
fn parse(query: Option<&str>, known: &[&str]) -> Result<Query> {
    let mut parsed = Query::default();
    let Some(query) = query else {
        return Ok(parsed);
    };
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        if !known.contains(&name) {
            return Err(Error::invalid_argument(format!(
                "unknown query parameter {:?}{}",
                truncate(name, 64),
                match known {
                    [] => String::new(),
                    known => format!(" (only `{}` is known)", known.join("`, `")),
                }
            )));
        }
        let repeated = match name {
            TTL_PARAMETER => parsed.ttl.is_some(),
            PREFIX_PARAMETER => parsed.prefix.is_some(),
            CURSOR_PARAMETER => parsed.cursor.is_some(),
            _ => parsed.limit.is_some(),
        };
        if repeated {
            return Err(Error::invalid_argument(format!(
                "`{name}` is given more than once"
            )));
        }
        // Exact decoding (`+` is a plus sign): a prefix is literal text.
        let value = percent_decode_exact(value)
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or_else(|| Error::invalid_argument(format!("`{name}` has a malformed %-escape")))?;
        match name {
            TTL_PARAMETER => parsed.ttl = Some(value.parse::<Ttl>()?),
            PREFIX_PARAMETER => parsed.prefix = Some(value),
            CURSOR_PARAMETER => parsed.cursor = Some(value),
            _ => {
                let limit = value.parse::<usize>().map_err(|_| {
                    Error::invalid_argument(format!(
                        "`{LIMIT_PARAMETER}` is a number of keys, not {:?}",
                        truncate(&value, 32)
                    ))
                })?;
                parsed.limit = Some(limit);
            }
        }
    }
    Ok(parsed)
}

/// At most `max` bytes of `text`, cut at a character boundary: an error message
/// quotes a parameter name, never an unbounded one.
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
    use flowstore_core::ErrorKind;

    use super::*;

    const TTL: &[&str] = &[TTL_PARAMETER];

    #[test]
    fn only_known_parameters_pass() {
        assert_eq!(parse(None, TTL).unwrap().ttl, None);
        assert_eq!(parse(Some(""), TTL).unwrap().ttl, None);
        assert_eq!(
            parse(Some("ttl=30s"), TTL).unwrap().ttl,
            Some("30s".parse().unwrap())
        );
        for bad in ["ttl=0s", "ttl=abc", "tll=30s", "ttl=1s&ttl=2s", "ttl=%zz"] {
            let err = parse(Some(bad), TTL).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{bad}");
        }
        let err = parse(Some("ttl=30s"), &[]).unwrap_err();
        assert_eq!(err.message(), "unknown query parameter \"ttl\"");
        let listing = parse(Some("prefix=a%2Bb+c&cursor=m.61&limit=5"), LISTING).unwrap();
        assert_eq!(listing.prefix.as_deref(), Some("a+b+c"));
        assert_eq!(listing.cursor.as_deref(), Some("m.61"));
        assert_eq!(listing.limit, Some(5));
        for bad in [
            "limit=x",
            "limit=-1",
            "prefix=a&prefix=b",
            "prefix=%zz",
            "ttl=30s",
        ] {
            let err = parse(Some(bad), LISTING).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{bad}");
        }
        let err = parse(Some("tll=30s"), TTL).unwrap_err();
        assert_eq!(
            err.message(),
            "unknown query parameter \"tll\" (only `ttl` is known)"
        );
    }

    #[test]
    fn ttl_is_known_only_when_putting_a_state() {
        assert_eq!(known_parameters(&Method::PUT, "/states/k"), TTL);
        assert_eq!(known_parameters(&Method::GET, "/states"), LISTING);
        assert_eq!(known_parameters(&Method::GET, "/flows"), LISTING);
        assert_eq!(known_parameters(&Method::GET, "/flows/f/summary"), LISTING);
        assert_eq!(
            known_parameters(&Method::GET, "/flows/f/instances"),
            LISTING
        );
        assert_eq!(known_parameters(&Method::HEAD, "/states"), LISTING);
        assert_eq!(known_parameters(&Method::HEAD, "/flows/f/summary"), LISTING);
        for (method, path) in [
            (Method::GET, "/states/k"),
            (Method::DELETE, "/states/k"),
            (Method::DELETE, "/states"),
            (Method::PUT, "/states"),
            (Method::PUT, "/statesk"),
            (Method::GET, "/healthz"),
            (Method::POST, "/batch/get"),
            (Method::POST, "/delete-prefix"),
            (Method::PATCH, "/states/k"),
            (Method::POST, "/flows"),
            (Method::GET, "/flows/"),
            (Method::GET, "/flows//summary"),
            (Method::GET, "/flows/a/b/summary"),
            (Method::HEAD, "/states/k"),
            (Method::POST, "/states"),
        ] {
            assert!(
                known_parameters(&method, path).is_empty(),
                "{method} {path}"
            );
        }
    }
}
