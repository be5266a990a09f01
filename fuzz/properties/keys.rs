//! Keys as they arrive from outside: raw bytes, and percent-encoded path
//! segments and headers of the HTTP wire format.

use arbitrary::{Arbitrary, Unstructured};
use flowstore_core::url::{percent_decode, percent_decode_exact, percent_encode};
use flowstore_core::{ErrorKind, Key};
use flowstore_http::http::HeaderValue;
use flowstore_http::protocol::{decode_key, decode_namespace, encode_key, encode_namespace};

#[derive(Arbitrary, Debug)]
enum KeyCase {
    /// A raw path segment, as a client sent it.
    Segment(String),
    /// A key (if valid), encoded for the wire then decoded.
    Encoded(String),
    /// Raw bytes as a key (CLI arguments, browser APIs).
    Bytes(Vec<u8>),
    /// A namespace header value.
    NamespaceHeader(Vec<u8>),
    /// A namespace, encoded into the header then decoded.
    Namespace(String),
}

/// Key percent-decoding: a raw segment decodes exactly once into a key that
/// encodes back into a segment naming the same key, or is `InvalidKey`; every
/// valid key survives encoding into one path segment (no `/`, `?`, `#`, no
/// `.`/`..`) and decoding; namespaces survive their header; a malformed escape
/// is refused, never read as some other key.
pub fn key_decoding(data: &[u8]) {
    let Ok(case) = KeyCase::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    match case {
        KeyCase::Segment(raw) => match decode_key(&raw) {
            Ok(key) => {
                // Decoded exactly once: what the escapes say, nothing else.
                let decoded = percent_decode_exact(&raw).expect("a decoded segment is well-formed");
                assert_eq!(key.as_str().as_bytes(), &decoded[..]);
                assert_eq!(
                    decode_key(&encode_key(key.as_str())).expect("re-decode"),
                    key
                );
            }
            Err(err) => {
                assert_eq!(err.kind(), ErrorKind::InvalidKey, "{err}");
                // Refused only for a reason: a malformed escape or a key outside the rules.
                if let Some(bytes) = percent_decode_exact(&raw) {
                    assert!(Key::from_bytes(&bytes).is_err(), "{raw:?} refused: {err}");
                }
            }
        },
        KeyCase::Encoded(text) => {
            let Ok(key) = Key::new(text) else { return };
            let segment = encode_key(key.as_str());
            assert!(
                !segment.contains(['/', '?', '#']) && segment != "." && segment != "..",
                "{key:?} encodes to {segment:?}, not one path segment"
            );
            assert!(
                segment.bytes().all(|byte| byte.is_ascii_graphic()),
                "{segment:?}"
            );
            assert_eq!(decode_key(&segment).expect("decode"), key);
        }
        KeyCase::Bytes(bytes) => match Key::from_bytes(&bytes) {
            Ok(key) => assert_eq!(key.as_str().as_bytes(), &bytes[..]),
            Err(err) => {
                assert_eq!(err.kind(), ErrorKind::InvalidKey);
                let valid = std::str::from_utf8(&bytes).is_ok_and(|text| {
                    !text.is_empty() && text.len() <= Key::MAX_LEN && !text.contains('\0')
                });
                assert!(!valid, "a valid key was refused: {err}");
            }
        },
        KeyCase::NamespaceHeader(bytes) => {
            let Ok(value) = HeaderValue::from_bytes(&bytes) else {
                return;
            };
            if let Some(namespace) = decode_namespace(&value) {
                let text = value.to_str().expect("decoded, so visible ASCII");
                assert_eq!(percent_decode(text).expect("decoded once"), namespace);
                let again = HeaderValue::try_from(encode_namespace(&namespace)).expect("header");
                assert_eq!(decode_namespace(&again).as_deref(), Some(&namespace[..]));
            }
        }
        KeyCase::Namespace(namespace) => {
            let encoded = percent_encode(&namespace);
            let value = HeaderValue::try_from(encoded).expect("percent-encoded text is a header");
            assert_eq!(decode_namespace(&value).as_deref(), Some(&namespace[..]));
        }
    }
}
