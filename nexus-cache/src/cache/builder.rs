//! `TieredCacheBuilder`: tiers, codec, timeouts, backplane and the opt-in features, and `build`.

#[allow(unused_imports)]
use super::*;

/// Builder for [`TieredCache`]. Without any tier it builds the spec's L1 (512 MiB, 5 min).
///
/// ```
/// use nexus_cache::{MemoryTier, TieredCache};
/// use std::time::Duration;
/// let cache: TieredCache<Vec<u8>> = TieredCache::builder()
///     .name("blobs")
///     .tier(MemoryTier::builder().max_bytes(64 << 20).ttl(Duration::from_secs(60)).build())
///     // .tier(RedisTier::builder("redis://127.0.0.1/").build().await?)  // L2, feature `redis`
///     .metrics_interval(None)
///     .build()
///     .unwrap();
/// assert_eq!(cache.stats().tiers.len(), 1);
/// ```
#[derive(Debug)]
#[must_use]
pub struct TieredCacheBuilder<V> {
    name: String,
    tiers: Vec<Arc<dyn Tier>>,
    codec: Codec,
    weigher: crate::weigher::Shared<V>,
    max_key_len: usize,
    metrics_interval: Option<Duration>,
    backplane: Option<Arc<dyn Backplane>>,
    degraded_l1_ttl: Duration,
    heartbeat: Duration,
    defaults: EntryOptions,
    breaker: (u32, Duration),
    advisor: Option<(f64, u64)>,
    hot: Option<(usize, Option<Duration>)>,
    distributed: Option<Duration>,
    tag_marks_ttl: Duration,
    _v: PhantomData<fn() -> V>,
}

impl<V: CacheValue> TieredCacheBuilder<V> {
    /// Distributed single flight: at most one loader across instances for a key, through a
    /// Redis lock (`SET NX PX lock_ttl`) in the first remote tier. Other instances wait for
    /// the value to appear; if the holder dies, its lock expires after `lock_ttl` and a waiter
    /// loads instead. Without a reachable Redis, loads are single-flight per instance only.
    pub fn distributed_single_flight(mut self, lock_ttl: Duration) -> Self {
        self.distributed = Some(lock_ttl);
        self
    }

    /// Tracks the `k` hottest keys (a count-min sketch with aging and a top-K list), for
    /// [`TieredCache::hot_keys`] and for publishing them to Redis every `publish_every` (by
    /// [`TieredCache::spawn`]'s task), so a new instance can preload its L1 from the fleet's hot
    /// set ([`TieredCache::preload`]).
    pub fn hot_keys(mut self, k: usize, publish_every: Option<Duration>) -> Self {
        self.hot = Some((k, publish_every));
        self
    }

    /// Samples the key stream for the capacity/TTL advisor ([`TieredCache::advise`],
    /// [`TieredCache::optimize`]): a `rate` of keys (e.g. 0.01), capacities up to
    /// `max_capacity` entries. A sampled access takes a short lock; unsampled ones cost a hash.
    pub fn advisor(mut self, rate: f64, max_capacity: u64) -> Self {
        self.advisor = Some((rate, max_capacity));
        self
    }

    /// Default loader soft timeout (see [`EntryOptions::soft_timeout`]; default none).
    pub fn soft_timeout(mut self, d: Duration) -> Self {
        self.defaults.soft_timeout = Some(d);
        self
    }

    /// Default loader hard timeout (see [`EntryOptions::hard_timeout`]; default none).
    pub fn hard_timeout(mut self, d: Duration) -> Self {
        self.defaults.hard_timeout = Some(d);
        self
    }

    /// Default refresh-ahead fraction (see [`EntryOptions::refresh_ahead`]; default none).
    pub fn refresh_ahead(mut self, fraction: f64) -> Self {
        self.defaults.refresh_ahead = Some(fraction);
        self
    }

    /// Circuit breaker of each remote tier: after `failures` consecutive errors the tier is
    /// skipped for `cool_down`, then one call probes it (default 5 errors, 5 s). Callers see
    /// L1 and loader behaviour meanwhile.
    pub fn circuit_breaker(mut self, failures: u32, cool_down: Duration) -> Self {
        self.breaker = (failures.max(1), cool_down);
        self
    }

