//! The `Tier` seam: one level of the cache.

use std::any::Any;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

use crate::error::TierError;
use crate::memory::MemoryTier;

/// What a tier stores for a key.
#[derive(Clone)]
pub enum Value {
    /// Encoded bytes (a [`Codec`](crate::Codec) frame): what the remote tiers hold.
    Bytes(Bytes),
    /// A typed value (`Arc<V>`) kept as is, so an in-process hit never decodes.
    Object(Arc<dyn Any + Send + Sync>),
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Bytes(b) => write!(f, "Bytes({} bytes)", b.len()),
            Value::Object(_) => f.write_str("Object(..)"),
        }
    }
}

/// One cache entry as tiers see it: a value, its absolute expiry, when it was created and its tags.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The stored value.
    pub value: Value,
    /// Absolute expiry, in milliseconds since the Unix epoch (see [`expiry`](crate::expiry)).
    pub expires_at: u64,
    /// When the value was produced, in microseconds since the Unix epoch (for a loaded value: when
    /// its load started). An entry created before one of its tags' invalidation marks, or before
    /// the cache's last `clear`, is a miss.
    pub created_at: u64,
    /// Tags for [`TieredCache::invalidate_tags`](crate::TieredCache::invalidate_tags).
    pub tags: Arc<[String]>,
    /// Approximate size in bytes (the encoded size), used by size-bounded tiers.
    pub size: usize,
}

/// One level of a [`TieredCache`](crate::TieredCache).
///
/// Implemented by [`MemoryTier`], `RedisTier` (feature `redis`) and `ClusterTier` (feature
/// `cluster`); implement it to add another store. Every method is a single round of I/O at most and
/// must not panic on anything the store returns.
#[async_trait]
pub trait Tier: fmt::Debug + Send + Sync + 'static {
    /// A short name of the kind of store (`"memory"`, `"redis"`, `"cluster"`).
    fn kind(&self) -> &'static str;

    /// How long entries live in this tier when the writer gives no TTL.
    fn default_ttl(&self) -> Duration;

    /// The largest entry (encoded bytes) this tier accepts.
    fn max_entry_bytes(&self) -> usize;

    /// Whether the tier lives in this process and so stores [`Value::Object`]s (true for
    /// [`MemoryTier`]); remote tiers receive [`Value::Bytes`].
    fn is_local(&self) -> bool {
        false
    }

    /// The memory tier behind this one, for the cache's synchronous L1 fast path.
    fn as_memory(&self) -> Option<&MemoryTier> {
        None
    }

    /// Bytes held, when the tier can know (the memory tier can; a shared Redis cannot).
    fn bytes_stored(&self) -> Option<u64> {
        None
    }

    /// Entries evicted for lack of space, when the tier can know.
    fn evictions(&self) -> Option<u64> {
        None
    }

    /// Reads an entry; `None` when absent or expired.
    async fn get(&self, key: &str) -> Result<Option<Entry>, TierError>;

    /// Writes an entry, replacing any previous one.
    async fn set(&self, key: &str, entry: Entry) -> Result<(), TierError>;

    /// Removes an entry; returns whether one was there (when the tier can know).
    async fn delete(&self, key: &str) -> Result<bool, TierError>;

    /// Physically removes every entry of this cache (never other data sharing the store).
    /// `TieredCache::clear` does not need it on shared tiers (it writes one mark); it is what
    /// `TieredCache::purge` uses to give the memory back.
    async fn clear(&self) -> Result<(), TierError>;

    /// Records in a shared store that `tags` were invalidated at `at` (microseconds since the
    /// Unix epoch): one small write per tag, kept at least as long as the tier keeps entries, and
    /// never moved backwards. The empty tag stands for "every entry" (`clear`). A store that is
    /// not shared does nothing (the cache drops matching L1 entries itself).
    ///
    /// Required, so that a new shared store cannot silently ignore tag invalidation.
    async fn mark_tags(&self, tags: &[String], at: u64) -> Result<(), TierError>;

    /// The invalidation marks of `tags` (0 for a tag never invalidated), in order; `None` for a
    /// store that is not shared (the cache's own clock is then the only authority).
    async fn tag_times(&self, tags: &[String]) -> Result<Option<Vec<u64>>, TierError>;

    /// Adds this instance's hot keys (key, estimated accesses) to the fleet's hot set in the
    /// shared store. Stores that are not shared ignore it.
    async fn publish_hot_keys(&self, _keys: &[(String, u64)]) -> Result<(), TierError> {
        Ok(())
    }

    /// Takes the distributed load lock of `key` for `ttl` with this `token` (`SET NX PX`).
    /// `None` when the store has no locks (in-process tiers).
    async fn try_lock(
        &self,
        _key: &str,
        _token: &str,
        _ttl: Duration,
    ) -> Result<Option<bool>, TierError> {
        Ok(None)
    }

    /// Releases the lock of `key` if `token` still holds it.
    async fn unlock(&self, _key: &str, _token: &str) -> Result<(), TierError> {
        Ok(())
    }

    /// The fleet's `n` hottest keys, hottest first (empty for stores that are not shared).
    async fn hot_keys(&self, _n: usize) -> Result<Vec<String>, TierError> {
        Ok(Vec::new())
    }
}
