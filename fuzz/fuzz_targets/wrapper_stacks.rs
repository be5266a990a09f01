#![no_main]

use flowstore_fuzz::properties::wrapper_stacks::wrapper_stacks;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| wrapper_stacks(data));
