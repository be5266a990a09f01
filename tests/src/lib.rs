//! Cross-crate tests of flowstore live in `tests/`; this library holds their shared helpers.
