//! `TieredCache`: typed values over an ordered list of tiers.

use std::any::Any;
use std::collections::HashMap;
use std::error::Error as StdError;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::{Either, join_all, ready};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::OnceCell;

use crate::backplane::{Backplane, Event, Message, Op};
use crate::codec::Codec;
use crate::error::{CacheError, TierError};
use crate::expiry::{capped, expires_at, now_micros, now_millis};
use crate::memory::MemoryTier;
use crate::stats::{
    BackplaneStats, CacheStats, Counter, Counters, Exported, Histogram, LoaderStats, TierStats,
    bump, ratio,
};
use crate::tags::{CLEAR, TagClock};
use crate::tier::{Entry, Tier, Value};

const LABELS: [&str; 8] = ["l1", "l2", "l3", "l4", "l5", "l6", "l7", "l8"];
/// Default limit on key (and tag) length, in bytes.
pub const DEFAULT_MAX_KEY_LEN: usize = 1024;

/// What a value may be: serializable (for the remote tiers), shareable across tasks.
pub trait CacheValue: Serialize + DeserializeOwned + Send + Sync + 'static {}
impl<T: Serialize + DeserializeOwned + Send + Sync + 'static> CacheValue for T {}

static NO_OPTIONS: EntryOptions = EntryOptions {
    ttl: None,
    tags: Vec::new(),
    soft_timeout: None,
    hard_timeout: None,
    refresh_ahead: None,
};

/// Per-write options: a TTL overriding each tier's default, and tags.
///
/// ```
/// use nexus_cache::EntryOptions;
/// use std::time::Duration;
/// let opts = EntryOptions::new().ttl(Duration::from_secs(30)).tags(["user:42", "users"]);
/// assert_eq!(opts.tag_list().len(), 2);
/// ```
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct EntryOptions {
    ttl: Option<Duration>,
    tags: Vec<String>,
    soft_timeout: Option<Duration>,
    hard_timeout: Option<Duration>,
    refresh_ahead: Option<f64>,
}

impl EntryOptions {
    /// No TTL override, no tags.
    pub fn new() -> Self {
        Self::default()
    }

    /// One TTL for every tier instead of each tier's default.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// Tags for [`TieredCache::invalidate_tags`].
    pub fn tags<I, S>(mut self, tags: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.tags = tags.into_iter().map(Into::into).collect();
        self
    }

    /// The tags set so far.
    pub fn tag_list(&self) -> &[String] {
        &self.tags
    }

    /// Soft timeout of the loader: past it, a stale (fail-safe) copy is served and the loader
    /// finishes in the background to refresh the cache ([`TieredCache::fetch`] only).
    pub fn soft_timeout(mut self, d: Duration) -> Self {
        self.soft_timeout = Some(d);
        self
    }

    /// Hard timeout of the loader: past it, the load is abandoned; a stale copy is served if
    /// there is one, else [`CacheError::LoaderTimeout`].
    pub fn hard_timeout(mut self, d: Duration) -> Self {
        self.hard_timeout = Some(d);
        self
    }

    /// Refresh-ahead: an L1 hit on an entry past this fraction of its TTL (e.g. 0.8) reloads it
    /// in the background, once ([`TieredCache::fetch`] only).
    pub fn refresh_ahead(mut self, fraction: f64) -> Self {
        self.refresh_ahead = Some(fraction);
        self
    }
}

/// What an adaptive loader ([`TieredCache::get_or_load_adaptive`]) returns: the value and what
/// the loader decided about caching it — tags (added to the call's) and a TTL (replacing the
/// call's), known only once the value is (FusionCache's adaptive caching).
///
/// ```
/// use nexus_cache::Loaded;
/// use std::time::Duration;
/// let l = Loaded::new("Ada".to_string()).tags(["user:1", "team:7"]).ttl(Duration::from_secs(30));
/// assert_eq!(l.tag_list(), ["user:1", "team:7"]);
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct Loaded<V> {
    value: V,
    ttl: Option<Duration>,
    tags: Vec<String>,
}

impl<V> Loaded<V> {
    /// The value, cached with the call's options.
    pub fn new(value: V) -> Self {
        Self {
            value,
            ttl: None,
            tags: Vec::new(),
        }
    }

    /// Adds tags to those of the call.
    pub fn tags<I, S>(mut self, tags: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.tags.extend(tags.into_iter().map(Into::into));
        self
    }

    /// Caches the value for `ttl` in every tier instead of the call's TTL.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// The tags added so far.
    pub fn tag_list(&self) -> &[String] {
        &self.tags
    }

    /// The call's options with the loader's decisions applied.
    fn options<'a>(&self, call: &'a EntryOptions) -> std::borrow::Cow<'a, EntryOptions> {
        if self.tags.is_empty() && self.ttl.is_none() {
            return std::borrow::Cow::Borrowed(call);
        }
        let mut o = call.clone();
        o.tags.extend(self.tags.iter().cloned());
        o.tags.sort_unstable();
        o.tags.dedup();
        if self.ttl.is_some() {
            o.ttl = self.ttl;
        }
        std::borrow::Cow::Owned(o)
    }
}

impl<V> From<V> for Loaded<V> {
    fn from(value: V) -> Self {
        Self::new(value)
    }
}

/// A typed, tiered, read-through cache: L1 in-process ([`MemoryTier`]) → L2 Redis → L3 Redis
/// Cluster, or any ordered set of [`Tier`]s.
///
/// - L1 keeps `Arc<V>`: a hit never decodes. Remote tiers hold [`Codec`] frames.
/// - A hit in tier N is promoted into tiers 1..N-1 with its *remaining* TTL (capped by each tier's
///   own TTL).
/// - [`get_or_load`](Self::get_or_load) runs the loader once for any number of concurrent callers
///   of one key in this process, and writes the result through every tier.
/// - A remote tier that fails is counted and skipped on reads; L1 keeps serving.
///
/// ```
/// use nexus_cache::TieredCache;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), nexus_cache::CacheError> {
/// let cache: TieredCache<String> = TieredCache::builder().name("greetings").build()?; // L1 only
/// let v = cache
///     .get_or_load("hello", || async { Ok::<_, std::io::Error>("world".to_string()) })
///     .await?;
/// assert_eq!(*v, "world");
/// assert_eq!(cache.get("hello").await?.as_deref(), Some(&"world".to_string()));
/// assert_eq!(cache.stats().tiers[0].hits, 1);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct TieredCache<V> {
    inner: Arc<Inner<V>>,
}

impl<V> Clone for TieredCache<V> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

type Flight<V> = Arc<OnceCell<Result<Arc<V>, CacheError>>>;

#[derive(Debug)]
struct Level {
    label: &'static str,
    tier: Arc<dyn Tier>,
    memory: Option<MemoryTier>,
    counters: Counters,
    breaker: Breaker,
}

/// A remote tier's circuit breaker: open after `limit` consecutive errors, for `cool_down`;
/// then one call at a time probes the tier.
#[derive(Debug)]
struct Breaker {
    limit: u32,
    cool_down_ms: u64,
    failures: std::sync::atomic::AtomicU32,
    open_until: std::sync::atomic::AtomicU64,
    opened: Counter,
}

impl Breaker {
    fn new(limit: u32, cool_down: Duration) -> Self {
        Self {
            limit,
            cool_down_ms: cool_down.as_millis() as u64,
            failures: Default::default(),
            open_until: Default::default(),
            opened: Counter::new(),
        }
    }

