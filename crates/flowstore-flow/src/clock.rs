//! "Now", in milliseconds since the Unix epoch, as `savedAt` is stamped.

#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn unix_millis() -> u64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as u64)
        .unwrap_or_default()
}

// std's clock panics on wasm32-unknown-unknown; ask JavaScript.
#[cfg(target_arch = "wasm32")]
pub(crate) fn unix_millis() -> u64 {
    js_sys::Date::now() as u64
}
