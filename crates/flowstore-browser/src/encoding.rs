//! How [`LocalStorageStore`](crate::LocalStorageStore) turns entries into the
//! strings Web Storage holds, and how it names them. Pure Rust, target-independent
//! (tested natively too). The layout is documented in `docs/backends/browser.md`.
//!
//! # Values: 15 bits per UTF-16 code unit
//!
//! Web Storage keeps strings (sequences of UTF-16 code units) and counts its quota
//! in them (Firefox: code units; Chromium: bytes of UTF-16, or of Latin-1 for
//! strings that fit in it; Safari: bytes of UTF-16). Bytes are therefore packed 15
//! bits at a time into code units `U+4000..=U+BFFF`: every one of them is a
//! non-surrogate BMP character, so the text survives the UTF-8 ⇄ UTF-16
//! conversions between Rust and JavaScript unchanged, and a value costs
//! `ceil(8·n / 15)` code units (about 6.7 % over the raw size in UTF-16 bytes;
//! base64 would cost 33 % in Latin-1 and 167 % in UTF-16).
//!
//! # Entries
//!
//! ```text
//! entry   = "1" ";" [expires] ";" length ";" payload
//! expires = decimal milliseconds since the Unix epoch (JavaScript `Date.now()`)
//! length  = decimal byte length of the value
//! payload = the value, packed as above
//! ```
//!
//! The leading `1` is the format version; anything else is `Corrupt`.
//!
//! # Keys
//!
//! `flowstore/<n>:<namespace>/<key>`, where `<n>` is the namespace's length in
//! UTF-8 bytes. The length makes the split unambiguous: no namespace is a prefix
//! of another's entries (`flow` vs `flow2`), and namespace `a` + key `b/c` never
//! meets namespace `a/b` + key `c`.

/// The first code unit of the packing alphabet.
const BASE: u32 = 0x4000;
/// Bits per code unit.
const BITS: u32 = 15;
/// The entry format version this crate writes and reads.
const VERSION: &str = "1";
/// Where every key of every namespace starts.
const ROOT: &str = "flowstore/";

/// A decoded entry.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    /// The value.
    pub(crate) value: Vec<u8>,
    /// When it expires, in ms since the Unix epoch.
    pub(crate) expires: Option<u64>,
}

/// What went wrong decoding an entry (a one-line description, no stored data).
pub(crate) type DecodeError = &'static str;

/// The number of code units a value of `len` bytes packs into.
pub(crate) fn packed_len(len: usize) -> usize {
    (len * 8).div_ceil(BITS as usize)
}

/// Packs `bytes` 15 bits per character (the last one padded with zero bits).
pub(crate) fn pack(bytes: &[u8], out: &mut String) {
    out.reserve(packed_len(bytes.len()) * 3);
    let mut acc: u32 = 0;
    let mut bits: u32 = 0;
    for &byte in bytes {
        acc = (acc << 8) | u32::from(byte);
        bits += 8;
        if bits >= BITS {
            bits -= BITS;
            push_unit(out, (acc >> bits) & 0x7fff);
            acc &= (1 << bits) - 1;
        }
    }
    if bits > 0 {
        push_unit(out, (acc << (BITS - bits)) & 0x7fff);
    }
}

fn push_unit(out: &mut String, value: u32) {
    // BASE + value is at most 0xBFFF: never a surrogate, always a char.
    out.push(char::from_u32(BASE + value).unwrap_or(char::REPLACEMENT_CHARACTER));
}

