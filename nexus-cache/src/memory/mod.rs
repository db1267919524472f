//! The in-process tier: our own W-TinyLFU store, bounded by bytes or entries, with a per-entry
//! TTL.

mod policy;
mod sketch;
pub(crate) mod store;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;

use store::Store;

use crate::error::TierError;
use crate::expiry::{now_millis, remaining};

/// What the store holds: the entry and its deadline on the cheap monotonic clock, so a read checks
/// expiry with one `quanta` read instead of a wall-clock call.
///
/// Stored inline (not behind another `Arc`) and tags only when present, so a hit touches the
/// store's node and the value's allocation, nothing more.
#[derive(Debug, Clone)]
pub(crate) struct Slot {
    pub(crate) value: Value,
    /// When it was written (for refresh-ahead).
    born: quanta::Instant,
    /// Logical expiry: after it, the entry is a miss.
    deadline: quanta::Instant,
    /// Fail-safe: until then the expired entry can still be served when loading fails.
    stale_until: quanta::Instant,
    expires_at: u64,
    created_at: u64,
    size: usize,
    tags: Option<Arc<[String]>>,
}

impl Slot {
    /// How much of its TTL has passed at `now` (0 fresh, 1 expired).
    pub(crate) fn age_fraction(&self, now: quanta::Instant) -> f64 {
        let total = self
            .deadline
            .saturating_duration_since(self.born)
            .as_secs_f64();
        if total <= 0.0 {
            return 1.0;
        }
        now.saturating_duration_since(self.born).as_secs_f64() / total
    }

    fn entry(&self) -> Entry {
        Entry {
            value: self.value.clone(),
            expires_at: self.expires_at,
            created_at: self.created_at,
            tags: self.tags.clone().unwrap_or_else(|| Arc::new([])),
            size: self.size,
        }
    }

    fn has_any_tag(&self, tags: &[String]) -> bool {
        self.tags
            .as_ref()
            .is_some_and(|mine| mine.iter().any(|t| tags.contains(t)))
    }

    fn weight(&self, key: &str) -> usize {
        key.len()
            + self.size
            + ENTRY_OVERHEAD
            + self
                .tags
                .as_ref()
                .map_or(0, |t| t.iter().map(|t| t.len() + 16).sum::<usize>())
    }
}
use crate::tier::{Entry, Tier, Value};

/// Per-entry bookkeeping on top of the key's bytes and the value's (as weighed): the store's node
/// (key pointer, slot, links), its index slot, the key's allocation, and the `Arc` allocation
/// around the value (counts and allocator overhead).
const ENTRY_OVERHEAD: usize = policy::NODE_BYTES + 8 + 16 + 32;

/// The in-process tier: a sharded W-TinyLFU store (Caffeine's design: a window LRU, a main
/// space split into probation and protected, admission by a frequency sketch sized for the
/// number of entries actually held, and a window sized by ghost hits), bounded by *bytes*
/// (each entry's weight: key, bookkeeping and the value as the cache's weigher counts it) or by
/// entries, with each entry's own expiry.
///
/// Expiry: every entry expires at its own absolute time, checked on read against a monotonic
/// deadline, and never later than the tier's `max_ttl` (default: the tier TTL), whatever TTL the
/// writer asked for. Expired entries are dropped when read, and each write sweeps two slots of
/// its shard, so they do not stay in a shard that is written to.
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
    store: Arc<Store<Slot>>,
    /// Default TTL in ms; changeable live (see `set_default_ttl`).
    ttl_ms: Arc<AtomicU64>,
    max_ttl: Duration,
    max_bytes: u64,
    max_entries: Option<u64>,
    max_entry_bytes: usize,
    fail_safe: Duration,
}

/// Builder for [`MemoryTier`]; defaults are the spec's L1: 512 MiB, 5 minutes.
#[derive(Debug, Clone)]
#[must_use]
pub struct MemoryTierBuilder {
    max_bytes: u64,
    max_entries: Option<u64>,
    fail_safe: Duration,
    ttl: Duration,
    max_ttl: Option<Duration>,
    max_entry_bytes: Option<usize>,
}

impl MemoryTier {
    /// A builder with the spec's L1 defaults (512 MiB, TTL 5 minutes).
    pub fn builder() -> MemoryTierBuilder {
        MemoryTierBuilder {
            max_bytes: 512 << 20,
            max_entries: None,
            fail_safe: Duration::ZERO,
            ttl: Duration::from_secs(300),
            max_ttl: None,
            max_entry_bytes: None,
        }
    }