    /// Whether a call may go to the tier now (a probe is let through once the cool-down ended).
    fn allows(&self) -> bool {
        use std::sync::atomic::Ordering;
        let until = self.open_until.load(Ordering::Relaxed);
        if until == 0 {
            return true;
        }
        let now = now_millis();
        // Past the cool-down: let one probe through by pushing the deadline forward.
        now >= until
            && self
                .open_until
                .compare_exchange(
                    until,
                    now + self.cool_down_ms,
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                )
                .is_ok()
    }

    fn success(&self) {
        use std::sync::atomic::Ordering;
        self.failures.store(0, Ordering::Relaxed);
        self.open_until.store(0, Ordering::Relaxed);
    }

    fn failure(&self) {
        use std::sync::atomic::Ordering;
        let n = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
        if n >= self.limit && self.open_until.load(Ordering::Relaxed) == 0 {
            self.open_until
                .store(now_millis() + self.cool_down_ms, Ordering::Relaxed);
            bump(&self.opened);
        }
    }

    fn is_open(&self) -> bool {
        self.open_until.load(std::sync::atomic::Ordering::Relaxed) != 0
    }
}

#[derive(Debug)]
struct Inner<V> {
    name: String,
    levels: Vec<Level>,
    codec: Codec,
    max_key_len: usize,
    needs_bytes: bool,
    flights: Mutex<HashMap<String, Flight<V>>>,
    loads: Counter,
    load_errors: Counter,
    coalesced: Counter,
    load_latency: Histogram,
    exported: Exported,
    link: Option<Link>,
    defaults: EntryOptions,
    fail_safe_served: Counter,
    soft_timeouts: Counter,
    hard_timeouts: Counter,
    refreshes: Counter,
    refreshing: Mutex<std::collections::HashSet<String>>,
    advisor: Option<(crate::advisor::Gate, Mutex<crate::advisor::Shards>, Counter)>,
    hot: Option<crate::hot::HotKeys>,
    distributed: Option<Duration>,
    clock: TagClock,
    _v: PhantomData<fn() -> V>,
}

/// The outcome of waiting for the distributed lock.
enum Lock<V> {
    /// We hold it (level index, token): load, write, unlock.
    Held(usize, String),
    /// Another instance loaded the value meanwhile.
    Filled(Arc<V>),
    /// No lock available (no remote tier with locks, Redis down, or waited too long): load.
    Unavailable,
}

/// What [`TieredCache::warm`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct WarmReport {
    /// Keys requested.
    pub keys: usize,
    /// Keys that were already in some tier.
    pub already_cached: usize,
    /// Keys loaded by the loader.
    pub loaded: usize,
    /// Keys whose load failed.
    pub failed: usize,
}

/// What [`TieredCache::optimize`] concluded and changed.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Optimization {
    /// The advisor's figures.
    pub advice: crate::advisor::Advice,
    /// L1 capacity in entries the advice was computed for.
    pub l1_capacity: u64,
    /// Settings changed live (`"l1_default_ttl: 300s -> 45s"`).
    pub applied: Vec<String>,
    /// Changes that need a rebuild (capacity).
    pub recommended: Vec<String>,
}

/// This cache's side of a backplane.
#[derive(Debug)]
struct Link {
    backplane: Arc<dyn Backplane>,
    origin: u64,
    outbox: tokio::sync::mpsc::Sender<Op>,
    degraded: std::sync::atomic::AtomicBool,
    degraded_ttl_ms: u64,
    sent: Counter,
    received: Counter,
    dropped: Counter,
    resyncs: Counter,
}

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
    max_key_len: usize,
    metrics_interval: Option<Duration>,
    backplane: Option<Arc<dyn Backplane>>,
    degraded_l1_ttl: Duration,
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
    /// [`TieredCache::hot_keys`] and for publishing them to Redis every `publish_every`, so a new
    /// instance can preload its L1 from the fleet's hot set ([`TieredCache::preload`]).
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
    /// [`degraded_l1_ttl`](Self::degraded_l1_ttl); when it is back, L1 is dropped (what was
    /// missed is unknown). Needs a Tokio runtime at `build`.
    pub fn backplane(mut self, backplane: Arc<dyn Backplane>) -> Self {
        self.backplane = Some(backplane);
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

    /// Longest accepted key or tag, in bytes (default 1 KiB).
    pub fn max_key_len(mut self, bytes: usize) -> Self {
        self.max_key_len = bytes;
        self
    }

    /// How often figures are pushed to the `metrics` facade (default every 5 s; `None` to only
    /// publish on [`TieredCache::publish_metrics`]). Needs a Tokio runtime at `build`.
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
                outbox_rx = Some(rx);
                Some(Link {
                    degraded: std::sync::atomic::AtomicBool::new(!backplane.is_connected()),
                    backplane,
                    origin: random_origin(),
                    outbox: tx,
                    degraded_ttl_ms: self.degraded_l1_ttl.as_millis() as u64,
                    sent: Counter::new(),
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
            max_key_len: self.max_key_len,
            needs_bytes,
            flights: Mutex::new(HashMap::new()),
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
            distributed: self.distributed,
            clock: TagClock::new(self.tag_marks_ttl, 100_000),
            _v: PhantomData,
        });
        if let (Some((_, Some(every))), Ok(rt)) = (self.hot, tokio::runtime::Handle::try_current())
        {
            rt.spawn(hot_loop(Arc::downgrade(&inner), every));
        }
        if let (Some(link), Some(rx)) = (&inner.link, outbox_rx) {
            tokio::spawn(publisher(Arc::downgrade(&inner), rx));
            tokio::spawn(listener(Arc::downgrade(&inner), link.backplane.subscribe()));
        }
        if let (Some(every), Ok(rt)) =
            (self.metrics_interval, tokio::runtime::Handle::try_current())
        {
            rt.spawn(publish_loop(Arc::downgrade(&inner), every));
        }
        Ok(TieredCache { inner })
    }
}

