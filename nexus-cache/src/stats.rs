//! Per-tier counters and fixed-bucket latency histograms: atomics on the hot path, snapshots and
//! `metrics` export off it.
//!
//! Names, kinds and labels of what is exported are in [`crate::metrics`]. Histograms are
//! striped [`nexus_core::histogram`]s: memory stays flat however many operations pass, and
//! export publishes bucket *deltas*.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use nexus_cache::{MemoryTier, TieredCache};
//! let cache: TieredCache<String> = TieredCache::builder()
//!     .tier(MemoryTier::builder().build())
//!     .build()
//!     .unwrap();
//! cache.set("k", "v".to_owned()).await.unwrap();
//! let _ = cache.get("k").await;
//! let _ = cache.get("missing").await;
//! let stats = cache.stats();
//! assert_eq!((stats.tiers[0].hits, stats.tiers[0].misses), (1, 1));
//! # }
//! ```

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use nexus_core::histogram::Counts;
use serde::Serialize;

/// Counters are striped over this many cache lines so threads do not contend on one.
const STRIPES: usize = 8;

#[derive(Debug)]
#[repr(align(128))]
struct Line<T>(T);

/// This thread's stripe: threads are given stripes round-robin on first use.
#[inline]
fn stripe() -> usize {
    use std::cell::Cell;
    static NEXT: AtomicU64 = AtomicU64::new(0);
    thread_local!(static MINE: Cell<usize> = const { Cell::new(usize::MAX) });
    MINE.with(|m| {
        let s = m.get();
        if s != usize::MAX {
            return s;
        }
        let s = (NEXT.fetch_add(1, Ordering::Relaxed) as usize) % STRIPES;
        m.set(s);
        s
    })
}

/// A monotonic counter, striped across cache lines: an increment never bounces a line between
/// cores; a read sums the stripes.
#[derive(Debug)]
pub(crate) struct Counter {
    cells: [Line<AtomicU64>; STRIPES],
}

impl Counter {
    pub(crate) fn new() -> Self {
        Self {
            cells: std::array::from_fn(|_| Line(AtomicU64::new(0))),
        }
    }

    #[inline]
    pub(crate) fn incr(&self) {
        self.cells[stripe()].0.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn get(&self) -> u64 {
        self.cells.iter().map(|c| c.0.load(Ordering::Relaxed)).sum()
    }
}

/// A lock-free latency histogram ([`nexus_core::histogram`]), striped like [`Counter`].
#[derive(Debug)]
pub(crate) struct Histogram {
    stripes: [Line<nexus_core::histogram::Histogram>; STRIPES],
}

impl Histogram {
    pub(crate) fn new() -> Self {
        Self {
            stripes: std::array::from_fn(|_| Line(nexus_core::histogram::Histogram::new())),
        }
    }

    #[inline]
    pub(crate) fn record(&self, ns: u64) {
        self.stripes[stripe()].0.record(ns);
    }

    fn counts(&self) -> Counts {
        let mut all = Counts::default();
        for s in &self.stripes {
            all.add(&s.0.counts());
        }
        all
    }

    pub(crate) fn snapshot(&self) -> Latency {
        Latency::from_counts(&self.counts())
    }
}

/// A latency summary from a histogram (microseconds; quantiles interpolated inside the bucket,
/// within ±25 % of the truth).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Latency {
    /// Number of operations timed.
    pub count: u64,
    /// Mean, µs.
    pub mean_us: f64,
    /// Median, µs.
    pub p50_us: f64,
    /// 95th percentile, µs.
    pub p95_us: f64,
    /// 99th percentile, µs.
    pub p99_us: f64,
}

impl Latency {
    fn from_counts(c: &Counts) -> Self {
        Self {
            count: c.count(),
            mean_us: c.mean() * 1e6,
            p50_us: c.quantile(0.50) * 1e6,
            p95_us: c.quantile(0.95) * 1e6,
            p99_us: c.quantile(0.99) * 1e6,
        }
    }
}

/// The live counters of one tier.
#[derive(Debug)]
pub(crate) struct Counters {
    pub(crate) hits: Counter,
    pub(crate) misses: Counter,
    pub(crate) sets: Counter,
    pub(crate) deletes: Counter,
    pub(crate) errors: Counter,
    pub(crate) corrupt: Counter,
    pub(crate) invalidated: Counter,
    pub(crate) mark_reads: Counter,
    pub(crate) get_latency: Histogram,
    pub(crate) set_latency: Histogram,
}

impl Counters {
    pub(crate) fn new() -> Self {
        Self {
            hits: Counter::new(),
            misses: Counter::new(),
            sets: Counter::new(),
            deletes: Counter::new(),
            errors: Counter::new(),
            corrupt: Counter::new(),
            invalidated: Counter::new(),
            mark_reads: Counter::new(),
            get_latency: Histogram::new(),
            set_latency: Histogram::new(),
        }
    }
}

#[inline]
pub(crate) fn bump(c: &Counter) {
    c.incr();
}

