//! The absolute expiry of an entry on the wire ([`EXPIRES_AT_HEADER`]):
//! RFC 3339 in UTC with milliseconds, `2026-12-04T23:16:45.123Z`.
//!
//! Written by hand (civil-from-days, Howard Hinnant's algorithm) so the wire
//! format pulls in no date crate; only this one shape is written and read.
//!
//! [`EXPIRES_AT_HEADER`]: super::EXPIRES_AT_HEADER

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `at` as `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC; a time before 1970 is written as
/// 1970-01-01, which no expiry is).
pub fn format_expires_at(at: SystemTime) -> String {
    let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let millis = since.subsec_millis();
    let seconds = since.as_secs();
    let (days, rest) = (seconds / 86_400, seconds % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
}

/// The time written by [`format_expires_at`] (the milliseconds may be left
/// out), `None` for anything else.
pub fn parse_expires_at(text: &str) -> Option<SystemTime> {
    let bytes = text.as_bytes();
    if !(bytes.len() == 20 || bytes.len() == 24) || *bytes.last()? != b'Z' {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<u64> {
        let part = text.get(range)?;
        if part.bytes().all(|byte| byte.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    let separators = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if separators.iter().any(|&(at, byte)| bytes[at] != byte) {
        return None;
    }
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    let millis = if bytes.len() == 24 {
        if bytes[19] != b'.' {
            return None;
        }
        number(20..23)?
    } else {
        0
    };
    if year < 1970
        || !(1..=12).contains(&month)
        || !(1..=days_in_month(year, month)).contains(&day)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let days = days_from_civil(year as i64, month as u32, day as u32) as u64;
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second;
    UNIX_EPOCH.checked_add(Duration::from_secs(seconds) + Duration::from_millis(millis))
}

fn days_in_month(year: u64, month: u64) -> u64 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// (year, month, day) of the day `days` after 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The day number (since 1970-01-01) of a date.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let month = i64::from(month);
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: u64, millis: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(seconds) + Duration::from_millis(millis)
    }

    #[test]
    fn known_instants() {
        assert_eq!(format_expires_at(at(0, 0)), "1970-01-01T00:00:00.000Z");
        // 2000-02-29 (a leap day of a century leap year), 12:34:56.789.
        assert_eq!(
            format_expires_at(at(951_827_696, 789)),
            "2000-02-29T12:34:56.789Z"
        );
        assert_eq!(
            format_expires_at(at(1_796_425_005, 7)),
            "2026-12-04T22:56:45.007Z"
        );
        assert_eq!(
            parse_expires_at("2000-02-29T12:34:56.789Z"),
            Some(at(951_827_696, 789))
        );
        assert_eq!(parse_expires_at("1970-01-01T00:00:01Z"), Some(at(1, 0)));
    }

    #[test]
    fn every_day_of_four_centuries_round_trips() {
        for day in (0..146_097 * 2).step_by(13) {
            let instant = at(day * 86_400 + 3_723, 45);
            let text = format_expires_at(instant);
            assert_eq!(parse_expires_at(&text), Some(instant), "{text}");
        }
    }

    #[test]
    fn other_shapes_are_refused() {
        for bad in [
            "",
            "2026-12-04",
            "2026-12-04T23:16:45.123",
            "2026-12-04T23:16:45.123+00:00",
            "2026-13-04T23:16:45.123Z",
            "2026-02-30T23:16:45.123Z",
            "2026-12-04T24:16:45.123Z",
            "2026-12-04 23:16:45.123Z",
            "2026-12-04T23:16:45,123Z",
            "+026-12-04T23:16:45.123Z",
            "1969-12-31T23:59:59.999Z",
        ] {
            assert_eq!(parse_expires_at(bad), None, "{bad}");
        }
    }
}
