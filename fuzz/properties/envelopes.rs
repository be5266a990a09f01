//! The three envelopes a wrapper reads back from its inner store, which anyone
//! with access to the backend can write: encrypt, compress and fallback.
//!
//! Each property drives the public wrapper over a memory store and writes
//! bytes into the inner store directly, as an attacker or a damaged disk
//! would. The expected answers come from the layouts in `docs/formats.md`,
//! decoded here independently of the crates' own decoders.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use arbitrary::{Arbitrary, Unstructured};
use flowstore_compress::CompressedStore;
use flowstore_core::{ErrorKind, Key, Result, Store};
use flowstore_encrypt::{EncryptedStore, EncryptionKey, Keyring};
use flowstore_fallback::FallbackStore;
use flowstore_memory::MemoryStore;

use super::{SECRET, assert_not_quoted, block_on};

/// The key every envelope property reads and writes.
fn key() -> Key {
    Key::new("fuzz/envelope").expect("a valid key")
}

/// How a stored envelope is damaged before it is read back.
#[derive(Arbitrary, Debug)]
enum Damage {
    /// Left as it was written.
    None,
    /// Some bytes flipped (`xor` with a non-zero mask; positions wrap around).
    Flip(Vec<(u16, u8)>),
    /// Cut to this many bytes (modulo the length).
    Truncate(u16),
    /// Bytes appended.
    Extend(Vec<u8>),
}

impl Damage {
    /// Applies the damage; `true` if the bytes changed.
    fn apply(&self, stored: &mut Vec<u8>) -> bool {
        let before = stored.clone();
        match self {
            Damage::None => {}
            Damage::Flip(flips) if !stored.is_empty() => {
                for &(at, mask) in flips {
                    let at = usize::from(at) % stored.len();
                    stored[at] ^= mask;
                }
            }
            Damage::Flip(_) => {}
            Damage::Truncate(len) => {
                let len = usize::from(*len) % (stored.len() + 1);
                stored.truncate(len);
            }
            Damage::Extend(extra) => stored.extend_from_slice(extra),
        }
        *stored != before
    }
}

/// What an encrypt-envelope input does.
#[derive(Arbitrary, Debug)]
enum EncryptCase {
    /// Write `value` (behind the secret marker), damage the stored envelope, read it back.
    RoundTrip { value: Vec<u8>, damage: Damage },
    /// Write through a ring whose current key is the old one, read through one
    /// that rotated: the old key still reads.
    Rotated { value: Vec<u8> },
    /// Copy a sealed value to another key: the envelope is bound to its key.
    Moved { value: Vec<u8> },
    /// Whatever bytes the inner store holds, optionally ending with the marker.
    Raw { stored: Vec<u8>, marked: bool },
}

fn encryption_key(fill: u8) -> EncryptionKey {
    EncryptionKey::from_bytes(&[fill; 32]).expect("32 bytes make a key")
}

/// Encrypt envelope: a value written reads back as written; any damage to the
/// envelope, a value moved to another key or foreign bytes read as `Corrupt`,
/// never as some other value or as absent; no error quotes the plaintext.
pub fn encrypt_envelope(data: &[u8]) {
    let Ok(case) = EncryptCase::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    block_on(async {
        let inner = Arc::new(MemoryStore::new());
        let ring = Keyring::new(1, encryption_key(0x11));
        let store = EncryptedStore::new(Arc::clone(&inner), ring);
        let key = key();
        match case {
            EncryptCase::RoundTrip { value, damage } => {
                let plaintext = marked(&value);
                store.set(&key, &plaintext, None).await.expect("set");
                let mut stored = inner.get(&key).await.expect("get").expect("stored");
                let changed = damage.apply(&mut stored);
                inner.set(&key, &stored, None).await.expect("raw set");
                let read = store.get(&key).await;
                if changed {
                    expect_corrupt(read, "a damaged encrypted envelope");
                } else {
                    assert_eq!(read.expect("get").as_deref(), Some(&plaintext[..]));
                }
            }
            EncryptCase::Rotated { value } => {
                let plaintext = marked(&value);
                store.set(&key, &plaintext, None).await.expect("set");
                let rotated = Keyring::new(2, encryption_key(0x22))
                    .with_read_key(1, encryption_key(0x11))
                    .expect("distinct ids");
                let reader = EncryptedStore::new(Arc::clone(&inner), rotated);
                let read = reader.get(&key).await.expect("get");
                assert_eq!(read.as_deref(), Some(&plaintext[..]));
                // And a ring without the old key cannot read it.
                let stranger =
                    EncryptedStore::new(Arc::clone(&inner), Keyring::new(2, encryption_key(0x22)));
                expect_corrupt(stranger.get(&key).await, "a value under an unknown key id");
            }
            EncryptCase::Moved { value } => {
                let plaintext = marked(&value);
                store.set(&key, &plaintext, None).await.expect("set");
                let stored = inner.get(&key).await.expect("get").expect("stored");
                let other = Key::new("fuzz/other").expect("a valid key");
                inner.set(&other, &stored, None).await.expect("raw set");
                expect_corrupt(store.get(&other).await, "an envelope moved to another key");
            }
            EncryptCase::Raw { mut stored, marked } => {
                if marked {
                    stored.extend_from_slice(SECRET.as_bytes());
                }
                inner.set(&key, &stored, None).await.expect("raw set");
                // Forging a GCM tag is not something a fuzzer does: every
                // foreign value is refused.
                expect_corrupt(store.get(&key).await, "foreign bytes under encryption");
            }
        }
    });
}