/// A snapshot of one tier's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct TierStats {
    /// Position label: `l1`, `l2`, `l3`, …
    pub tier: &'static str,
    /// Kind of store: `memory`, `redis`, `cluster`, …
    pub kind: &'static str,
    /// Reads answered by this tier.
    pub hits: u64,
    /// Reads this tier could not answer.
    pub misses: u64,
    /// `hits / (hits + misses)`, 0 when there were no reads.
    pub hit_ratio: f64,
    /// Writes (including promotions from lower tiers).
    pub sets: u64,
    /// Explicit deletes.
    pub deletes: u64,
    /// Entries evicted for space, where the tier knows.
    pub evictions: Option<u64>,
    /// Failed operations (connection, timeout, server error).
    pub errors: u64,
    /// Entries read back that did not decode (treated as misses and removed).
    pub corrupt: u64,
    /// Entries read back that were created before a mark of one of their tags or of the last
    /// `clear` (tag invalidation by timestamp): misses.
    pub invalidated: u64,
    /// Reads of tag invalidation marks from this tier (when the cache's clock did not know them).
    pub mark_reads: u64,
    /// Bytes held, where the tier knows.
    pub bytes_stored: Option<u64>,
    /// Read latency.
    pub get_latency: Latency,
    /// Write latency.
    pub set_latency: Latency,
    /// The tier's circuit breaker is open: it is being skipped.
    pub circuit_open: bool,
    /// Times the circuit breaker opened.
    pub circuit_opened: u64,
}

/// Figures of the loaders run by `get_or_load`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct LoaderStats {
    /// Loader runs.
    pub loads: u64,
    /// Loader runs that failed.
    pub errors: u64,
    /// Callers that waited on another caller's load instead of running their own.
    pub coalesced: u64,
    /// Keys being loaded right now.
    pub in_flight: usize,
    /// Stale (fail-safe) copies served because loading failed or timed out.
    pub fail_safe_served: u64,
    /// Loads that passed the soft timeout (a stale copy was served meanwhile).
    pub soft_timeouts: u64,
    /// Loads abandoned at the hard timeout.
    pub hard_timeouts: u64,
    /// Background refreshes started by refresh-ahead.
    pub refreshes: u64,
    /// Loader latency.
    pub latency: Latency,
}

/// A snapshot of a [`TieredCache`](crate::TieredCache)'s figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct CacheStats {
    /// The cache's name (the `cache` metric label).
    pub name: String,
    /// One entry per tier, L1 first.
    pub tiers: Vec<TierStats>,
    /// Loader figures.
    pub loader: LoaderStats,
    /// Overall hit ratio: reads answered by any tier over all reads.
    pub hit_ratio: f64,
    /// Backplane figures, when the cache has one.
    pub backplane: Option<BackplaneStats>,
}

/// A backplane's figures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct BackplaneStats {
    /// Subscribed now.
    pub connected: bool,
    /// While disconnected, L1 entries are written with a short TTL.
    pub degraded: bool,
    /// Messages sent.
    pub sent: u64,
    /// Messages whose first sending failed (they are retried, in order, until sent).
    pub retried: u64,
    /// Messages from other instances applied to L1.
    pub received: u64,
    /// Of those, messages this instance had missed and got again from their sender's replay.
    pub replayed: u64,
    /// Messages that could not be queued (the 10 000-message outbox was full): the others are
    /// told by a gap in the numbering.
    pub dropped: u64,
    /// Times L1 was dropped because messages were missed (a gap in another instance's
    /// numbering, or this instance falling behind).
    pub resyncs: u64,
}

pub(crate) fn ratio(hits: u64, misses: u64) -> f64 {
    if hits + misses == 0 {
        0.0
    } else {
        hits as f64 / (hits + misses) as f64
    }
}

/// Remembers what was last exported so histogram buckets are published as deltas.
#[derive(Debug, Default)]
pub(crate) struct Exported {
    last: Mutex<std::collections::HashMap<String, Counts>>,
}

impl Exported {
    /// Publishes the delta of `h` since the previous call for the same `id`.
    pub(crate) fn histogram(&self, id: &str, h: &Histogram, metric: &metrics::Histogram) {
        let now = h.counts();
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let prev = last.entry(id.to_owned()).or_default();
        now.since(prev).record_into(metric);
        *prev = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_land_in_the_right_bucket() {
        let h = Histogram::new();
        for _ in 0..99 {
            h.record(1_000); // ~1 µs
        }
        h.record(1_000_000); // 1 ms
        let s = h.snapshot();
        assert_eq!(s.count, 100);
        assert!(s.p50_us > 0.5 && s.p50_us <= 1.03, "{s:?}");
        assert!(s.p99_us <= 1.03, "{s:?}");
        assert!(
            (s.mean_us - (99.0 * 1.0 + 1000.0) / 100.0).abs() < 1e-9,
            "{s:?}"
        );
    }

    #[test]
    fn extreme_values_do_not_panic() {
        let h = Histogram::new();
        h.record(0);
        h.record(u64::MAX);
        assert_eq!(h.snapshot().count, 2);
    }

    #[test]
    fn empty_is_zero() {
        assert_eq!(Histogram::new().snapshot(), Latency::default());
        assert_eq!(ratio(0, 0), 0.0);
    }
}