/// Unpacks `len` bytes from `text`, checking every character and the padding.
pub(crate) fn unpack(text: &str, len: usize) -> Result<Vec<u8>, DecodeError> {
    // Checked before allocating: a damaged header must not ask for a huge buffer.
    let expected_units = len.checked_mul(8).map(|bits| bits.div_ceil(BITS as usize));
    if expected_units != Some(text.chars().count()) {
        return Err("the value's length does not match its header");
    }
    let mut out = Vec::with_capacity(len);
    let mut acc: u32 = 0;
    let mut bits: u32 = 0;
    for c in text.chars() {
        let value = (c as u32).wrapping_sub(BASE);
        if value > 0x7fff {
            return Err("a character outside the packing alphabet");
        }
        acc = (acc << BITS) | value;
        bits += BITS;
        while bits >= 8 && out.len() < len {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    if out.len() != len {
        return Err("the value's length does not match its header");
    }
    if acc != 0 {
        return Err("non-zero padding bits");
    }
    Ok(out)
}

/// The stored string of an entry.
pub(crate) fn encode_entry(value: &[u8], expires: Option<u64>) -> String {
    let mut out = String::with_capacity(32 + packed_len(value.len()) * 3);
    out.push_str(VERSION);
    out.push(';');
    if let Some(expires) = expires {
        out.push_str(&expires.to_string());
    }
    out.push(';');
    out.push_str(&value.len().to_string());
    out.push(';');
    pack(value, &mut out);
    out
}

/// The header of a stored entry, parsed without unpacking its value.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Header<'a> {
    /// When it expires, in ms since the Unix epoch.
    pub(crate) expires: Option<u64>,
    /// The value's length in bytes.
    pub(crate) len: usize,
    /// The packed value, as stored.
    pub(crate) payload: &'a str,
}

/// Parses the header of a stored string, and checks that the packed value has
/// the length the header says (without unpacking it: listing and `touch` need
/// no value).
pub(crate) fn decode_header(text: &str) -> Result<Header<'_>, DecodeError> {
    let mut parts = text.splitn(4, ';');
    let version = parts.next().unwrap_or_default();
    let (Some(expires), Some(len), Some(payload)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err("not a flowstore entry");
    };
    if version != VERSION {
        return Err("unknown entry format version");
    }
    let expires = match expires {
        "" => None,
        digits => Some(parse_decimal(digits).ok_or("bad expiry time")?),
    };
    let len = parse_decimal(len).ok_or("bad value length")?;
    let len = usize::try_from(len).map_err(|_| "bad value length")?;
    let expected_units = len.checked_mul(8).map(|bits| bits.div_ceil(BITS as usize));
    if expected_units != Some(payload.chars().count()) {
        return Err("the value's length does not match its header");
    }
    Ok(Header {
        expires,
        len,
        payload,
    })
}

/// Parses a stored string back into an entry.
pub(crate) fn decode_entry(text: &str) -> Result<Entry, DecodeError> {
    let header = decode_header(text)?;
    let value = unpack(header.payload, header.len)?;
    Ok(Entry {
        value,
        expires: header.expires,
    })
}

/// The stored string of `header`'s entry with another expiry: the packed value
/// is copied as it is, never unpacked and packed again.
pub(crate) fn with_expiry(header: &Header<'_>, expires: Option<u64>) -> String {
    let mut out = String::with_capacity(32 + header.payload.len());
    out.push_str(VERSION);
    out.push(';');
    if let Some(expires) = expires {
        out.push_str(&expires.to_string());
    }
    out.push(';');
    out.push_str(&header.len.to_string());
    out.push(';');
    out.push_str(header.payload);
    out
}

/// The bytes a stored string takes as UTF-16 (what the Web Storage quota
/// counts, at most): two per code unit.
pub(crate) fn utf16_size(text: &str) -> u64 {
    2 * text.encode_utf16().count() as u64
}