/// `value` behind the secret marker, so that an error quoting it is caught.
fn marked(value: &[u8]) -> Vec<u8> {
    let mut plaintext = SECRET.as_bytes().to_vec();
    plaintext.extend_from_slice(value);
    plaintext
}

fn expect_corrupt(read: Result<Option<Vec<u8>>>, what: &str) {
    match read {
        Err(err) => {
            assert_eq!(err.kind(), ErrorKind::Corrupt, "{what}: {err}");
            assert_not_quoted(&err, SECRET);
        }
        Ok(found) => panic!(
            "{what} was read as {:?} instead of a Corrupt error",
            found.map(|value| value.len())
        ),
    }
}

/// What a compress-envelope input does.
#[derive(Arbitrary, Debug)]
enum CompressCase {
    /// Write `value` (compressed from `min_size` bytes up), read it back.
    RoundTrip {
        value: Vec<u8>,
        repeat: u8,
        min_size: u8,
    },
    /// Whatever bytes the inner store holds.
    Raw { stored: Vec<u8>, legacy: bool },
    /// An lz4 envelope around bytes of the input, as a valid header would be.
    Lz4 { declared: u32, block: Vec<u8> },
}

/// The compress envelope's magic, version and methods (docs/formats.md).
const COMPRESS_MAGIC: [u8; 4] = [0xFF, b'f', b's', b'z'];

/// Compress envelope: a value written reads back as written; stored bytes
/// read exactly as their documented layout says (raw payload, or the lz4
/// block's contents of exactly the declared length), anything else is
/// `Corrupt`; a declared size is never trusted beyond the store's limit.
pub fn compress_envelope(data: &[u8]) {
    let Ok(case) = CompressCase::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    block_on(async {
        let inner = Arc::new(MemoryStore::new());
        let key = key();
        let (stored, legacy) = match case {
            CompressCase::RoundTrip {
                value,
                repeat,
                min_size,
            } => {
                // Repeating the value makes it compressible, so both methods run.
                let value = value.repeat(usize::from(repeat % 8) + 1);
                let store =
                    CompressedStore::new(Arc::clone(&inner)).min_size(usize::from(min_size));
                store.set(&key, &value, None).await.expect("set");
                assert_eq!(store.get(&key).await.expect("get"), Some(value));
                return;
            }
            CompressCase::Raw { stored, legacy } => (stored, legacy),
            CompressCase::Lz4 { declared, block } => {
                let mut stored = COMPRESS_MAGIC.to_vec();
                stored.extend_from_slice(&[1, 1]);
                stored.extend_from_slice(&declared.to_le_bytes());
                stored.extend_from_slice(&block);
                (stored, false)
            }
        };
        let store = CompressedStore::new(Arc::clone(&inner)).read_legacy(legacy);
        inner.set(&key, &stored, None).await.expect("raw set");
        let read = store.get(&key).await;
        let expected = compressed_value(&stored, legacy, store.max_value_size());
        match (read, expected) {
            (Ok(Some(found)), Some(expected)) => assert_eq!(found, expected),
            (Err(err), None) => assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}"),
            (read, expected) => panic!(
                "stored bytes {} read as {:?}, the layout says {:?}",
                super::random::hex(&stored[..stored.len().min(64)]),
                read.map(|found| found.map(|value| value.len())),
                expected.map(|value| value.len())
            ),
        }
    });
}

