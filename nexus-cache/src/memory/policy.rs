//! [`Policy`]: one shard of the L1 — a hash index over a slab of entries kept in three LRU lists
//! (W-TinyLFU: a window, then a main space split into probation and protected), with weights,
//! TinyLFU admission from the [`Sketch`], and a window sized by ghost hits: a key requested again
//! soon after admission turned it away grows the window (recency pays), one requested again soon
//! after it was evicted from the main space shrinks it (frequency pays) — ARC's adaptation rule
//! applied to W-TinyLFU's window, in place of Caffeine's hill climbing on sampled hit ratios.

use hashbrown::HashTable;

use super::sketch::Sketch;

const NIL: u32 = u32::MAX;
const WINDOW: usize = 0;
const PROBATION: usize = 1;
const PROTECTED: usize = 2;
/// `Node::list` of an entry in no list (between unlinking and relinking or release).
const DETACHED: u8 = 3;

/// Share of the main space kept for entries seen again while in probation.
const PROTECTED_SHARE: f64 = 0.8;
/// Initial window, as a share of the capacity.
const WINDOW_SHARE: f64 = 0.01;
/// Each ghost list remembers this share of the entries held (the keys let go most recently).
/// Chosen with the step below by leave-one-trace-out on the shared traces (BENCHMARKS.md).
const GHOST_SHARE: f64 = 0.05;
/// A ghost hit moves the window by this many mean-sized entries.
const GHOST_STEP: f64 = 2.0;
/// A candidate at least this frequent that loses admission still gets in 1 time in 128 (so
/// colliding hashes cannot keep a popular key out forever).
const HASH_FLOOD_FREQUENCY: u32 = 6;

/// Bytes of one node holding an L1 slot.
pub(crate) const NODE_BYTES: usize = std::mem::size_of::<Node<super::Slot>>();

#[derive(Debug)]
struct Node<V> {
    key: Box<str>,
    hash: u64,
    value: Option<V>,
    weight: u32,
    prev: u32,
    next: u32,
    list: u8,
}

#[derive(Debug, Clone, Copy)]
struct List {
    head: u32,
    tail: u32,
    weight: u64,
}

impl List {
    const EMPTY: List = List {
        head: NIL,
        tail: NIL,
        weight: 0,
    };
}

/// One shard of the L1's entries and their eviction order.
#[derive(Debug)]
pub(crate) struct Policy<V> {
    table: HashTable<u32>,
    nodes: Vec<Node<V>>,
    free: Vec<u32>,
    lists: [List; 3],
    capacity: u64,
    window_max: u64,
    protected_max: u64,
    sketch: Sketch,
    rng: u64,
    hand: usize,
    /// Candidates admission turned away.
    rejected: Ghosts,
    /// Entries evicted from the main space.
    victims: Ghosts,
    /// Entries removed to stay within the capacity.
    pub(crate) evicted: u64,
}

/// Hashes of keys recently let go, oldest first, at most `max`.
#[derive(Debug, Default)]
struct Ghosts {
    set: HashTable<u64>,
    fifo: std::collections::VecDeque<u64>,
    max: usize,
}

impl Ghosts {
    fn new(max: usize) -> Self {
        Self {
            max,
            ..Self::default()
        }
    }

    fn add(&mut self, h: u64) {
        if self.max == 0 {
            return;
        }
        if self.fifo.len() >= self.max
            && let Some(old) = self.fifo.pop_front()
            && let Ok(e) = self.set.find_entry(old, |&x| x == old)
        {
            e.remove();
        }
        if self.set.find(h, |&x| x == h).is_none() {
            self.set.insert_unique(h, h, |&x| x);
        }
        self.fifo.push_back(h);
    }

    fn take(&mut self, h: u64) -> bool {
        match self.set.find_entry(h, |&x| x == h) {
            Ok(e) => {
                e.remove();
                true
            }
            Err(_) => false,
        }
    }
}

impl<V> Policy<V> {
    /// Holds up to `capacity` of weight; `entries` is the expected number of entries (sizes the
    /// sketch; re-estimated from the mean weight as the shard fills).
    pub(crate) fn new(capacity: u64, entries: u64, seed: u64) -> Self {
        let capacity = capacity.max(1);
        let window_max = (capacity as f64 * WINDOW_SHARE) as u64;
        let ghosts = (entries as f64 * GHOST_SHARE) as usize;
        Self {
            table: HashTable::new(),
            nodes: Vec::new(),
            free: Vec::new(),
            lists: [List::EMPTY; 3],
            capacity,
            window_max,
            protected_max: ((capacity - window_max) as f64 * PROTECTED_SHARE) as u64,
            sketch: Sketch::new(entries),
            rng: seed | 1,
            hand: 0,
            rejected: Ghosts::new(ghosts),
            victims: Ghosts::new(ghosts),
            evicted: 0,
        }
    }

    /// Entries held.
    pub(crate) fn len(&self) -> usize {
        self.nodes.len() - self.free.len()
    }

    /// Total weight held.
    pub(crate) fn weight(&self) -> u64 {
        self.lists.iter().map(|l| l.weight).sum()
    }