/// A plain decimal number: ASCII digits only (no sign, no spaces), no overflow.
fn parse_decimal(digits: &str) -> Option<u64> {
    if digits.is_empty() || digits.len() > 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The prefix every key of `namespace` starts with, and no key of another
/// namespace does.
pub(crate) fn namespace_prefix(namespace: &str) -> String {
    format!("{ROOT}{}:{namespace}/", namespace.len())
}

/// The Web Storage key of `key` in the namespace whose prefix is `prefix`.
pub(crate) fn storage_key(prefix: &str, key: &str) -> String {
    let mut out = String::with_capacity(prefix.len() + key.len());
    out.push_str(prefix);
    out.push_str(key);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(bytes: &[u8]) {
        let mut packed = String::new();
        pack(bytes, &mut packed);
        assert_eq!(packed.chars().count(), packed_len(bytes.len()));
        assert!(
            packed
                .chars()
                .all(|c| (0x4000..=0xBFFF).contains(&(c as u32)))
        );
        assert_eq!(unpack(&packed, bytes.len()).as_deref(), Ok(bytes));
    }

    #[test]
    fn every_length_round_trips() {
        let data: Vec<u8> = (0..200u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for len in 0..data.len() {
            round_trip(&data[..len]);
        }
        round_trip(&[0xff; 31]);
        round_trip(&[0; 31]);
    }

    #[test]
    fn overhead_is_about_one_fifteenth() {
        assert_eq!(packed_len(0), 0);
        assert_eq!(packed_len(1), 1);
        assert_eq!(packed_len(15), 8);
        assert_eq!(packed_len(1024 * 1024), 559_241);
    }

    #[test]
    fn entries_round_trip_with_and_without_expiry() {
        for expires in [None, Some(0), Some(1_764_158_400_123), Some(u64::MAX)] {
            for value in [&b""[..], b"x", b"\xff\xfe\x00binary"] {
                let text = encode_entry(value, expires);
                let entry = decode_entry(&text).unwrap();
                assert_eq!(entry.value, value);
                assert_eq!(entry.expires, expires);
            }
        }
        assert_eq!(encode_entry(b"", None), "1;;0;");
    }

    #[test]
    fn damaged_entries_are_rejected() {
        let good = encode_entry(b"hello world", Some(5));
        assert!(decode_entry(&good).is_ok());
        for bad in [
            "",
            "hello",
            "2;;0;",
            "1;;1;",
            "1;x;0;",
            "1;;-1;",
            "1;; 0;",
            "1;;99999999999999999999999;",
            &good[..good.len() - 3],
            &format!("{good}\u{4000}"),
            &good.replace(';', ","),
        ] {
            assert!(decode_entry(bad).is_err(), "{bad:?} accepted");
        }
        // A character outside the alphabet, and non-zero padding bits.
        assert!(unpack("a", 1).is_err());
        assert!(unpack("\u{4001}", 1).is_err());
    }

    #[test]
    fn a_new_expiry_keeps_the_packed_value() {
        for value in [&b""[..], b"x", b"\xff\xfe\x00binary"] {
            let text = encode_entry(value, Some(17));
            let header = decode_header(&text).unwrap();
            assert_eq!(header.expires, Some(17));
            assert_eq!(header.len, value.len());
            for expires in [None, Some(0), Some(1_764_158_400_123)] {
                let moved = with_expiry(&header, expires);
                assert_eq!(moved, encode_entry(value, expires));
            }
        }
        assert!(decode_header("1;;2;\u{4000}").is_err());
        assert_eq!(utf16_size("1;;0;"), 10);
        assert_eq!(utf16_size("\u{1F600}"), 4);
    }

    #[test]
    fn keys_of_different_namespaces_never_meet() {
        let pairs = [
            ("flow", "x"),
            ("flow2", "x"),
            ("a", "b/c"),
            ("a/b", "c"),
            ("a", "b:c"),
            ("a:b", "c"),
            ("1", "1:a/b"),
            ("1:a", "b"),
        ];
        for (i, (ns1, k1)) in pairs.iter().enumerate() {
            for (ns2, k2) in &pairs[i + 1..] {
                let one = storage_key(&namespace_prefix(ns1), k1);
                let two = storage_key(&namespace_prefix(ns2), k2);
                assert_ne!(one, two);
                if ns1 != ns2 {
                    assert!(!one.starts_with(&namespace_prefix(ns2)));
                    assert!(!two.starts_with(&namespace_prefix(ns1)));
                }
            }
        }
        assert_eq!(
            storage_key(&namespace_prefix("flow"), "k"),
            "flowstore/4:flow/k"
        );
    }
}
