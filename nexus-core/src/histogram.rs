//! The one latency histogram of the Nexus crates: lock-free to record, flat in memory (64
//! counters and a sum), exact to subtract, so windows and exports are differences of snapshots.
//!
//! Buckets are log-linear: below 64 ns one bucket, then two per power of two (bounds at
//! 2^k and 1.5 × 2^k ns) up to 2^37 ns (~137 s), then an overflow bucket. A bucket spans at most
//! 1.5× its lower bound, so a quantile interpolated inside it is within ±25 % of the truth.
//!
//! **Exporting.** The `metrics` facade takes samples, not buckets, so
//! [`Counts::record_into`] records each bucket's count at the bucket's midpoint. An exporter whose
//! bucket bounds are bounds of this histogram ([`export_bounds_seconds`]) therefore receives
//! every count in exactly the right bucket.
//!
//! ```
//! use nexus_core::histogram::Histogram;
//! let h = Histogram::new();
//! for us in [100u64, 200, 300, 400, 10_000] {
//!     h.record(us * 1_000);
//! }
//! let c = h.counts();
//! assert_eq!(c.count(), 5);
//! let p50 = c.quantile(0.5);
//! assert!(p50 > 0.000_2 && p50 < 0.000_4, "{p50}");
//! let later = h.counts();
//! assert_eq!(later.since(&c).count(), 0);
//! ```

use std::sync::atomic::{AtomicU64, Ordering};

/// Number of buckets.
pub const BUCKETS: usize = 64;
const FIRST_SHIFT: u32 = 6; // 64 ns

/// Bucket index of a duration in nanoseconds.
#[inline]
pub fn bucket(ns: u64) -> usize {
    if ns < (1 << FIRST_SHIFT) {
        return 0;
    }
    let msb = 63 - ns.leading_zeros();
    let octave = (msb - FIRST_SHIFT) as usize;
    let half = ((ns >> (msb - 1)) & 1) as usize;
    (1 + octave * 2 + half).min(BUCKETS - 1)
}

/// Lower bound of bucket `i`, in nanoseconds.
pub fn lower(i: usize) -> f64 {
    if i == 0 {
        return 0.0;
    }
    let octave = (i - 1) / 2;
    let base = (1u64 << (FIRST_SHIFT as usize + octave)) as f64;
    if (i - 1).is_multiple_of(2) {
        base
    } else {
        base * 1.5
    }
}

/// Upper bound of bucket `i`, in nanoseconds (the last bucket is open; its "upper" is 2× lower).
pub fn upper(i: usize) -> f64 {
    if i + 1 < BUCKETS {
        lower(i + 1)
    } else {
        lower(i) * 2.0
    }
}

/// Cumulative bucket counts, updated with relaxed atomics.
#[derive(Debug)]
pub struct Histogram {
    buckets: [AtomicU64; BUCKETS],
    sum_ns: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

impl Histogram {
    /// An empty histogram.
    pub fn new() -> Self {
        Self {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_ns: AtomicU64::new(0),
        }
    }

    /// Counts one duration of `ns` nanoseconds.
    #[inline]
    pub fn record(&self, ns: u64) {
        self.buckets[bucket(ns)].fetch_add(1, Ordering::Relaxed);
        self.sum_ns.fetch_add(ns, Ordering::Relaxed);
    }

    /// Counts one [`Duration`](std::time::Duration).
    #[inline]
    pub fn record_duration(&self, d: std::time::Duration) {
        self.record(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    }

    /// A copy of the counts so far.
    pub fn counts(&self) -> Counts {
        Counts {
            buckets: std::array::from_fn(|i| self.buckets[i].load(Ordering::Relaxed)),
            sum_ns: self.sum_ns.load(Ordering::Relaxed),
        }
    }
}

/// A plain copy of a histogram's counts: what windows are computed from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Counts {
    /// Count per bucket.
    pub buckets: [u64; BUCKETS],
    /// Sum of the recorded durations, ns (wrapping).
    pub sum_ns: u64,
}

impl Default for Counts {
    fn default() -> Self {
        Self {
            buckets: [0; BUCKETS],
            sum_ns: 0,
        }
    }
}

impl Counts {
    /// Number of durations counted.
    pub fn count(&self) -> u64 {
        self.buckets.iter().sum()
    }

