//! Wall-clock time as the Nexus crates print and read it: RFC 3339 in UTC with milliseconds, and
//! naive `YYYY-MM-DD HH:MM:SS` stamps read as UTC. The calendar is `jiff`'s.
//!
//! ```
//! use nexus_core::time::{parse_utc_seconds, rfc3339_millis};
//! assert_eq!(rfc3339_millis(951_782_400_123), "2000-02-29T00:00:00.123Z");
//! assert_eq!(parse_utc_seconds("2000-02-29 00:00:00"), Some(951_782_400));
//! assert_eq!(parse_utc_seconds("2000-02-30 00:00:00"), None);
//! ```

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch (0 before it or out of range).
pub fn unix_millis(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis().min(i64::MAX as u128) as i64)
        .unwrap_or(0)
}

/// `ms` since the epoch as RFC 3339 in UTC with milliseconds: `2026-11-27T11:37:07.123Z`.
/// Outside the years −9999…9999 the nearest end of that range is printed.
pub fn rfc3339_millis(ms: i64) -> String {
    let ts = jiff::Timestamp::from_millisecond(ms).unwrap_or(if ms < 0 {
        jiff::Timestamp::MIN
    } else {
        jiff::Timestamp::MAX
    });
    // Whole milliseconds: jiff prints `.000` only when asked for a fixed precision.
    format!("{ts:.3}")
}

/// A `SystemTime` as [`rfc3339_millis`] prints it.
pub fn rfc3339(t: SystemTime) -> String {
    rfc3339_millis(unix_millis(t))
}

/// Reads `YYYY-MM-DD`, `YYYY-MM-DD HH:MM[:SS[.fff]]` or the same with `T` as a naive date-time in
/// UTC and returns whole seconds since the epoch; `None` for anything else, impossible dates
/// included.
pub fn parse_utc_seconds(s: &str) -> Option<i64> {
    let s = s.trim();
    let dt: jiff::civil::DateTime = match s.parse() {
        Ok(dt) => dt,
        Err(_) => s
            .parse::<jiff::civil::Date>()
            .ok()?
            .to_datetime(jiff::civil::Time::midnight()),
    };
    let ts = jiff::tz::TimeZone::UTC.to_timestamp(dt).ok()?;
    Some(ts.as_second())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn prints_known_points() {
        assert_eq!(rfc3339_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_millis(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(
            rfc3339_millis(1_795_779_427_123),
            "2026-11-27T11:37:07.123Z"
        );
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(1_795_763_122)),
            "2026-11-27T07:05:22.000Z"
        );
        // Out of range: clamped, never a panic.
        assert!(
            rfc3339_millis(i64::MAX).starts_with("9999-12-3"),
            "{}",
            rfc3339_millis(i64::MAX)
        );
        assert!(
            rfc3339_millis(i64::MIN).starts_with("-009999-01-"),
            "{}",
            rfc3339_millis(i64::MIN)
        );
    }

    #[test]
    fn reads_naive_stamps_as_utc() {
        assert_eq!(parse_utc_seconds("1970-01-01 00:00:00"), Some(0));
        assert_eq!(
            parse_utc_seconds("2014-04-01 00:05:00"),
            Some(1_396_310_700)
        );
        assert_eq!(
            parse_utc_seconds("2014-04-01T00:05:00"),
            Some(1_396_310_700)
        );
        assert_eq!(
            parse_utc_seconds(" 2014-04-01 00:05:00.750 "),
            Some(1_396_310_700)
        );
        assert_eq!(parse_utc_seconds("2014-04-01 00:05"), Some(1_396_310_700));
        assert_eq!(parse_utc_seconds("2014-04-01"), Some(1_396_310_400));
        for bad in [
            "",
            "yesterday",
            "2014-13-01 00:00:00",
            "2014-04-01 25:00:00",
            "1.5",
        ] {
            assert_eq!(parse_utc_seconds(bad), None, "{bad}");
        }
    }
}
