//! A short, fixed-size run of every fuzz property (`fuzz/properties/`) on
//! inputs from fixed seeds, so the normal test step checks them too. The long
//! runs, under libFuzzer, are `cargo xtask fuzz` (docs/fuzzing.md).
//!
//! `FLOWSTORE_FUZZ_CASES` sets the number of inputs per property (default
//! below); `FLOWSTORE_FUZZ_SEED` the seed, to replay a failure.

#[path = "../../fuzz/properties/mod.rs"]
#[allow(unreachable_pub, missing_docs, dead_code)]
mod properties;

use properties::random::{Budget, drive};

/// Inputs per property: enough to reach every case of each input enum many
/// times, few enough for a few seconds in all in a debug build.
const DEFAULT_CASES: u64 = 400;

fn cases() -> u64 {
    std::env::var("FLOWSTORE_FUZZ_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(DEFAULT_CASES)
}

fn seed() -> u64 {
    std::env::var("FLOWSTORE_FUZZ_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or(0x5EED)
}

fn run(name: &str, max_len: usize, check: fn(&[u8])) {
    let ran = drive(name, seed(), Budget::Cases(cases()), max_len, check);
    assert_eq!(ran, cases());
}

#[test]
fn encrypt_envelope() {
    run(
        "encrypt_envelope",
        1024,
        properties::envelopes::encrypt_envelope,
    );
}

#[test]
fn compress_envelope() {
    run(
        "compress_envelope",
        4096,
        properties::envelopes::compress_envelope,
    );
}

#[test]
fn fallback_envelope() {
    run(
        "fallback_envelope",
        1024,
        properties::envelopes::fallback_envelope,
    );
}

#[test]
fn store_urls() {
    run("store_urls", 512, properties::urls::store_urls);
}

#[test]
fn key_decoding() {
    run("key_decoding", 2048, properties::keys::key_decoding);
}

#[test]
fn http_request() {
    run(
        "http_request",
        1024,
        properties::http_requests::http_request,
    );
}

#[test]
fn wrapper_stacks() {
    run(
        "wrapper_stacks",
        4096,
        properties::wrapper_stacks::wrapper_stacks,
    );
}
