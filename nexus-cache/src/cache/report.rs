//! Statistics snapshots, the capacity/TTL advisor and `optimize`.

#[allow(unused_imports)]
use super::*;

impl<V: CacheValue> TieredCache<V> {
    /// A snapshot of every tier's figures and the loader's.
    pub fn stats(&self) -> CacheStats {
        let tiers: Vec<TierStats> = self
            .inner
            .levels
            .iter()
            .map(|l| {
                let c = &l.counters;
                let (hits, misses) = (c.hits.get(), c.misses.get());
                TierStats {
                    tier: l.label,
                    kind: l.tier.kind(),
                    hits,
                    misses,
                    hit_ratio: ratio(hits, misses),
                    sets: c.sets.get(),
                    deletes: c.deletes.get(),
                    evictions: l.tier.evictions(),
                    errors: c.errors.get(),
                    corrupt: c.corrupt.get(),
                    invalidated: c.invalidated.get(),
                    mark_reads: c.mark_reads.get(),
                    bytes_stored: l.tier.bytes_stored(),
                    get_latency: c.get_latency.snapshot(),
                    set_latency: c.set_latency.snapshot(),
                    circuit_open: l.breaker.is_open(),
                    circuit_opened: l.breaker.opened.get(),
                }
            })
            .collect();
        let hits: u64 = tiers.iter().map(|t| t.hits).sum();
        // Every read that reached the last tier and missed there missed everywhere.
        let misses = tiers.last().map_or(0, |t| t.misses);
        let i = &self.inner;
        let backplane = i.link.as_ref().map(|l| BackplaneStats {
            connected: l.backplane.is_connected(),
            degraded: l.degraded.load(std::sync::atomic::Ordering::Relaxed),
            sent: l.sent.get(),
            retried: l.retried.get(),
            replayed: l.replayed.get(),
            received: l.received.get(),
            dropped: l.dropped.get(),
            resyncs: l.resyncs.get(),
        });
        CacheStats {
            name: i.name.clone(),
            backplane,
            hit_ratio: ratio(hits, misses),
            tiers,
            loader: LoaderStats {
                loads: i.loads.get(),
                errors: i.load_errors.get(),
                coalesced: i.coalesced.get(),
                in_flight: i.flights.lock().unwrap_or_else(|e| e.into_inner()).len(),
                latency: i.load_latency.snapshot(),
                fail_safe_served: i.fail_safe_served.get(),
                soft_timeouts: i.soft_timeouts.get(),
                hard_timeouts: i.hard_timeouts.get(),
                refreshes: i.refreshes.get(),
            },
        }
    }

    /// The advisor's figures for reaching `target` hit ratio (needs
    /// [`TieredCacheBuilder::advisor`]).
    pub fn advise(&self, target: f64) -> Option<crate::advisor::Advice> {
        let (_, shards, seen) = self.inner.advisor.as_ref()?;
        let capacity = self.l1_capacity();
        let mut s = shards.lock().unwrap_or_else(|e| e.into_inner());
        s.set_seen(seen.get());
        Some(s.advise(capacity, target))
    }

    /// Applies what can change live and reports the rest: sets L1's default TTL to the
    /// advisor's suggestion (90 % of reuses happen within it; bounded by L1's maximum TTL), and
    /// recommends the capacity for `target`. `None` without an advisor.
    pub fn optimize(&self, target: f64) -> Option<Optimization> {
        let advice = self.advise(target)?;
        let capacity = self.l1_capacity();
        let mut applied = Vec::new();
        let mut recommended = Vec::new();
        if let (Some(ttl_ms), Some(l1)) = (
            advice.suggested_ttl_ms,
            self.inner.levels.first().and_then(|l| l.memory.as_ref()),
        ) {
            let before = l1.default_ttl();
            let after = l1.set_default_ttl(Duration::from_millis(ttl_ms.max(1000)));
            if after != before {
                applied.push(format!("l1_default_ttl: {before:?} -> {after:?}"));
                tracing::info!(cache = %self.inner.name, ?before, ?after, "advisor changed L1's default TTL");
            }
        }
        match advice.capacity_for_target {
            Some(c) if c > capacity => recommended.push(format!(
                "l1 capacity {capacity} -> {c} entries for a {:.0} % hit ratio (expected now: {:.1} %)",
                target * 100.0,
                advice.expected_hit_ratio.unwrap_or(0.0) * 100.0
            )),
            None if advice.sampled_accesses > 0 => recommended.push(format!(
                "no capacity up to the tracked maximum reaches {:.0} %: the key stream reuses too little",
                target * 100.0
            )),
            _ => {}
        }
        Some(Optimization {
            advice,
            l1_capacity: capacity,
            applied,
            recommended,
        })
    }

    /// L1 capacity in entries (its entry bound, or bytes divided by the mean entry size).
    pub(super) fn l1_capacity(&self) -> u64 {
        let Some(l1) = self.inner.levels.first().and_then(|l| l.memory.as_ref()) else {
            return 0;
        };
        if let Some(n) = l1.max_entries() {
            return n;
        }
        let (count, bytes) = (l1.entry_count(), l1.bytes_stored().unwrap_or(0));
        if count == 0 || bytes == 0 {
            0
        } else {
            l1.max_bytes() / (bytes / count).max(1)
        }
    }
}
