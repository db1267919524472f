//! Time: Prometheus durations, RFC 3339 timestamps, and a clock that follows tokio's (so tests
//! run on a paused clock).

use std::time::{Duration, SystemTime};

/// Milliseconds since the Unix epoch: the unit of every timestamp in this crate.
pub type Millis = i64;

/// Parses a Prometheus duration: `90s`, `5m`, `1h30m`, `2d`, `1w`, `500ms` (units in
/// decreasing order, each at most once; `y` = 365 d, `w` = 7 d).
///
/// ```
/// use nexus_alerting::parse_duration;
/// use std::time::Duration;
/// assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
/// assert!(parse_duration("5 minutes").is_err());
/// ```
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    const UNITS: [(&str, u64); 7] = [
        ("y", 365 * 86_400_000),
        ("w", 7 * 86_400_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
        ("ms", 1),
    ];
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let err = || format!("invalid duration {s:?}: expected e.g. 30s, 5m, 1h30m, 2d");
    let mut rest = s;
    let mut total: u64 = 0;
    let mut last_unit = 0usize;
    if rest.is_empty() {
        return Err(err());
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(err());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| err())?;
        rest = &rest[digits..];
        // "ms" before "m": try the longest unit name first.
        let (idx, unit) = UNITS
            .iter()
            .enumerate()
            .filter(|(_, (u, _))| rest.starts_with(u))
            .max_by_key(|(_, (u, _))| u.len())
            .ok_or_else(err)?;
        if idx < last_unit || (idx == last_unit && total > 0) {
            return Err(err());
        }
        last_unit = idx;
        rest = &rest[unit.0.len()..];
        total = n
            .checked_mul(unit.1)
            .and_then(|v| v.checked_add(total))
            .ok_or_else(err)?;
    }
    Ok(Duration::from_millis(total))
}

/// Formats a duration the way Prometheus prints one (`1h30m`, `5m`, `0s`).
pub fn format_duration(d: Duration) -> String {
    let mut ms = d.as_millis() as u64;
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (u, n) in [
        ("y", 365 * 86_400_000u64),
        ("w", 7 * 86_400_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
        ("ms", 1),
    ] {
        if ms >= n {
            out.push_str(&format!("{}{u}", ms / n));
            ms %= n;
        }
    }
    out
}

/// RFC 3339 in UTC with milliseconds (`2026-11-27T11:37:07.000Z`), as every receiver prints
/// `startsAt`/`endsAt`.
pub use nexus_core::time::rfc3339_millis as rfc3339;

/// Wall-clock milliseconds that advance with tokio's clock: anchored to `SystemTime` once, then
/// moved by `tokio::time::Instant`, so a paused test clock drives rules and timers alike.
/// [`advance`](Self::advance) moves it (and every clone) forward by hand.
#[derive(Debug, Clone)]
pub struct Clock {
    wall: Millis,
    mono: tokio::time::Instant,
    offset: std::sync::Arc<std::sync::atomic::AtomicI64>,
}

impl Clock {
    /// A clock anchored now.
    pub fn new() -> Self {
        Self::starting_at(now_wall())
    }

    /// A clock that reads `ms` now (tests).
    pub fn starting_at(ms: Millis) -> Self {
        Self {
            wall: ms,
            mono: tokio::time::Instant::now(),
            offset: Default::default(),
        }
    }

    /// Milliseconds since the epoch.
    pub fn now(&self) -> Millis {
        self.wall
            + self.mono.elapsed().as_millis() as Millis
            + self.offset.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Moves this clock and its clones forward by `d`.
    pub fn advance(&self, d: Duration) {
        self.offset
            .fetch_add(ms(d), std::sync::atomic::Ordering::Relaxed);
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

fn now_wall() -> Millis {
    nexus_core::time::unix_millis(SystemTime::now())
}

pub(crate) fn ms(d: Duration) -> Millis {
    d.as_millis().min(i64::MAX as u128) as Millis
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1d2h").unwrap(), Duration::from_secs(93_600));
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        for bad in [
            "",
            "m",
            "5",
            "5x",
            "1m1h",
            "1m1m",
            "-5m",
            "99999999999999999999y",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(format_duration(Duration::from_secs(5400)), "1h30m");
    }
}