    /// The byte bound.
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// The entry-count bound, when the tier is bounded by entries instead of bytes.
    pub fn max_entries(&self) -> Option<u64> {
        self.max_entries
    }

    /// Synchronous read used by the cache's L1 fast path; `now` is the caller's clock reading.
    #[inline]
    pub(crate) fn get_now(&self, key: &str, now: quanta::Instant) -> Option<Slot> {
        let slot = self.store.get(key)?;
        if now >= slot.deadline {
            if now >= slot.stale_until {
                self.store.remove(key);
            }
            return None;
        }
        Some(slot)
    }

    /// An entry past its expiry but within the fail-safe window (or still fresh).
    pub(crate) fn get_stale(&self, key: &str, now: quanta::Instant) -> Option<Slot> {
        let slot = self.store.get(key)?;
        (now < slot.stale_until).then_some(slot)
    }

    /// Changes the default TTL of new entries (capped by the tier's maximum TTL); returns the
    /// TTL now in force. Used by the advisor's `optimize`.
    pub fn set_default_ttl(&self, ttl: Duration) -> Duration {
        let ttl = ttl.clamp(Duration::from_millis(1), self.max_ttl);
        self.ttl_ms.store(ttl.as_millis() as u64, Ordering::Relaxed);
        ttl
    }

    /// The longest any entry stays.
    pub fn max_ttl(&self) -> Duration {
        self.max_ttl
    }

    /// Entries held.
    pub fn entry_count(&self) -> u64 {
        self.store.len()
    }

    /// How long expired entries are kept as fail-safe copies.
    pub fn fail_safe(&self) -> Duration {
        self.fail_safe
    }

    /// Like [`get_now`](Self::get_now), but not counted as an access by the frequency sketch:
    /// a re-check must not make a missed key look twice as popular (that halved the hit ratio of
    /// W-TinyLFU on looping traces).
    #[inline]
    pub(crate) fn peek_now(&self, key: &str, now: quanta::Instant) -> Option<Slot> {
        self.store.peek(key).filter(|s| now < s.deadline)
    }

    /// Synchronous write used by the cache (L1 writes are synchronous).
    pub(crate) fn set_now(&self, key: &str, entry: Entry) -> Result<(), TierError> {
        if entry.size > self.max_entry_bytes {
            return Err(TierError::TooLarge {
                size: entry.size,
                limit: self.max_entry_bytes,
            });
        }
        let left = remaining(entry.expires_at, now_millis())
            .unwrap_or(Duration::ZERO)
            .min(self.max_ttl);
        let born = quanta::Instant::now();
        let deadline = born + left;
        let tags = if entry.tags.is_empty() {
            None
        } else {
            Some(entry.tags)
        };
        let slot = Slot {
            value: entry.value,
            born,
            deadline,
            stale_until: deadline + self.fail_safe,
            expires_at: entry.expires_at,
            created_at: entry.created_at,
            size: entry.size,
            tags,
        };
        let weight = if self.max_entries.is_some() {
            1
        } else {
            u32::try_from(slot.weight(key)).unwrap_or(u32::MAX)
        };
        self.store
            .insert(key, slot, weight, |s| born >= s.stale_until);
        Ok(())
    }

    /// Drops every entry carrying any of `tags` (a scan of every shard, one at a time).
    pub(crate) fn invalidate_tags(&self, tags: &[String]) -> Result<(), TierError> {
        self.store.remove_if(|_, s| s.has_any_tag(tags));
        Ok(())
    }

    /// Removes `key` if its entry is the one created at `created_at`, i.e. not replaced since
    /// (used to withdraw an entry found stale right after writing it).
    pub(crate) fn remove_if_created(&self, key: &str, created_at: u64) {
        if self
            .store
            .peek(key)
            .is_some_and(|s| s.created_at == created_at)
        {
            self.store.remove(key);
        }
    }

    /// Nothing is ever pending: evictions happen within the write that makes them necessary.
    /// Kept so code written for the moka-based L1 still compiles.
    pub fn run_pending_tasks(&self) {}
}

