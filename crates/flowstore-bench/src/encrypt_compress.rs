//! `flowstore-bench encrypt-compress`: what the compress and encrypt wrappers
//! cost over calling `lz4_flex` and `aes-gcm` directly, for a 1 KiB JSON value,
//! measured in one run.
//!
//! Stack: `CompressedStore<EncryptedStore<MemoryStore>>`, one `set` and one `get`
//! per round trip. First baseline: the same work by hand — lz4 compress, random
//! nonce, AES-256-GCM encrypt with the key as associated data, then decrypt and
//! decompress — with no store and no envelopes; the wrapper side also pays for the
//! memory store (a map insert and two copies) and the async calls. Second
//! baseline: the same by hand plus storing nonce + ciphertext in a `MemoryStore`
//! and reading it back, which isolates what the wrappers themselves add. The
//! three sides run alternately in many short batches, so that load from other
//! processes hits them alike; the median and the fastest batch of each side are
//! reported (the fastest is the least disturbed by other load).

use std::hint::black_box;
use std::time::{Duration, Instant};

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use clap::Args;
use flowstore::{Key, Store};
use flowstore_cli::Failure;
use flowstore_compress::CompressedStore;
use flowstore_encrypt::{EncryptedStore, EncryptionKey, Keyring};
use flowstore_memory::MemoryStore;

const KEY: [u8; 32] = [0x42; 32];

/// Options of `flowstore-bench encrypt-compress`.
#[derive(Debug, Args)]
pub(crate) struct EncryptCompressArgs {
    /// Batches per side, alternating between the sides.
    #[arg(long, value_name = "N", default_value_t = 400,
          value_parser = clap::value_parser!(u32).range(1..))]
    batches: u32,

    /// Round trips per batch.
    #[arg(long, value_name = "N", default_value_t = 500,
          value_parser = clap::value_parser!(u32).range(1..))]
    iterations: u32,
}

/// A 1 KiB JSON document shaped like a multi-step flow's state.
fn json_1k() -> Vec<u8> {
    let mut doc = String::from(r#"{"flow":"checkout","version":3,"steps":["#);
    let mut i = 0;
    while doc.len() < 1000 {
        doc.push_str(&format!(
            r#"{{"step":{i},"done":{},"fields":{{"email":"user{i}@example.com","zip":"{:05}"}}}},"#,
            i % 3 == 0,
            10_000 + i * 37
        ));
        i += 1;
    }
    doc.truncate(1022);
    doc.push_str("]}");
    assert_eq!(doc.len(), 1024);
    doc.into_bytes()
}

fn direct_round_trip(cipher: &Aes256Gcm, key: &Key, value: &[u8]) -> Vec<u8> {
    let compressed = lz4_flex::block::compress(value);
    let mut nonce = [0u8; 12];
    getrandom::fill(&mut nonce).expect("random nonce");
    let nonce = Nonce::from(nonce);
    let aad = key.as_str().as_bytes();
    let sealed = cipher
        .encrypt(
            &nonce,
            Payload {
                msg: &compressed,
                aad,
            },
        )
        .expect("encrypt");
    let opened = cipher
        .decrypt(&nonce, Payload { msg: &sealed, aad })
        .expect("decrypt");
    lz4_flex::block::decompress(&opened, value.len()).expect("decompress")
}

/// The same by hand, storing the result: nonce and ciphertext concatenated into a
/// memory store and read back, as code without the wrappers would have to.
async fn direct_stored_round_trip(
    cipher: &Aes256Gcm,
    store: &MemoryStore,
    key: &Key,
    value: &[u8],
) -> flowstore::Result<Vec<u8>> {
    let compressed = lz4_flex::block::compress(value);
    let mut nonce = [0u8; 12];
    getrandom::fill(&mut nonce).expect("random nonce");
    let aad = key.as_str().as_bytes();
    let sealed = cipher
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: &compressed,
                aad,
            },
        )
        .expect("encrypt");
    let mut stored = Vec::with_capacity(12 + sealed.len());
    stored.extend_from_slice(&nonce);
    stored.extend_from_slice(&sealed);
    store.set(key, &stored, None).await?;
    let stored = store.get(key).await?.expect("just written");
    let (nonce, sealed) = stored.split_at(12);
    let nonce = Nonce::try_from(nonce).expect("12 bytes");
    let opened = cipher
        .decrypt(&nonce, Payload { msg: sealed, aad })
        .expect("decrypt");
    Ok(lz4_flex::block::decompress(&opened, value.len()).expect("decompress"))
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// Nanoseconds per round trip of a batch of `iterations` that took `total`.
fn per_op(total: Duration, iterations: u32) -> f64 {
    total.as_nanos() as f64 / f64::from(iterations)
}