    fn find(&self, hash: u64, key: &str) -> Option<u32> {
        self.table
            .find(hash, |&i| &*self.nodes[i as usize].key == key)
            .copied()
    }

    /// Looks `key` up without counting an access.
    pub(crate) fn peek(&self, hash: u64, key: &str) -> Option<&V> {
        let i = self.find(hash, key)?;
        self.nodes[i as usize].value.as_ref()
    }

    /// Looks `key` up, counting the access (frequency, recency, ghost hits).
    pub(crate) fn get(&mut self, hash: u64, key: &str) -> Option<&V> {
        self.sketch.increment(hash);
        let Some(i) = self.find(hash, key) else {
            let step = (self.weight() as f64 / self.len().max(1) as f64 * GHOST_STEP) as i64;
            if self.rejected.take(hash) {
                self.adjust_window(step.max(1));
            } else if self.victims.take(hash) {
                self.adjust_window(-step.max(1));
            }
            return None;
        };
        self.touch(i);
        self.nodes[i as usize].value.as_ref()
    }

    /// Inserts or replaces; returns the values let go (evicted, or the replaced one) so the
    /// caller can drop them outside its lock.
    pub(crate) fn insert(&mut self, hash: u64, key: &str, value: V, weight: u32) -> Vec<V> {
        let mut out = Vec::new();
        if let Some(i) = self.find(hash, key) {
            let n = &mut self.nodes[i as usize];
            let (list, old) = (n.list as usize, n.weight);
            out.extend(n.value.replace(value));
            n.weight = weight;
            self.lists[list].weight = self.lists[list].weight - u64::from(old) + u64::from(weight);
            self.touch(i);
        } else {
            let i = self.alloc(key, hash, value, weight);
            self.table
                .insert_unique(hash, i, |&j| self.nodes[j as usize].hash);
            self.push(WINDOW, i);
            self.resize_sketch();
        }
        self.evict(&mut out);
        out
    }

    /// Sets `key` to `f` of its current value (counted as an access if present).
    pub(crate) fn upsert(
        &mut self,
        hash: u64,
        key: &str,
        weight: u32,
        f: impl FnOnce(Option<&V>) -> V,
    ) -> Vec<V> {
        let value = f(self
            .find(hash, key)
            .and_then(|i| self.nodes[i as usize].value.as_ref()));
        self.insert(hash, key, value, weight)
    }

    /// Removes `key`.
    pub(crate) fn remove(&mut self, hash: u64, key: &str) -> Option<V> {
        let i = self.find(hash, key)?;
        self.release(i)
    }

    /// Removes every entry for which `drop` is true; returns the values.
    pub(crate) fn remove_if(&mut self, mut drop: impl FnMut(&str, &V) -> bool) -> Vec<V> {
        let doomed: Vec<u32> = (0..self.nodes.len() as u32)
            .filter(|&i| {
                let n = &self.nodes[i as usize];
                n.value.as_ref().is_some_and(|v| drop(&n.key, v))
            })
            .collect();
        doomed.into_iter().filter_map(|i| self.release(i)).collect()
    }

    /// Checks the next `n` slots (a clock hand over the slab) and removes those `dead` says
    /// are (expired): what keeps expired entries from staying forever in a shard that is
    /// written to.
    pub(crate) fn sweep(&mut self, n: usize, dead: impl Fn(&V) -> bool) -> Vec<V> {
        let mut out = Vec::new();
        for _ in 0..n.min(self.nodes.len()) {
            self.hand = (self.hand + 1) % self.nodes.len();
            let i = self.hand as u32;
            if self.nodes[i as usize].value.as_ref().is_some_and(&dead) {
                out.extend(self.release(i));
            }
        }
        out
    }

    fn alloc(&mut self, key: &str, hash: u64, value: V, weight: u32) -> u32 {
        let node = Node {
            key: key.into(),
            hash,
            value: Some(value),
            weight,
            prev: NIL,
            next: NIL,
            list: DETACHED,
        };
        match self.free.pop() {
            Some(i) => {
                self.nodes[i as usize] = node;
                i
            }
            None => {
                self.nodes.push(node);
                (self.nodes.len() - 1) as u32
            }
        }
    }

    fn release(&mut self, i: u32) -> Option<V> {
        let hash = self.nodes[i as usize].hash;
        if let Ok(e) = self.table.find_entry(hash, |&j| j == i) {
            e.remove();
        }
        self.unlink(i);
        let n = &mut self.nodes[i as usize];
        n.key = Box::from("");
        self.free.push(i);
        n.value.take()
    }

    /// A hit: the window and protected entries move to their list's recent end; a probation
    /// entry is promoted to protected (demoting protected's oldest if it is full).
    fn touch(&mut self, i: u32) {
        let list = self.nodes[i as usize].list as usize;
        self.unlink(i);
        if list == PROBATION {
            self.push(PROTECTED, i);
            while self.lists[PROTECTED].weight > self.protected_max {
                let old = self.lists[PROTECTED].head;
                self.unlink(old);
                self.push(PROBATION, old);
            }
        } else {
            self.push(list, i);
        }
    }