impl MemoryTierBuilder {
    /// Bound on the bytes held in memory (keys, per-entry bookkeeping, and values as the
    /// cache's [`Weigher`](crate::weigher::Weigher) counts them). Default 512 MiB.
    pub fn max_bytes(mut self, bytes: u64) -> Self {
        self.max_bytes = bytes;
        self
    }

    /// Bounds the tier by number of entries instead of bytes (the unit of the capacity advisor
    /// and of hit-ratio traces). `max_bytes` then only sets the default largest entry.
    pub fn max_entries(mut self, entries: u64) -> Self {
        self.max_entries = Some(entries);
        self
    }

    /// Fail-safe: keep entries this long past their expiry, to be served when reloading them
    /// fails or times out (see `TieredCache::get_or_load`). Default 0 (off).
    pub fn fail_safe(mut self, keep_stale_for: Duration) -> Self {
        self.fail_safe = keep_stale_for;
        self
    }

    /// Default TTL of entries written without one. Default 5 minutes.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Longest any entry stays, whatever TTL its writer gave. Default: the tier TTL.
    pub fn max_ttl(mut self, max_ttl: Duration) -> Self {
        self.max_ttl = Some(max_ttl);
        self
    }

    /// Largest single entry accepted (as weighed). Default: 1/8 of `max_bytes`, or less for a
    /// large tier: the store is split into up to 64 shards (one per 4 096 entries of 1 KiB) and
    /// an entry may take at most half of one (512 MiB: 64 shards, 4 MiB entries). Setting a
    /// larger one means fewer shards (more contention between threads), never a broken bound.
    pub fn max_entry_bytes(mut self, bytes: usize) -> Self {
        self.max_entry_bytes = Some(bytes);
        self
    }

    /// Builds the tier.
    pub fn build(self) -> MemoryTier {
        let max_ttl = self.max_ttl.unwrap_or(self.ttl).max(self.ttl);
        // A first guess of 1 KiB per entry; each shard re-estimates from what it holds. By
        // default the largest entry is what leaves a shard per 4 096 such entries (up to 64)
        // room for two, and at most 1/8 of the tier; a larger one set explicitly means fewer
        // shards.
        let entries = self.max_bytes / 1024;
        let shards = Store::<Slot>::shards_for(self.max_bytes, entries, 1);
        let default_entry = (self.max_bytes / 8)
            .min(self.max_bytes / shards / 2)
            .saturating_sub(ENTRY_OVERHEAD as u64)
            .min(u64::from(u32::MAX));
        let max_entry_bytes = self
            .max_entry_bytes
            .unwrap_or(usize::try_from(default_entry).unwrap_or(usize::MAX));
        let store = match self.max_entries {
            Some(n) => Store::new(n, n, 1),
            None => Store::new(
                self.max_bytes,
                entries,
                max_entry_bytes as u64 + ENTRY_OVERHEAD as u64,
            ),
        };
        MemoryTier {
            store: Arc::new(store),
            ttl_ms: Arc::new(AtomicU64::new(self.ttl.as_millis() as u64)),
            max_ttl,
            max_bytes: self.max_bytes,
            max_entries: self.max_entries,
            max_entry_bytes,
            fail_safe: self.fail_safe,
        }
    }
}

#[async_trait]
impl Tier for MemoryTier {
    fn kind(&self) -> &'static str {
        "memory"
    }

    fn default_ttl(&self) -> Duration {
        Duration::from_millis(self.ttl_ms.load(Ordering::Relaxed))
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
        Some(self.store.weight())
    }

    fn evictions(&self) -> Option<u64> {
        Some(self.store.evicted())
    }

    async fn get(&self, key: &str) -> Result<Option<Entry>, TierError> {
        Ok(self.get_now(key, quanta::Instant::now()).map(|s| s.entry()))
    }

    async fn set(&self, key: &str, entry: Entry) -> Result<(), TierError> {
        self.set_now(key, entry)
    }

    async fn delete(&self, key: &str) -> Result<bool, TierError> {
        Ok(self.store.remove(key).is_some())
    }

    async fn clear(&self) -> Result<(), TierError> {
        self.store.remove_if(|_, _| true);
        Ok(())
    }

    /// In-process: nothing to record (the cache drops the matching entries itself).
    async fn mark_tags(&self, _tags: &[String], _at: u64) -> Result<(), TierError> {
        Ok(())
    }

    async fn tag_times(&self, _tags: &[String]) -> Result<Option<Vec<u64>>, TierError> {
        Ok(None)
    }
}
