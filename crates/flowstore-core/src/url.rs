//! Splitting flowstore's own query parameters off a store URL.
//!
//! A store URL mixes parameters for flowstore (`namespace`, `table`, …) with
//! parameters for the client library (`sslmode`, …). Each backend takes its own
//! out with [`StoreUrl::take`] and hands [`StoreUrl::to_client_url`] — the rest —
//! to its client library, so no client ever sees, or chokes on, ours.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

use crate::error::{Error, Result};

/// A store URL split into the part before `?` and its decoded query parameters.
#[derive(Clone, PartialEq, Eq)]
pub struct StoreUrl {
    base: String,
    params: Vec<(String, String)>,
}

impl StoreUrl {
    /// Splits `url` at the first `?` and percent-decodes each `name=value` pair.
    pub fn parse(url: &str) -> Result<StoreUrl> {
        let (base, query) = match url.split_once('?') {
            Some((base, query)) => (base, query),
            None => (url, ""),
        };
        let mut params = Vec::new();
        for pair in query.split('&').filter(|pair| !pair.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            params.push((percent_decode(name)?, percent_decode(value)?));
        }
        Ok(StoreUrl {
            base: base.to_string(),
            params,
        })
    }

    /// The part before `?` (scheme, authority, path), as written.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The scheme (before `://`), lower-cased, if any.
    pub fn scheme(&self) -> Option<String> {
        self.base
            .split_once("://")
            .map(|(scheme, _)| scheme.to_ascii_lowercase())
    }

    /// Everything after `scheme://` and before `?`.
    pub fn rest(&self) -> &str {
        self.base
            .split_once("://")
            .map_or(self.base.as_str(), |(_, rest)| rest)
    }

    /// Removes parameter `name` and returns its value. Given twice is a `Config` error.
    pub fn take(&mut self, name: &str) -> Result<Option<String>> {
        let mut found = None;
        let mut duplicate = false;
        self.params.retain(|(param, value)| {
            if param != name {
                return true;
            }
            duplicate |= found.is_some();
            found = Some(value.clone());
            false
        });
        if duplicate {
            return Err(Error::config(format!(
                "URL parameter `{name}` is given more than once"
            )));
        }
        Ok(found)
    }

    /// Removes parameter `name` and parses it with `parse`; a bad value is a
    /// `Config` error naming the parameter.
    pub fn take_parsed<T>(
        &mut self,
        name: &str,
        parse: impl FnOnce(&str) -> Option<T>,
    ) -> Result<Option<T>> {
        match self.take(name)? {
            None => Ok(None),
            Some(value) => parse(&value).map(Some).ok_or_else(|| {
                Error::config(format!("URL parameter `{name}` has an invalid value"))
            }),
        }
    }

    /// Names of the parameters not taken yet.
    pub fn remaining(&self) -> impl Iterator<Item = &str> {
        self.params.iter().map(|(name, _)| name.as_str())
    }

    /// A `Config` error if any parameter is left: for backends whose client takes none.
    pub fn expect_no_more(&self) -> Result<()> {
        match self.params.first() {
            None => Ok(()),
            Some((name, _)) => Err(Error::config(format!("unknown URL parameter `{name}`"))),
        }
    }

    /// The URL for the client library: the base and the parameters not taken,
    /// re-encoded.
    pub fn to_client_url(&self) -> String {
        if self.params.is_empty() {
            return self.base.clone();
        }
        let query: Vec<String> = self
            .params
            .iter()
            .map(|(name, value)| format!("{}={}", percent_encode(name), percent_encode(value)))
            .collect();
        format!("{}?{}", self.base, query.join("&"))
    }
}

