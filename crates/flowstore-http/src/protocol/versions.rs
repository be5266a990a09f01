//! Entry versions on the wire (SPEC §8): the `ETag` of an entry, the
//! conditional request headers a server honours, the version a client proposes
//! for its write, and the marker that says a flowstore server evaluated them.
//!
//! Both ends parse here, so the server refuses exactly the forms the client
//! never sends, and the client trusts exactly what the server promises.

use flowstore_core::{Condition, Current, Error, Result, Version};
use http::header::{ETAG, HeaderMap, HeaderValue, IF_MATCH, IF_NONE_MATCH, IF_UNMODIFIED_SINCE};

use super::{ABSENT_HEADER, ABSENT_VALUE};

/// The request header in which a client proposes the entry version its write
/// gives the key (a [`Version`], verbatim). A retry of a write whose answer was
/// lost sends the same one, and the server answers it `Ok` if the key is
/// already at it (the first attempt went through). Without it the server
/// generates a version.
pub const NEW_VERSION_HEADER: &str = "flowstore-new-version";

/// The response header with the absolute expiry of the entry a `GET` returned,
/// in RFC 3339 UTC with milliseconds (`2026-12-04T23:16:45.123Z`); absent when
/// the entry does not expire. See [`format_expires_at`](super::format_expires_at).
pub const EXPIRES_AT_HEADER: &str = "flowstore-expires-at";

/// The response header (with the value [`VERSIONED_VALUE`]) a flowstore server
/// puts on every answer it gave by entry versions: a `GET` read with
/// `get_entry`, a `PUT` or `DELETE` decided by `set_if`/`delete_if`, and their
/// `412`. A server of the original design, or a proxy, never sends it: a client
/// that does not see it cannot know the condition was checked, and must not
/// report the write as conditional.
pub const VERSIONED_HEADER: &str = "flowstore-versioned";

/// The value of [`VERSIONED_HEADER`].
pub const VERSIONED_VALUE: &str = "1";

/// Whether `headers` carry the [`VERSIONED_HEADER`] marker.
pub fn is_versioned(headers: &HeaderMap) -> bool {
    headers
        .get(VERSIONED_HEADER)
        .is_some_and(|value| value.as_bytes() == VERSIONED_VALUE.as_bytes())
}

/// The `ETag` header value of `version`: `"<version>"` (a strong tag; a
/// version's characters need no escaping).
pub fn etag_value(version: &Version) -> HeaderValue {
    // A version is ASCII letters, digits and `._~-`: always a valid header value.
    HeaderValue::try_from(version.to_etag()).expect("an entry version fits in a header")
}

/// The version in one strong entity tag `"<version>"`. A weak tag (`W/"…"`), a
/// list, `*` or a tag whose text is not a valid [`Version`] is
/// `InvalidArgument`, naming `header`.
pub fn parse_etag(header: &str, value: &HeaderValue) -> Result<Version> {
    let bad = |why: &str| Error::invalid_argument(format!("{header}: {why}"));
    let text = value.to_str().map_err(|_| bad("not visible ASCII"))?.trim();
    if text == "*" {
        return Err(bad("`*` is not supported; name one entry version"));
    }
    if text.starts_with("W/") {
        return Err(bad(
            "weak entity tags are not supported; entry versions are strong",
        ));
    }
    if text.contains(',') {
        return Err(bad("name exactly one entity tag"));
    }
    let inner = text
        .strip_prefix('"')
        .and_then(|rest| rest.strip_suffix('"'))
        .ok_or_else(|| bad("expected one strong entity tag, \"<version>\""))?;
    Version::new(inner).map_err(|err| bad(err.message()))
}

/// The one value of `name` in `headers`, `None` if absent; a header given more
/// than once is `InvalidArgument` (a list the trait cannot express).
fn single<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a HeaderValue>> {
    let mut values = headers.get_all(name).iter();
    let first = values.next();
    if values.next().is_some() {
        return Err(Error::invalid_argument(format!(
            "{name}: given more than once; name exactly one entity tag"
        )));
    }
    Ok(first)
}

/// The condition of a `PUT`: `If-Match: "<v>"` → [`Condition::Matches`],
/// `If-None-Match: *` → [`Condition::Absent`], neither → `None` (a plain
/// write). Every other conditional form (`If-Match: *`, weak or several tags,
/// `If-None-Match` with a tag, both headers, `If-Unmodified-Since`) is
/// `InvalidArgument`: the server refuses it rather than ignore it.
pub fn put_condition(headers: &HeaderMap) -> Result<Option<Condition>> {
    refuse_dates(headers)?;
    let if_match = single(headers, IF_MATCH.as_str())?;
    let if_none_match = single(headers, IF_NONE_MATCH.as_str())?;
    match (if_match, if_none_match) {
        (Some(_), Some(_)) => Err(Error::invalid_argument(
            "If-Match and If-None-Match together are not supported; send one",
        )),
        (Some(value), None) => Ok(Some(Condition::Matches(parse_etag("If-Match", value)?))),
        (None, Some(value)) if value.as_bytes().trim_ascii() == b"*" => Ok(Some(Condition::Absent)),
        (None, Some(_)) => Err(Error::invalid_argument(
            "If-None-Match: only `*` (write only if the key is absent) is supported",
        )),
        (None, None) => Ok(None),
    }
}

/// The expected version of a `DELETE`: `If-Match: "<v>"`, or `None` for a plain
/// delete. `If-None-Match`, `If-Unmodified-Since` and the forms
/// [`parse_etag`] refuses are `InvalidArgument`.
pub fn delete_condition(headers: &HeaderMap) -> Result<Option<Version>> {
    refuse_dates(headers)?;
    if headers.contains_key(IF_NONE_MATCH) {
        return Err(Error::invalid_argument(
            "If-None-Match is not supported on DELETE; use If-Match",
        ));
    }
    single(headers, IF_MATCH.as_str())?
        .map(|value| parse_etag("If-Match", value))
        .transpose()
}

