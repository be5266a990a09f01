//! How often and how long to retry.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};

/// How a [`RetryStore`](crate::RetryStore) retries.
///
/// Delays grow exponentially: the first retry waits `min_delay`, each later one
/// `factor` times the one before, up to `max_delay`. With jitter (on by
/// default) each delay `d` becomes a random value in `[d, 2d)`, so clients that
/// failed together do not retry in lockstep.
///
/// ```
/// use std::time::Duration;
/// use flowstore_retry::RetryPolicy;
///
/// let policy = RetryPolicy::new()
///     .max_attempts(5)
///     .min_delay(Duration::from_millis(20))
///     .max_delay(Duration::from_secs(1))
///     .max_elapsed(Some(Duration::from_secs(3)))
///     .attempt_timeout(Some(Duration::from_millis(500)));
/// assert_eq!(policy.get_max_attempts(), 5);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    pub(crate) max_attempts: u32,
    pub(crate) min_delay: Duration,
    pub(crate) max_delay: Duration,
    pub(crate) factor: f32,
    pub(crate) jitter: bool,
    pub(crate) jitter_seed: Option<u64>,
    pub(crate) max_elapsed: Option<Duration>,
    pub(crate) attempt_timeout: Option<Duration>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 3,
            min_delay: Duration::from_millis(50),
            max_delay: Duration::from_secs(2),
            factor: 2.0,
            jitter: true,
            jitter_seed: None,
            max_elapsed: Some(Duration::from_secs(10)),
            attempt_timeout: None,
        }
    }
}

impl RetryPolicy {
    /// The default policy: 3 attempts, 50 ms first delay doubling up to 2 s,
    /// jitter on, at most 10 s in all, no per-attempt timeout.
    pub fn new() -> Self {
        RetryPolicy::default()
    }

    /// Tries each operation at most `attempts` times in all (the first try
    /// included). `0` is taken as `1`: no retries.
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// The delay before the first retry.
    pub fn min_delay(mut self, delay: Duration) -> Self {
        self.min_delay = delay;
        self
    }

    /// The largest delay before jitter (with jitter a delay may reach twice this).
    pub fn max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// How much each delay grows over the one before; below `1.0` is taken as `1.0`.
    pub fn factor(mut self, factor: f32) -> Self {
        self.factor = if factor.is_finite() {
            factor.max(1.0)
        } else {
            2.0
        };
        self
    }

    /// Turns jitter on (the default) or off.
    pub fn jitter(mut self, jitter: bool) -> Self {
        self.jitter = jitter;
        self
    }

    /// Seeds the jitter's random generator (for reproducible tests). By default
    /// every call uses a fresh random seed.
    pub fn jitter_seed(mut self, seed: Option<u64>) -> Self {
        self.jitter_seed = seed;
        self
    }

    /// The budget for one call in all: no retry is started whose backoff delay
    /// would end more than `max_elapsed` after the first attempt began. `None`:
    /// only `max_attempts` limits retries.
    pub fn max_elapsed(mut self, max_elapsed: Option<Duration>) -> Self {
        self.max_elapsed = max_elapsed;
        self
    }

    /// Cuts off an attempt that takes longer than this with a temporary
    /// [`Timeout`](flowstore_core::ErrorKind::Timeout) error (and retries it, as
    /// any temporary error). A write cut off this way has an **unknown outcome**:
    /// it may or may not have been applied. `None` (the default): attempts are
    /// not timed by this layer.
    pub fn attempt_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.attempt_timeout = timeout;
        self
    }

    /// The most attempts per call.
    pub fn get_max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The per-attempt timeout, if any.
    pub fn get_attempt_timeout(&self) -> Option<Duration> {
        self.attempt_timeout
    }

    /// The total time budget, if any.
    pub fn get_max_elapsed(&self) -> Option<Duration> {
        self.max_elapsed
    }

    /// The delays between attempts, as `backon` computes them.
    pub(crate) fn backoff(&self) -> impl Iterator<Item = Duration> + use<> {
        let mut builder = ExponentialBuilder::new()
            .with_min_delay(self.min_delay)
            .with_max_delay(self.max_delay)
            .with_factor(self.factor)
            .with_max_times(self.max_attempts.saturating_sub(1) as usize);
        if self.jitter {
            builder = builder.with_jitter();
            if let Some(seed) = self.jitter_seed {
                builder = builder.with_jitter_seed(seed);
            }
        }
        builder.build()
    }
}
