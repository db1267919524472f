//! Expiry arithmetic on absolute Unix-millisecond timestamps.
//!
//! Entries carry an absolute expiry so that a value promoted from L2 to L1 keeps its *remaining*
//! lifetime and two processes agree on when an entry ends. All arithmetic saturates: no TTL, however
//! large, overflows, and a timestamp in the past is simply "expired".
//!
//! ```
//! use std::time::Duration;
//! use nexus_cache::expiry::{MAX_EXPIRY, capped, expires_at, remaining};
//! let now = 1_000_000;
//! let at = expires_at(now, Duration::from_secs(60));
//! assert_eq!(remaining(at, now + 15_000), Some(Duration::from_secs(45)));
//! assert_eq!(remaining(at, at + 1), None); // expired
//! // A promoted entry keeps its remaining lifetime, capped by the receiving tier's TTL.
//! assert_eq!(capped(at, now, Duration::from_secs(10)), now + 10_000);
//! assert_eq!(expires_at(u64::MAX, Duration::MAX), MAX_EXPIRY); // saturates, never overflows
//! ```

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Now, in milliseconds since the Unix epoch.
pub fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Now, in microseconds since the Unix epoch: the clock of entry creation times and tag
/// invalidation marks (finer than milliseconds, so a write just after an invalidation is not
/// mistaken for one before it).
pub fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// The latest expiry any entry can have: 9999-12-31T23:59:59.999Z. Longer TTLs are clamped to it,
/// so every expiry is a valid Redis `PXAT` argument.
pub const MAX_EXPIRY: u64 = 253_402_300_799_999;

/// The absolute expiry of an entry written at `now` with `ttl` (at most [`MAX_EXPIRY`]).
pub fn expires_at(now: u64, ttl: Duration) -> u64 {
    let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
    now.saturating_add(ttl_ms).min(MAX_EXPIRY)
}

/// Time left before `expires_at`, or `None` once it has passed.
pub fn remaining(expires_at: u64, now: u64) -> Option<Duration> {
    if expires_at > now {
        Some(Duration::from_millis(expires_at - now))
    } else {
        None
    }
}

/// The expiry of an entry promoted into a tier whose own TTL is `tier_ttl`: its remaining lifetime,
/// never longer than the tier keeps entries.
pub fn capped(expires_at: u64, now: u64, tier_ttl: Duration) -> u64 {
    expires_at.min(self::expires_at(now, tier_ttl))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn remaining_is_none_at_and_after_expiry() {
        assert_eq!(remaining(1_000, 1_000), None);
        assert_eq!(remaining(1_000, 2_000), None);
        assert_eq!(remaining(1_500, 1_000), Some(Duration::from_millis(500)));
    }

    #[test]
    fn huge_ttl_is_clamped() {
        assert_eq!(expires_at(10, Duration::MAX), MAX_EXPIRY);
        assert_eq!(expires_at(u64::MAX, Duration::from_secs(1)), MAX_EXPIRY);
    }

    proptest! {
        #[test]
        fn expiry_round_trips(now in 0u64..MAX_EXPIRY / 2, ttl_ms in 1u64..MAX_EXPIRY / 2) {
            let at = expires_at(now, Duration::from_millis(ttl_ms));
            prop_assert_eq!(remaining(at, now), Some(Duration::from_millis(ttl_ms)));
        }

        #[test]
        fn capped_never_extends(exp in any::<u64>(), now in any::<u64>(), ttl_ms in any::<u64>()) {
            let c = capped(exp, now, Duration::from_millis(ttl_ms));
            prop_assert!(c <= exp);
            prop_assert!(c <= now.saturating_add(ttl_ms).min(MAX_EXPIRY));
        }

        #[test]
        fn remaining_never_exceeds_distance(exp in any::<u64>(), now in any::<u64>()) {
            match remaining(exp, now) {
                Some(d) => prop_assert_eq!(d.as_millis() as u64, exp - now),
                None => prop_assert!(exp <= now),
            }
        }
    }
}