/// A `GET` takes no condition: `If-Match`, `If-None-Match` and
/// `If-Unmodified-Since` are `InvalidArgument` (answers are never cached, so
/// there is nothing to revalidate, and a silently ignored condition would lie).
pub fn refuse_get_conditions(headers: &HeaderMap) -> Result<()> {
    refuse_dates(headers)?;
    for name in [IF_MATCH, IF_NONE_MATCH] {
        if headers.contains_key(&name) {
            return Err(Error::invalid_argument(format!(
                "{name} is not supported on GET"
            )));
        }
    }
    Ok(())
}

fn refuse_dates(headers: &HeaderMap) -> Result<()> {
    if headers.contains_key(IF_UNMODIFIED_SINCE) {
        return Err(Error::invalid_argument(
            "If-Unmodified-Since is not supported; use If-Match with the entry version",
        ));
    }
    Ok(())
}

/// The proposed version of a request ([`NEW_VERSION_HEADER`]), `None` if the
/// client sent none; a bad one is `InvalidArgument`.
pub fn proposed_version(headers: &HeaderMap) -> Result<Option<Version>> {
    single(headers, NEW_VERSION_HEADER)?
        .map(|value| {
            let text = value.to_str().map_err(|_| {
                Error::invalid_argument(format!("{NEW_VERSION_HEADER}: not visible ASCII"))
            })?;
            Version::new(text.trim()).map_err(|err| {
                Error::invalid_argument(format!("{NEW_VERSION_HEADER}: {}", err.message()))
            })
        })
        .transpose()
}

/// The headers that say what a key held when a condition failed: `ETag` for
/// a version, `Flowstore-Absent: 1` for an absent key, nothing when unknown.
/// The server adds them to a `412`.
pub fn current_headers(current: Option<&Current>, headers: &mut HeaderMap) {
    match current {
        Some(Current::Version(version)) => {
            headers.insert(ETAG, etag_value(version));
        }
        Some(Current::Absent) => {
            headers.insert(ABSENT_HEADER, HeaderValue::from_static(ABSENT_VALUE));
        }
        None => {}
    }
}

/// What a `412`'s headers say the key held (the reverse of
/// [`current_headers`]); `None` when they say nothing usable.
pub fn current_of(headers: &HeaderMap) -> Option<Current> {
    if let Some(value) = headers.get(ETAG) {
        return parse_etag("ETag", value).ok().map(Current::Version);
    }
    headers
        .get(ABSENT_HEADER)
        .filter(|value| value.as_bytes() == ABSENT_VALUE.as_bytes())
        .map(|_| Current::Absent)
}

#[cfg(test)]
mod tests {
    use flowstore_core::ErrorKind;

    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    fn version(text: &str) -> Version {
        Version::new(text).unwrap()
    }

    #[test]
    fn put_conditions_the_trait_can_express() {
        assert_eq!(put_condition(&headers(&[])).unwrap(), None);
        assert_eq!(
            put_condition(&headers(&[("if-match", "\"v1\"")])).unwrap(),
            Some(Condition::Matches(version("v1")))
        );
        assert_eq!(
            put_condition(&headers(&[("if-none-match", "*")])).unwrap(),
            Some(Condition::Absent)
        );
    }

    #[test]
    fn put_conditions_the_trait_cannot_express_are_refused() {
        for bad in [
            &[("if-match", "*")][..],
            &[("if-match", "W/\"v1\"")],
            &[("if-match", "\"v1\", \"v2\"")],
            &[("if-match", "\"v1\""), ("if-match", "\"v2\"")],
            &[("if-match", "v1")],
            &[("if-match", "\"a b\"")],
            &[("if-none-match", "\"v1\"")],
            &[("if-match", "\"v1\""), ("if-none-match", "*")],
            &[("if-unmodified-since", "Sat, 01 Jan 2000 00:00:00 GMT")],
        ] {
            let err = put_condition(&headers(bad)).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{bad:?}");
        }
    }

    #[test]
    fn delete_and_get_conditions() {
        assert_eq!(
            delete_condition(&headers(&[("if-match", "\"v1\"")])).unwrap(),
            Some(version("v1"))
        );
        assert_eq!(delete_condition(&headers(&[])).unwrap(), None);
        for bad in [
            &[("if-none-match", "*")][..],
            &[("if-match", "*")],
            &[("if-match", "W/\"v\"")],
        ] {
            assert!(delete_condition(&headers(bad)).is_err(), "{bad:?}");
        }
        refuse_get_conditions(&headers(&[])).unwrap();
        assert!(refuse_get_conditions(&headers(&[("if-none-match", "\"v\"")])).is_err());
        assert!(refuse_get_conditions(&headers(&[("if-match", "\"v\"")])).is_err());
    }

    #[test]
    fn proposed_versions_are_checked() {
        assert_eq!(proposed_version(&headers(&[])).unwrap(), None);
        assert_eq!(
            proposed_version(&headers(&[(NEW_VERSION_HEADER, "abc-1")])).unwrap(),
            Some(version("abc-1"))
        );
        let err = proposed_version(&headers(&[(NEW_VERSION_HEADER, "a,b")])).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    }

    #[test]
    fn current_round_trips_through_headers() {
        for current in [
            Some(Current::Absent),
            Some(Current::Version(version("v9"))),
            None,
        ] {
            let mut map = HeaderMap::new();
            current_headers(current.as_ref(), &mut map);
            assert_eq!(current_of(&map), current);
        }
    }
}
