//! The web console (`ServerConfig::console`): static HTML, CSS and JavaScript
//! embedded in the binary, served under `/console/`.
//!
//! The page is public like `/healthz` (it holds no data); every data request
//! it makes carries the bearer token the user typed in. Each answer carries a
//! Content-Security-Policy that allows only the console's own scripts and
//! styles (no inline script, no plugins, no framing, no `<base>`), so a stored
//! value that slipped into the page as markup still could not run.
//!
//! Every URL the page uses is relative: `/console` redirects to `console/`
//! (relative too), the assets sit next to `index.html`, and the data routes
//! are `../states`, `../flows/…` from there — the console works wherever the
//! server is mounted.

use axum::body::Body;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, Response, StatusCode, header};

/// The console's files: name, content type, bytes.
pub(crate) const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "index.html",
        "text/html; charset=utf-8",
        include_bytes!("../console/index.html"),
    ),
    (
        "console.css",
        "text/css; charset=utf-8",
        include_bytes!("../console/console.css"),
    ),
    (
        "console.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../console/console.js"),
    ),
    (
        "api.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../console/api.js"),
    ),
    (
        "dom.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../console/dom.js"),
    ),
    (
        "keys.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../console/keys.js"),
    ),
    (
        "flows.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../console/flows.js"),
    ),
];

/// The most the embedded console may weigh, uncompressed.
#[cfg(test)]
const SIZE_BUDGET: usize = 150 * 1024;

/// The policy of every console answer: the console's own files only; no
/// images at all (the console shows none, and a stored `<img>` that slipped
/// in as markup could not even load).
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'none'; \
connect-src 'self'; form-action 'none'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

/// `GET /console`: to `console/`, so that relative URLs resolve inside it.
pub(crate) async fn redirect() -> Response<Body> {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::PERMANENT_REDIRECT;
    response
        .headers_mut()
        .insert(header::LOCATION, HeaderValue::from_static("console/"));
    secure(response.headers_mut());
    response
}

/// `GET /console/`: the page.
pub(crate) async fn index() -> Response<Body> {
    asset_response("index.html")
}

/// `GET /console/{file}`: one of [`ASSETS`].
pub(crate) async fn asset(Path(file): Path<String>) -> Response<Body> {
    asset_response(&file)
}

fn asset_response(name: &str) -> Response<Body> {
    let Some((_, content_type, bytes)) = ASSETS.iter().find(|(file, _, _)| *file == name) else {
        let mut response = Response::new(Body::from("no such console file\n"));
        *response.status_mut() = StatusCode::NOT_FOUND;
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        secure(response.headers_mut());
        return response;
    };
    let mut response = Response::new(Body::from(*bytes));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // A new binary may ship new files under the same names.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    secure(headers);
    response
}

/// The console's own headers. `X-Content-Type-Options: nosniff` is on every
/// answer of the server (a layer around the whole router adds it).
fn secure(headers: &mut HeaderMap) {
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_console_fits_its_budget() {
        let total: usize = ASSETS.iter().map(|(_, _, bytes)| bytes.len()).sum();
        assert!(
            total <= SIZE_BUDGET,
            "the embedded console weighs {total} bytes, over its budget of {SIZE_BUDGET}"
        );
    }

    #[test]
    fn the_policy_forbids_inline_script_plugins_framing_and_base() {
        for directive in [
            "script-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
            "img-src 'none'",
        ] {
            assert!(CSP.contains(directive), "{directive}");
        }
        assert!(!CSP.contains("unsafe"));
    }

    #[test]
    fn no_console_file_writes_markup_from_strings() {
        for (name, _, bytes) in ASSETS {
            let text = std::str::from_utf8(bytes).unwrap();
            for sink in [
                "innerHTML",
                "outerHTML",
                "insertAdjacentHTML",
                "document.write",
                "eval(",
            ] {
                assert!(!text.contains(sink), "{name} uses {sink}");
            }
        }
    }
}
