//! The in-process tier: moka, bounded by bytes, with a per-entry TTL.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use moka::notification::RemovalCause;
use moka::sync::Cache;

use crate::error::TierError;
use crate::expiry::{now_millis, remaining};
use crate::tier::{Entry, Tier};

/// Per-entry bookkeeping moka and this tier add on top of the key and value, in bytes (an estimate
/// used by the weigher so that many tiny entries still count).
const ENTRY_OVERHEAD: usize = 96;

/// The in-process tier: a [moka](https://docs.rs/moka) cache bounded by *bytes* (weigher over key
/// and entry size), with each entry's own absolute expiry, TinyLFU admission and LRU eviction.
///
/// ```
/// use nexus_cache::MemoryTier;
/// use std::time::Duration;
/// let l1 = MemoryTier::builder()
///     .max_bytes(64 << 20)
///     .ttl(Duration::from_secs(60))
///     .build();
/// assert_eq!(l1.max_bytes(), 64 << 20);
/// ```
#[derive(Debug, Clone)]
pub struct MemoryTier {
    cache: Cache<String, Arc<Entry>>,
    ttl: Duration,
    max_bytes: u64,
    max_entry_bytes: usize,
    evictions: Arc<AtomicU64>,
}

/// Builder for [`MemoryTier`]; defaults are the spec's L1: 512 MiB, 5 minutes.
#[derive(Debug, Clone)]
#[must_use]
pub struct MemoryTierBuilder {
    max_bytes: u64,
    ttl: Duration,
    max_entry_bytes: Option<usize>,
}

impl MemoryTier {
    /// A builder with the spec's L1 defaults (512 MiB, TTL 5 minutes).
    pub fn builder() -> MemoryTierBuilder {
        MemoryTierBuilder { max_bytes: 512 << 20, ttl: Duration::from_secs(300), max_entry_bytes: None }
    }

    /// The byte bound.
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// Synchronous read used by the cache's L1 fast path.
    pub(crate) fn get_now(&self, key: &str) -> Option<Arc<Entry>> {
        self.cache.get(key)
    }

    /// Synchronous write used by the cache (L1 writes are synchronous).
    pub(crate) fn set_now(&self, key: &str, entry: Entry) -> Result<(), TierError> {
        let size = weight(key, &entry);
        if size > self.max_entry_bytes {
            return Err(TierError::TooLarge { size, limit: self.max_entry_bytes });
        }
        self.cache.insert(key.to_owned(), Arc::new(entry));
        Ok(())
    }

    /// Runs moka's pending maintenance (evictions, expirations) now; useful in tests and before
    /// reading [`Tier::bytes_stored`].
    pub fn run_pending_tasks(&self) {
        self.cache.run_pending_tasks();
    }
}

impl MemoryTierBuilder {
    /// Bound on the bytes held (keys + encoded values + per-entry overhead). Default 512 MiB.
    pub fn max_bytes(mut self, bytes: u64) -> Self {
        self.max_bytes = bytes;
        self
    }

    /// Default TTL of entries written without one. Default 5 minutes.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Largest single entry accepted. Default: 1/8 of `max_bytes` (and at most 4 GiB).
    pub fn max_entry_bytes(mut self, bytes: usize) -> Self {
        self.max_entry_bytes = Some(bytes);
        self
    }

    /// Builds the tier.
    pub fn build(self) -> MemoryTier {
        let evictions = Arc::new(AtomicU64::new(0));
        let counter = evictions.clone();
        let cache = Cache::builder()
            .max_capacity(self.max_bytes)
            .weigher(|k: &String, e: &Arc<Entry>| u32::try_from(weight(k, e)).unwrap_or(u32::MAX))
            .expire_after(EntryExpiry)
            .support_invalidation_closures()
            .eviction_listener(move |_k, _v, cause| {
                if cause == RemovalCause::Size {
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            })
            .build();
        let default_entry = usize::try_from(self.max_bytes / 8).unwrap_or(usize::MAX).min(u32::MAX as usize);
        MemoryTier {
            cache,
            ttl: self.ttl,
            max_bytes: self.max_bytes,
            max_entry_bytes: self.max_entry_bytes.unwrap_or(default_entry),
            evictions,
        }
    }
}

fn weight(key: &str, e: &Entry) -> usize {
    key.len() + e.size + ENTRY_OVERHEAD + e.tags.iter().map(|t| t.len() + 16).sum::<usize>()
}

/// Each entry lives until its own absolute expiry.
struct EntryExpiry;

impl moka::Expiry<String, Arc<Entry>> for EntryExpiry {
    fn expire_after_create(&self, _k: &String, e: &Arc<Entry>, _at: Instant) -> Option<Duration> {
        Some(remaining(e.expires_at, now_millis()).unwrap_or(Duration::ZERO))
    }

    fn expire_after_update(
        &self,
        _k: &String,
        e: &Arc<Entry>,
        _at: Instant,
        _left: Option<Duration>,
    ) -> Option<Duration> {
        Some(remaining(e.expires_at, now_millis()).unwrap_or(Duration::ZERO))
    }
}

#[async_trait]
impl Tier for MemoryTier {
    fn kind(&self) -> &'static str {
        "memory"
    }

    fn default_ttl(&self) -> Duration {
        self.ttl
    }

    fn max_entry_bytes(&self) -> usize {
        self.max_entry_bytes
    }

    fn is_local(&self) -> bool {
        true
    }

    fn as_memory(&self) -> Option<&MemoryTier> {
        Some(self)
    }

    fn bytes_stored(&self) -> Option<u64> {
        Some(self.cache.weighted_size())
    }

    fn evictions(&self) -> Option<u64> {
        Some(self.evictions.load(Ordering::Relaxed))
    }

    async fn get(&self, key: &str) -> Result<Option<Entry>, TierError> {
        Ok(self.get_now(key).map(|e| (*e).clone()))
    }

    async fn set(&self, key: &str, entry: Entry) -> Result<(), TierError> {
        self.set_now(key, entry)
    }

    async fn delete(&self, key: &str) -> Result<bool, TierError> {
        Ok(self.cache.remove(key).is_some())
    }

    /// Lazy: matching entries written before the call are never returned again and are dropped by
    /// moka's maintenance; the count is not known and reported as 0.
    async fn invalidate_tags(&self, tags: &[String]) -> Result<u64, TierError> {
        let tags: Vec<String> = tags.to_vec();
        self.cache
            .invalidate_entries_if(move |_, e| e.tags.iter().any(|t| tags.contains(t)))
            .map_err(|e| TierError::Other(Arc::new(std::io::Error::other(e.to_string()))))?;
        Ok(0)
    }

    async fn clear(&self) -> Result<(), TierError> {
        self.cache.invalidate_all();
        Ok(())
    }
}
