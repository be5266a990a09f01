//! Write stamps: a hybrid logical clock in microseconds since the Unix epoch.

use std::sync::Mutex;
use std::time::Duration;

use web_time::{SystemTime, UNIX_EPOCH};

/// Microseconds since the Unix epoch by the wall clock (the browser's
/// `Date.now()` on `wasm32`), shifted by `offset`.
pub(crate) fn wall_micros(offset: i64) -> u64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_micros();
    let now = u64::try_from(now).unwrap_or(u64::MAX);
    now.saturating_add_signed(offset)
}

/// A hybrid logical clock: stamps follow the wall clock, never go backwards,
/// are unique within the clock, and are pushed past every stamp the clock has
/// seen (up to `max_ahead` in front of the wall clock).
#[derive(Debug)]
pub(crate) struct Hlc {
    last: Mutex<u64>,
    max_ahead: u64,
    offset: i64,
}

impl Hlc {
    pub(crate) fn new(max_ahead: Duration, offset: i64) -> Self {
        Hlc {
            last: Mutex::new(0),
            max_ahead: u64::try_from(max_ahead.as_micros()).unwrap_or(u64::MAX),
            offset,
        }
    }

    fn last(&self) -> std::sync::MutexGuard<'_, u64> {
        self.last
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The wall clock this HLC follows, in microseconds.
    pub(crate) fn wall(&self) -> u64 {
        wall_micros(self.offset)
    }

    /// A fresh stamp, greater than every stamp issued or observed before.
    pub(crate) fn next(&self) -> u64 {
        let wall = self.wall();
        let mut last = self.last();
        let stamp = wall.max(last.saturating_add(1));
        *last = stamp;
        stamp
    }

    /// Takes note of a stamp read from a store, so the next stamp is greater. A
    /// stamp more than `max_ahead` in front of the wall clock is not adopted (a
    /// runaway clock or damaged record must not drag every writer with it).
    pub(crate) fn observe(&self, stamp: u64) {
        let wall = self.wall();
        if stamp > wall.saturating_add(self.max_ahead) {
            return;
        }
        let mut last = self.last();
        if stamp > *last {
            *last = stamp;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_strictly_increase() {
        let clock = Hlc::new(Duration::from_secs(60), 0);
        let mut previous = 0;
        for _ in 0..10_000 {
            let stamp = clock.next();
            assert!(stamp > previous);
            previous = stamp;
        }
    }

    #[test]
    fn observed_stamps_push_the_clock_forward_within_the_bound() {
        let clock = Hlc::new(Duration::from_secs(60), 0);
        let ahead = clock.wall() + 30_000_000;
        clock.observe(ahead);
        assert!(clock.next() > ahead);
        let far = clock.wall() + 3_600_000_000;
        clock.observe(far);
        assert!(
            clock.next() < far,
            "a stamp an hour ahead must not be adopted"
        );
        clock.observe(u64::MAX);
        assert!(clock.next() < u64::MAX);
    }
}