    /// Connects this cache to other instances through `backplane`: its `set`, `delete`,
    /// `invalidate_tags` and `clear` evict the other instances' L1 copies, and theirs evict
    /// ours. While the backplane is down, L1 entries are written with at most
    /// [`degraded_l1_ttl`](Self::degraded_l1_ttl), and changes that cannot be sent wait
    /// (in order, up to 10 000) until it is back. Messages are numbered per instance: after a
    /// reconnection L1 is kept unless another instance's numbers show that messages were missed
    /// (see [`backplane_heartbeat`](Self::backplane_heartbeat)); then L1 is dropped. Needs a
    /// Tokio runtime at `build`.
    pub fn backplane(mut self, backplane: Arc<dyn Backplane>) -> Self {
        self.backplane = Some(backplane);
        self
    }

    /// How often a quiet instance tells the others its latest message number (default 1 s).
    /// After a reconnection an instance waits three intervals (TTLs still capped) to hear every
    /// other instance: if one of them sent something it did not receive, it drops its L1;
    /// otherwise L1 is kept.
    pub fn backplane_heartbeat(mut self, every: Duration) -> Self {
        self.heartbeat = every;
        self
    }

    /// The L1 TTL cap while the backplane is down (default 5 s).
    pub fn degraded_l1_ttl(mut self, ttl: Duration) -> Self {
        self.degraded_l1_ttl = ttl;
        self
    }

    /// How long a tag's invalidation mark, once read from a shared tier, is trusted without
    /// reading it again (default 10 s). With a backplane, other instances' marks arrive as they
    /// happen and this only bounds the effect of a lost message; without one, it bounds how long
    /// this instance's remote reads may miss another instance's invalidation.
    pub fn tag_marks_ttl(mut self, ttl: Duration) -> Self {
        self.tag_marks_ttl = ttl.max(Duration::from_millis(1));
        self
    }

    /// The `cache` label of this cache's metrics (default `default`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Appends a tier: the first is L1, the next L2, and so on.
    pub fn tier(self, tier: impl Tier) -> Self {
        self.tier_arc(Arc::new(tier))
    }

    /// Appends a shared tier.
    pub fn tier_arc(mut self, tier: Arc<dyn Tier>) -> Self {
        self.tiers.push(tier);
        self
    }

    /// The codec used for remote tiers (default: postcard, LZ4 above 1 KiB).
    pub fn codec(mut self, codec: Codec) -> Self {
        self.codec = codec;
        self
    }

    /// How the L1 counts a value's bytes against its `max_bytes` (default
    /// [`DeepSize`](crate::weigher::DeepSize): a serde walk estimating what the value holds in
    /// memory). Any `Fn(&V) -> usize` works. The L1 adds the key and its own per-entry
    /// bookkeeping. Ignored by an L1 bounded by entries.
    ///
    /// ```
    /// let cache = nexus_cache::TieredCache::<Vec<u64>>::builder()
    ///     .weigher(|v: &Vec<u64>| 24 + 8 * v.capacity())
    ///     .build()
    ///     .unwrap();
    /// # let _ = cache;
    /// ```
    pub fn weigher(mut self, weigher: impl crate::weigher::Weigher<V>) -> Self {
        self.weigher = crate::weigher::Shared(Arc::new(weigher));
        self
    }

    /// Longest accepted key or tag, in bytes (default 1 KiB).
    pub fn max_key_len(mut self, bytes: usize) -> Self {
        self.max_key_len = bytes;
        self
    }

    /// How often [`TieredCache::spawn`]'s task pushes figures to the `metrics` facade (default
    /// every 5 s; `None` to only publish on [`TieredCache::publish_metrics`]).
    pub fn metrics_interval(mut self, every: Option<Duration>) -> Self {
        self.metrics_interval = every;
        self
    }

