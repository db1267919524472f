//! The capacity and TTL advisor: a SHARDS-sampled LRU miss-ratio curve of the live key stream
//! (Waldspurger et al., "Efficient MRC Construction with SHARDS", FAST 2015), and reuse times.
//!
//! A key is sampled when its hash falls under `rate · 2^24`; for sampled accesses the LRU stack
//! distance (distinct sampled keys since the key's previous access) is measured and scaled by
//! `1 / rate`. The stack is bounded to the distances that matter (`max_capacity · rate`), so
//! memory is `O(max_capacity · rate)` and a sampled access costs `O(max_capacity · rate)`;
//! unsampled accesses cost one hash. The curve is LRU's: the L1's W-TinyLFU is usually at least
//! as good (never more than a point worse on the shared traces), so it is a conservative estimate of the capacity needed.
//!
//! ```
//! use nexus_cache::advisor::Shards;
//! let mut shards = Shards::new(1.0, 1_000); // sample every key, track up to 1 000 entries
//! for round in 0..10u64 {
//!     for key in 0..100u64 {
//!         shards.record(&key, round * 1_000 + key);
//!     }
//! }
//! // 100 keys cycled: an LRU of 100 entries holds them all after the first round.
//! assert!(shards.hit_ratio(100) > 0.85);
//! assert!(shards.hit_ratio(50) < 0.1);
//! let advice = shards.advise(50, 0.8);
//! assert_eq!(advice.capacity_for_target.map(|c| c >= 100), Some(true));
//! ```

use std::hash::{BuildHasher, Hash};

use serde::Serialize;

const MODULUS: u64 = 1 << 24;

/// A streaming SHARDS sampler.
///
/// ```
/// use nexus_cache::advisor::Shards;
/// let mut s = Shards::new(1.0, 1_000); // sample everything (exact) for this small example
/// for round in 0..10u64 {
///     for k in 0..100u64 { s.record(&k, round * 1000 + k); }
/// }
/// // A loop over 100 keys: LRU needs all 100 slots; with them, everything after the first
/// // round hits.
/// assert!(s.hit_ratio(100) > 0.89);
/// assert_eq!(s.hit_ratio(99), 0.0);
/// ```
#[derive(Debug, Clone)]
pub struct Shards {
    threshold: u64,
    rate: f64,
    hasher: foldhash::fast::FixedState,
    /// Most recent first: (hash, last access time in ms).
    stack: Vec<(u64, u64)>,
    depth: usize,
    /// Accesses by sampled stack distance.
    hist: Vec<u64>,
    /// Sampled accesses that missed at every tracked distance (first access or too far).
    cold: u64,
    total: u64,
    /// Every access seen, sampled or not (for SHARDS-adj's correction).
    seen: u64,
    /// Reuse times (ms) by power-of-two bucket.
    reuse: [u64; 48],
}

/// The lock-free half of a sampler: which keys are sampled.
#[derive(Debug, Clone)]
pub(crate) struct Gate {
    hasher: foldhash::fast::FixedState,
    threshold: u64,
}

impl Gate {
    /// The key's hash when it is sampled.
    #[inline]
    pub(crate) fn sample(&self, key: &str) -> Option<u64> {
        let h = self.hasher.hash_one(key);
        (h % MODULUS < self.threshold).then_some(h)
    }
}

/// What the advisor concludes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Advice {
    /// Sampled accesses behind the figures (more is more accurate).
    pub sampled_accesses: u64,
    /// The sampling rate.
    pub rate: f64,
    /// Predicted LRU hit ratio at the current capacity.
    pub expected_hit_ratio: Option<f64>,
    /// The smallest capacity (entries) predicted to reach the target hit ratio, if any tracked
    /// capacity does.
    pub capacity_for_target: Option<u64>,
    /// The target asked for.
    pub target_hit_ratio: f64,
    /// A TTL covering 90 % of observed reuses (ms).
    pub suggested_ttl_ms: Option<u64>,
    /// The curve: (capacity in entries, predicted hit ratio).
    pub curve: Vec<(u64, f64)>,
}

impl Shards {
    /// Samples a `rate` of keys (0 < rate ≤ 1), tracking capacities up to `max_capacity`
    /// entries.
    pub fn new(rate: f64, max_capacity: u64) -> Self {
        let rate = rate.clamp(1.0 / MODULUS as f64, 1.0);
        let threshold = ((rate * MODULUS as f64).round() as u64).max(1);
        let depth = ((max_capacity as f64 * rate).ceil() as usize).max(1);
        Self {
            threshold,
            rate: threshold as f64 / MODULUS as f64,
            hasher: foldhash::fast::FixedState::with_seed(0x5ead_5eed),
            stack: Vec::with_capacity(depth.min(1 << 16)),
            depth,
            hist: vec![0; depth + 1],
            cold: 0,
            total: 0,
            seen: 0,
            reuse: [0; 48],
        }
    }

