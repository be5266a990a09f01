//! The properties the fuzz targets check (`properties/`, shared with
//! `tests/tests/fuzz_properties.rs`).

#[path = "properties/mod.rs"]
pub mod properties;