async fn publish_loop<V: CacheValue>(inner: Weak<Inner<V>>, every: Duration) {
    let mut tick = tokio::time::interval(every);
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
    let mut tick = tokio::time::interval(every);
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

/// Runs a loader's future under the hard timeout (counted when it strikes).
async fn run_loader<V, Fut, E>(
    fut: Fut,
    hard: Option<Duration>,
    hard_timeouts: &Counter,
) -> Result<V, CacheError>
where
    Fut: Future<Output = Result<V, E>>,
    E: Into<Box<dyn StdError + Send + Sync>>,
{
    let loaded = match hard {
        Some(limit) => match tokio::time::timeout(limit, fut).await {
            Ok(r) => r,
            Err(_) => {
                bump(hard_timeouts);
                return Err(CacheError::LoaderTimeout(limit));
            }
        },
        None => fut.await,
    };
    loaded.map_err(|e| CacheError::Loader(Arc::from(e.into())))
}

fn random_origin() -> u64 {
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

/// Sends this cache's changes, in order, off the caller's path.
async fn publisher<V: CacheValue>(inner: Weak<Inner<V>>, mut rx: tokio::sync::mpsc::Receiver<Op>) {
    while let Some(op) = rx.recv().await {
        let Some(i) = inner.upgrade() else { return };
        let Some(link) = &i.link else { return };
        let msg = Message {
            origin: link.origin,
            cache: i.name.clone(),
            op,
        };
        match link.backplane.publish(&msg).await {
            Ok(()) => bump(&link.sent),
            Err(e) => {
                bump(&link.dropped);
                tracing::warn!(cache = %i.name, error = %e, "backplane message not sent");
            }
        }
    }
}

/// Applies other instances' changes to L1; degrades and resynchronises with the connection.
async fn listener<V: CacheValue>(
    inner: Weak<Inner<V>>,
    mut rx: tokio::sync::broadcast::Receiver<Event>,
) {
    use std::sync::atomic::Ordering;
    use tokio::sync::broadcast::error::RecvError;
    loop {
        let event = rx.recv().await;
        let Some(i) = inner.upgrade() else { return };
        let Some(link) = &i.link else { return };
        let l1 = i.levels.first().and_then(|l| l.memory.clone());
        match event {
            Ok(Event::Message(m)) if m.origin != link.origin && m.cache == i.name => {
                bump(&link.received);
                // The mark first, then L1: an entry written meanwhile is caught by one or the other.
                match &m.op {
                    Op::Tags { tags, at } => tags.iter().for_each(|t| i.clock.note(t, *at)),
                    Op::Clear { at } => i.clock.note(CLEAR, *at),
                    Op::Set(_) | Op::Delete(_) => {}
                }
                if let Some(l1) = l1 {
                    let _ = match m.op {
                        Op::Set(k) | Op::Delete(k) => l1.delete(&k).await.map(|_| ()),
                        Op::Tags { tags, .. } => l1.invalidate_tags(&tags),
                        Op::Clear { .. } => l1.clear().await,
                    };
                }
            }
            Ok(Event::Message(_)) => {}
            Ok(Event::Disconnected) => {
                link.degraded.store(true, Ordering::SeqCst);
                i.clock.forget();
                tracing::warn!(cache = %i.name, "backplane down: L1 TTLs capped until it is back");
            }
            Ok(Event::Connected) | Err(RecvError::Lagged(_)) => {
                // Messages may have been missed: drop L1 rather than serve what may be stale.
                if link.degraded.swap(false, Ordering::SeqCst) || event.is_err() {
                    if let Some(l1) = l1 {
                        let _ = l1.clear().await;
                    }
                    i.clock.forget();
                    bump(&link.resyncs);
                    tracing::info!(cache = %i.name, "backplane back: L1 dropped");
                }
            }
            Err(RecvError::Closed) => return,
        }
    }
}

/// One caller's membership of a single flight. Dropping it (on completion or cancellation)
/// removes the flight from the table once it is done or nobody else waits on it, so cancelled
/// callers never leave entries behind.
struct FlightGuard<'a, V> {
    table: &'a Mutex<HashMap<String, Flight<V>>>,
    key: &'a str,
    flight: Flight<V>,
}

impl<'a, V> FlightGuard<'a, V> {
    fn join(table: &'a Mutex<HashMap<String, Flight<V>>>, key: &'a str) -> Self {
        let flight = table
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key.to_owned())
            .or_default()
            .clone();
        Self { table, key, flight }
    }
}

impl<V> Drop for FlightGuard<'_, V> {
    fn drop(&mut self) {
        let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        // Clones are only taken under this lock, so the count is stable here: 2 = the table + us.
        let ours = table
            .get(self.key)
            .is_some_and(|f| Arc::ptr_eq(f, &self.flight));
        if ours && (self.flight.initialized() || Arc::strong_count(&self.flight) == 2) {
            table.remove(self.key);
        }
    }
}

/// What a lookup found: the value, and the entry it came from (to promote it).
struct Found<V> {
    value: Arc<V>,
    entry: Entry,
    level: usize,
}

impl<V: CacheValue> TieredCache<V> {
    /// A builder; see [`TieredCacheBuilder`].
    pub fn builder() -> TieredCacheBuilder<V> {
        TieredCacheBuilder {
            name: "default".into(),
            tiers: Vec::new(),
            codec: Codec::default(),
            max_key_len: DEFAULT_MAX_KEY_LEN,
            metrics_interval: Some(Duration::from_secs(5)),
            backplane: None,
            degraded_l1_ttl: Duration::from_secs(5),
            defaults: EntryOptions::default(),
            breaker: (5, Duration::from_secs(5)),
            advisor: None,
            hot: None,
            distributed: None,
            tag_marks_ttl: Duration::from_secs(10),
            _v: PhantomData,
        }
    }