    /// Builds the cache.
    pub fn build(mut self) -> Result<TieredCache<V>, CacheError> {
        if self.tiers.is_empty() {
            self.tiers.push(Arc::new(MemoryTier::builder().build()));
        }
        if self.tiers.len() > LABELS.len() {
            return Err(CacheError::Config(format!(
                "at most {} tiers",
                LABELS.len()
            )));
        }
        if self.max_key_len == 0 {
            return Err(CacheError::Config("max_key_len must be positive".into()));
        }
        let levels: Vec<Level> = self
            .tiers
            .into_iter()
            .zip(LABELS)
            .map(|(tier, label)| Level {
                label,
                memory: tier.as_memory().cloned(),
                tier,
                counters: Counters::new(),
                breaker: Breaker::new(self.breaker.0, self.breaker.1),
            })
            .collect();
        let needs_bytes = levels.iter().any(|l| !l.tier.is_local());
        let mut outbox_rx = None;
        let link = match self.backplane {
            None => None,
            Some(backplane) => {
                if tokio::runtime::Handle::try_current().is_err() {
                    return Err(CacheError::Config(
                        "a backplane needs a Tokio runtime at build".into(),
                    ));
                }
                let (tx, rx) = tokio::sync::mpsc::channel(10_000);
                let (resend, resend_rx) = tokio::sync::mpsc::channel(64);
                outbox_rx = Some((rx, resend_rx));
                Some(Link {
                    degraded: std::sync::atomic::AtomicBool::new(!backplane.is_connected()),
                    backplane,
                    origin: random_origin(),
                    outbox: tx,
                    degraded_ttl_ms: self.degraded_l1_ttl.as_millis() as u64,
                    overflowed: std::sync::atomic::AtomicBool::new(false),
                    resend,
                    heartbeat: self.heartbeat.max(Duration::from_millis(10)),
                    sent: Counter::new(),
                    retried: Counter::new(),
                    replayed: Counter::new(),
                    received: Counter::new(),
                    dropped: Counter::new(),
                    resyncs: Counter::new(),
                })
            }
        };
        let inner = Arc::new(Inner {
            name: self.name,
            levels,
            codec: self.codec,
            weigher: self.weigher,
            max_key_len: self.max_key_len,
            needs_bytes,
            flights: Mutex::default(),
            loads: Counter::new(),
            load_errors: Counter::new(),
            coalesced: Counter::new(),
            load_latency: Histogram::new(),
            exported: Exported::default(),
            link,
            defaults: self.defaults,
            fail_safe_served: Counter::new(),
            soft_timeouts: Counter::new(),
            hard_timeouts: Counter::new(),
            refreshes: Counter::new(),
            refreshing: Mutex::new(std::collections::HashSet::new()),
            advisor: self.advisor.map(|(rate, max)| {
                let shards = crate::advisor::Shards::new(rate, max);
                (shards.gate(), Mutex::new(shards), Counter::new())
            }),
            hot: self.hot.map(|(k, _)| crate::hot::HotKeys::new(k)),
            every: Every {
                metrics: self.metrics_interval,
                hot: self.hot.and_then(|(_, every)| every),
            },
            backplane_tasks: std::sync::OnceLock::new(),
            distributed: self.distributed,
            clock: TagClock::new(self.tag_marks_ttl, 100_000),
            _v: PhantomData,
        });
        // The backplane's two tasks are part of correctness (without them other instances'
        // writes would never evict this L1), so they start here and stop with the cache.
        if let (Some(link), Some((rx, resend))) = (&inner.link, outbox_rx) {
            let _ = inner.backplane_tasks.set([
                TaskHandle::spawn(publisher(Arc::downgrade(&inner), rx, resend)),
                TaskHandle::spawn(listener(Arc::downgrade(&inner), link.backplane.subscribe())),
            ]);
        }
        Ok(TieredCache { inner })
    }
}

impl<V: CacheValue> TieredCache<V> {
    /// A builder; see [`TieredCacheBuilder`].
    pub fn builder() -> TieredCacheBuilder<V> {
        TieredCacheBuilder {
            name: "default".into(),
            tiers: Vec::new(),
            codec: Codec::default(),
            weigher: crate::weigher::Shared(Arc::new(crate::weigher::DeepSize)),
            max_key_len: DEFAULT_MAX_KEY_LEN,
            metrics_interval: Some(Duration::from_secs(5)),
            backplane: None,
            degraded_l1_ttl: Duration::from_secs(5),
            heartbeat: Duration::from_secs(1),
            defaults: EntryOptions::default(),
            breaker: (5, Duration::from_secs(5)),
            advisor: None,
            hot: None,
            distributed: None,
            tag_marks_ttl: Duration::from_secs(10),
            _v: PhantomData,
        }
    }
}