impl std::fmt::Debug for StoreUrl {
    /// Never prints the URL: it may hold a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreUrl")
            .field("scheme", &self.scheme())
            .field("params", &self.remaining().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// The characters left as they are by [`percent_encode`]: RFC 3986's unreserved
/// characters `A-Z a-z 0-9 - . _ ~`. Everything else is `%XX`-encoded, so an
/// encoded text is safe as a query value, a path segment and a header value alike.
const ENCODED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Encodes every byte but unreserved characters (`A-Z a-z 0-9 - . _ ~`) as `%XX`
/// (upper-case hex, UTF-8 bytes for non-ASCII).
///
/// This and the two decoders below are flowstore's one percent codec (on the
/// `percent-encoding` crate): store URLs use it here, and the HTTP wire format
/// (`flowstore_http::protocol`) uses it for keys and headers.
pub fn percent_encode(text: &str) -> String {
    utf8_percent_encode(text, ENCODED).to_string()
}

/// Decodes `%XX` escapes and `+` (as a space, as in form-encoded queries).
/// A malformed escape (`%` not followed by two hex digits) or bytes that are
/// not UTF-8 are a `Config` error.
pub fn percent_decode(text: &str) -> Result<String> {
    let spaced = text.replace('+', " ");
    let bytes = percent_decode_exact(&spaced)
        .ok_or_else(|| Error::config("URL has a malformed %-escape"))?;
    String::from_utf8(bytes).map_err(|_| Error::config("URL %-escapes are not valid UTF-8"))
}

/// Decodes `%XX` escapes exactly once and nothing else (`+` stays a plus sign),
/// into bytes; `None` if a `%` is not followed by two hex digits.
///
/// Strict where the `percent-encoding` crate is lenient (it passes a malformed
/// escape through as text): a malformed escape must be refused, not read as
/// some other key.
pub fn percent_decode_exact(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    let well_formed = bytes
        .iter()
        .enumerate()
        .filter(|(_, byte)| **byte == b'%')
        .all(|(at, _)| {
            bytes
                .get(at + 1..at + 3)
                .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
        });
    well_formed.then(|| percent_decode_str(text).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_our_parameters_and_keeps_the_rest() {
        let mut url =
            StoreUrl::parse("postgres://u:p@h/db?namespace=a%2Ab&sslmode=require&table=t").unwrap();
        assert_eq!(url.scheme().as_deref(), Some("postgres"));
        assert_eq!(url.take("namespace").unwrap().as_deref(), Some("a*b"));
        assert_eq!(url.take("table").unwrap().as_deref(), Some("t"));
        assert_eq!(url.take("table").unwrap(), None);
        assert_eq!(url.to_client_url(), "postgres://u:p@h/db?sslmode=require");
    }

    #[test]
    fn base_and_rest_are_the_parts_before_the_query() {
        let url = StoreUrl::parse("Redis://h:6379/2?namespace=n").unwrap();
        assert_eq!(url.base(), "Redis://h:6379/2");
        assert_eq!(url.scheme().as_deref(), Some("redis"));
        assert_eq!(url.rest(), "h:6379/2");
        let bare = StoreUrl::parse("memory").unwrap();
        assert_eq!(
            (bare.base(), bare.rest(), bare.scheme()),
            ("memory", "memory", None)
        );
    }

    #[test]
    fn duplicates_and_bad_escapes_are_config_errors() {
        let mut url = StoreUrl::parse("x://h?namespace=a&namespace=b").unwrap();
        assert!(url.take("namespace").is_err());
        assert!(StoreUrl::parse("x://h?a=%zz").is_err());
    }

    #[test]
    fn debug_never_shows_the_url() {
        let url = StoreUrl::parse("redis://:hunter2@h:6379?namespace=n").unwrap();
        let debug = format!("{url:?}");
        assert!(!debug.contains("hunter2"));
        // What it does show: the scheme and the parameters' names.
        assert_eq!(
            debug,
            r#"StoreUrl { scheme: Some("redis"), params: ["namespace"], .. }"#
        );
    }

    #[test]
    fn parsed_parameters_and_what_is_left() {
        let mut url = StoreUrl::parse("x://h?pool=8&size=big&extra=1").unwrap();
        assert_eq!(
            url.take_parsed("pool", |v| v.parse::<u32>().ok()).unwrap(),
            Some(8)
        );
        assert_eq!(
            url.take_parsed("absent", |v| v.parse::<u32>().ok())
                .unwrap(),
            None
        );
        let err = url
            .take_parsed("size", |v| v.parse::<u32>().ok())
            .unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Config);
        assert_eq!(url.remaining().collect::<Vec<_>>(), ["extra"]);
        let err = url.expect_no_more().unwrap_err();
        assert!(err.to_string().contains("`extra`"), "{err}");
        assert_eq!(url.take("extra").unwrap().as_deref(), Some("1"));
        assert!(url.expect_no_more().is_ok());
        assert_eq!(url.remaining().count(), 0);
    }

    #[test]
    fn encode_then_decode_round_trips() {
        let text = "a b/c?d=e&f%g+😀";
        assert_eq!(percent_decode(&percent_encode(text)).unwrap(), text);
        assert_eq!(
            percent_decode_exact(&percent_encode(text)).unwrap(),
            text.as_bytes()
        );
    }

    #[test]
    fn only_unreserved_characters_stay_unencoded() {
        assert_eq!(percent_encode("aZ09-._~"), "aZ09-._~");
        assert_eq!(percent_encode("a/b?c#d e+f%g"), "a%2Fb%3Fc%23d%20e%2Bf%25g");
        assert_eq!(percent_encode("😀"), "%F0%9F%98%80");
    }

    #[test]
    fn form_decoding_reads_plus_as_space() {
        assert_eq!(percent_decode("a+b%2Bc").unwrap(), "a b+c");
        for bad in ["%", "%2", "%zz", "a%2", "%+1"] {
            assert!(percent_decode(bad).is_err(), "{bad}");
        }
        assert!(percent_decode("%ff").is_err(), "not UTF-8");
    }

    #[test]
    fn exact_decoding_keeps_plus_and_refuses_malformed_escapes() {
        assert_eq!(percent_decode_exact("+a%2e%2E").unwrap(), b"+a..");
        assert_eq!(percent_decode_exact("%252e").unwrap(), b"%2e");
        assert_eq!(percent_decode_exact("%ff").unwrap(), [0xff]);
        for bad in ["%", "%2", "%zz", "a%2", "%%41", "%-1", "%\u{e9}"] {
            assert_eq!(percent_decode_exact(bad), None, "{bad}");
        }
    }
}