    /// The effective sampling rate.
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// Records one access of `key` at `now_ms`.
    #[inline]
    pub fn record<K: Hash + ?Sized>(&mut self, key: &K, now_ms: u64) {
        self.seen += 1;
        let h = self.hasher.hash_one(key);
        if h % MODULUS >= self.threshold {
            return;
        }
        self.record_sampled(h, now_ms);
    }

    /// Whether `key` is sampled (to skip locking for unsampled keys).
    #[inline]
    pub fn is_sampled<K: Hash + ?Sized>(&self, key: &K) -> bool {
        self.hasher.hash_one(key) % MODULUS < self.threshold
    }

    /// The sampling decision, detached from the sampler (so it needs no lock).
    pub(crate) fn gate(&self) -> Gate {
        Gate {
            hasher: self.hasher.clone(),
            threshold: self.threshold,
        }
    }

    /// Sets the number of accesses seen (the cache counts them without the sampler's lock).
    pub(crate) fn set_seen(&mut self, n: u64) {
        self.seen = n;
    }

    pub(crate) fn record_sampled(&mut self, h: u64, now: u64) {
        self.total += 1;
        match self.stack.iter().position(|(k, _)| *k == h) {
            Some(d) => {
                self.hist[d] += 1;
                let (_, last) = self.stack.remove(d);
                let gap = now.saturating_sub(last);
                self.reuse[(64 - gap.leading_zeros() as usize).min(47)] += 1;
            }
            None => self.cold += 1,
        }
        self.stack.insert(0, (h, now));
        self.stack.truncate(self.depth);
    }

    /// Predicted LRU hit ratio with `capacity` entries.
    ///
    /// SHARDS-adj: the sample's size is compared with what the rate should have drawn
    /// (`seen · rate`) and the difference is credited to the smallest distance, which corrects
    /// the bias of a few very hot keys falling in or out of the sample.
    pub fn hit_ratio(&self, capacity: u64) -> f64 {
        if self.total == 0 {
            return 0.0;
        }
        let limit = ((capacity as f64 * self.rate).floor() as usize).min(self.hist.len());
        let hits: u64 = self.hist[..limit].iter().sum();
        let (expected, adjust) = self.adjustment();
        let hits = if limit > 0 {
            hits as f64 + adjust
        } else {
            hits as f64
        };
        (hits / expected).clamp(0.0, 1.0)
    }

    /// (expected sampled accesses, correction to add to the first bucket).
    fn adjustment(&self) -> (f64, f64) {
        if self.seen == 0 {
            return (self.total as f64, 0.0);
        }
        let expected = (self.seen as f64 * self.rate).max(1.0);
        (expected, expected - self.total as f64)
    }

    /// The reuse-time quantile `q` (ms), from power-of-two buckets (upper bound of the bucket).
    pub fn reuse_quantile(&self, q: f64) -> Option<u64> {
        let n: u64 = self.reuse.iter().sum();
        if n == 0 {
            return None;
        }
        let want = (q * n as f64).ceil() as u64;
        let mut acc = 0;
        for (i, c) in self.reuse.iter().enumerate() {
            acc += c;
            if acc >= want {
                return Some(if i == 0 { 0 } else { 1u64 << i });
            }
        }
        None
    }

    /// The advice for a cache of `capacity` entries aiming at `target` hit ratio.
    pub fn advise(&self, capacity: u64, target: f64) -> Advice {
        let max = (self.depth as f64 / self.rate) as u64;
        let points: Vec<u64> = (1..=20).map(|i| max * i / 20).filter(|c| *c > 0).collect();
        let curve: Vec<(u64, f64)> = points.iter().map(|&c| (c, self.hit_ratio(c))).collect();
        // Smallest capacity reaching the target, at the sampling granularity.
        let step = (1.0 / self.rate).ceil() as u64;
        let mut capacity_for_target = None;
        let (expected, adjust) = self.adjustment();
        let mut acc = adjust;
        for (d, n) in self.hist.iter().enumerate() {
            acc += *n as f64;
            if self.total > 0 && acc / expected >= target {
                capacity_for_target = Some((d as u64 + 1) * step);
                break;
            }
        }
        Advice {
            sampled_accesses: self.total,
            rate: self.rate,
            expected_hit_ratio: (self.total > 0).then(|| self.hit_ratio(capacity)),
            capacity_for_target,
            target_hit_ratio: target,
            suggested_ttl_ms: self.reuse_quantile(0.9),
            curve,
        }
    }
}
