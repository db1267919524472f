//! The metrics this crate exports ([`TieredCache::publish_metrics`](crate::TieredCache::publish_metrics),
//! every metrics interval once [spawned](crate::TieredCache::spawn)), as constants: names, kinds,
//! labels and HELP texts. [`describe`] registers the HELP texts with the installed recorder.
//!
//! Labels: `cache` (the cache's name), `tier` (`l1`, `l2`, …), `op` (`get`/`set`). Durations are
//! pre-binned in [`nexus_core::histogram`] buckets and exported as deltas.
//!
//! ```
//! use nexus_cache::metrics::{ALL, HITS};
//! assert_eq!(HITS.name, "nexus_cache_hits_total");
//! assert!(nexus_core::metric::check("nexus_cache_", ALL).is_ok());
//! ```

use nexus_core::metric::Metric;

const TIER: &[&str] = &["cache", "tier"];
const CACHE: &[&str] = &["cache"];

/// Reads a tier answered.
pub const HITS: Metric = Metric::counter(
    "nexus_cache_hits_total",
    TIER,
    "Cache reads answered by a tier.",
);
/// Reads a tier could not answer.
pub const MISSES: Metric = Metric::counter(
    "nexus_cache_misses_total",
    TIER,
    "Cache reads a tier could not answer.",
);
/// Writes per tier.
pub const SETS: Metric = Metric::counter("nexus_cache_sets_total", TIER, "Cache writes per tier.");
/// Deletions per tier.
pub const DELETES: Metric = Metric::counter(
    "nexus_cache_deletes_total",
    TIER,
    "Cache deletions per tier.",
);
/// Tier errors.
pub const ERRORS: Metric = Metric::counter(
    "nexus_cache_errors_total",
    TIER,
    "Tier errors (Redis unreachable, timeouts).",
);
/// Corrupt entries read back.
pub const CORRUPT: Metric = Metric::counter(
    "nexus_cache_corrupt_total",
    TIER,
    "Corrupt entries read back, treated as misses.",
);
/// Entries older than a tag mark.
pub const INVALIDATED: Metric = Metric::counter(
    "nexus_cache_invalidated_total",
    TIER,
    "Entries read back older than a mark of one of their tags (or of the last clear): misses.",
);
/// Tag mark reads.
pub const TAG_MARK_READS: Metric = Metric::counter(
    "nexus_cache_tag_mark_reads_total",
    TIER,
    "Reads of tag invalidation marks from a shared tier.",
);
/// Evictions for space (memory tiers).
pub const EVICTIONS: Metric = Metric::counter(
    "nexus_cache_evictions_total",
    TIER,
    "Entries evicted for space (memory tiers).",
);
/// Bytes held (memory tiers).
pub const BYTES: Metric = Metric::gauge(
    "nexus_cache_bytes",
    TIER,
    "Bytes held by a memory tier, as its weigher counts them.",
);
/// Cumulative hit ratio per tier.
pub const HIT_RATIO: Metric = Metric::gauge(
    "nexus_cache_hit_ratio",
    TIER,
    "Hits over reads per tier since start, 0-1 (for a windowed ratio use rate() of hits and misses).",
);
/// Operation durations per tier.
pub const OPERATION_DURATION: Metric = Metric::histogram(
    "nexus_cache_operation_duration_seconds",
    &["cache", "tier", "op"],
    "Cache operation duration per tier and operation (get, set).",
);
/// Loader runs.
pub const LOADS: Metric = Metric::counter("nexus_cache_loads_total", CACHE, "Loader runs.");
/// Loader failures.
pub const LOAD_ERRORS: Metric =
    Metric::counter("nexus_cache_load_errors_total", CACHE, "Loader failures.");
/// Loader durations.
pub const LOAD_DURATION: Metric = Metric::histogram(
    "nexus_cache_load_duration_seconds",
    CACHE,
    "Loader duration.",
);
/// Whether the backplane is subscribed.
pub const BACKPLANE_CONNECTED: Metric = Metric::gauge(
    "nexus_cache_backplane_connected",
    CACHE,
    "1 while the cache's backplane is subscribed, 0 while it is down (L1 TTLs capped).",
);
/// Backplane messages by what happened to them.
pub const BACKPLANE_MESSAGES: Metric = Metric::counter(
    "nexus_cache_backplane_messages_total",
    &["cache", "outcome"],
    "Backplane messages: sent, retried (first sending failed), received (applied to L1), \
     replayed (received again after being missed), dropped (outbox full).",
);
/// L1 dropped because backplane messages were missed.
pub const BACKPLANE_RESYNCS: Metric = Metric::counter(
    "nexus_cache_backplane_resyncs_total",
    CACHE,
    "Times L1 was dropped because backplane messages were missed.",
);

/// Every metric above.
pub const ALL: &[Metric] = &[
    HITS,
    MISSES,
    SETS,
    DELETES,
    ERRORS,
    CORRUPT,
    INVALIDATED,
    TAG_MARK_READS,
    EVICTIONS,
    BYTES,
    HIT_RATIO,
    OPERATION_DURATION,
    LOADS,
    LOAD_ERRORS,
    LOAD_DURATION,
    BACKPLANE_CONNECTED,
    BACKPLANE_MESSAGES,
    BACKPLANE_RESYNCS,
];

/// Registers the HELP texts of [`ALL`] with the installed recorder.
pub fn describe() {
    nexus_core::metric::describe(ALL);
}
