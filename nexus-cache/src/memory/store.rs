//! [`Store`]: the L1's concurrent map — shards, each a [`Policy`] behind a short lock.

use std::hash::BuildHasher;
use std::sync::Mutex;

use super::policy::Policy;

/// One shard, on its own cache lines.
#[repr(align(128))]
#[derive(Debug)]
struct Shard<V>(Mutex<Policy<V>>);

/// Entries spread over shards by key hash; each shard holds an equal share of the capacity and
/// runs its own W-TinyLFU. Few shards for small caches (a shard's share must stay large enough
/// for its policy to work), up to 64 for large ones.
#[derive(Debug)]
pub(crate) struct Store<V> {
    shards: Box<[Shard<V>]>,
    mask: u64,
    hasher: foldhash::fast::FixedState,
}

/// Entries a shard should expect to hold at least before the store splits further.
const ENTRIES_PER_SHARD: u64 = 4096;

impl<V: Clone> Store<V> {
    /// How many shards for `capacity` of weight and about `entries` entries, each holding at
    /// least twice `largest` (the heaviest entry accepted): a power of two, 1 to 64.
    pub(crate) fn shards_for(capacity: u64, entries: u64, largest: u64) -> u64 {
        let wanted = (entries / ENTRIES_PER_SHARD)
            .min(capacity / largest.saturating_mul(2).max(1))
            .clamp(1, 64);
        if wanted.is_power_of_two() {
            wanted
        } else {
            wanted.next_power_of_two() / 2
        }
    }

    /// Holds up to `capacity` of weight, about `entries` entries (a first estimate; each shard
    /// re-estimates from the mean weight it sees), in [`shards_for`](Self::shards_for) shards.
    pub(crate) fn new(capacity: u64, entries: u64, largest: u64) -> Self {
        let n = Self::shards_for(capacity, entries, largest);
        // A random seed per store: keys an attacker picks cannot be aimed at one shard or at
        // the sketch's counters.
        let seed = foldhash::fast::RandomState::default().hash_one(0u64);
        let hasher = foldhash::fast::FixedState::with_seed(seed);
        let shards = (0..n)
            .map(|i| {
                Shard(Mutex::new(Policy::new(
                    capacity.div_ceil(n),
                    entries.div_ceil(n),
                    seed.wrapping_add(i),
                )))
            })
            .collect();
        Self {
            shards,
            mask: n - 1,
            hasher,
        }
    }

    #[inline]
    fn shard(&self, key: &str) -> (u64, std::sync::MutexGuard<'_, Policy<V>>) {
        let hash = self.hasher.hash_one(key);
        let shard = &self.shards[((hash >> 40) & self.mask) as usize];
        (hash, shard.0.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// The value, counting the access.
    #[inline]
    pub(crate) fn get(&self, key: &str) -> Option<V> {
        let (hash, mut s) = self.shard(key);
        s.get(hash, key).cloned()
    }

    /// The value, without counting an access.
    pub(crate) fn peek(&self, key: &str) -> Option<V> {
        let (hash, s) = self.shard(key);
        s.peek(hash, key).cloned()
    }

    /// Inserts or replaces; `dead` tells which entries a short sweep of the shard may drop
    /// (expired ones).
    pub(crate) fn insert(&self, key: &str, value: V, weight: u32, dead: impl Fn(&V) -> bool) {
        let (hash, mut s) = self.shard(key);
        let mut gone = s.insert(hash, key, value, weight);
        gone.extend(s.sweep(2, dead));
        drop(s);
        drop(gone);
    }

    /// Sets `key` to `f` of its current value, atomically.
    pub(crate) fn upsert(&self, key: &str, weight: u32, f: impl FnOnce(Option<&V>) -> V) {
        let (hash, mut s) = self.shard(key);
        let gone = s.upsert(hash, key, weight, f);
        drop(s);
        drop(gone);
    }

    /// Removes `key`.
    pub(crate) fn remove(&self, key: &str) -> Option<V> {
        let (hash, mut s) = self.shard(key);
        s.remove(hash, key)
    }

    /// Removes the entries `drop` selects, shard by shard.
    pub(crate) fn remove_if(&self, drop: impl Fn(&str, &V) -> bool) {
        for shard in self.shards.iter() {
            let gone = shard
                .0
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove_if(&drop);
            std::mem::drop(gone);
        }
    }

    fn sum(&self, f: impl Fn(&Policy<V>) -> u64) -> u64 {
        self.shards
            .iter()
            .map(|s| f(&s.0.lock().unwrap_or_else(|e| e.into_inner())))
            .sum()
    }

    /// Entries held.
    pub(crate) fn len(&self) -> u64 {
        self.sum(|p| p.len() as u64)
    }

    /// Weight held.
    pub(crate) fn weight(&self) -> u64 {
        self.sum(Policy::weight)
    }

    /// Entries evicted to stay within the capacity.
    pub(crate) fn evicted(&self) -> u64 {
        self.sum(|p| p.evicted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_follow_the_expected_entries() {
        assert_eq!(Store::<u8>::new(100, 100, 1).shards.len(), 1);
        assert_eq!(Store::<u8>::new(1 << 20, 3 * 4096, 1).shards.len(), 2);
        assert_eq!(Store::<u8>::new(1 << 30, 1 << 30, 1).shards.len(), 64);
        // The largest entry must fit a shard twice over: 1 GiB / (2 × 128 MiB) = 4 shards.
        assert_eq!(Store::<u8>::new(1 << 30, 1 << 20, 1 << 27).shards.len(), 4);
    }

    #[test]
    fn bounded_across_shards() {
        let s = Store::new(10_000, 40_000, 1);
        for k in 0..100_000u32 {
            s.insert(&k.to_string(), k, 1, |_| false);
        }
        assert!(s.weight() <= 10_000 + 64, "{}", s.weight());
        assert!(s.evicted() >= 90_000);
        s.remove_if(|_, v| v % 2 == 0);
        assert!(s.peek("99999").is_some() || s.len() > 0);
    }
}
