#![no_main]

use flowstore_fuzz::properties::urls::store_urls;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| store_urls(data));