    /// The cache's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Reads a value, trying each tier in order and promoting a lower-tier hit upwards.
    ///
    /// Returns `Ok(None)` on a miss. A failing remote tier is skipped; if no tier had the value and
    /// one failed, its error is returned so the caller knows the miss is uncertain.
    ///
    /// The L1 lookup happens when `get` is called; only a miss builds (and boxes) the future that
    /// visits the remote tiers, so an L1 hit costs no more than the lookup.
    pub fn get<'a>(
        &'a self,
        key: &'a str,
    ) -> impl Future<Output = Result<Option<Arc<V>>, CacheError>> + Send + 'a {
        if let Err(e) = self.check_key(key) {
            return Either::Left(ready(Err(e)));
        }
        self.observe(key);
        if let Some(v) = self.l1_hit(key) {
            return Either::Left(ready(Ok(Some(v))));
        }
        Either::Right(Box::pin(self.get_remote(key)))
    }

    async fn get_remote(&self, key: &str) -> Result<Option<Arc<V>>, CacheError> {
        let (found, err) = self.lookup(key, self.first_remote()).await;
        match (found, err) {
            (Some(f), _) => {
                self.promote(key, &f).await;
                Ok(Some(f.value))
            }
            (None, Some(e)) => Err(e),
            (None, None) => Ok(None),
        }
    }

    /// Reads a value or, on a miss in every tier, loads it with `loader` and writes it through all
    /// tiers with their default TTLs. Concurrent callers of the same key share one load.
    pub fn get_or_load<'a, F, Fut, E>(
        &'a self,
        key: &'a str,
        loader: F,
    ) -> impl Future<Output = Result<Arc<V>, CacheError>> + Send + 'a
    where
        F: FnOnce() -> Fut + Send + 'a,
        Fut: Future<Output = Result<V, E>> + Send + 'a,
        E: Into<Box<dyn StdError + Send + Sync>> + Send + 'a,
    {
        self.get_or_load_with(key, &NO_OPTIONS, loader)
    }

    /// [`get_or_load`](Self::get_or_load) with a TTL and tags for the loaded value.
    pub fn get_or_load_with<'a, F, Fut, E>(
        &'a self,
        key: &'a str,
        options: &'a EntryOptions,
        loader: F,
    ) -> impl Future<Output = Result<Arc<V>, CacheError>> + Send + 'a
    where
        F: FnOnce() -> Fut + Send + 'a,
        Fut: Future<Output = Result<V, E>> + Send + 'a,
        E: Into<Box<dyn StdError + Send + Sync>> + Send + 'a,
    {
        self.read_through(key, options, loader)
    }

    /// [`get_or_load_with`](Self::get_or_load_with) whose loader decides, with the value, how to
    /// cache it: tags and TTL set from inside the loader ([`Loaded`]). A loader that returns a
    /// tag that is empty or too long gets [`CacheError::InvalidTag`] and nothing is cached.
    ///
    /// ```
    /// use nexus_cache::{EntryOptions, Loaded, TieredCache};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), nexus_cache::CacheError> {
    /// let cache: TieredCache<String> = TieredCache::builder().build()?;
    /// let opts = EntryOptions::new();
    /// let name = cache
    ///     .get_or_load_adaptive("user:1", &opts, || async {
    ///         let team = 7; // known only once the row is read
    ///         Ok::<_, std::io::Error>(Loaded::new("Ada".to_string()).tags([format!("team:{team}")]))
    ///     })
    ///     .await?;
    /// assert_eq!(*name, "Ada");
    /// cache.invalidate_tags(["team:7"]).await?;
    /// assert!(cache.get("user:1").await?.is_none());
    /// # Ok(()) }
    /// ```
    pub fn get_or_load_adaptive<'a, F, Fut, E>(
        &'a self,
        key: &'a str,
        options: &'a EntryOptions,
        loader: F,
    ) -> impl Future<Output = Result<Arc<V>, CacheError>> + Send + 'a
    where
        F: FnOnce() -> Fut + Send + 'a,
        Fut: Future<Output = Result<Loaded<V>, E>> + Send + 'a,
        E: Into<Box<dyn StdError + Send + Sync>> + Send + 'a,
    {
        self.read_through(key, options, loader)
    }

    fn read_through<'a, F, Fut, E, T>(
        &'a self,
        key: &'a str,
        options: &'a EntryOptions,
        loader: F,
    ) -> impl Future<Output = Result<Arc<V>, CacheError>> + Send + 'a
    where
        F: FnOnce() -> Fut + Send + 'a,
        Fut: Future<Output = Result<T, E>> + Send + 'a,
        E: Into<Box<dyn StdError + Send + Sync>> + Send + 'a,
        T: Into<Loaded<V>> + Send + 'a,
    {
        if let Err(e) = self
            .check_key(key)
            .and_then(|()| self.check_tags(&options.tags))
        {
            return Either::Left(ready(Err(e)));
        }
        self.observe(key);
        if let Some(v) = self.l1_hit(key) {
            return Either::Left(ready(Ok(v)));
        }
        Either::Right(Box::pin(self.single_flight(key, options, loader)))
    }

    async fn single_flight<F, Fut, E, T>(
        &self,
        key: &str,
        options: &EntryOptions,
        loader: F,
    ) -> Result<Arc<V>, CacheError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: Into<Box<dyn StdError + Send + Sync>>,
        T: Into<Loaded<V>>,
    {
        self.coalesce(key, || self.load(key, options, loader)).await
    }

    /// Runs `load` for `key` unless a flight for it is under way, in which case its result is
    /// shared (and counted as coalesced).
    async fn coalesce<Fut>(
        &self,
        key: &str,
        load: impl FnOnce() -> Fut,
    ) -> Result<Arc<V>, CacheError>
    where
        Fut: Future<Output = Result<Arc<V>, CacheError>>,
    {
        let guard = FlightGuard::join(&self.inner.flights, key);
        let mut ran = false;
        let result = guard
            .flight
            .get_or_init(|| {
                ran = true;
                load()
            })
            .await
            .clone();
        if !ran {
            bump(&self.inner.coalesced);
        }
        result
    }

    /// The miss path of one single flight: the remote tiers, then the loader.
    async fn load<F, Fut, E, T>(
        &self,
        key: &str,
        options: &EntryOptions,
        loader: F,
    ) -> Result<Arc<V>, CacheError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: Into<Box<dyn StdError + Send + Sync>>,
        T: Into<Loaded<V>>,
    {
        // Another flight may have filled L1 between our check and our turn.
        if let Some(v) = self.l1_peek(key) {
            return Ok(v);
        }
        if let (Some(f), _) = self.lookup(key, self.first_remote()).await {
            self.promote(key, &f).await;
            return Ok(f.value);
        }
        let held = match self.distributed_lock(key).await {
            Lock::Filled(v) => return Ok(v),
            Lock::Held(level, token) => Some((level, token)),
            Lock::Unavailable => None,
        };
        let r = self.load_now(key, options, loader).await;
        if let Some((level, token)) = held {
            self.distributed_unlock(level, key, &token).await;
        }
        r
    }

    async fn load_now<F, Fut, E, T>(
        &self,
        key: &str,
        options: &EntryOptions,
        loader: F,
    ) -> Result<Arc<V>, CacheError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: Into<Box<dyn StdError + Send + Sync>>,
        T: Into<Loaded<V>>,
    {
        bump(&self.inner.loads);
        let start = quanta::Instant::now();
        // The value is as old as its load: an invalidation during the load makes it stale.
        let created_at = now_micros();
        let hard = options.hard_timeout.or(self.inner.defaults.hard_timeout);
        let loaded = run_loader(loader(), hard, &self.inner.hard_timeouts).await;
        self.inner
            .load_latency
            .record(start.elapsed().as_nanos() as u64);
        let loaded: Loaded<V> = match loaded {
            Ok(v) => v.into(),
            Err(e) => {
                if matches!(e, CacheError::Loader(_)) {
                    bump(&self.inner.load_errors);
                }
                return self.fail_safe(key, e);
            }
        };
        self.check_tags(&loaded.tags)?;
        let options = loaded.options(options);
        let value = Arc::new(loaded.value);
        // The value is served even if a tier refuses it; the refusal is counted and logged.
        if let Err(e) = self.write(key, value.clone(), &options, created_at).await {
            tracing::warn!(cache = %self.inner.name, key, error = %e, "loaded value not cached in every tier");
        }
        Ok(value)
    }

    /// [`get_or_load_with`](Self::get_or_load_with) for loaders that may outlive the call
    /// (`'static`), which adds what needs background work:
    ///
    /// - **soft timeout**: when a stale (fail-safe) copy exists and the loader is slower than
    ///   the soft timeout, the stale copy is served at once and the loader finishes in the
    ///   background, refreshing the cache;
    /// - **hard timeout**: the loader is abandoned; stale copy or [`CacheError::LoaderTimeout`];
    /// - **refresh-ahead**: an L1 hit past the configured fraction of the entry's TTL starts one
    ///   background reload and returns the current value.
    ///
    /// Fail-safe copies come from L1 and need [`MemoryTierBuilder::fail_safe`](crate::MemoryTierBuilder::fail_safe).
    ///
    /// ```
    /// use std::time::Duration;
    /// use nexus_cache::{EntryOptions, MemoryTier, TieredCache};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), nexus_cache::CacheError> {
    /// let cache: TieredCache<String> = TieredCache::builder()
    ///     .tier(MemoryTier::builder().ttl(Duration::from_secs(60)).fail_safe(Duration::from_secs(3600)).build())
    ///     .soft_timeout(Duration::from_millis(100))
    ///     .hard_timeout(Duration::from_secs(5))
    ///     .refresh_ahead(0.8)
    ///     .build()?;
    /// let opts = EntryOptions::new();
    /// let v = cache.fetch("user:1", &opts, || async { Ok::<_, std::io::Error>("Ada".to_string()) }).await?;
    /// assert_eq!(*v, "Ada");
    /// # Ok(()) }
    /// ```
    pub async fn fetch<F, Fut, E>(
        &self,
        key: &str,
        options: &EntryOptions,
        loader: F,
    ) -> Result<Arc<V>, CacheError>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<V, E>> + Send + 'static,
        E: Into<Box<dyn StdError + Send + Sync>> + Send + 'static,
    {
        self.check_key(key)?;
        self.check_tags(&options.tags)?;
        self.observe(key);
        if let Some((v, age)) = self.l1_hit_aged(key) {
            if let Some(f) = options.refresh_ahead.or(self.inner.defaults.refresh_ahead)
                && age >= f
            {
                self.spawn_refresh(key, options, loader);
            }
            return Ok(v);
        }
        self.coalesce(key, || self.load_detached(key, options, loader))
            .await
    }

    /// Runs `loader` in a task (with the hard timeout inside it) that writes its value through.
    fn spawn_load<F, Fut, E>(
        &self,
        key: &str,
        options: &EntryOptions,
        loader: F,
        held: Option<(usize, String)>,
    ) -> tokio::task::JoinHandle<Result<Arc<V>, CacheError>>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<V, E>> + Send + 'static,
        E: Into<Box<dyn StdError + Send + Sync>> + Send + 'static,
    {
        bump(&self.inner.loads);
        let me = self.clone();
        let key = key.to_owned();
        let opts = options.clone();
        let hard = options.hard_timeout.or(self.inner.defaults.hard_timeout);
        tokio::spawn(async move {
            let start = quanta::Instant::now();
            let created_at = now_micros();
            let loaded = run_loader(loader(), hard, &me.inner.hard_timeouts).await;
            me.inner
                .load_latency
                .record(start.elapsed().as_nanos() as u64);
            let r = match loaded {
                Ok(v) => {
                    let v = Arc::new(v);
                    if let Err(e) = me.write(&key, v.clone(), &opts, created_at).await {
                        tracing::warn!(cache = %me.inner.name, key, error = %e, "loaded value not cached in every tier");
                    }
                    Ok(v)
                }
                Err(e) => {
                    if matches!(e, CacheError::Loader(_)) {
                        bump(&me.inner.load_errors);
                    }
                    Err(e)
                }
            };
            if let Some((level, token)) = held {
                me.distributed_unlock(level, &key, &token).await;
            }
            r
        })
    }

    async fn load_detached<F, Fut, E>(
        &self,
        key: &str,
        options: &EntryOptions,
        loader: F,
    ) -> Result<Arc<V>, CacheError>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<V, E>> + Send + 'static,
        E: Into<Box<dyn StdError + Send + Sync>> + Send + 'static,
    {
        if let Some(v) = self.l1_peek(key) {
            return Ok(v);
        }
        if let (Some(f), _) = self.lookup(key, self.first_remote()).await {
            self.promote(key, &f).await;
            return Ok(f.value);
        }
        let held = match self.distributed_lock(key).await {
            Lock::Filled(v) => return Ok(v),
            Lock::Held(level, token) => Some((level, token)),
            Lock::Unavailable => None,
        };
        let mut task = self.spawn_load(key, options, loader, held);
        let soft = options.soft_timeout.or(self.inner.defaults.soft_timeout);
        if let (Some(stale), Some(soft)) = (self.l1_stale(key), soft) {
            tokio::select! {
                r = &mut task => return self.joined(key, r),
                _ = tokio::time::sleep(soft) => {
                    // The load goes on in the background and refreshes the cache when done.
                    bump(&self.inner.soft_timeouts);
                    bump(&self.inner.fail_safe_served);
                    return Ok(stale);
                }
            }
        }
        let r = task.await;
        self.joined(key, r)
    }

    fn joined(
        &self,
        key: &str,
        r: Result<Result<Arc<V>, CacheError>, tokio::task::JoinError>,
    ) -> Result<Arc<V>, CacheError> {
        match r {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => self.fail_safe(key, e),
            Err(e) => self.fail_safe(
                key,
                CacheError::Loader(Arc::new(std::io::Error::other(format!(
                    "loader task failed: {e}"
                )))),
            ),
        }
    }

    /// Starts one background reload of `key` (refresh-ahead), unless one is running.
    fn spawn_refresh<F, Fut, E>(&self, key: &str, options: &EntryOptions, loader: F)
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<V, E>> + Send + 'static,
        E: Into<Box<dyn StdError + Send + Sync>> + Send + 'static,
    {
        if !self
            .inner
            .refreshing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.to_owned())
        {
            return;
        }
        bump(&self.inner.refreshes);
        let task = self.spawn_load(key, options, loader, None);
        let me = self.clone();
        let key = key.to_owned();
        tokio::spawn(async move {
            if let Ok(Ok(_)) = task.await {
                me.announce(Op::Set(key.clone()));
            }
            me.inner
                .refreshing
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&key);
        });
    }

    /// Writes a value through every tier (L1 synchronously, remote tiers concurrently) with each
    /// tier's default TTL.
    pub async fn set(&self, key: &str, value: V) -> Result<(), CacheError> {
        self.set_with(key, value, &EntryOptions::default()).await
    }

    /// Writes a value with a TTL and tags.
    ///
    /// A value too large for any tier is refused before anything is written. A remote tier that
    /// fails returns [`CacheError::Tier`] after the others (and L1) were written.
    pub async fn set_with(
        &self,
        key: &str,
        value: V,
        options: &EntryOptions,
    ) -> Result<(), CacheError> {
        self.check_key(key)?;
        self.check_tags(&options.tags)?;
        let r = self
            .write(key, Arc::new(value), options, now_micros())
            .await;
        self.announce(Op::Set(key.to_owned()));
        r
    }

    /// Writes through every tier a value created at `created_at` (µs), unless an invalidation
    /// known here already makes it stale (a load that overlapped an invalidation of its tags).
    async fn write(
        &self,
        key: &str,
        value: Arc<V>,
        options: &EntryOptions,
        created_at: u64,
    ) -> Result<(), CacheError> {
        if self.inner.clock.stale_known(created_at, &options.tags) {
            tracing::debug!(cache = %self.inner.name, key, "value invalidated while loading: not cached");
            return Ok(());
        }
        let bytes = if self.inner.needs_bytes {
            Some(self.inner.codec.encode(&*value)?)
        } else {
            None
        };
        let size = bytes
            .as_ref()
            .map_or_else(|| Codec::estimate_size(&*value), Bytes::len);
        for level in &self.inner.levels {
            let limit = level.tier.max_entry_bytes();
            if size > limit {
                return Err(CacheError::ValueTooLarge {
                    tier: level.label,
                    size,
                    limit,
                });
            }
        }
        let now = now_millis();
        let tags: Arc<[String]> = options.tags.clone().into();
        let entry_for = |level: &Level| Entry {
            value: match &bytes {
                Some(b) if !level.tier.is_local() => Value::Bytes(b.clone()),
                _ => Value::Object(value.clone() as Arc<dyn Any + Send + Sync>),
            },
            expires_at: {
                let at = expires_at(now, options.ttl.unwrap_or_else(|| level.tier.default_ttl()));
                if level.memory.is_some() {
                    self.l1_expiry(at, now)
                } else {
                    at
                }
            },
            created_at,
            tags: tags.clone(),
            size,
        };
        let mut remote = Vec::new();
        let mut first_err = None;
        for level in &self.inner.levels {
            let entry = entry_for(level);
            match &level.memory {
                Some(mem) => {
                    let start = quanta::Instant::now();
                    let r = mem.set_now(key, entry);
                    self.withdraw_if_stale(mem, key, created_at, &tags);
                    self.note_set(
                        level,
                        start,
                        r.map_err(|e| self.tier_err(level, e)),
                        &mut first_err,
                    );
                }
                None if !level.breaker.allows() => {}
                None => remote.push(async move {
                    let start = quanta::Instant::now();
                    let r = level.tier.set(key, entry).await;
                    match &r {
                        Ok(()) | Err(TierError::TooLarge { .. }) => level.breaker.success(),
                        Err(_) => level.breaker.failure(),
                    }
                    (level, start, r)
                }),
            }
        }
        for (level, start, r) in join_all(remote).await {
            self.note_set(
                level,
                start,
                r.map_err(|e| self.tier_err(level, e)),
                &mut first_err,
            );
        }
        first_err.map_or(Ok(()), Err)
    }

    fn note_set(
        &self,
        level: &Level,
        start: quanta::Instant,
        r: Result<(), CacheError>,
        err: &mut Option<CacheError>,
    ) {
        level
            .counters
            .set_latency
            .record(start.elapsed().as_nanos() as u64);
        match r {
            Ok(()) => bump(&level.counters.sets),
            Err(e) => {
                if err.is_none() {
                    *err = Some(e);
                }
            }
        }
    }

    /// Removes a key from every tier; returns whether any tier held it.
    pub async fn delete(&self, key: &str) -> Result<bool, CacheError> {
        self.check_key(key)?;
        let results = join_all(
            self.inner
                .levels
                .iter()
                .map(|l| async move { (l, l.tier.delete(key).await) }),
        )
        .await;
        let mut any = false;
        let mut first_err = None;
        for (level, r) in results {
            match r {
                Ok(removed) => {
                    bump(&level.counters.deletes);
                    any |= removed;
                }
                Err(e) => {
                    let e = self.tier_err(level, e);
                    first_err.get_or_insert(e);
                }
            }
        }
        self.announce(Op::Delete(key.to_owned()));
        first_err.map_or(Ok(any), Err)
    }

    /// Invalidates every entry carrying any of `tags`, in every tier and on every instance, by
    /// timestamp (FusionCache's and HybridCache's design): it records *when* — one small write
    /// per tag in each shared tier, whatever the number of entries — and from then on an entry
    /// created before that mark is a miss. A value whose load was under way during the call is
    /// returned to its caller but not cached.
    ///
    /// This instance's L1 drops the entries at once; with a backplane, so do the other
    /// instances' (they also learn the mark). Without one, the other instances' remote reads see
    /// the mark within [`tag_marks_ttl`](TieredCacheBuilder::tag_marks_ttl) and their L1 copies
    /// live out their TTL. Marks need roughly synchronised clocks (NTP) across instances.
    pub async fn invalidate_tags<I, S>(&self, tags: I) -> Result<(), CacheError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let tags: Vec<String> = tags.into_iter().map(Into::into).collect();
        self.check_tags(&tags)?;
        let at = now_micros();
        tags.iter().for_each(|t| self.inner.clock.note(t, at));
        let r = self.mark(&tags, at).await;
        self.announce(Op::Tags { tags, at });
        r
    }

    /// Invalidates every entry of this cache the same way: one mark (per shared tier) that makes
    /// every entry created before it a miss. The entries stay in Redis until they expire; use
    /// [`purge`](Self::purge) to give the memory back at once.
    pub async fn clear(&self) -> Result<(), CacheError> {
        let at = now_micros();
        self.inner.clock.note(CLEAR, at);
        let r = self.mark(&[CLEAR.to_owned()], at).await;
        self.announce(Op::Clear { at });
        r
    }

    /// [`clear`](Self::clear), then deletes every key of this cache from every tier (a `SCAN`
    /// of each Redis node: slow on a large store, but only this cache's prefix is touched).
    pub async fn purge(&self) -> Result<(), CacheError> {
        let r = self.clear().await;
        let results = join_all(
            self.inner
                .levels
                .iter()
                .map(|l| async move { (l, l.tier.clear().await) }),
        )
        .await;
        let mut first_err = r.err();
        for (level, r) in results {
            if let Err(e) = r {
                let e = self.tier_err(level, e);
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// Records invalidation marks (`CLEAR` for everything) in every tier: L1 drops the entries,
    /// shared tiers store the marks.
    async fn mark(&self, tags: &[String], at: u64) -> Result<(), CacheError> {
        let results = join_all(self.inner.levels.iter().map(|l| async move {
            let r = match &l.memory {
                Some(mem) if tags.iter().any(|t| t == CLEAR) => mem.clear().await,
                Some(mem) => mem.invalidate_tags(tags),
                None => l.tier.mark_tags(tags, at).await,
            };
            (l, r)
        }))
        .await;
        let mut first_err = None;
        for (level, r) in results {
            if let Err(e) = r {
                let e = self.tier_err(level, e);
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }

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

    /// Loads `keys` that no tier holds yet, `concurrency` at a time, through the cache (each
    /// key at most once, with single flight). Loader failures are counted, not returned.
    pub async fn warm<I, F, Fut, E>(&self, keys: I, concurrency: usize, loader: F) -> WarmReport
    where
        I: IntoIterator<Item = String>,
        F: Fn(String) -> Fut + Send + Sync,
        Fut: Future<Output = Result<V, E>> + Send,
        E: Into<Box<dyn StdError + Send + Sync>> + Send,
    {
        use futures_util::StreamExt;
        let keys: Vec<String> = keys.into_iter().collect();
        let report = Mutex::new(WarmReport {
            keys: keys.len(),
            ..WarmReport::default()
        });
        let loader = &loader;
        let report_ref = &report;
        futures_util::stream::iter(keys)
            .for_each_concurrent(concurrency.max(1), |key| async move {
                if matches!(self.get(&key).await, Ok(Some(_))) {
                    report_ref
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .already_cached += 1;
                    return;
                }
                let k2 = key.clone();
                let r = self.get_or_load(&key, move || loader(k2)).await;
                let mut rep = report_ref.lock().unwrap_or_else(|e| e.into_inner());
                if r.is_ok() {
                    rep.loaded += 1
                } else {
                    rep.failed += 1
                }
            })
            .await;
        report.into_inner().unwrap_or_else(|e| e.into_inner())
    }

    /// Preloads L1 with the fleet's `n` hottest keys (as published by the instances'
    /// [`publish_hot_keys`](Self::publish_hot_keys)): from the remote tiers when they hold the
    /// value, else through `loader`. Call it at start.
    pub async fn preload<F, Fut, E>(
        &self,
        n: usize,
        concurrency: usize,
        loader: F,
    ) -> Result<WarmReport, CacheError>
    where
        F: Fn(String) -> Fut + Send + Sync,
        Fut: Future<Output = Result<V, E>> + Send,
        E: Into<Box<dyn StdError + Send + Sync>> + Send,
    {
        let mut keys = Vec::new();
        for level in self.inner.levels.iter().filter(|l| l.memory.is_none()) {
            match level.tier.hot_keys(n).await {
                Ok(k) if !k.is_empty() => {
                    keys = k;
                    break;
                }
                Ok(_) => {}
                Err(e) => return Err(self.tier_err(level, e)),
            }
        }
        Ok(self.warm(keys, concurrency, loader).await)
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
    fn l1_capacity(&self) -> u64 {
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

    /// Pushes the current figures to the `metrics` facade (names in [`crate::stats`]). Called
    /// periodically by a background task unless disabled in the builder.
    pub fn publish_metrics(&self) {
        let stats = self.stats();
        let name = self.inner.name.clone();
        for (level, t) in self.inner.levels.iter().zip(&stats.tiers) {
            let labels = [("cache", name.clone()), ("tier", t.tier.to_string())];
            metrics::counter!("nexus_cache_hits_total", &labels).absolute(t.hits);
            metrics::counter!("nexus_cache_misses_total", &labels).absolute(t.misses);
            metrics::counter!("nexus_cache_sets_total", &labels).absolute(t.sets);
            metrics::counter!("nexus_cache_deletes_total", &labels).absolute(t.deletes);
            metrics::counter!("nexus_cache_errors_total", &labels).absolute(t.errors);
            metrics::counter!("nexus_cache_corrupt_total", &labels).absolute(t.corrupt);
            metrics::counter!("nexus_cache_invalidated_total", &labels).absolute(t.invalidated);
            metrics::counter!("nexus_cache_tag_mark_reads_total", &labels).absolute(t.mark_reads);
            if let Some(e) = t.evictions {
                metrics::counter!("nexus_cache_evictions_total", &labels).absolute(e);
            }
            if let Some(b) = t.bytes_stored {
                metrics::gauge!("nexus_cache_bytes", &labels).set(b as f64);
            }
            for (op, h) in [
                ("get", &level.counters.get_latency),
                ("set", &level.counters.set_latency),
            ] {
                let metric = metrics::histogram!(
                    "nexus_cache_operation_duration_seconds",
                    "cache" => name.clone(), "tier" => t.tier, "op" => op
                );
                self.inner
                    .exported
                    .histogram(&format!("{}:{op}", t.tier), h, &metric);
            }
        }
        let labels = [("cache", name.clone())];
        metrics::counter!("nexus_cache_loads_total", &labels).absolute(stats.loader.loads);
        metrics::counter!("nexus_cache_load_errors_total", &labels).absolute(stats.loader.errors);
        let metric = metrics::histogram!("nexus_cache_load_duration_seconds", &labels);
        self.inner
            .exported
            .histogram("load", &self.inner.load_latency, &metric);
    }

    // ---- internals ----

    /// Takes the distributed lock of `key`, or waits for another instance's value.
    async fn distributed_lock(&self, key: &str) -> Lock<V> {
        let Some(ttl) = self.inner.distributed else {
            return Lock::Unavailable;
        };
        let token = format!("{:016x}{:016x}", random_origin(), now_millis());
        let deadline = tokio::time::Instant::now() + ttl * 3 + Duration::from_secs(1);
        let first = self.first_remote();
        loop {
            let mut contended = false;
            for (i, level) in self.inner.levels.iter().enumerate().skip(first) {
                match level.tier.try_lock(key, &token, ttl).await {
                    Ok(Some(true)) => return Lock::Held(i, token),
                    Ok(Some(false)) => {
                        contended = true;
                        break;
                    }
                    Ok(None) => continue,
                    Err(_) => return Lock::Unavailable,
                }
            }
            if !contended || tokio::time::Instant::now() >= deadline {
                return Lock::Unavailable;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            if let (Some(f), _) = self.lookup(key, first).await {
                self.promote(key, &f).await;
                return Lock::Filled(f.value);
            }
        }
    }

    async fn distributed_unlock(&self, level: usize, key: &str, token: &str) {
        if let Some(l) = self.inner.levels.get(level)
            && let Err(e) = l.tier.unlock(key, token).await
        {
            tracing::debug!(cache = %self.inner.name, key, error = %e, "distributed lock not released (it expires)");
        }
    }

    /// Feeds the advisor (a hash, and a short lock for sampled keys only).
    #[inline]
    fn observe(&self, key: &str) {
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

    /// Serves the stale copy of `key` when loading failed, or returns the failure.
    fn fail_safe(&self, key: &str, err: CacheError) -> Result<Arc<V>, CacheError> {
        match self.l1_stale(key) {
            Some(v) => {
                bump(&self.inner.fail_safe_served);
                tracing::warn!(cache = %self.inner.name, key, error = %err, "serving a stale copy (fail-safe)");
                Ok(v)
            }
            None => Err(err),
        }
    }

    /// The L1 copy of `key`, fresh or within the fail-safe window.
    fn l1_stale(&self, key: &str) -> Option<Arc<V>> {
        let mem = self.inner.levels.first()?.memory.as_ref()?;
        mem.get_stale(key, quanta::Instant::now())
            .and_then(|s| match s.value {
                Value::Object(o) => o.downcast::<V>().ok(),
                Value::Bytes(_) => None,
            })
    }

    /// Queues a change for the other instances (never waits).
    fn announce(&self, op: Op) {
        if let Some(link) = &self.inner.link
            && link.outbox.try_send(op).is_err()
        {
            bump(&link.dropped);
        }
    }

    /// An L1 expiry, capped while the backplane is down.
    fn l1_expiry(&self, expires_at: u64, now: u64) -> u64 {
        match &self.inner.link {
            Some(link) if link.degraded.load(std::sync::atomic::Ordering::Relaxed) => {
                expires_at.min(now.saturating_add(link.degraded_ttl_ms))
            }
            _ => expires_at,
        }
    }

    /// Index of the first tier that is not the synchronous L1.
    fn first_remote(&self) -> usize {
        usize::from(
            self.inner
                .levels
                .first()
                .is_some_and(|l| l.memory.is_some()),
        )
    }

    /// The L1 fast path: synchronous, no decode, no allocation.
    #[inline]
    fn l1_hit(&self, key: &str) -> Option<Arc<V>> {
        let level = self.inner.levels.first()?;
        let mem = level.memory.as_ref()?;
        let start = quanta::Instant::now();
        let hit = mem.get_now(key, start).and_then(|s| match s.value {
            Value::Object(o) => o.downcast::<V>().ok(),
            Value::Bytes(_) => None,
        });
        if sampled() {
            level
                .counters
                .get_latency
                .record(start.elapsed().as_nanos() as u64);
        }
        bump(if hit.is_some() {
            &level.counters.hits
        } else {
            &level.counters.misses
        });
        hit
    }

    /// A counted L1 hit with how much of its TTL has passed.
    fn l1_hit_aged(&self, key: &str) -> Option<(Arc<V>, f64)> {
        let level = self.inner.levels.first()?;
        let mem = level.memory.as_ref()?;
        let now = quanta::Instant::now();
        let hit = mem.get_now(key, now).and_then(|s| {
            let age = s.age_fraction(now);
            match s.value {
                Value::Object(o) => o.downcast::<V>().ok().map(|v| (v, age)),
                Value::Bytes(_) => None,
            }
        });
        bump(if hit.is_some() {
            &level.counters.hits
        } else {
            &level.counters.misses
        });
        hit
    }

    /// L1 read that is not counted (a re-check inside a single flight).
    fn l1_peek(&self, key: &str) -> Option<Arc<V>> {
        let mem = self.inner.levels.first()?.memory.as_ref()?;
        mem.peek_now(key, quanta::Instant::now())
            .and_then(|s| match s.value {
                Value::Object(o) => o.downcast::<V>().ok(),
                Value::Bytes(_) => None,
            })
    }

    /// Tries tiers `from..` in order; returns the first hit and the first error met on the way.
    async fn lookup(&self, key: &str, from: usize) -> (Option<Found<V>>, Option<CacheError>) {
        let mut first_err = None;
        for (i, level) in self.inner.levels.iter().enumerate().skip(from) {
            if level.memory.is_none() && !level.breaker.allows() {
                bump(&level.counters.misses);
                continue;
            }
            let start = quanta::Instant::now();
            let got = level.tier.get(key).await;
            if level.memory.is_none() {
                match &got {
                    Ok(_) | Err(TierError::Corrupt(_)) => level.breaker.success(),
                    Err(_) => level.breaker.failure(),
                }
            }
            level
                .counters
                .get_latency
                .record(start.elapsed().as_nanos() as u64);
            let entry = match got {
                Ok(Some(e)) => e,
                Ok(None) => {
                    bump(&level.counters.misses);
                    continue;
                }
                Err(TierError::Corrupt(why)) => {
                    self.corrupt(level, key, &why).await;
                    continue;
                }
                Err(e) => {
                    let e = self.tier_err(level, e);
                    bump(&level.counters.misses);
                    first_err.get_or_insert(e);
                    continue;
                }
            };
            if level.memory.is_none() && self.outdated(level, &entry).await {
                bump(&level.counters.invalidated);
                bump(&level.counters.misses);
                continue;
            }
            let value = match &entry.value {
                Value::Object(o) => o.clone().downcast::<V>().ok(),
                Value::Bytes(b) => match self.inner.codec.decode::<V>(b) {
                    Ok(v) => Some(Arc::new(v)),
                    Err(e) => {
                        self.corrupt(level, key, &e.to_string()).await;
                        continue;
                    }
                },
            };
            match value {
                Some(value) => {
                    bump(&level.counters.hits);
                    return (
                        Some(Found {
                            value,
                            entry,
                            level: i,
                        }),
                        first_err,
                    );
                }
                None => bump(&level.counters.misses),
            }
        }
        (None, first_err)
    }

    /// Whether an entry read from `level` was created before the mark of one of its tags or of
    /// the last `clear`. Marks the clock does not know are read from `level` (and remembered);
    /// when they cannot be read, the entry is treated as outdated (a miss, never a stale hit).
    async fn outdated(&self, level: &Level, entry: &Entry) -> bool {
        let clock = &self.inner.clock;
        let mut unknown = Vec::new();
        for t in std::iter::once(CLEAR).chain(entry.tags.iter().map(String::as_str)) {
            match clock.known(t) {
                Some(mark) if entry.created_at < mark => return true,
                Some(_) => {}
                None => unknown.push(t.to_owned()),
            }
        }
        if unknown.is_empty() {
            return false;
        }
        bump(&level.counters.mark_reads);
        match level.tier.tag_times(&unknown).await {
            Ok(Some(marks)) => {
                let mut stale = false;
                for (t, mark) in unknown.iter().zip(marks) {
                    clock.note(t, mark);
                    stale |= entry.created_at < mark;
                }
                stale
            }
            Ok(None) => false,
            Err(e) => {
                level.breaker.failure();
                self.tier_err(level, e);
                true
            }
        }
    }

    /// Removes an entry just written to L1 if a mark that arrived meanwhile makes it stale (the
    /// backplane records the mark before dropping L1 entries, so one of the two catches it).
    fn withdraw_if_stale(&self, mem: &MemoryTier, key: &str, created_at: u64, tags: &[String]) {
        if self.inner.clock.stale_known(created_at, tags) {
            mem.remove_if_created(key, created_at);
        }
    }

    /// Counts a corrupt entry as a miss and removes it, so it is not read again.
    async fn corrupt(&self, level: &Level, key: &str, why: &str) {
        bump(&level.counters.corrupt);
        bump(&level.counters.misses);
        tracing::warn!(cache = %self.inner.name, tier = level.label, key, why, "corrupt entry treated as a miss");
        if let Err(e) = level.tier.delete(key).await {
            self.tier_err(level, e);
        }
    }

    /// Copies a hit from tier N into tiers 1..N-1 with its remaining TTL.
    async fn promote(&self, key: &str, found: &Found<V>) {
        let now = now_millis();
        for level in &self.inner.levels[..found.level] {
            let value = if level.tier.is_local() {
                Value::Object(found.value.clone() as Arc<dyn Any + Send + Sync>)
            } else {
                match &found.entry.value {
                    Value::Bytes(b) => Value::Bytes(b.clone()),
                    Value::Object(_) => match self.inner.codec.encode(&*found.value) {
                        Ok(b) => Value::Bytes(b),
                        Err(_) => continue,
                    },
                }
            };
            let mut at = capped(found.entry.expires_at, now, level.tier.default_ttl());
            if level.memory.is_some() {
                at = self.l1_expiry(at, now);
            }
            let entry = Entry {
                value,
                expires_at: at,
                created_at: found.entry.created_at,
                tags: found.entry.tags.clone(),
                size: found.entry.size,
            };
            if entry.expires_at <= now {
                continue;
            }
            if level.memory.is_none() && !level.breaker.allows() {
                continue;
            }
            let start = quanta::Instant::now();
            let r = match &level.memory {
                Some(mem) => {
                    let r = mem.set_now(key, entry);
                    self.withdraw_if_stale(mem, key, found.entry.created_at, &found.entry.tags);
                    r
                }
                None => level.tier.set(key, entry).await,
            };
            let mut ignored = None;
            self.note_set(
                level,
                start,
                r.map_err(|e| self.tier_err(level, e)),
                &mut ignored,
            );
        }
    }

    fn tier_err(&self, level: &Level, source: TierError) -> CacheError {
        if !matches!(source, TierError::TooLarge { .. }) {
            bump(&level.counters.errors);
        }
        tracing::debug!(cache = %self.inner.name, tier = level.label, error = %source, "tier error");
        match source {
            TierError::TooLarge { size, limit } => CacheError::ValueTooLarge {
                tier: level.label,
                size,
                limit,
            },
            source => CacheError::Tier {
                tier: level.label,
                source,
            },
        }
    }

    fn check_key(&self, key: &str) -> Result<(), CacheError> {
        check_len(key, self.inner.max_key_len).map_err(|reason| CacheError::InvalidKey { reason })
    }

    fn check_tags(&self, tags: &[String]) -> Result<(), CacheError> {
        tags.iter()
            .try_for_each(|t| check_len(t, self.inner.max_key_len))
            .map_err(|reason| CacheError::InvalidTag { reason })
    }
}

/// L1 read latency is recorded for one read in [`L1_LATENCY_SAMPLE`] per thread: a hit costs about
/// as much as two clock reads, so timing every one would be a large share of its cost.
const L1_LATENCY_SAMPLE: u32 = 8;

#[inline]
fn sampled() -> bool {
    thread_local!(static TICK: std::cell::Cell<u32> = const { std::cell::Cell::new(0) });
    TICK.with(|t| {
        let n = t.get().wrapping_add(1);
        t.set(n);
        n % L1_LATENCY_SAMPLE == 0
    })
}

fn check_len(s: &str, max: usize) -> Result<(), String> {
    if s.is_empty() {
        Err("must not be empty".into())
    } else if s.len() > max {
        Err(format!("{} bytes is over the {max}-byte limit", s.len()))
    } else {
        Ok(())
    }
}