/// Runs the batches (on a current-thread runtime: one task, no hand-offs) and
/// prints the table.
pub(crate) async fn run(args: &EncryptCompressArgs) -> Result<(), Failure> {
    measure(args.batches as usize, args.iterations)
        .await
        .map_err(|err| Failure::store("encrypt-compress", &err))
}

async fn measure(batches: usize, iterations: u32) -> flowstore::Result<()> {
    let per_op = |total| per_op(total, iterations);
    let value = json_1k();
    let key = Key::new("checkout:42")?;

    let store = CompressedStore::new(EncryptedStore::new(
        MemoryStore::new(),
        Keyring::new(1, EncryptionKey::from_bytes(&KEY)?),
    ));
    let cipher = Aes256Gcm::new_from_slice(&KEY).expect("32-byte key");

    // Both sides do the same thing: check it once, and warm up.
    store.set(&key, &value, None).await?;
    assert_eq!(store.get(&key).await?.as_deref(), Some(&value[..]));
    assert_eq!(direct_round_trip(&cipher, &key, &value), value);
    let compressed = lz4_flex::block::compress(&value).len();
    let plain_store = MemoryStore::new();
    assert_eq!(
        direct_stored_round_trip(&cipher, &plain_store, &key, &value).await?,
        value
    );

    let mut wrapped = Vec::with_capacity(batches);
    let mut direct = Vec::with_capacity(batches);
    let mut stored = Vec::with_capacity(batches);
    for _ in 0..batches {
        let start = Instant::now();
        for _ in 0..iterations {
            store.set(black_box(&key), black_box(&value), None).await?;
            black_box(store.get(black_box(&key)).await?);
        }
        wrapped.push(start.elapsed());

        let start = Instant::now();
        for _ in 0..iterations {
            black_box(direct_round_trip(
                &cipher,
                black_box(&key),
                black_box(&value),
            ));
        }
        direct.push(start.elapsed());

        let start = Instant::now();
        for _ in 0..iterations {
            black_box(
                direct_stored_round_trip(&cipher, &plain_store, black_box(&key), black_box(&value))
                    .await?,
            );
        }
        stored.push(start.elapsed());
    }

    let fastest_wrapped = per_op(*wrapped.iter().min().expect("batches"));
    let fastest_direct = per_op(*direct.iter().min().expect("batches"));
    let fastest_stored = per_op(*stored.iter().min().expect("batches"));
    let wrapped = per_op(median(wrapped));
    let direct = per_op(median(direct));
    let stored = per_op(median(stored));
    println!(
        "1 KiB JSON value ({} bytes, {compressed} bytes after lz4), set + get round trip, ns:",
        value.len()
    );
    println!("                                                    median  fastest");
    println!(
        "  wrappers (compress -> encrypt -> memory store): {wrapped:8.0} {fastest_wrapped:8.0}"
    );
    println!("  direct lz4_flex + aes-gcm calls:                {direct:8.0} {fastest_direct:8.0}");
    println!("  direct calls + the same memory store set/get:   {stored:8.0} {fastest_stored:8.0}");
    println!(
        "  wrappers / direct calls (target <= 1.20x):     {:7.2}x {:7.2}x",
        wrapped / direct,
        fastest_wrapped / fastest_direct
    );
    println!(
        "  wrappers / direct calls + store:                {:7.2}x {:7.2}x",
        wrapped / stored,
        fastest_wrapped / fastest_stored
    );
    Ok(())
}
