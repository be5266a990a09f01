//! Store URLs: the shared parser (`flowstore_core::url`), each backend's
//! `from_url`, and `flowstore::open`. URLs come from configuration and
//! command lines, and hold passwords.

use arbitrary::{Arbitrary, Unstructured};
use flowstore_core::url::{StoreUrl, percent_decode, percent_decode_exact, percent_encode};
use flowstore_core::{Error, ErrorKind};

use super::{SECRET, assert_not_quoted, block_on};

#[derive(Arbitrary, Debug)]
enum UrlCase {
    /// Any text as a store URL.
    Parse(String),
    /// Any text through the percent codec.
    Codec(String),
    /// A URL of a backend scheme whose password is the secret marker.
    Backend {
        scheme: u8,
        user: String,
        rest: String,
    },
}

const SCHEMES: [&str; 12] = [
    "memory",
    "sqlite",
    "postgres",
    "postgresql",
    "redis",
    "rediss",
    "redis-cluster",
    "rediss-cluster",
    "redis-sentinel",
    "rediss-sentinel",
    "http",
    "https",
];

/// Store URL parsing: a parsed URL re-encodes (`to_client_url`) into one that
/// parses to the same parts; a URL is refused only with `Config`; the percent
/// codec round-trips every text; and no backend's `from_url` (nor
/// `flowstore::open` for `memory://`) quotes a URL's password in an error or
/// in the builder's `Debug` output.
pub fn store_urls(data: &[u8]) {
    let Ok(case) = UrlCase::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    match case {
        UrlCase::Parse(text) => match StoreUrl::parse(&text) {
            Ok(url) => {
                let again = StoreUrl::parse(&url.to_client_url()).expect("a re-encoded URL parses");
                assert_eq!(again, url, "{text:?} changes when re-encoded");
                assert_eq!(url.base(), text.split('?').next().unwrap_or_default());
            }
            Err(err) => {
                assert_eq!(err.kind(), ErrorKind::Config, "{err}");
                // Refused only for a malformed escape or escapes that are not UTF-8.
                let query = text.split_once('?').map_or("", |(_, query)| query);
                let spaced = query.replace('+', " ");
                assert!(
                    spaced
                        .split(['&', '='])
                        .any(|part| percent_decode_exact(part)
                            .is_none_or(|bytes| String::from_utf8(bytes).is_err())),
                    "{text:?} refused: {err}"
                );
            }
        },
        UrlCase::Codec(text) => {
            let encoded = percent_encode(&text);
            assert!(
                encoded
                    .bytes()
                    .all(|byte| byte.is_ascii_alphanumeric() || b"-._~%".contains(&byte)),
                "{encoded:?}"
            );
            assert_eq!(percent_decode(&encoded).expect("decode"), text);
            assert_eq!(
                percent_decode_exact(&encoded).expect("decode"),
                text.as_bytes()
            );
        }
        UrlCase::Backend { scheme, user, rest } => {
            let scheme = SCHEMES[usize::from(scheme) % SCHEMES.len()];
            // Characters that would end the user info early (and move the
            // password into the host, path or query) are left out.
            let user: String = user.chars().filter(|c| !"/?#@:[]\\".contains(*c)).collect();
            // The marker only as the password: a fuzzer that learned it
            // (comparison tracing) may put it into the host, which is no secret.
            let (user, rest) = (without_marker(user), without_marker(rest));
            let url = format!("{scheme}://{user}:{SECRET}@{rest}");
            backend_from_url(scheme, &url);
        }
    }
}

/// `text` with every occurrence of the secret marker taken out.
fn without_marker(mut text: String) -> String {
    while text.contains(SECRET) {
        text = text.replace(SECRET, "");
    }
    text
}

/// Parses `url` with the backend of `scheme` (no connection is made).
fn backend_from_url(scheme: &str, url: &str) {
    let debug =
        match scheme {
            "memory" => block_on(flowstore::open(url)).map(|store| format!("{store:?}")),
            "sqlite" => flowstore_sqlite::SqliteBuilder::from_url(url).map(|builder| {
                // An SQLite URL has no password: the whole rest is the path.
                let _ = format!("{builder:?}");
                String::new()
            }),
            "postgres" | "postgresql" => flowstore_postgres::PostgresBuilder::from_url(url)
                .map(|builder| format!("{builder:?}")),
            "http" | "https" => flowstore_http::HttpStoreBuilder::from_url(url)
                .map(|builder| format!("{builder:?}")),
            _ => flowstore_redis::RedisStore::from_url(url).map(|builder| format!("{builder:?}")),
        };
    match debug {
        Ok(debug) => assert!(
            !debug.contains(SECRET),
            "{scheme} Debug output shows the password: {debug}"
        ),
        Err(err) => check_url_error(&err),
    }
}

fn check_url_error(err: &Error) {
    assert!(
        matches!(err.kind(), ErrorKind::Config | ErrorKind::InvalidArgument),
        "a bad URL is a configuration error, not {:?}: {err}",
        err.kind()
    );
    assert_not_quoted(err, SECRET);
}
