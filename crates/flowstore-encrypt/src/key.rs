//! Key material and the keyring.

use std::collections::BTreeMap;
use std::fmt;

use aes_gcm::{Aes256Gcm, KeyInit};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use flowstore_core::{Error, Result};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// The length of an AES-256 key, in bytes.
pub const KEY_LEN: usize = 32;

/// A 256-bit AES key.
///
/// The bytes live on the heap (so moving the value does not leave copies on the
/// stack) and are overwritten with zeros when it is dropped. `Debug` prints
/// `EncryptionKey(..)`; no error message built here contains any part of the input.
pub struct EncryptionKey(Box<[u8; KEY_LEN]>);

impl EncryptionKey {
    /// A key from exactly 32 raw bytes; any other length is a `Config` error.
    pub fn from_bytes(bytes: &[u8]) -> Result<EncryptionKey> {
        if bytes.len() != KEY_LEN {
            return Err(Error::config(format!(
                "an encryption key must be {KEY_LEN} bytes, got {} bytes",
                bytes.len()
            )));
        }
        let mut key = Box::new([0u8; KEY_LEN]);
        key.copy_from_slice(bytes);
        Ok(EncryptionKey(key))
    }

    /// A key from 64 hexadecimal digits (either case). Surrounding whitespace is
    /// ignored.
    pub fn from_hex(text: &str) -> Result<EncryptionKey> {
        let text = text.trim().as_bytes();
        if text.len() != 2 * KEY_LEN {
            return Err(Error::config(format!(
                "a hex encryption key must be {} hex digits, got {} characters",
                2 * KEY_LEN,
                text.len()
            )));
        }
        let mut key = Box::new([0u8; KEY_LEN]);
        for (byte, pair) in key.iter_mut().zip(text.chunks_exact(2)) {
            match (hex_digit(pair[0]), hex_digit(pair[1])) {
                (Some(high), Some(low)) => *byte = (high << 4) | low,
                _ => {
                    key.zeroize();
                    return Err(Error::config(
                        "a hex encryption key contains a non-hex character",
                    ));
                }
            }
        }
        Ok(EncryptionKey(key))
    }

    /// A key from base64 of 32 bytes: standard or URL-safe alphabet, with or without
    /// padding. Surrounding whitespace is ignored.
    pub fn from_base64(text: &str) -> Result<EncryptionKey> {
        let text = text.trim();
        // The decoder's own error names the offending character, which is part of
        // the key: it is never kept as a source.
        for engine in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD] {
            if let Ok(bytes) = engine.decode(text) {
                let bytes = Zeroizing::new(bytes);
                return EncryptionKey::from_bytes(&bytes);
            }
        }
        Err(Error::config("an encryption key is not valid base64"))
    }

    /// A key from text holding 64 hex digits or the base64 of 32 bytes (see
    /// [`from_hex`](Self::from_hex) and [`from_base64`](Self::from_base64)).
    pub fn parse(text: &str) -> Result<EncryptionKey> {
        let trimmed = text.trim();
        if trimmed.len() == 2 * KEY_LEN && trimmed.bytes().all(|b| hex_digit(b).is_some()) {
            return EncryptionKey::from_hex(trimmed);
        }
        EncryptionKey::from_base64(trimmed).map_err(|_| {
            Error::config("an encryption key must be 64 hex digits or the base64 of 32 bytes")
        })
    }

    /// A key from the environment variable `name`, holding hex or base64 (see
    /// [`parse`](Self::parse)). A missing or empty variable is a `Config` error
    /// naming the variable (never its value).
    pub fn from_env(name: &str) -> Result<EncryptionKey> {
        let value = match std::env::var(name) {
            Ok(value) => Zeroizing::new(value),
            Err(std::env::VarError::NotPresent) => {
                return Err(Error::config(format!(
                    "environment variable {name} (encryption key) is not set"
                )));
            }
            Err(std::env::VarError::NotUnicode(_)) => {
                return Err(Error::config(format!(
                    "environment variable {name} (encryption key) is not valid UTF-8"
                )));
            }
        };
        if value.trim().is_empty() {
            return Err(Error::config(format!(
                "environment variable {name} (encryption key) is empty"
            )));
        }
        EncryptionKey::parse(&value)
            .map_err(|err| Error::config(format!("environment variable {name}: {}", err.message())))
    }

    /// A new random key from the operating system's (or the browser's) secure
    /// random source.
    pub fn generate() -> Result<EncryptionKey> {
        let mut key = Box::new([0u8; KEY_LEN]);
        getrandom::fill(key.as_mut_slice()).map_err(|err| {
            Error::backend("cannot get random bytes for a new key").with_source(RandomError(err))
        })?;
        Ok(EncryptionKey(key))
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new_from_slice(self.0.as_slice()).expect("an AES-256 key is 32 bytes")
    }
}

impl Drop for EncryptionKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl ZeroizeOnDrop for EncryptionKey {}

impl fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EncryptionKey(..)")
    }
}

