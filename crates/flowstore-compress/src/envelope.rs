//! The envelope: how a (possibly) compressed value is laid out in the inner store.
//!
//! Version 1 (docs/formats.md has the same tables):
//!
//! | offset | length | meaning |
//! |---|---|---|
//! | 0 | 4 | magic `FF 66 73 7A` (`0xFF`, then `fsz`) |
//! | 4 | 1 | envelope version, `0x01` |
//! | 5 | 1 | method: `0x00` raw, `0x01` lz4 block |
//!
//! Raw (`0x00`): the value follows from offset 6, unchanged.
//!
//! lz4 (`0x01`): offset 6, 4 bytes: the decompressed length, unsigned 32-bit
//! little-endian; from offset 10: one lz4 block (no frame, no checksum).

use flowstore_core::{Error, Result};

/// The first four bytes of every value this wrapper writes. `0xFF` never occurs
/// in UTF-8, so no text or JSON value written before compression was added can
/// start like an envelope.
pub(crate) const MAGIC: [u8; 4] = [0xFF, b'f', b's', b'z'];
/// The envelope version this crate writes (and the only one it reads).
pub(crate) const VERSION: u8 = 1;
const METHOD_RAW: u8 = 0;
const METHOD_LZ4: u8 = 1;
const RAW_HEADER_LEN: usize = MAGIC.len() + 2;
const LZ4_HEADER_LEN: usize = RAW_HEADER_LEN + 4;

/// Bytes the envelope adds to a value in the worst case (a value kept raw).
pub const OVERHEAD: usize = RAW_HEADER_LEN;

/// An lz4 block never expands data more than 255 times (each extra length byte
/// adds at most 255 output bytes); anything claiming more is hostile. The slack
/// covers the fixed part of the first sequence.
const MAX_LZ4_RATIO: usize = 255;
const LZ4_RATIO_SLACK: usize = 64;

/// Whether `stored` starts with the envelope magic (it may still be invalid).
pub(crate) fn looks_like_envelope(stored: &[u8]) -> bool {
    stored.starts_with(&MAGIC)
}

/// Wraps `value`: lz4-compressed when it is at least `min_size` bytes long and
/// compressing makes the stored bytes smaller, raw otherwise. Nothing is shared
/// between calls: each call allocates its own output.
pub(crate) fn encode(value: &[u8], min_size: usize) -> Vec<u8> {
    if value.len() >= min_size
        && let Ok(declared) = u32::try_from(value.len())
    {
        let bound = lz4_flex::block::get_maximum_output_size(value.len());
        let mut out = vec![0u8; LZ4_HEADER_LEN + bound];
        out[..MAGIC.len()].copy_from_slice(&MAGIC);
        out[MAGIC.len()] = VERSION;
        out[MAGIC.len() + 1] = METHOD_LZ4;
        out[RAW_HEADER_LEN..LZ4_HEADER_LEN].copy_from_slice(&declared.to_le_bytes());
        if let Ok(written) = lz4_flex::block::compress_into(value, &mut out[LZ4_HEADER_LEN..]) {
            let total = LZ4_HEADER_LEN + written;
            if total < RAW_HEADER_LEN + value.len() {
                out.truncate(total);
                return out;
            }
        }
    }
    let mut out = Vec::with_capacity(RAW_HEADER_LEN + value.len());
    out.extend_from_slice(&MAGIC);
    out.push(VERSION);
    out.push(METHOD_RAW);
    out.extend_from_slice(value);
    out
}

/// Unwraps an envelope. `limit` is the largest value the caller could have
/// written; a frame declaring more is `Corrupt` before anything is allocated.
pub(crate) fn decode(mut stored: Vec<u8>, limit: usize) -> Result<Vec<u8>> {
    if !looks_like_envelope(&stored) {
        return Err(Error::corrupt(
            "stored value has no compression envelope (written before compression was added? see CompressedStore::read_legacy)",
        ));
    }
    let Some(&version) = stored.get(MAGIC.len()) else {
        return Err(Error::corrupt("compressed value is truncated"));
    };
    if version != VERSION {
        return Err(Error::corrupt(format!(
            "compressed value has envelope version {version}, this reader knows only {VERSION}"
        )));
    }
    let Some(&method) = stored.get(MAGIC.len() + 1) else {
        return Err(Error::corrupt("compressed value is truncated"));
    };
    match method {
        METHOD_RAW => {
            stored.drain(..RAW_HEADER_LEN);
            Ok(stored)
        }
        METHOD_LZ4 => decode_lz4(&stored, limit),
        other => Err(Error::corrupt(format!(
            "compressed value uses unknown method {other}"
        ))),
    }
}

fn decode_lz4(stored: &[u8], limit: usize) -> Result<Vec<u8>> {
    let Some(size) = stored.get(RAW_HEADER_LEN..LZ4_HEADER_LEN) else {
        return Err(Error::corrupt("compressed value is truncated"));
    };
    let declared = u32::from_le_bytes([size[0], size[1], size[2], size[3]]) as usize;
    let block = &stored[LZ4_HEADER_LEN..];
    // Every check on the declared size comes before the one allocation below.
    if declared > limit {
        return Err(Error::corrupt(format!(
            "compressed value declares {declared} bytes, over this store's value limit of {limit} bytes"
        )));
    }
    if declared
        > block
            .len()
            .saturating_mul(MAX_LZ4_RATIO)
            .saturating_add(LZ4_RATIO_SLACK)
    {
        return Err(Error::corrupt(format!(
            "compressed value declares {declared} bytes, more than {} lz4 bytes can hold",
            block.len()
        )));
    }
    // A fresh, zeroed buffer for every call: nothing of an earlier value can leak
    // into this one (RUSTSEC-2026-0041).
    let mut out = vec![0u8; declared];
    let written = lz4_flex::block::decompress_into(block, &mut out).map_err(|err| {
        Error::corrupt("compressed value is not a valid lz4 block").with_source(err)
    })?;
    if written != declared {
        return Err(Error::corrupt(format!(
            "compressed value declares {declared} bytes but holds {written}"
        )));
    }
    Ok(out)
}
