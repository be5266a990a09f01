//! Cross-crate tests of flowstore live in `tests/`; this library holds their shared helpers.
//!
//! - [`faults`]: assertions and time bounds shared by the fault tests.
//! - [`serve`]: `flowstore serve` in-process on a free loopback port.
//! - [`history`]: the history check (a read must come from a write that could have produced it).
//! - [`proxied`]: Redis, PostgreSQL and `flowstore serve` behind a TCP fault proxy.
//!
//! The throwaway servers those tests start come from `flowstore-test-servers`
//! (`testing/servers`), which `xtask` uses too.

pub mod faults;
pub mod history;
pub mod proxied;
pub mod serve;
