#![no_main]

use flowstore_fuzz::properties::envelopes::compress_envelope;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| compress_envelope(data));
