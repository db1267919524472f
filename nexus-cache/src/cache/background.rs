//! What runs beside the cache: hot-set publishing, metrics publishing, the per-access observers
//! (advisor, hot keys), and queueing changes for the backplane ([`super::link`] sends them).

#[allow(unused_imports)]
use super::*;
use crate::metrics as m;

impl<V: CacheValue> TieredCache<V> {
    /// Starts the cache's optional background work: metrics published every
    /// [`metrics_interval`](TieredCacheBuilder::metrics_interval) and the hot set published every
    /// `publish_every` of [`hot_keys`](TieredCacheBuilder::hot_keys). Stops when the handle is
    /// dropped (or the cache is). Call it inside a Tokio runtime; without it the cache works
    /// fully, and figures are published when you call [`publish_metrics`](Self::publish_metrics).
    /// (A backplane's tasks are not optional: they start at `build` and stop with the cache.)
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let cache = nexus_cache::TieredCache::<String>::builder().build().unwrap();
    /// let _tasks = cache.spawn();
    /// # }
    /// ```
    pub fn spawn(&self) -> TaskHandle {
        let (weak, every) = (Arc::downgrade(&self.inner), self.inner.every);
        TaskHandle::spawn(async move {
            let metrics = async {
                if let Some(e) = every.metrics {
                    publish_loop(weak.clone(), e).await;
                }
            };
            let hot = async {
                if let Some(e) = every.hot {
                    hot_loop(weak.clone(), e).await;
                }
            };
            tokio::join!(metrics, hot);
        })
    }
}

async fn publish_loop<V: CacheValue>(inner: Weak<Inner<V>>, every: Duration) {
    let mut tick = tokio::time::interval(every.max(Duration::from_millis(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match inner.upgrade() {
            Some(i) => TieredCache { inner: i }.publish_metrics(),
            None => return,
        }
    }
}

async fn hot_loop<V: CacheValue>(inner: Weak<Inner<V>>, every: Duration) {
    let mut tick = tokio::time::interval(every.max(Duration::from_millis(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        let Some(i) = inner.upgrade() else { return };
        if let Err(e) = (TieredCache { inner: i }).publish_hot_keys().await {
            tracing::debug!(error = %e, "hot keys not published");
        }
    }
}

pub(super) fn random_origin() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.write_u32(std::process::id());
    h.finish()
}

impl<V: CacheValue> TieredCache<V> {
    /// Queues a change for the other instances (never waits).
    pub(super) fn announce(&self, op: Op) {
        if let Some(link) = &self.inner.link
            && link.outbox.try_send(op).is_err()
        {
            link.overflowed
                .store(true, std::sync::atomic::Ordering::SeqCst);
            bump(&link.dropped);
        }
    }

    /// Pushes the current figures to the `metrics` facade (names in [`crate::metrics`]). Called
    /// every metrics interval by [`spawn`](Self::spawn)'s task.
    pub fn publish_metrics(&self) {
        let stats = self.stats();
        let name = self.inner.name.clone();
        for (level, t) in self.inner.levels.iter().zip(&stats.tiers) {
            let labels = [("cache", name.clone()), ("tier", t.tier.to_string())];
            metrics::counter!(m::HITS.name, &labels).absolute(t.hits);
            metrics::counter!(m::MISSES.name, &labels).absolute(t.misses);
            metrics::counter!(m::SETS.name, &labels).absolute(t.sets);
            metrics::counter!(m::DELETES.name, &labels).absolute(t.deletes);
            metrics::counter!(m::ERRORS.name, &labels).absolute(t.errors);
            metrics::counter!(m::CORRUPT.name, &labels).absolute(t.corrupt);
            metrics::counter!(m::INVALIDATED.name, &labels).absolute(t.invalidated);
            metrics::counter!(m::TAG_MARK_READS.name, &labels).absolute(t.mark_reads);
            metrics::gauge!(m::HIT_RATIO.name, &labels).set(t.hit_ratio);
            if let Some(e) = t.evictions {
                metrics::counter!(m::EVICTIONS.name, &labels).absolute(e);
            }
            if let Some(b) = t.bytes_stored {
                metrics::gauge!(m::BYTES.name, &labels).set(b as f64);
            }
            for (op, h) in [
                ("get", &level.counters.get_latency),
                ("set", &level.counters.set_latency),
            ] {
                let metric = metrics::histogram!(
                    m::OPERATION_DURATION.name,
                    "cache" => name.clone(), "tier" => t.tier, "op" => op
                );
                self.inner
                    .exported
                    .histogram(&format!("{}:{op}", t.tier), h, &metric);
            }
        }
        let labels = [("cache", name.clone())];
        if let Some(bp) = &stats.backplane {
            metrics::gauge!(m::BACKPLANE_CONNECTED.name, &labels)
                .set(f64::from(u8::from(bp.connected)));
            metrics::counter!(m::BACKPLANE_RESYNCS.name, &labels).absolute(bp.resyncs);
            for (outcome, n) in [
                ("sent", bp.sent),
                ("retried", bp.retried),
                ("received", bp.received),
                ("replayed", bp.replayed),
                ("dropped", bp.dropped),
            ] {
                metrics::counter!(m::BACKPLANE_MESSAGES.name, "cache" => name.clone(), "outcome" => outcome)
                    .absolute(n);
            }
        }
        metrics::counter!(m::LOADS.name, &labels).absolute(stats.loader.loads);
        metrics::counter!(m::LOAD_ERRORS.name, &labels).absolute(stats.loader.errors);
        let metric = metrics::histogram!(m::LOAD_DURATION.name, &labels);
        self.inner
            .exported
            .histogram("load", &self.inner.load_latency, &metric);
    }

    /// Feeds the advisor (a hash, and a short lock for sampled keys only).
    #[inline]
    pub(super) fn observe(&self, key: &str) {
        if let Some(hot) = &self.inner.hot {
            hot.record(key);
        }
        if let Some((gate, shards, seen)) = &self.inner.advisor {
            bump(seen);
            if let Some(h) = gate.sample(key) {
                shards
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .record_sampled(h, now_millis());
            }
        }
    }

    /// The hottest keys of this instance with their estimated recent accesses, hottest first
    /// (needs [`TieredCacheBuilder::hot_keys`]).
    pub fn hot_keys(&self) -> Vec<(String, u64)> {
        self.inner.hot.as_ref().map(|h| h.top()).unwrap_or_default()
    }

    /// Adds this instance's hot keys to the fleet's hot set in the remote tiers; returns how
    /// many were published.
    pub async fn publish_hot_keys(&self) -> Result<usize, CacheError> {
        let keys = self.hot_keys();
        let mut first_err = None;
        for level in self.inner.levels.iter().filter(|l| l.memory.is_none()) {
            if let Err(e) = level.tier.publish_hot_keys(&keys).await {
                first_err.get_or_insert(self.tier_err(level, e));
            }
        }
        first_err.map_or(Ok(keys.len()), Err)
    }
}
