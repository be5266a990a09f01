#![no_main]

use flowstore_fuzz::properties::envelopes::encrypt_envelope;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| encrypt_envelope(data));
