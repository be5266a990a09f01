//! The record envelope every value written through a fallback store carries.
//!
//! ```text
//! offset  size  field
//!      0     3  magic: F5 46 42 ("\xF5FB"; 0xF5 never starts UTF-8 text)
//!      3     1  version: 1
//!      4     1  kind: 0 = value, 1 = tombstone (a delete)
//!      5     8  stamp: hybrid logical clock, microseconds since the Unix epoch, big-endian
//!     13     8  writer: random id of the writing FallbackStore, big-endian (tie-breaker)
//!     21     8  expires_at: microseconds since the Unix epoch, big-endian; 0 = never
//!     29     …  payload: the caller's value (empty for a tombstone)
//! ```

use flowstore_core::{Error, Result};

/// The first bytes of every envelope.
pub(crate) const MAGIC: [u8; 3] = [0xF5, b'F', b'B'];
/// The envelope version this crate writes and reads.
pub(crate) const VERSION: u8 = 1;
/// Bytes the envelope adds in front of a value.
pub(crate) const HEADER_LEN: usize = 29;

const KIND_VALUE: u8 = 0;
const KIND_TOMBSTONE: u8 = 1;

/// Whether a record is a value or a delete.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Value,
    Tombstone,
}

/// The order of records: newer stamp wins; equal stamps are ordered by writer id.
/// Values without an envelope are older than every record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Version {
    pub(crate) stamp: u64,
    pub(crate) writer: u64,
}

impl Version {
    /// The version of a value written without the envelope.
    pub(crate) const PLAIN: Version = Version {
        stamp: 0,
        writer: 0,
    };
}

/// The header of a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) kind: Kind,
    pub(crate) version: Version,
    /// Microseconds since the Unix epoch; 0 = never.
    pub(crate) expires_at: u64,
}

/// What a store held for a key.
#[derive(Debug)]
pub(crate) enum Decoded {
    /// A value written without the envelope (before the fallback wrapper was
    /// added): read as the oldest possible version.
    Plain(Vec<u8>),
    /// A record: the header, and the whole stored bytes (payload after
    /// `HEADER_LEN`), kept for read-repair.
    Record(Header, Vec<u8>),
}

impl Decoded {
    pub(crate) fn version(&self) -> Version {
        match self {
            Decoded::Plain(_) => Version::PLAIN,
            Decoded::Record(header, _) => header.version,
        }
    }
}

/// Builds the stored bytes of a record.
pub(crate) fn encode(header: &Header, payload: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(HEADER_LEN + payload.len());
    bytes.extend_from_slice(&MAGIC);
    bytes.push(VERSION);
    bytes.push(match header.kind {
        Kind::Value => KIND_VALUE,
        Kind::Tombstone => KIND_TOMBSTONE,
    });
    bytes.extend_from_slice(&header.version.stamp.to_be_bytes());
    bytes.extend_from_slice(&header.version.writer.to_be_bytes());
    bytes.extend_from_slice(&header.expires_at.to_be_bytes());
    bytes.extend_from_slice(payload);
    bytes
}

fn u64_at(bytes: &[u8], offset: usize) -> u64 {
    let mut field = [0u8; 8];
    field.copy_from_slice(&bytes[offset..offset + 8]);
    u64::from_be_bytes(field)
}

/// Reads stored bytes. Bytes that do not start with the magic are a plain value;
/// bytes that do but are not a valid version-1 record are `Corrupt`.
pub(crate) fn decode(bytes: Vec<u8>) -> Result<Decoded> {
    if !bytes.starts_with(&MAGIC) {
        return Ok(Decoded::Plain(bytes));
    }
    if bytes.len() < HEADER_LEN {
        return Err(Error::corrupt(format!(
            "fallback envelope truncated: {} bytes, the header alone is {HEADER_LEN}",
            bytes.len()
        )));
    }
    if bytes[3] != VERSION {
        return Err(Error::corrupt(format!(
            "unknown fallback envelope version {}",
            bytes[3]
        )));
    }
    let kind = match bytes[4] {
        KIND_VALUE => Kind::Value,
        KIND_TOMBSTONE if bytes.len() == HEADER_LEN => Kind::Tombstone,
        KIND_TOMBSTONE => return Err(Error::corrupt("fallback tombstone carries a payload")),
        other => {
            return Err(Error::corrupt(format!(
                "unknown fallback record kind {other}"
            )));
        }
    };
    let header = Header {
        kind,
        version: Version {
            stamp: u64_at(&bytes, 5),
            writer: u64_at(&bytes, 13),
        },
        expires_at: u64_at(&bytes, 21),
    };
    Ok(Decoded::Record(header, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowstore_core::ErrorKind;

    fn header(kind: Kind) -> Header {
        Header {
            kind,
            version: Version {
                stamp: 0x0102_0304_0506_0708,
                writer: 0x1112_1314_1516_1718,
            },
            expires_at: 0x2122_2324_2526_2728,
        }
    }

    #[test]
    fn layout_is_as_documented() {
        let bytes = encode(&header(Kind::Value), b"xyz");
        let mut expected = vec![0xF5, b'F', b'B', 1, 0];
        expected.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        expected.extend_from_slice(&[0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18]);
        expected.extend_from_slice(&[0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28]);
        expected.extend_from_slice(b"xyz");
        assert_eq!(bytes, expected);
        assert_eq!(HEADER_LEN, 29);
    }

    #[test]
    fn records_round_trip() {
        for kind in [Kind::Value, Kind::Tombstone] {
            let payload: &[u8] = if kind == Kind::Value { b"payload" } else { b"" };
            let bytes = encode(&header(kind), payload);
            match decode(bytes.clone()).unwrap() {
                Decoded::Record(read, stored) => {
                    assert_eq!(read, header(kind));
                    assert_eq!(stored, bytes);
                    assert_eq!(&stored[HEADER_LEN..], payload);
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn values_without_the_magic_are_plain_and_oldest() {
        for plain in [&b""[..], b"{\"step\":1}", b"\xF5", b"\xF5F", b"\xF5FX rest"] {
            let decoded = decode(plain.to_vec()).unwrap();
            assert!(matches!(&decoded, Decoded::Plain(v) if v == plain));
            assert_eq!(decoded.version(), Version::PLAIN);
        }
    }

    #[test]
    fn damaged_envelopes_are_corrupt() {
        let good = encode(&header(Kind::Value), b"v");
        let mut cases = vec![good[..HEADER_LEN - 1].to_vec(), MAGIC.to_vec()];
        let mut version = good.clone();
        version[3] = 2;
        cases.push(version);
        let mut kind = good.clone();
        kind[4] = 7;
        cases.push(kind);
        cases.push(encode(&header(Kind::Tombstone), b"not empty"));
        for bytes in cases {
            let err = decode(bytes).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Corrupt);
        }
    }
}
