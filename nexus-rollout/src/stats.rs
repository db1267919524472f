//! What the layer records per version: requests, errors and a latency histogram fine enough for
//! a rank test (16 buckets per power of two: a bucket spans at most 6.25 % of its lower bound).
//! Lock-free to record; windows are differences of snapshots.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

const SUB_BITS: u32 = 4;
const SUB: usize = 1 << SUB_BITS;
/// Number of latency buckets: exact below 16 ns, then 16 per octave up to 2^42 ns (~73 min).
pub const BUCKETS: usize = (42 - SUB_BITS as usize + 1) * SUB;

/// Bucket of a latency in nanoseconds.
#[inline]
pub fn bucket(ns: u64) -> usize {
    if ns < SUB as u64 {
        return ns as usize;
    }
    let msb = 63 - ns.leading_zeros();
    let sub = ((ns >> (msb - SUB_BITS)) as usize) & (SUB - 1);
    (((msb - SUB_BITS + 1) as usize) * SUB + sub).min(BUCKETS - 1)
}

/// Lower bound of bucket `i`, ns.
pub fn lower(i: usize) -> f64 {
    if i < SUB {
        return i as f64;
    }
    let octave = i / SUB - 1 + SUB_BITS as usize;
    let sub = (i % SUB) as f64;
    (1u64 << octave) as f64 * (1.0 + sub / SUB as f64)
}

/// Upper bound of bucket `i`, ns.
pub fn upper(i: usize) -> f64 {
    if i + 1 < BUCKETS {
        lower(i + 1)
    } else {
        lower(i) * (1.0 + 1.0 / SUB as f64)
    }
}

/// One version's cumulative figures, updated with relaxed atomics (requests are the sum of the
/// latency counts: one atomic add per request, two for a failure).
#[derive(Debug)]
pub struct VersionStats {
    errors: AtomicU64,
    latency: Box<[AtomicU64]>,
}

impl Default for VersionStats {
    fn default() -> Self {
        Self {
            errors: AtomicU64::new(0),
            latency: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

impl VersionStats {
    /// Records one answered request.
    #[inline]
    pub fn record(&self, ns: u64, error: bool) {
        self.latency[bucket(ns)].fetch_add(1, Ordering::Relaxed);
        if error {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A copy of the counts so far.
    pub fn snapshot(&self) -> Window {
        let mut w = Window {
            latency: vec![0; BUCKETS],
            ..Window::default()
        };
        self.add_to(&mut w);
        w
    }

    fn add_to(&self, w: &mut Window) {
        w.errors += self.errors.load(Ordering::Relaxed);
        for (sum, b) in w.latency.iter_mut().zip(self.latency.iter()) {
            let c = b.load(Ordering::Relaxed);
            *sum += c;
            w.requests += c;
        }
    }
}

/// Both versions' figures for the threads that share one stripe.
#[derive(Debug, Default)]
pub(crate) struct Stripe(pub(crate) [VersionStats; 2]);

/// Per-version figures striped by thread, so that cores recording at once do not contend on
/// one set of counters (nor on one reference count: each stripe is its own allocation).
#[derive(Debug)]
pub(crate) struct Recorder {
    stripes: Box<[Arc<Stripe>]>,
}

static NEXT_THREAD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static THREAD: usize = NEXT_THREAD.fetch_add(1, Ordering::Relaxed);
}

impl Recorder {
    /// One stripe per core, up to 8.
    pub(crate) fn new() -> Self {
        let n = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
        Self {
            stripes: (0..n).map(|_| Arc::default()).collect(),
        }
    }

    /// The calling thread's stripe.
    #[inline]
    pub(crate) fn stripe(&self) -> &Arc<Stripe> {
        let t = THREAD.try_with(|t| *t).unwrap_or(0);
        &self.stripes[t % self.stripes.len()]
    }

    /// The counts of `version` (0 stable, 1 candidate) so far, over every stripe.
    pub(crate) fn snapshot(&self, version: usize) -> Window {
        let mut w = Window {
            latency: vec![0; BUCKETS],
            ..Window::default()
        };
        for s in self.stripes.iter() {
            s.0[version].add_to(&mut w);
        }
        w
    }
}

/// Counts of one version over a span of time (a snapshot, or the difference of two).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Window {
    /// Requests answered (the sum of the latency counts).
    pub requests: u64,
    /// Of which failed (5xx or a service error, by default).
    pub errors: u64,
    /// Latency counts per bucket ([`BUCKETS`] long, or empty for an empty window).
    pub latency: Vec<u64>,
}

impl Window {
    /// The counts recorded after `earlier`.
    pub fn since(&self, earlier: &Window) -> Window {
        Window {
            requests: self.requests.saturating_sub(earlier.requests),
            errors: self.errors.saturating_sub(earlier.errors),
            latency: self
                .latency
                .iter()
                .enumerate()
                .map(|(i, c)| c.saturating_sub(earlier.latency.get(i).copied().unwrap_or(0)))
                .collect(),
        }
    }

    /// Errors / requests (0 without requests).
    pub fn error_ratio(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            self.errors as f64 / self.requests as f64
        }
    }

    /// Number of latency samples.
    pub fn samples(&self) -> u64 {
        self.latency.iter().sum()
    }

    /// Latency quantile `q` in seconds, interpolated inside its bucket (NaN when empty).
    pub fn quantile(&self, q: f64) -> f64 {
        let n = self.samples();
        if n == 0 {
            return f64::NAN;
        }
        let rank = q.clamp(0.0, 1.0) * n as f64;
        let mut seen = 0.0;
        for (i, &c) in self.latency.iter().enumerate() {
            if c == 0 {
                continue;
            }
            let next = seen + c as f64;
            if next >= rank {
                let f = ((rank - seen) / c as f64).clamp(0.0, 1.0);
                return (lower(i) + f * (upper(i) - lower(i))) / 1e9;
            }
            seen = next;
        }
        upper(BUCKETS - 1) / 1e9
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_ordered_and_tight() {
        let mut last = 0;
        for ns in (0..5_000u64).chain((1..2000).map(|k| k * 7_919_993)) {
            let b = bucket(ns);
            assert!(b >= last, "{ns}");
            last = b;
            assert!(
                lower(b) <= ns as f64 && (ns as f64) < upper(b),
                "{ns} in {b}"
            );
            if ns >= 16 {
                assert!(upper(b) / lower(b) <= 1.0 + 1.0 / 16.0 + 1e-12);
            }
        }
        assert_eq!(bucket(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn quantiles_and_windows() {
        let s = VersionStats::default();
        for i in 1..=100u64 {
            s.record(i * 1_000_000, i > 98);
        }
        let w = s.snapshot();
        assert_eq!((w.requests, w.errors), (100, 2));
        let p50 = w.quantile(0.5);
        assert!((p50 - 0.050).abs() < 0.050 * 0.07, "{p50}");
        let p95 = w.quantile(0.95);
        assert!((p95 - 0.095).abs() < 0.095 * 0.07, "{p95}");
        s.record(1_000, false);
        let d = s.snapshot().since(&w);
        assert_eq!((d.requests, d.errors, d.samples()), (1, 0, 1));
        assert!(Window::default().quantile(0.5).is_nan());
    }
}