    /// `self - earlier`, bucket by bucket (saturating: a reset never yields garbage).
    pub fn since(&self, earlier: &Counts) -> Counts {
        Counts {
            buckets: std::array::from_fn(|i| self.buckets[i].saturating_sub(earlier.buckets[i])),
            sum_ns: self.sum_ns.saturating_sub(earlier.sum_ns),
        }
    }

    /// Adds `other`'s counts to these.
    pub fn add(&mut self, other: &Counts) {
        for i in 0..BUCKETS {
            self.buckets[i] += other.buckets[i];
        }
        self.sum_ns = self.sum_ns.wrapping_add(other.sum_ns);
    }

    /// The `q` quantile (0..=1) in seconds, interpolated inside its bucket; 0 when empty.
    pub fn quantile(&self, q: f64) -> f64 {
        let n = self.count();
        if n == 0 {
            return 0.0;
        }
        let rank = q.clamp(0.0, 1.0) * n as f64;
        let mut seen = 0u64;
        for (i, &c) in self.buckets.iter().enumerate() {
            if c > 0 && (seen + c) as f64 >= rank {
                let into = ((rank - seen as f64) / c as f64).clamp(0.0, 1.0);
                return (lower(i) + into * (upper(i) - lower(i))) / 1e9;
            }
            seen += c;
        }
        upper(BUCKETS - 1) / 1e9
    }

    /// Mean in seconds; 0 when empty.
    pub fn mean(&self) -> f64 {
        let n = self.count();
        if n == 0 {
            0.0
        } else {
            self.sum_ns as f64 / n as f64 / 1e9
        }
    }

    /// Records every count into a `metrics` histogram, in seconds, at its bucket's midpoint.
    /// Pass a difference ([`since`](Self::since)) so each duration is exported once.
    pub fn record_into(&self, metric: &metrics::Histogram) {
        for (i, &n) in self.buckets.iter().enumerate() {
            if n > 0 {
                metric.record_many((lower(i) + upper(i)) / 2.0 / 1e9, n as usize);
            }
        }
    }
}

/// The bounds of this histogram at powers of two of nanoseconds between `min` and `max`
/// seconds, for an exporter's buckets (one per octave): counts exported with
/// [`Counts::record_into`] then land in exactly the right exporter bucket.
///
/// ```
/// let b = nexus_core::histogram::export_bounds_seconds(0.001, 10.0);
/// assert_eq!(b.first(), Some(&0.001_048_576));
/// assert_eq!(b.len(), 14);
/// ```
pub fn export_bounds_seconds(min: f64, max: f64) -> Vec<f64> {
    (1..BUCKETS)
        .map(lower)
        .filter(|ns| ns.log2().fract() == 0.0)
        .map(|ns| ns / 1e9)
        .filter(|s| *s >= min && *s <= max)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn bounds_are_increasing_and_cover_the_index() {
        for i in 0..BUCKETS - 1 {
            assert!(lower(i) < upper(i), "{i}");
            assert_eq!(upper(i), lower(i + 1));
        }
        for ns in [
            0u64,
            1,
            63,
            64,
            95,
            96,
            127,
            128,
            4095,
            4096,
            1_000_000,
            2_000_000_000,
            u64::MAX,
        ] {
            let i = bucket(ns);
            assert!(lower(i) <= ns as f64, "{ns} in {i}");
            if i < BUCKETS - 1 {
                assert!((ns as f64) < upper(i), "{ns} in {i}");
            }
        }
    }

    proptest! {
        #[test]
        fn quantile_is_within_a_bucket_of_the_truth(mut xs in proptest::collection::vec(5_000u64..100_000_000_000, 1..400)) {
            let h = Histogram::new();
            for &x in &xs { h.record(x); }
            xs.sort_unstable();
            let c = h.counts();
            for q in [0.5, 0.95, 0.99] {
                let truth = xs[((q * xs.len() as f64).ceil() as usize).clamp(1, xs.len()) - 1] as f64 / 1e9;
                let est = c.quantile(q);
                prop_assert!(est <= truth * 1.5 + 1e-9 && est >= truth / 1.5 - 1e-9, "q{q}: {est} vs {truth}");
            }
        }
    }
}
