//! Hot-key tracking: a count-min sketch with aging, and the top K keys by estimated frequency.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

const DEPTH: usize = 4;
const WIDTH: usize = 4096;

/// Frequency sketch + top-K of one cache's key stream.
#[derive(Debug)]
pub(crate) struct HotKeys {
    sketch: Vec<AtomicU32>,
    hasher: foldhash::fast::FixedState,
    k: usize,
    top: Mutex<HashMap<String, u64>>,
    /// The smallest count in `top` once it is full (entry threshold).
    floor: AtomicU64,
    ops: AtomicU64,
}

impl HotKeys {
    pub(crate) fn new(k: usize) -> Self {
        Self {
            sketch: (0..DEPTH * WIDTH).map(|_| AtomicU32::new(0)).collect(),
            hasher: foldhash::fast::FixedState::with_seed(0x407_4e75),
            k: k.max(1),
            top: Mutex::new(HashMap::new()),
            floor: AtomicU64::new(0),
            ops: AtomicU64::new(0),
        }
    }

    /// Counts one access of `key`.
    pub(crate) fn record(&self, key: &str) {
        let h = self.hasher.hash_one(key);
        let mut est = u32::MAX;
        for row in 0..DEPTH {
            let col = ((h >> (row * 16)) as usize) & (WIDTH - 1);
            let c = self.sketch[row * WIDTH + col]
                .fetch_add(1, Ordering::Relaxed)
                .saturating_add(1);
            est = est.min(c);
        }
        let n = self.ops.fetch_add(1, Ordering::Relaxed) + 1;
        if n.is_multiple_of(WIDTH as u64 * 8) {
            self.age();
        }
        if u64::from(est) < self.floor.load(Ordering::Relaxed) {
            return;
        }
        // Never block the read path: skip the update if another thread holds the list.
        let Ok(mut top) = self.top.try_lock() else {
            return;
        };
        top.insert(key.to_owned(), u64::from(est));
        if top.len() > self.k
            && let Some((coldest, _)) = top
                .iter()
                .min_by_key(|(_, c)| **c)
                .map(|(k, c)| (k.clone(), *c))
        {
            top.remove(&coldest);
        }
        if top.len() >= self.k {
            let floor = top.values().copied().min().unwrap_or(0);
            self.floor.store(floor, Ordering::Relaxed);
        }
    }

    /// Halves every count, so the sketch follows the recent stream.
    fn age(&self) {
        for c in &self.sketch {
            let v = c.load(Ordering::Relaxed);
            c.store(v / 2, Ordering::Relaxed);
        }
        if let Ok(mut top) = self.top.lock() {
            for v in top.values_mut() {
                *v /= 2;
            }
        }
        self.floor
            .store(self.floor.load(Ordering::Relaxed) / 2, Ordering::Relaxed);
    }

    /// The tracked keys, hottest first.
    pub(crate) fn top(&self) -> Vec<(String, u64)> {
        let top = self.top.lock().unwrap_or_else(|e| e.into_inner());
        let mut v: Vec<(String, u64)> = top.iter().map(|(k, c)| (k.clone(), *c)).collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_hottest_keys() {
        let hot = HotKeys::new(3);
        for i in 0..10_000u32 {
            let key = match i % 10 {
                0..=4 => "a".to_owned(),
                5..=7 => "b".to_owned(),
                8 => "c".to_owned(),
                _ => format!("cold{i}"),
            };
            hot.record(&key);
        }
        let names: Vec<String> = hot.top().into_iter().map(|(k, _)| k).collect();
        assert_eq!(names, ["a", "b", "c"]);
    }
}
