//! Entry versions of IndexedDB records (SPEC §8): the `version` field, and the
//! stable pseudo-version of a record written before it existed.
//!
//! Every write of this crate stores `version: string` in the record. Records
//! written by earlier releases have no such field; they must stay readable and
//! writable conditionally, so they are given a version derived from what they
//! hold: `legacy-` and a 64-bit FNV-1a hash of the value and the expiry. It is
//! the same on every read of an unchanged record (so it can be matched), and
//! it changes when an older release in another tab writes the key with another
//! value or expiry. The first write of this crate replaces it with a generated
//! version (`Version::generate` never makes one that starts with `legacy-`).

use flowstore_core::{Error, Result, Version};
use js_sys::Reflect;
use wasm_bindgen::JsValue;

/// The name of the record field that holds the entry version.
pub(super) const FIELD: &str = "version";

/// What a legacy record's pseudo-version starts with.
const LEGACY_PREFIX: &str = "legacy-";

/// The entry version of `record` (whose value and expiry were decoded as
/// `value` and `expires`): its `version` field, or the pseudo-version of a
/// record written before versions. A field that is not a valid version is
/// `Corrupt`.
pub(super) fn of_record(record: &JsValue, value: &[u8], expires: Option<f64>) -> Result<Version> {
    let field = Reflect::get(record, &JsValue::from_str(FIELD)).ok();
    match field {
        None => Ok(legacy(value, expires)),
        Some(field) if field.is_undefined() => Ok(legacy(value, expires)),
        Some(field) => field
            .as_string()
            .ok_or_else(|| Error::corrupt("an IndexedDB record's entry version is not text"))
            .and_then(Version::from_stored),
    }
}

/// The pseudo-version of a record without a `version` field.
pub(super) fn legacy(value: &[u8], expires: Option<f64>) -> Version {
    let mut hash = Fnv1a::new();
    hash.write(&(value.len() as u64).to_le_bytes());
    hash.write(value);
    match expires {
        None => hash.write(&[0]),
        Some(expires) => {
            hash.write(&[1]);
            hash.write(&expires.to_bits().to_le_bytes());
        }
    }
    Version::new(format!("{LEGACY_PREFIX}{:016x}", hash.0))
        .expect("a prefix and 16 hex digits make a valid version")
}

/// 64-bit FNV-1a: tiny and stable across releases and targets (std's hashers
/// promise neither), which a stored pseudo-version needs. Not a defence against
/// anyone: a version is only compared for equality.
struct Fnv1a(u64);

impl Fnv1a {
    fn new() -> Fnv1a {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 ^= u64::from(*byte);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}