/// The value the compress layout gives `stored`, `None` if it is not a valid envelope.
fn compressed_value(stored: &[u8], legacy: bool, limit: usize) -> Option<Vec<u8>> {
    if !stored.starts_with(&COMPRESS_MAGIC) {
        return legacy.then(|| stored.to_vec());
    }
    match stored.get(4..6)? {
        [1, 0] => Some(stored[6..].to_vec()),
        [1, 1] => {
            let declared = u32::from_le_bytes(stored.get(6..10)?.try_into().ok()?) as usize;
            let block = &stored[10..];
            // The documented bounds: never more than the store's value limit,
            // nor more than an lz4 block can expand to (255 times, plus the
            // first sequence's fixed part).
            if declared > limit || declared > block.len().saturating_mul(255).saturating_add(64) {
                return None;
            }
            let mut out = vec![0u8; declared];
            let written = lz4_flex::block::decompress_into(block, &mut out).ok()?;
            (written == declared).then_some(out)
        }
        _ => None,
    }
}

/// What a fallback-envelope input does.
#[derive(Arbitrary, Debug)]
enum FallbackCase {
    /// Write `value` through the fallback store, read it back.
    RoundTrip { value: Vec<u8> },
    /// Whatever bytes the primary holds (the secondary holds nothing).
    Raw { stored: Vec<u8> },
    /// A record with this header and payload, in the primary.
    Record {
        kind: u8,
        stamp: u64,
        writer: u64,
        expires_at: u64,
        payload: Vec<u8>,
    },
}

/// The fallback envelope's magic (docs/formats.md).
const FALLBACK_MAGIC: [u8; 3] = [0xF5, b'F', b'B'];
const FALLBACK_HEADER_LEN: usize = 29;

/// Fallback envelope: a value written reads back as written; bytes without
/// the magic are a plain value; a record reads as its payload, as absent when
/// it is a tombstone or expired, and anything else is `Corrupt` — never absent.
pub fn fallback_envelope(data: &[u8]) {
    let Ok(case) = FallbackCase::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    block_on(async {
        let primary = Arc::new(MemoryStore::new());
        let secondary = Arc::new(MemoryStore::new());
        let store = FallbackStore::new(vec![
            Arc::clone(&primary) as Arc<dyn Store>,
            Arc::clone(&secondary) as Arc<dyn Store>,
        ])
        .expect("two stores");
        let key = key();
        let stored = match case {
            FallbackCase::RoundTrip { value } => {
                store.set(&key, &value, None).await.expect("set");
                assert_eq!(store.get(&key).await.expect("get"), Some(value));
                return;
            }
            FallbackCase::Raw { stored } => stored,
            FallbackCase::Record {
                kind,
                stamp,
                writer,
                expires_at,
                payload,
            } => {
                let mut stored = FALLBACK_MAGIC.to_vec();
                stored.extend_from_slice(&[1, kind % 3]);
                for field in [stamp, writer, expires_at] {
                    stored.extend_from_slice(&field.to_be_bytes());
                }
                stored.extend_from_slice(&payload);
                stored
            }
        };
        primary.set(&key, &stored, None).await.expect("raw set");
        let read = store.get(&key).await;
        match (fallback_value(&stored), read) {
            (Expected::Value(expected), Ok(Some(found))) => assert_eq!(found, expected),
            (Expected::Absent, Ok(None)) => {}
            (Expected::NearExpiry(expected), Ok(found)) => {
                assert!(found.is_none() || found == Some(expected));
            }
            (Expected::Corrupt, Err(err)) => assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}"),
            (expected, read) => panic!(
                "stored bytes {} read as {:?}, the layout says {expected:?}",
                super::random::hex(&stored[..stored.len().min(64)]),
                read.map(|found| found.map(|value| value.len()))
            ),
        }
    });
}

#[derive(Debug)]
enum Expected {
    Value(Vec<u8>),
    Absent,
    /// A value whose expiry is too close to now to say which side of it the read falls.
    NearExpiry(Vec<u8>),
    Corrupt,
}

/// What the fallback layout says `stored` reads as.
fn fallback_value(stored: &[u8]) -> Expected {
    if !stored.starts_with(&FALLBACK_MAGIC) {
        return Expected::Value(stored.to_vec());
    }
    if stored.len() < FALLBACK_HEADER_LEN || stored[3] != 1 {
        return Expected::Corrupt;
    }
    let expires_at = u64::from_be_bytes(stored[21..29].try_into().expect("8 bytes"));
    let payload = stored[FALLBACK_HEADER_LEN..].to_vec();
    match stored[4] {
        0 if expires_at == 0 => Expected::Value(payload),
        0 => {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .expect("after 1970")
                .as_micros() as u64;
            const HOUR: u64 = 3_600_000_000;
            if expires_at <= now.saturating_sub(HOUR) {
                Expected::Absent
            } else if expires_at > now.saturating_add(HOUR) {
                Expected::Value(payload)
            } else {
                Expected::NearExpiry(payload)
            }
        }
        1 if payload.is_empty() => Expected::Absent,
        _ => Expected::Corrupt,
    }
}
