//! Expiry arithmetic on absolute Unix-millisecond timestamps.
//!
//! Entries carry an absolute expiry so that a value promoted from L2 to L1 keeps its *remaining*
//! lifetime and two processes agree on when an entry ends. All arithmetic saturates: no TTL, however
//! large, overflows, and a timestamp in the past is simply "expired".

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Now, in milliseconds since the Unix epoch.
pub fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// The absolute expiry of an entry written at `now` with `ttl`.
pub fn expires_at(now: u64, ttl: Duration) -> u64 {
    let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
    now.saturating_add(ttl_ms)
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
    fn huge_ttl_saturates() {
        assert_eq!(expires_at(10, Duration::MAX), u64::MAX);
    }

    proptest! {
        #[test]
        fn expiry_round_trips(now in 0u64..u64::MAX / 2, ttl_ms in 1u64..u64::MAX / 4) {
            let at = expires_at(now, Duration::from_millis(ttl_ms));
            prop_assert_eq!(remaining(at, now), Some(Duration::from_millis(ttl_ms)));
        }

        #[test]
        fn capped_never_extends(exp in any::<u64>(), now in any::<u64>(), ttl_ms in any::<u64>()) {
            let c = capped(exp, now, Duration::from_millis(ttl_ms));
            prop_assert!(c <= exp);
            prop_assert!(c <= now.saturating_add(ttl_ms));
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
