//! Time to live: how long an entry stays readable, and the duration grammar
//! (`500ms`, `30s`, `15m`, `2h`, `7d`) shared by the CLI and the HTTP protocol.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::error::{Error, Result};

/// A validated time to live: at least 1 ms, at most 100 years.
///
/// ```
/// use std::time::Duration;
/// use flowstore_core::{ErrorKind, Ttl};
///
/// let ttl: Ttl = "30s".parse().unwrap();
/// assert_eq!(ttl.as_duration(), Duration::from_secs(30));
/// assert_eq!(ttl.to_string(), "30s");
/// assert_eq!(Ttl::new(Duration::ZERO).unwrap_err().kind(), ErrorKind::InvalidArgument);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ttl(Duration);

const MILLIS_PER_DAY: u64 = 24 * 60 * 60 * 1000;

impl Ttl {
    /// The shortest TTL.
    pub const MIN: Duration = Duration::from_millis(1);
    /// The longest TTL: 100 years of 365.25 days.
    pub const MAX: Duration = Duration::from_millis(36_525 * MILLIS_PER_DAY);

    /// Checks `duration` against the TTL range; outside it is `InvalidArgument`.
    pub fn new(duration: Duration) -> Result<Ttl> {
        if duration < Ttl::MIN {
            return Err(Error::invalid_argument("TTL must be at least 1ms"));
        }
        if duration > Ttl::MAX {
            return Err(Error::invalid_argument("TTL must be at most 100 years"));
        }
        Ok(Ttl(duration))
    }

    /// A TTL of `millis` milliseconds.
    pub fn from_millis(millis: u64) -> Result<Ttl> {
        Ttl::new(Duration::from_millis(millis))
    }

    /// A TTL of `secs` seconds.
    pub fn from_secs(secs: u64) -> Result<Ttl> {
        Ttl::new(Duration::from_secs(secs))
    }

    /// The TTL as a duration.
    pub fn as_duration(self) -> Duration {
        self.0
    }

    /// Whole milliseconds, rounded up so a sub-millisecond remainder never
    /// shortens the TTL. Always at least 1.
    pub fn as_millis_ceil(self) -> u64 {
        let millis = self.0.as_millis() as u64;
        if self.0.subsec_nanos().is_multiple_of(1_000_000) {
            millis
        } else {
            millis + 1
        }
    }
}

impl From<Ttl> for Duration {
    fn from(ttl: Ttl) -> Duration {
        ttl.0
    }
}

impl TryFrom<Duration> for Ttl {
    type Error = Error;

    fn try_from(duration: Duration) -> Result<Ttl> {
        Ttl::new(duration)
    }
}

const UNITS: [(&str, u64); 5] = [
    ("d", MILLIS_PER_DAY),
    ("h", 60 * 60 * 1000),
    ("m", 60 * 1000),
    ("s", 1000),
    ("ms", 1),
];

/// Parses the duration grammar: a whole number followed by `ms`, `s`, `m`, `h` or
/// `d`, with no space (`500ms`, `30s`, `7d`). Errors are `InvalidArgument`.
pub fn parse_duration(text: &str) -> Result<Duration> {
    let bad = || {
        Error::invalid_argument(format!(
            "invalid duration {text:?}: expected a whole number and a unit (ms, s, m, h, d), e.g. 500ms, 30s, 7d"
        ))
    };
    let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (number, unit) = text.split_at(split);
    if number.is_empty() {
        return Err(bad());
    }
    let number: u64 = number.parse().map_err(|_| bad())?;
    let unit_millis = UNITS
        .iter()
        .find(|(name, _)| *name == unit)
        .map(|(_, millis)| *millis)
        .ok_or_else(bad)?;
    let millis = number.checked_mul(unit_millis).ok_or_else(bad)?;
    Ok(Duration::from_millis(millis))
}

impl FromStr for Ttl {
    type Err = Error;

    fn from_str(text: &str) -> Result<Ttl> {
        Ttl::new(parse_duration(text)?)
    }
}

impl fmt::Display for Ttl {
    /// The largest unit that states the TTL exactly (sub-millisecond parts are
    /// rounded up), so `Display` and `FromStr` round-trip.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let millis = self.as_millis_ceil();
        let (name, size) = UNITS
            .iter()
            .find(|(_, size)| millis.is_multiple_of(*size))
            .copied()
            .unwrap_or(("ms", 1));
        write!(f, "{}{}", millis / size, name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn converts_to_and_from_its_duration() {
        let ttl = Ttl::try_from(Duration::from_millis(1500)).unwrap();
        assert_eq!(Duration::from(ttl), Duration::from_millis(1500));
    }

    #[test]
    fn grammar_accepts_each_unit() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("15m").unwrap(), Duration::from_secs(900));
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(
            parse_duration("7d").unwrap(),
            Duration::from_secs(7 * 86_400)
        );
    }

    #[test]
    fn grammar_rejects_everything_else() {
        for text in [
            "",
            "s",
            "10",
            "1.5s",
            "-1s",
            "10 s",
            "10sec",
            "1w",
            "99999999999999999999d",
        ] {
            let err = parse_duration(text).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{text}");
        }
    }

    #[test]
    fn range_is_one_millisecond_to_a_hundred_years() {
        assert!("0s".parse::<Ttl>().is_err());
        assert!("1ms".parse::<Ttl>().is_ok());
        assert!("36525d".parse::<Ttl>().is_ok());
        assert_eq!(
            "36526d".parse::<Ttl>().unwrap_err().kind(),
            ErrorKind::InvalidArgument
        );
        assert!(Ttl::new(Duration::from_micros(999)).is_err());
    }

    #[test]
    fn display_round_trips_and_rounds_up() {
        for text in ["1ms", "1500ms", "90s", "2h", "7d"] {
            assert_eq!(text.parse::<Ttl>().unwrap().to_string(), text);
        }
        let ttl = Ttl::new(Duration::from_micros(1500)).unwrap();
        assert_eq!(ttl.as_millis_ceil(), 2);
        assert_eq!(ttl.to_string(), "2ms");
    }
}