fn hex_digit(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

/// `getrandom::Error` wrapped so it can be an error source on every target.
#[derive(Debug)]
pub(crate) struct RandomError(pub(crate) getrandom::Error);

impl fmt::Display for RandomError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for RandomError {}

/// The keys a store may use: one *current* key that encrypts every write, and
/// older keys still accepted for reads.
///
/// Each key has a numeric id, chosen by you and written (unencrypted) into every
/// value it encrypts, so a reader knows which key to use. A value whose id is not
/// in the ring is [`Corrupt`](flowstore_core::ErrorKind::Corrupt).
///
/// Rotating keys: add the new key as current, keep the old one in the ring, and
/// remove it once every value written under it has been rewritten or has expired.
///
/// ```
/// use flowstore_encrypt::{EncryptionKey, Keyring};
///
/// # fn main() -> flowstore_core::Result<()> {
/// let old = EncryptionKey::from_hex(&"11".repeat(32))?;
/// let new = EncryptionKey::from_base64("IiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiI=")?;
/// let ring = Keyring::new(2, new).with_read_key(1, old)?;
/// assert_eq!(ring.current_id(), 2);
/// assert_eq!(ring.ids().collect::<Vec<_>>(), [1, 2]);
/// // Debug shows the ids, never key material.
/// assert_eq!(format!("{ring:?}"), "Keyring { current: 2, ids: [1, 2] }");
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Keyring {
    current: u32,
    // Only the expanded ciphers are kept (they zeroize their round keys on drop);
    // the raw key bytes are dropped, and zeroized, as soon as a key is added.
    ciphers: BTreeMap<u32, Aes256Gcm>,
}

impl Keyring {
    /// A keyring whose current key (the one every write uses) is `key`, with id `id`.
    pub fn new(id: u32, key: EncryptionKey) -> Keyring {
        let mut ciphers = BTreeMap::new();
        ciphers.insert(id, key.cipher());
        Keyring {
            current: id,
            ciphers,
        }
    }

    /// The same keyring, also accepting `key` (id `id`) for reads. An id already in
    /// the ring is a `Config` error: one id must always mean one key.
    pub fn with_read_key(mut self, id: u32, key: EncryptionKey) -> Result<Keyring> {
        if self.ciphers.contains_key(&id) {
            return Err(Error::config(format!(
                "key id {id} appears twice in the keyring"
            )));
        }
        self.ciphers.insert(id, key.cipher());
        Ok(self)
    }

    /// The id of the key that encrypts writes.
    pub fn current_id(&self) -> u32 {
        self.current
    }

    /// Every key id in the ring, in increasing order.
    pub fn ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.ciphers.keys().copied()
    }

    pub(crate) fn current(&self) -> (u32, &Aes256Gcm) {
        (self.current, &self.ciphers[&self.current])
    }

    pub(crate) fn get(&self, id: u32) -> Option<&Aes256Gcm> {
        self.ciphers.get(&id)
    }
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("current", &self.current)
            .field("ids", &self.ciphers.keys().collect::<Vec<_>>())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowstore_core::ErrorKind;

    #[test]
    fn hex_and_base64_give_the_same_key() {
        let bytes: Vec<u8> = (0u8..32).collect();
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let from_hex = EncryptionKey::from_hex(&hex).unwrap();
        let from_upper = EncryptionKey::parse(&hex.to_uppercase()).unwrap();
        let b64 = STANDARD.encode(&bytes);
        let from_b64 = EncryptionKey::parse(&format!(" {b64}\n")).unwrap();
        let from_url = EncryptionKey::parse(&URL_SAFE_NO_PAD.encode(&bytes)).unwrap();
        let from_raw = EncryptionKey::from_bytes(&bytes).unwrap();
        for key in [&from_hex, &from_upper, &from_b64, &from_url] {
            assert_eq!(key.0, from_raw.0);
        }
    }

    #[test]
    fn bad_key_material_is_config_and_not_echoed() {
        let secretish = "zz".repeat(32);
        for bad in [
            EncryptionKey::from_hex(&secretish),
            EncryptionKey::from_hex("abcd"),
            EncryptionKey::from_base64("!!!!secret!!!!"),
            EncryptionKey::from_base64(&STANDARD.encode([1u8; 31])),
            EncryptionKey::from_bytes(&[0u8; 33]),
            EncryptionKey::parse("secret-passphrase"),
        ] {
            let err = bad.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config);
            let text = format!("{err} {err:?} {}", err.to_one_line());
            assert!(!text.contains("zz") && !text.contains("secret"), "{text}");
        }
    }

    #[test]
    fn generated_keys_differ() {
        let a = EncryptionKey::generate().unwrap();
        let b = EncryptionKey::generate().unwrap();
        assert_ne!(a.0, b.0);
    }

    #[test]
    fn duplicate_ids_are_refused() {
        let ring = Keyring::new(1, EncryptionKey::generate().unwrap());
        let err = ring
            .with_read_key(1, EncryptionKey::generate().unwrap())
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
    }
}
