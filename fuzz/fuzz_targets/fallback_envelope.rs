#![no_main]

use flowstore_fuzz::properties::envelopes::fallback_envelope;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| fallback_envelope(data));
