//! The layout of a stored value: a small header holding the entry version, then
//! the value (docs/formats.md, "flowstore-redis entries").
//!
//! Each entry stays one Redis string so that plain `get` and `set` stay one
//! `GET` and one `SET`: the version travels inside the value, not in a second
//! key or a hash field. Values written before versions existed have no header;
//! they are read as they are (*legacy* entries) and get a pseudo-version from
//! the server-side scripts (see `scripts/header.lua`).

use flowstore_core::version::MAX_VERSION_LEN;
use flowstore_core::{Error, Result, Version};

/// The first bytes of every value written with a header: `0xFF` (never the
/// start of UTF-8 text or JSON), `fs` for flowstore, `v` for versioned entry.
/// The encrypt (`\xFFfse`) and compress (`\xFFfsz`) envelopes differ in the
/// fourth byte, so a wrapped value written by an older release is never taken
/// for a header.
pub(crate) const MAGIC: [u8; 4] = [0xFF, b'f', b's', b'v'];

/// The header layout this release writes and reads.
pub(crate) const FORMAT: u8 = 1;

/// Magic, format byte and version length byte.
const FIXED_LEN: usize = MAGIC.len() + 2;

/// `value` at `version`, as it is stored: one allocation, one copy of the value.
pub(crate) fn encode(version: &Version, value: &[u8]) -> Vec<u8> {
    let version = version.as_str().as_bytes();
    let mut stored = Vec::with_capacity(FIXED_LEN + version.len() + value.len());
    stored.extend_from_slice(&MAGIC);
    stored.push(FORMAT);
    // A `Version` is 1 to 64 bytes, so its length fits in one byte.
    stored.push(version.len() as u8);
    stored.extend_from_slice(version);
    stored.extend_from_slice(value);
    stored
}

/// A stored value taken apart.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Decoded<'a> {
    /// The version in the header; `None` for a legacy value (no header).
    pub(crate) version: Option<&'a str>,
    /// Where the value starts in the stored bytes.
    pub(crate) value_offset: usize,
}

/// Reads the header of `stored`. A value without the magic is a legacy value,
/// returned whole. A value with the magic but a format this release does not
/// know, or a header cut short, is `Corrupt`: never guessed at, never returned
/// with a header left in it.
pub(crate) fn decode(stored: &[u8]) -> Result<Decoded<'_>> {
    if !stored.starts_with(&MAGIC) {
        return Ok(Decoded {
            version: None,
            value_offset: 0,
        });
    }
    let format = stored.get(MAGIC.len()).copied();
    if format != Some(FORMAT) {
        return Err(Error::corrupt(match format {
            Some(format) => format!(
                "the stored entry has header format {format}, this release reads format {FORMAT} (upgrade every reader first)"
            ),
            None => "the stored entry's header is cut short".to_string(),
        }));
    }
    let version_len = usize::from(stored.get(MAGIC.len() + 1).copied().unwrap_or(0));
    let version = stored
        .get(FIXED_LEN..FIXED_LEN + version_len)
        .filter(|_| (1..=MAX_VERSION_LEN).contains(&version_len))
        .and_then(|bytes| std::str::from_utf8(bytes).ok())
        .ok_or_else(|| Error::corrupt("the stored entry's header holds no valid version"))?;
    Ok(Decoded {
        version: Some(version),
        value_offset: FIXED_LEN + version_len,
    })
}

/// The value inside `stored`, for plain `get`: the version is not needed, so
/// it is not checked beyond what [`decode`] does.
pub(crate) fn value_of(stored: bytes::Bytes) -> Result<Vec<u8>> {
    let offset = decode(&stored)?.value_offset;
    if offset == 0 {
        return Ok(Vec::from(stored));
    }
    Ok(stored[offset..].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowstore_core::ErrorKind;

    fn version(text: &str) -> Version {
        Version::new(text).unwrap()
    }

    #[test]
    fn encoded_values_decode_to_their_version_and_value() {
        for value in [&b""[..], b"x", b"\xFFfsv\x01\x01a", &[0u8; 300]] {
            let v = version("18c2f-9a-0");
            let stored = encode(&v, value);
            assert_eq!(&stored[..6], b"\xFFfsv\x01\x0a");
            let decoded = decode(&stored).unwrap();
            assert_eq!(decoded.version, Some("18c2f-9a-0"));
            assert_eq!(&stored[decoded.value_offset..], value);
            assert_eq!(value_of(stored.into()).unwrap(), value);
        }
        let longest = version(&"v".repeat(MAX_VERSION_LEN));
        assert_eq!(encode(&longest, b"").len(), FIXED_LEN + MAX_VERSION_LEN);
    }

    #[test]
    fn values_without_the_magic_are_legacy_and_whole() {
        let envelopes: [&[u8]; 6] = [
            b"",
            b"{\"step\":2}",
            b"\xFFfse\x01rest",
            b"\xFFfsz\x01\x00rest",
            b"\xFFfs",
            b"\xFF",
        ];
        for legacy in envelopes {
            let decoded = decode(legacy).unwrap();
            assert_eq!(decoded.version, None, "{legacy:?}");
            assert_eq!(decoded.value_offset, 0);
            assert_eq!(value_of(legacy.to_vec().into()).unwrap(), legacy);
        }
    }

    #[test]
    fn damaged_or_unknown_headers_are_corrupt() {
        let bad: [&[u8]; 6] = [
            b"\xFFfsv",
            b"\xFFfsv\x02\x01a",
            b"\xFFfsv\x01",
            b"\xFFfsv\x01\x00",
            b"\xFFfsv\x01\x05abc",
            b"\xFFfsv\x01\x41aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        ];
        for stored in bad {
            assert_eq!(
                decode(stored).unwrap_err().kind(),
                ErrorKind::Corrupt,
                "{stored:?}"
            );
            assert_eq!(
                value_of(stored.to_vec().into()).unwrap_err().kind(),
                ErrorKind::Corrupt
            );
        }
    }
}
