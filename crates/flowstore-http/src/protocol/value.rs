//! A value in a JSON body: text when it is valid UTF-8, base64 otherwise, with
//! a field that says which. Defined once for every JSON body of the API (batch
//! reads and writes) and meant for the CLI's export format too.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use flowstore_core::{Error, Result};
use serde::{Deserialize, Serialize};

/// How [`EncodedValue::value`] holds the bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// The value is the UTF-8 text itself.
    Text,
    /// The value is standard base64 (RFC 4648 §4, with padding).
    Base64,
}

/// A value as JSON: `{"value":"…","encoding":"text"|"base64"}` (flattened into
/// the object that carries it).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncodedValue {
    /// The text, or the base64 of the bytes.
    pub value: String,
    /// Which of the two [`value`](Self::value) is.
    pub encoding: Encoding,
}

impl EncodedValue {
    /// `bytes` as text when they are valid UTF-8 and JSON would not write them
    /// longer than base64 does (a value of mostly control characters is
    /// escaped six bytes per byte), else as base64. Either way
    /// [`decode`](Self::decode) gives back exactly `bytes`.
    pub fn encode(bytes: &[u8]) -> EncodedValue {
        if let Ok(text) = std::str::from_utf8(bytes)
            && escaped_len(text) <= base64_len(bytes.len())
        {
            return EncodedValue {
                value: text.to_owned(),
                encoding: Encoding::Text,
            };
        }
        EncodedValue {
            value: STANDARD.encode(bytes),
            encoding: Encoding::Base64,
        }
    }

    /// The bytes; `InvalidArgument` for base64 that is not.
    pub fn decode(self) -> Result<Vec<u8>> {
        match self.encoding {
            Encoding::Text => Ok(self.value.into_bytes()),
            Encoding::Base64 => STANDARD.decode(self.value.as_bytes()).map_err(|_| {
                Error::invalid_argument("a value marked \"base64\" is not valid base64")
            }),
        }
    }

    /// An upper bound of the bytes this value takes in a JSON body, quotes
    /// and field names included.
    pub fn json_len(&self) -> usize {
        let value = match self.encoding {
            Encoding::Text => escaped_len(&self.value),
            Encoding::Base64 => self.value.len(),
        };
        value + 40
    }
}

// Values are user data: never in logs or panics.
impl std::fmt::Debug for EncodedValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncodedValue")
            .field("len", &self.value.len())
            .field("encoding", &self.encoding)
            .finish_non_exhaustive()
    }
}

/// The length of `text` as a JSON string's contents (serde_json escapes `"`,
/// `\` and control characters; everything else is written as is).
pub(crate) fn escaped_len(text: &str) -> usize {
    text.bytes()
        .map(|byte| match byte {
            b'"' | b'\\' | b'\n' | b'\r' | b'\t' | 0x08 | 0x0c => 2,
            0..0x20 => 6,
            _ => 1,
        })
        .sum()
}

fn base64_len(len: usize) -> usize {
    len.div_ceil(3) * 4
}

/// The most value bytes one `POST {base}/batch/get` answer carries: a
/// store's largest value, or several smaller ones up to the same total. A
/// server answers a batch over it with 413 `value_too_large` (a batch of one
/// key always fits), and the client asks again in halves, so neither side
/// holds a batch of thousand largest values as JSON at once.
pub fn batch_answer_budget(max_value_size: usize) -> usize {
    max_value_size.max(1024 * 1024)
}

/// The most bytes a batch answer of `keys` keys takes on the wire under
/// [`batch_answer_budget`]: every value base64-encoded, plus the JSON around
/// each.
pub fn batch_answer_limit(max_value_size: usize, keys: usize) -> usize {
    base64_len(batch_answer_budget(max_value_size)).saturating_add(keys.saturating_mul(64))
}

/// The most bytes a batch request body may take on a server whose values are
/// at most `max_value_size` bytes: one value of any encoding always fits, so
/// a client that splits a batch by [`EncodedValue::json_len`] never exceeds
/// it; the server refuses a longer body with `413 value_too_large`.
pub fn batch_body_limit(max_value_size: usize) -> usize {
    base64_len(max_value_size)
        .saturating_add(max_value_size / 2)
        .saturating_add(1024 * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_and_say_their_encoding() {
        let cases: [(&[u8], Encoding); 5] = [
            (b"hello", Encoding::Text),
            ("ü\"\\\n".as_bytes(), Encoding::Text),
            (b"", Encoding::Text),
            (&[0xff, 0, 1], Encoding::Base64),
            (&[1, 2, 3, 4, 5, 6], Encoding::Base64),
        ];
        for (bytes, encoding) in cases {
            let encoded = EncodedValue::encode(bytes);
            assert_eq!(encoded.encoding, encoding, "{bytes:?}");
            let json = serde_json::to_string(&encoded).unwrap();
            assert!(json.len() <= encoded.json_len(), "{json}");
            let back: EncodedValue = serde_json::from_str(&json).unwrap();
            assert_eq!(back.decode().unwrap(), bytes);
        }
        let bad = EncodedValue {
            value: "***".into(),
            encoding: Encoding::Base64,
        };
        assert!(bad.decode().is_err());
        assert_eq!(
            serde_json::to_string(&EncodedValue::encode(b"a")).unwrap(),
            r#"{"value":"a","encoding":"text"}"#
        );
    }

    #[test]
    fn escaped_len_matches_serde_json() {
        let text = "a\"b\\c\n\u{1}\u{1f}é\u{7f}";
        let json = serde_json::to_string(text).unwrap();
        assert_eq!(escaped_len(text), json.len() - 2);
    }

    #[test]
    fn one_value_always_fits_a_batch() {
        let max = 1000;
        let worst = EncodedValue::encode(&vec![0xff; max]);
        assert!(worst.json_len() + 4096 * 6 < batch_body_limit(max));
    }
}