    /// Window overflow goes through admission into probation; then the capacity is enforced.
    fn evict(&mut self, out: &mut Vec<V>) {
        let main_max = self.capacity - self.window_max.min(self.capacity);
        while self.lists[WINDOW].weight > self.window_max {
            let cand = self.lists[WINDOW].head;
            self.unlink(cand);
            let w = u64::from(self.nodes[cand as usize].weight);
            let mut admitted = true;
            while self.main_weight() + w > main_max {
                let victim = match self.lists[PROBATION].head {
                    NIL => self.lists[PROTECTED].head,
                    v => v,
                };
                if victim == NIL {
                    break;
                }
                if self.admit(cand, victim) {
                    self.victims.add(self.nodes[victim as usize].hash);
                    out.extend(self.release(victim));
                    self.evicted += 1;
                } else {
                    admitted = false;
                    break;
                }
            }
            if admitted && w <= main_max {
                self.push(PROBATION, cand);
            } else {
                self.rejected.add(self.nodes[cand as usize].hash);
                out.extend(self.release(cand));
                self.evicted += 1;
            }
        }
        while self.weight() > self.capacity {
            let victim = [PROBATION, PROTECTED, WINDOW]
                .iter()
                .map(|&l| self.lists[l].head)
                .find(|&h| h != NIL);
            let Some(v) = victim else { break };
            out.extend(self.release(v));
            self.evicted += 1;
        }
    }

    fn main_weight(&self) -> u64 {
        self.lists[PROBATION].weight + self.lists[PROTECTED].weight
    }

    fn admit(&mut self, cand: u32, victim: u32) -> bool {
        let c = self.sketch.frequency(self.nodes[cand as usize].hash);
        let v = self.sketch.frequency(self.nodes[victim as usize].hash);
        if c > v {
            return true;
        }
        if c < HASH_FLOOD_FREQUENCY {
            return false;
        }
        // xorshift64
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng & 127 == 0
    }

    /// Re-sizes the sketch once the shard is half full and whenever the number of entries it
    /// would hold at capacity (from the mean weight) is off by more than 2×.
    fn resize_sketch(&mut self) {
        let (len, weight) = (self.len() as u64, self.weight());
        if weight < self.capacity / 2 || len == 0 {
            return;
        }
        let expected = (len as f64 * self.capacity as f64 / weight as f64) as u64;
        let have = self.sketch.entries();
        if expected > have * 2 || expected * 2 < have {
            self.sketch.resize(expected);
            let ghosts = (expected as f64 * GHOST_SHARE) as usize;
            self.rejected = Ghosts::new(ghosts);
            self.victims = Ghosts::new(ghosts);
        }
    }

    fn adjust_window(&mut self, by: i64) {
        if by > 0 {
            let grow = (by as u64).min(self.capacity - self.window_max);
            self.window_max += grow;
            // Main shrinks: its oldest entries move to the window's recent end.
            let main_max = self.capacity - self.window_max;
            while self.main_weight() > main_max {
                let Some(old) = [PROBATION, PROTECTED]
                    .iter()
                    .map(|&l| self.lists[l].head)
                    .find(|&h| h != NIL)
                else {
                    break;
                };
                self.unlink(old);
                self.push(WINDOW, old);
            }
        } else {
            let shrink = by.unsigned_abs().min(self.window_max);
            self.window_max -= shrink;
            // The window's oldest move to probation without admission: main has grown by as much.
            while self.lists[WINDOW].weight > self.window_max {
                let old = self.lists[WINDOW].head;
                self.unlink(old);
                self.push(PROBATION, old);
            }
        }
        self.protected_max = ((self.capacity - self.window_max) as f64 * PROTECTED_SHARE) as u64;
        while self.lists[PROTECTED].weight > self.protected_max {
            let old = self.lists[PROTECTED].head;
            self.unlink(old);
            self.push(PROBATION, old);
        }
    }

    fn unlink(&mut self, i: u32) {
        let (list, prev, next, w) = {
            let n = &self.nodes[i as usize];
            (n.list as usize, n.prev, n.next, n.weight)
        };
        if list == DETACHED as usize {
            return;
        }
        match prev {
            NIL => self.lists[list].head = next,
            p => self.nodes[p as usize].next = next,
        }
        match next {
            NIL => self.lists[list].tail = prev,
            n => self.nodes[n as usize].prev = prev,
        }
        self.lists[list].weight -= u64::from(w);
        let n = &mut self.nodes[i as usize];
        n.prev = NIL;
        n.next = NIL;
        n.list = DETACHED;
    }

    /// Appends at the recent end of `list`.
    fn push(&mut self, list: usize, i: u32) {
        let tail = self.lists[list].tail;
        {
            let n = &mut self.nodes[i as usize];
            n.list = list as u8;
            n.prev = tail;
            n.next = NIL;
        }
        match tail {
            NIL => self.lists[list].head = i,
            t => self.nodes[t as usize].next = i,
        }
        self.lists[list].tail = i;
        self.lists[list].weight += u64::from(self.nodes[i as usize].weight);
    }
}

#[cfg(test)]
mod tests;
