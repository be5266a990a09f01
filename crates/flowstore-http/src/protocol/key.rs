//! A key on the wire: exactly one path segment, percent-decoded exactly once.

use flowstore_core::url::{percent_decode_exact, percent_encode};
use flowstore_core::{Error, Key, Result};

/// Encodes `key` as one path segment: everything but unreserved characters is
/// percent-encoded, and a key of only dots (`.`, `..`) has its dots encoded too,
/// so no URL handling on the way can read it as a relative path step.
pub fn encode_key(key: &str) -> String {
    if key.bytes().all(|byte| byte == b'.') {
        return "%2E".repeat(key.len());
    }
    percent_encode(key)
}

/// The key named by a raw (still percent-encoded) path segment: `%XX` escapes
/// are decoded exactly once (`+` stays `+`, `%252e` is the key `%2e`), then the
/// key rules are checked. A malformed escape, or a key outside the rules, is
/// `InvalidKey`.
pub fn decode_key(raw: &str) -> Result<Key> {
    if !raw.contains('%') {
        return Key::new(raw);
    }
    let bytes = percent_decode_exact(raw).ok_or_else(|| {
        Error::invalid_key("the key has a malformed %-escape (expected % and two hex digits)")
    })?;
    Key::from_bytes(&bytes)
}

#[cfg(test)]
mod tests {
    use flowstore_core::ErrorKind;

    use super::*;

    #[test]
    fn keys_become_one_segment() {
        assert_eq!(encode_key(".."), "%2E%2E");
        assert_eq!(encode_key("."), "%2E");
        assert_eq!(encode_key("a.b"), "a.b");
        assert_eq!(encode_key("a/b?c#d"), "a%2Fb%3Fc%23d");
        assert_eq!(encode_key("%2e%2e"), "%252e%252e");
        assert_eq!(encode_key("+ x"), "%2B%20x");
        assert_eq!(encode_key("😀"), "%F0%9F%98%80");
    }

    #[test]
    fn keys_are_decoded_once() {
        assert_eq!(decode_key("%2E%2E").unwrap().as_str(), "..");
        assert_eq!(decode_key("..").unwrap().as_str(), "..");
        assert_eq!(decode_key("%252e%252e").unwrap().as_str(), "%2e%2e");
        assert_eq!(decode_key("a%2Fb").unwrap().as_str(), "a/b");
        assert_eq!(decode_key("+plus").unwrap().as_str(), "+plus");
        assert_eq!(decode_key("%F0%9F%98%80").unwrap().as_str(), "😀");
        for bad in ["%", "%2", "%zz", "%00", "%ff", "a%2", "%+1", ""] {
            let err = decode_key(bad).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidKey, "{bad}");
        }
    }

    #[test]
    fn every_key_round_trips() {
        for key in [
            ".", "..", "...", "a/b", "%2e%2e", "?#[]*", "a b\nc", "😀", "+",
        ] {
            assert_eq!(decode_key(&encode_key(key)).unwrap().as_str(), key);
        }
    }
}
