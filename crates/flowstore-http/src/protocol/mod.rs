//! The wire format of flowstore's HTTP API, shared by the client (`HttpStore`,
//! with the `client` feature) and the server (`flowstore-server`, which depends on
//! this crate with only the `protocol` feature, so it pulls in no HTTP client or
//! TLS).
//!
//! Everything both ends must agree on lives here, once:
//!
//! - the routes' shape: `{base}/states/{key}` ([`STATES_PATH`]) and the `ttl`
//!   query parameter ([`TTL_PARAMETER`]);
//! - the headers: the "absent" marker on a 404 ([`ABSENT_HEADER`] with
//!   [`ABSENT_VALUE`]) and the namespace a client expects ([`NAMESPACE_HEADER`],
//!   [`encode_namespace`], [`decode_namespace`]);
//! - the key codec: one key is exactly one path segment ([`encode_key`],
//!   [`decode_key`]);
//! - the error body and the status code of each error kind ([`encode_error`],
//!   [`decode_error`], [`status_for`]);
//! - entry versions (SPEC §8): the `ETag`, the conditional request headers
//!   ([`put_condition`], [`delete_condition`]), the version a client proposes
//!   ([`NEW_VERSION_HEADER`]), the expiry ([`EXPIRES_AT_HEADER`]) and the
//!   marker of an answer given by versions ([`VERSIONED_HEADER`]);
//! - listing, batches, prefix deletes and touch (SPEC §9): the paths
//!   ([`BATCH_GET_PATH`], [`DELETE_PREFIX_PATH`], …), the JSON bodies
//!   ([`WirePage`], [`SetBody`], …) and the one encoding of a value in JSON
//!   ([`EncodedValue`]: text when valid UTF-8, else base64, saying which).
//!
//! Percent-encoding itself is flowstore's one codec, `flowstore_core::url`
//! (on the `percent-encoding` crate), which store URLs use too.
//!
//! None of this may change without breaking deployed clients: a client of the
//! original design (a TypeScript `APIStore`) talks to `flowstore serve` as is.
//! `docs/http.md` in the repository describes the protocol for people.

mod batch;
mod error_body;
mod expiry;
mod key;
mod value;
mod versions;

pub use batch::{
    BATCH_DELETE_PATH, BATCH_GET_PATH, BATCH_SET_PATH, CURSOR_PARAMETER, DEFAULT_LIST_LIMIT,
    DELETE_PREFIX_PATH, DELETE_PREFIX_STEP, DeletePrefixAnswer, DeletePrefixBody, KeysBody,
    LIMIT_PARAMETER, PREFIX_PARAMETER, SetBody, SetEntry, TOUCH_BODY_LIMIT, TouchBody, ValuesBody,
    WireItem, WirePage, parse_ttl,
};
pub use error_body::{ERROR_CONTENT_TYPE, decode_error, encode_error, status_for};
pub use expiry::{format_expires_at, parse_expires_at};
pub use key::{decode_key, encode_key};
#[cfg(feature = "client")]
pub(crate) use value::escaped_len;
pub use value::{
    EncodedValue, Encoding, batch_answer_budget, batch_answer_limit, batch_body_limit,
};
pub use versions::{
    EXPIRES_AT_HEADER, NEW_VERSION_HEADER, VERSIONED_HEADER, VERSIONED_VALUE, current_headers,
    current_of, delete_condition, etag_value, is_versioned, parse_etag, proposed_version,
    put_condition, refuse_get_conditions,
};

use http::HeaderValue;

/// The path, under the base URL, of the collection of states: a key's state is
/// at `{base}/states/{key}`, and `DELETE {base}/states` clears the namespace.
pub const STATES_PATH: &str = "/states";

/// The path of the health probe, relative to the base URL: unauthenticated,
/// it reads no user data and answers `200` while the server can serve, `503`
/// when it cannot.
pub const HEALTH_PATH: &str = "/healthz";

/// The path, relative to the base URL, of `POST`: acknowledge that the
/// server's store lost data (its `Store::acknowledge_data_loss`); `204` when
/// done, `501` for a store that does not detect data loss.
pub const ACKNOWLEDGE_DATA_LOSS_PATH: &str = "/admin/acknowledge-data-loss";

/// The query parameter of `PUT {base}/states/{key}` that sets a TTL, in the
/// duration grammar of [`flowstore_core::Ttl`]'s `Display`/`FromStr` (`30s`).
/// With the listing's parameters ([`PREFIX_PARAMETER`] and the others on
/// `GET {base}/states`) it is one of the few query parameters of the API; any
/// other is refused with `400 invalid_argument`.
pub const TTL_PARAMETER: &str = "ttl";

/// The response header that marks a 404 as "this key is absent" (with the value
/// [`ABSENT_VALUE`]). Any other 404 (a wrong URL, a proxy's page) is an error
/// for the client, never "absent".
pub const ABSENT_HEADER: &str = "flowstore-absent";

/// The value of [`ABSENT_HEADER`] on an "absent" 404.
pub const ABSENT_VALUE: &str = "1";

/// The request header in which a client names the namespace it expects
/// (percent-encoded, see [`encode_namespace`]). The server serves one
/// namespace; a request naming another is refused with 400 `config`, so a client
/// configured for namespace `a` can never read, overwrite or clear the keys of a
/// server serving `b`. Clients that do not send it (such as the original
/// design's) are served as before.
pub const NAMESPACE_HEADER: &str = "flowstore-namespace";

/// The value of [`NAMESPACE_HEADER`] for `namespace`: percent-encoded, so any
/// namespace (spaces, non-ASCII) fits in a header.
pub fn encode_namespace(namespace: &str) -> String {
    flowstore_core::url::percent_encode(namespace)
}

/// The namespace named by a [`NAMESPACE_HEADER`] value, `None` if it is not
/// validly encoded (visible ASCII, well-formed `%XX` escapes, UTF-8 once
/// decoded). Decoded form-style (`+` is a space), as it always was.
pub fn decode_namespace(value: &HeaderValue) -> Option<String> {
    let text = value.to_str().ok()?;
    flowstore_core::url::percent_decode(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_round_trip_through_the_header() {
        for namespace in ["flow", "a b", "a+b", "ü/%", "x:y*?[%_"] {
            let value = encode_namespace(namespace);
            assert!(value.bytes().all(|byte| byte.is_ascii_graphic()), "{value}");
            let header = HeaderValue::try_from(value).unwrap();
            assert_eq!(decode_namespace(&header).as_deref(), Some(namespace));
        }
        let decode = |raw: &[u8]| decode_namespace(&HeaderValue::from_bytes(raw).unwrap());
        assert_eq!(decode(b"a+b").as_deref(), Some("a b"));
        assert_eq!(decode(b"%zz"), None);
        assert_eq!(
            decode(b"\xc3\xbc"),
            None,
            "raw non-ASCII is not an encoded namespace"
        );
    }
}
