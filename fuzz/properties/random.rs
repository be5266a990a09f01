//! A deterministic driver for the properties: random inputs from a seeded
//! generator, for the fixed-size run of the normal test step (and as a
//! fallback where libFuzzer cannot run). A failure names the seed and the
//! input, so it can be replayed (and added to the fuzz corpus).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

/// How long a run lasts.
#[derive(Clone, Copy, Debug)]
pub enum Budget {
    /// This many inputs.
    Cases(u64),
    /// Inputs until this much time has passed.
    Time(Duration),
}

/// SplitMix64: tiny, fast and good enough to spread test inputs.
#[derive(Clone, Debug)]
pub struct SplitMix(u64);

impl SplitMix {
    /// A generator that starts at `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// `len` random bytes.
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next_u64() as u8).collect()
    }
}

/// Runs `check` on random inputs (lengths mostly small, up to `max_len`) from
/// `seed` until `budget` is spent, and returns how many ran. A panic in
/// `check` is re-raised with the seed, the case number and the input in hex.
pub fn drive(name: &str, seed: u64, budget: Budget, max_len: usize, check: impl Fn(&[u8])) -> u64 {
    let mut rng = SplitMix::new(seed);
    let started = Instant::now();
    let mut cases = 0u64;
    loop {
        match budget {
            Budget::Cases(limit) if cases >= limit => return cases,
            Budget::Time(limit) if started.elapsed() >= limit => return cases,
            _ => {}
        }
        // Three in four inputs short (where structure is dense), the rest up to max_len.
        let cap = if rng.next_u64().is_multiple_of(4) {
            max_len
        } else {
            max_len.min(256)
        };
        let len = (rng.next_u64() % (cap as u64 + 1)) as usize;
        let input = rng.bytes(len);
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| check(&input))) {
            let why = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            let shown = if len <= 1024 {
                hex(&input)
            } else {
                "(too long to show: replay the seed)".to_string()
            };
            panic!(
                "property `{name}` failed (seed {seed}, case {cases}): {why}\ninput ({len} bytes, hex): {shown}"
            );
        }
        cases += 1;
    }
}

/// `bytes` as lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}
