//! The envelope: how an encrypted value is laid out in the inner store.
//!
//! Version 1 (docs/formats.md has the same table):
//!
//! | offset | length | meaning |
//! |---|---|---|
//! | 0 | 4 | magic `FF 66 73 65` (`0xFF`, then `fse`) |
//! | 4 | 1 | envelope version, `0x01` |
//! | 5 | 4 | key id, unsigned 32-bit big-endian |
//! | 9 | 12 | nonce, random per write |
//! | 21 | n | ciphertext (as long as the plaintext) |
//! | 21 + n | 16 | GCM tag |
//!
//! Associated data (authenticated, not stored): the 9 header bytes, then the
//! namespace and the key, each preceded by its length as unsigned 32-bit
//! big-endian.

use aes_gcm::aead::inout::InOutBuf;
use aes_gcm::{AeadInOut, Aes256Gcm};
use flowstore_core::{Error, Key, Namespace, Result};

use crate::key::{Keyring, RandomError};

/// The first four bytes of every encrypted value. `0xFF` never occurs in UTF-8,
/// so no text or JSON value can start like an envelope.
pub(crate) const MAGIC: [u8; 4] = [0xFF, b'f', b's', b'e'];
/// The envelope version this crate writes (and the only one it reads).
pub(crate) const VERSION: u8 = 1;
const KEY_ID_LEN: usize = 4;
const HEADER_LEN: usize = MAGIC.len() + 1 + KEY_ID_LEN;
pub(crate) const NONCE_LEN: usize = 12;
pub(crate) const TAG_LEN: usize = 16;
const PREFIX_LEN: usize = HEADER_LEN + NONCE_LEN;

/// Bytes an envelope adds to the plaintext: 9 header + 12 nonce + 16 tag.
pub const OVERHEAD: usize = PREFIX_LEN + TAG_LEN;

/// Whether `stored` starts with the envelope magic (it may still be invalid).
pub(crate) fn looks_like_envelope(stored: &[u8]) -> bool {
    stored.starts_with(&MAGIC)
}

/// Associated data up to this length is built on the stack (no allocation).
const INLINE_AAD: usize = 128;

/// Calls `f` with the associated data for `namespace` / `key`.
fn with_associated_data<T>(
    header: &[u8],
    namespace: &Namespace,
    key: &Key,
    f: impl FnOnce(&[u8]) -> T,
) -> T {
    let namespace = namespace.as_str().as_bytes();
    let key = key.as_str().as_bytes();
    let len = header.len() + 8 + namespace.len() + key.len();
    let mut inline = [0u8; INLINE_AAD];
    let mut heap = Vec::new();
    let aad: &mut [u8] = if len <= INLINE_AAD {
        &mut inline[..len]
    } else {
        heap.resize(len, 0);
        &mut heap
    };
    // Namespaces are at most 256 bytes and keys at most 1024: both fit in a u32.
    let parts: [&[u8]; 5] = [
        header,
        &(namespace.len() as u32).to_be_bytes(),
        namespace,
        &(key.len() as u32).to_be_bytes(),
        key,
    ];
    let mut at = 0;
    for part in parts {
        aad[at..at + part.len()].copy_from_slice(part);
        at += part.len();
    }
    f(aad)
}

/// Encrypts `plaintext` with the ring's current key, bound to `namespace` and `key`.
pub(crate) fn seal(
    keyring: &Keyring,
    namespace: &Namespace,
    key: &Key,
    plaintext: &[u8],
) -> Result<Vec<u8>> {
    let (key_id, cipher) = keyring.current();
    let mut out = Vec::with_capacity(OVERHEAD + plaintext.len());
    out.extend_from_slice(&MAGIC);
    out.push(VERSION);
    out.extend_from_slice(&key_id.to_be_bytes());
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::fill(&mut nonce).map_err(|err| {
        Error::backend("cannot get random bytes for a nonce").with_source(RandomError(err))
    })?;
    out.extend_from_slice(&nonce);
    out.extend_from_slice(plaintext);
    let mut header = [0u8; HEADER_LEN];
    header.copy_from_slice(&out[..HEADER_LEN]);
    let tag = with_associated_data(&header, namespace, key, |aad| {
        cipher.encrypt_inout_detached(&nonce.into(), aad, InOutBuf::from(&mut out[PREFIX_LEN..]))
    })
    .map_err(|_| Error::backend("AES-GCM refused to encrypt the value"))?;
    out.extend_from_slice(&tag);
    Ok(out)
}

/// Checks and decrypts an envelope read from under `namespace` / `key`. Every way
/// it can be wrong is `Corrupt`.
pub(crate) fn open(
    keyring: &Keyring,
    namespace: &Namespace,
    key: &Key,
    mut stored: Vec<u8>,
) -> Result<Vec<u8>> {
    if !looks_like_envelope(&stored) {
        return Err(Error::corrupt(
            "stored value is not an encrypted envelope (plaintext or foreign bytes)",
        ));
    }
    if stored.len() < MAGIC.len() + 1 {
        return Err(Error::corrupt("encrypted value is truncated"));
    }
    let version = stored[MAGIC.len()];
    if version != VERSION {
        return Err(Error::corrupt(format!(
            "encrypted value has envelope version {version}, this reader knows only {VERSION}"
        )));
    }
    if stored.len() < OVERHEAD {
        return Err(Error::corrupt("encrypted value is truncated"));
    }
    let mut id = [0u8; KEY_ID_LEN];
    id.copy_from_slice(&stored[MAGIC.len() + 1..HEADER_LEN]);
    let key_id = u32::from_be_bytes(id);
    let cipher: &Aes256Gcm = keyring.get(key_id).ok_or_else(|| {
        Error::corrupt(format!(
            "value was encrypted with key id {key_id}, which is not in the keyring"
        ))
    })?;
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(&stored[HEADER_LEN..PREFIX_LEN]);
    let tag_start = stored.len() - TAG_LEN;
    let mut tag = [0u8; TAG_LEN];
    tag.copy_from_slice(&stored[tag_start..]);
    let mut header = [0u8; HEADER_LEN];
    header.copy_from_slice(&stored[..HEADER_LEN]);
    with_associated_data(&header, namespace, key, |aad| {
        cipher.decrypt_inout_detached(
            &nonce.into(),
            aad,
            InOutBuf::from(&mut stored[PREFIX_LEN..tag_start]),
            &tag.into(),
        )
    })
    .map_err(|_| {
            Error::corrupt(
                "encrypted value failed authentication (wrong key, tampered, or copied from another key or namespace)",
            )
        })?;
    stored.truncate(tag_start);
    stored.drain(..PREFIX_LEN);
    Ok(stored)
}
