//! The properties the fuzz targets check, shared by the libFuzzer targets
//! (`fuzz/fuzz_targets/*.rs`) and the fixed-size run in the normal test step
//! (`tests/tests/fuzz_properties.rs`), which include this module by path.
//!
//! Each property takes the fuzzer's raw bytes and panics when it is broken.
//! Beyond "no panic", they check that a decoder gives back what was encoded,
//! that damaged input is a typed error and never a wrong value, and that an
//! error never quotes the input's secrets.

pub mod envelopes;
pub mod http_requests;
pub mod keys;
pub mod random;
pub mod urls;
pub mod wrapper_stacks;

use std::future::Future;
use std::sync::OnceLock;

use flowstore_core::Error;

/// A marker put into every secret a property hands over (plaintexts, URL
/// passwords, bearer tokens). No error message, `Debug` output or response
/// body may contain it.
pub const SECRET: &str = "S3CR3T-m4rk3r";

/// Runs `future` to completion on one runtime shared by every run of the
/// process (building a runtime per input would dominate the fuzzer's time).
pub fn block_on<F: Future>(future: F) -> F::Output {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .expect("a current-thread Tokio runtime")
        })
        .block_on(future)
}

/// Panics if `err`'s message, one-line form or `Debug` output contains `secret`.
pub fn assert_not_quoted(err: &Error, secret: &str) {
    for text in [err.to_string(), err.to_one_line(), format!("{err:?}")] {
        assert!(
            !text.contains(secret),
            "an error quotes a secret of its input: {text}"
        );
    }
}
