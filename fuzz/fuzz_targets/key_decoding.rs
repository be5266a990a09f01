#![no_main]

use flowstore_fuzz::properties::keys::key_decoding;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| key_decoding(data));
