//! `TieredCache`: typed values over an ordered list of tiers.
//!
//! The public type is a thin shell over [`Inner`]; its methods live by concern in the child
//! modules: [`builder`] (configuration and `build`), [`read`] (L1 fast path, remote tiers,
//! promotion), [`flight`] (single flight, timeouts, fail-safe, refresh-ahead), [`write`]
//! (write-through, delete, warming), [`invalidation`] (tags, clear, purge), [`background`]
//! (backplane, publishing, observers), [`breaker`] (per-tier circuit breaker) and [`report`]
//! (statistics, advisor).

mod background;
mod breaker;
mod builder;
mod flight;
mod invalidation;
mod link;
mod origins;
mod read;
mod report;
mod write;

use background::random_origin;
use breaker::Breaker;
pub use builder::TieredCacheBuilder;
use link::{listener, publisher};

use std::any::Any;
use std::collections::HashMap;
use std::error::Error as StdError;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use futures_util::future::{Either, join_all, ready};
use nexus_core::task::TaskHandle;
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

#[derive(Debug)]
struct Inner<V> {
    name: String,
    levels: Vec<Level>,
    codec: Codec,
    weigher: crate::weigher::Shared<V>,
    max_key_len: usize,
    needs_bytes: bool,
    flights: Mutex<Flights<V>>,
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
    /// Periods of the loops [`TieredCache::spawn`] runs.
    every: Every,
    /// The backplane's publisher and listener; aborted when the cache is dropped.
    backplane_tasks: std::sync::OnceLock<[TaskHandle; 2]>,
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

/// The loads under way, by key (foldhash: the table is hashed on every miss).
type Flights<V> = HashMap<String, Flight<V>, foldhash::fast::RandomState>;

/// This cache's side of a backplane.
/// Periods of the optional loops.
#[derive(Debug, Clone, Copy)]
struct Every {
    metrics: Option<Duration>,
    hot: Option<Duration>,
}

#[derive(Debug)]
struct Link {
    backplane: Arc<dyn Backplane>,
    origin: u64,
    outbox: tokio::sync::mpsc::Sender<Op>,
    degraded: std::sync::atomic::AtomicBool,
    degraded_ttl_ms: u64,
    /// Set when a change could not be queued: the next number sent skips one, so the others
    /// see the gap and drop their L1.
    overflowed: std::sync::atomic::AtomicBool,
    /// Other instances' requests to send again what they missed (the `after` number).
    resend: tokio::sync::mpsc::Sender<u64>,
    heartbeat: Duration,
    sent: Counter,
    retried: Counter,
    replayed: Counter,
    received: Counter,
    dropped: Counter,
    resyncs: Counter,
}

/// What a lookup found: the value, and the entry it came from (to promote it).
struct Found<V> {
    value: Arc<V>,
    entry: Entry,
    level: usize,
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

impl<V: CacheValue> TieredCache<V> {
    /// The cache's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    fn check_key(&self, key: &str) -> Result<(), CacheError> {
        check_len(key, self.inner.max_key_len).map_err(|reason| CacheError::InvalidKey { reason })
    }

    fn check_tags(&self, tags: &[String]) -> Result<(), CacheError> {
        tags.iter()
            .try_for_each(|t| check_len(t, self.inner.max_key_len))
            .map_err(|reason| CacheError::InvalidTag { reason })
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

    /// Index of the first tier that is not the synchronous L1.
    fn first_remote(&self) -> usize {
        usize::from(
            self.inner
                .levels
                .first()
                .is_some_and(|l| l.memory.is_some()),
        )
    }
}
