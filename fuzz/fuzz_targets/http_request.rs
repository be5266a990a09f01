#![no_main]

use flowstore_fuzz::properties::http_requests::http_request;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| http_request(data));
