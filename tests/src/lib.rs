//! Cross-crate tests of flowstore live in `tests/`; this library holds their shared helpers.
//!
//! - [`servers`]: throwaway PostgreSQL and Redis servers (single node, Cluster,
//!   Sentinel) for the server-backed and fault tests; also compiled into `xtask`,
//!   which starts them for `cargo xtask ci`. std-only.
//! - [`faults`]: assertions and time bounds shared by the fault tests.

pub mod faults;
pub mod servers;
