//! A contextual sequence-memory detector in the manner of CAD OSE (Smirnov's Contextual Anomaly
//! Detector, third of NAB's published detectors): each value is quantised into a few bit
//! "facts"; the detector remembers *contexts* — pairs of a left group (the previous step's facts
//! plus the contexts that were active then) and a right group (the facts that followed) — and
//! scores a step by how few of the contexts it expected were confirmed and how many new ones it
//! had to learn. It sees the *order* of values, which magnitude statistics cannot.
//!
//! Differences from CAD OSE: no range known in advance (it is learned during warm-up, widened by
//! a margin; a value beyond it gets extra bits, themselves new facts); several memories whose
//! quantisation bins are shifted by a fraction of a step, averaged, so that a value near a bin
//! edge does not decide the score; a bound on the contexts remembered; and a lazy evaluation
//! that does the full context crossing only on steps that made a new context (the only steps
//! whose result depends on it).

use std::collections::VecDeque;

use foldhash::HashMap;

use super::Detector;
use crate::time::Millis;

/// Parameters of [`ContextDetector`]. The defaults are the frozen ones.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct ContextParams {
    /// Bits of the quantised value (`2^bits - 1` steps over the range).
    pub bits: u32,
    /// Samples over which the range is learned (scores are 0 meanwhile).
    pub warmup: usize,
    /// Samples after the warm-up during which the memory learns but scores 0 (everything is
    /// new to an empty memory).
    pub learn: usize,
    /// Margin added on each side of the learned range, as a fraction of it.
    pub margin: f64,
    /// Memories run side by side, each quantising with bins shifted by `1 / lanes` of a step;
    /// the score is their mean.
    pub lanes: usize,
    /// Most contexts made active ("neurons") per step.
    pub max_active: usize,
    /// Longest left group a derived context may have.
    pub max_left: usize,
    /// A raw score at or above this in the last `rest` samples silences the output.
    pub rest_threshold: f64,
    /// Samples of silence after a raw score at or above `rest_threshold`.
    pub rest: usize,
    /// Contexts remembered at most per lane (the memory bound); none are learned beyond it.
    pub max_contexts: usize,
}

impl Default for ContextParams {
    fn default() -> Self {
        Self {
            bits: 3,
            warmup: 300,
            learn: 300,
            margin: 0.5,
            lanes: 2,
            max_active: 15,
            max_left: 7,
            rest_threshold: 0.75,
            rest: 120,
            max_contexts: 8192,
        }
    }
}

type Facts = Vec<u64>;

/// Left groups hold value facts (`SENSOR + i`, i < 128: bit `i / 2` of the quantised value is
/// `i % 2`; i = 127: below the range) and active contexts (`NEURON + id`). Right groups hold
/// value facts only, so they are kept as bit masks.
const SENSOR: u64 = 1 << 16;
const NEURON: u64 = 1 << 31;
const NEGATIVE_BIT: u32 = 127;

/// A set of value facts.
type Mask = u128;

fn facts_of(mask: Mask) -> impl Iterator<Item = u64> {
    (0..128u64)
        .filter(move |i| mask >> i & 1 == 1)
        .map(|i| SENSOR + i)
}

/// A left semi-context: a group of facts, and the contexts that start with it.
#[derive(Debug)]
struct Semi {
    facts: Facts,
    /// Its value facts, as a mask, and a 64-bit signature of all its facts (quick subset
    /// tests: a semi-context whose mask or signature has a bit the group lacks is no subset).
    values: Mask,
    signature: u64,
    /// Its facts found in the last full crossing.
    crossed: Facts,
    /// (right group id, context id), sorted by right group.
    contexts: Vec<(u32, u32)>,
}

#[derive(Debug)]
struct Context {
    /// Facts expected over the times its left group was complete.
    selected: f64,
    /// Of those, facts that came.
    predicted: f64,
    activations: u32,
    left: u32,
    right: u32,
    zero_level: bool,
}

/// The left semi-contexts and their indexes.
#[derive(Debug, Default)]
struct Lefts {
    ids: HashMap<Facts, u32>,
    semis: Vec<Semi>,
    /// Fact → semi-contexts holding it.
    by_fact: HashMap<u64, Vec<u32>>,
    /// Largest fact → semi-contexts (to find the subsets of a group quickly).
    by_max: HashMap<u64, Vec<u32>>,
    /// Semi-contexts crossed by the last full crossing.
    crossed: Vec<u32>,
}

impl Lefts {
    fn intern(&mut self, facts: &Facts) -> u32 {
        if let Some(&id) = self.ids.get(facts) {
            return id;
        }
        let id = self.semis.len() as u32;
        self.ids.insert(facts.clone(), id);
        for f in facts {
            self.by_fact.entry(*f).or_default().push(id);
        }
        if let Some(&m) = facts.last() {
            self.by_max.entry(m).or_default().push(id);
        }
        self.semis.push(Semi {
            values: mask_of(facts),
            signature: signature(facts),
            facts: facts.clone(),
            crossed: Vec::new(),
            contexts: Vec::new(),
        });
        id
    }

    /// Full crossing: records which of each semi-context's facts are in `group` (sorted).
    fn cross(&mut self, group: &[u64]) {
        for &id in &self.crossed {
            self.semis[id as usize].crossed.clear();
        }
        self.crossed.clear();
        for f in group {
            if let Some(ids) = self.by_fact.get(f) {
                for &id in ids {
                    let s = &mut self.semis[id as usize];
                    if s.crossed.is_empty() {
                        self.crossed.push(id);
                    }
                    s.crossed.push(*f);
                }
            }
        }
        self.crossed.sort_unstable();
    }

    /// The semi-contexts whose facts are all in `group` (sorted), in no particular order.
    fn subsets(&self, group: &[u64], out: &mut Vec<u32>) {
        out.clear();
        let (values, sig) = (mask_of(group), signature(group));
        for f in group {
            if let Some(ids) = self.by_max.get(f) {
                out.extend(ids.iter().copied().filter(|&id| {
                    let s = &self.semis[id as usize];
                    s.values & !values == 0 && s.signature & !sig == 0 && is_subset(&s.facts, group)
                }));
            }
        }
    }
}

fn mask_of(facts: &[u64]) -> Mask {
    facts
        .iter()
        .filter(|&&f| (SENSOR..SENSOR + 128).contains(&f))
        .fold(0, |m, f| m | 1 << (f - SENSOR))
}

fn signature(facts: &[u64]) -> u64 {
    facts.iter().fold(0, |m, f| {
        m | 1 << (f.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 58)
    })
}

fn is_subset(small: &[u64], big: &[u64]) -> bool {
    let mut it = big.iter();
    small.iter().all(|f| it.any(|g| g == f))
}

/// One context memory over one quantisation.
#[derive(Debug, Default)]
struct Lane {
    lefts: Lefts,
    /// Right groups (masks of value facts) and their ids.
    rights: Vec<Mask>,
    right_ids: HashMap<Mask, u32>,
    contexts: Vec<Context>,
    /// The left group of the last step and its complete semi-contexts.
    group: Facts,
    complete: Vec<u32>,
    /// Value facts the memory expects next.
    predicted: Mask,
    scratch: Vec<u32>,
    review: Vec<(u32, bool)>,
    active: Vec<(u32, u32, u32, u32)>,
    derived: Vec<(Facts, Mask)>,
}

impl Lane {
    /// Stores a context unless known (or the memory is full); `Some(id)` when new.
    fn store(&mut self, left: &Facts, right: Mask, zero_level: bool, cap: usize) -> Option<u32> {
        let full = self.contexts.len() >= cap;
        if full && (!self.lefts.ids.contains_key(left) || !self.right_ids.contains_key(&right)) {
            return None;
        }
        let l = self.lefts.intern(left);
        let r = *self.right_ids.entry(right).or_insert_with(|| {
            self.rights.push(right);
            (self.rights.len() - 1) as u32
        });
        let list = &mut self.lefts.semis[l as usize].contexts;
        let at = match list.binary_search_by_key(&r, |e| e.0) {
            Ok(i) => {
                if zero_level {
                    self.contexts[list[i].1 as usize].zero_level = true;
                }
                return None;
            }
            Err(at) => at,
        };
        if full {
            return None;
        }
        let c = self.contexts.len() as u32;
        list.insert(at, (r, c));
        self.contexts.push(Context {
            selected: 0.0,
            predicted: 0.0,
            activations: 0,
            left: l,
            right: r,
            zero_level,
        });
        Some(c)
    }

    /// One step; returns the raw anomaly score of the value whose facts are `sensed`.
    fn step(&mut self, sensed: Mask, p: &ContextParams) -> f64 {
        let unpredicted = sensed & !self.predicted != 0;
        let had_group = !self.group.is_empty();
        let group = std::mem::take(&mut self.group);
        let new_context = if had_group {
            self.store(&group, sensed, true, p.max_contexts)
        } else {
            None
        };
        let novel = new_context.is_some();
        // Which left semi-contexts of the last group to review: the complete ones, or, on a
        // step that made a new context (the only kind that derives contexts), all crossed.
        let mut review = std::mem::take(&mut self.review);
        review.clear();
        if novel {
            self.lefts.cross(&group);
            review.extend(self.lefts.crossed.iter().map(|&id| {
                let s = &self.lefts.semis[id as usize];
                (id, s.crossed.len() == s.facts.len())
            }));
        } else {
            review.extend(self.complete.iter().map(|&id| (id, true)));
        }
        let mut active = std::mem::take(&mut self.active);
        let mut derived = std::mem::take(&mut self.derived);
        active.clear();
        derived.clear();
        let mut selected = 0usize;
        for &(lid, complete) in &review {
            let ls = &self.lefts.semis[lid as usize];
            for &(rid, cid) in &ls.contexts {
                if new_context == Some(cid) {
                    continue;
                }
                let right = self.rights[rid as usize];
                let rc = (right & sensed).count_ones();
                let c = &mut self.contexts[cid as usize];
                if complete {
                    selected += 1;
                    c.selected += f64::from(right.count_ones());
                    if rc > 0 {
                        c.predicted += f64::from(rc);
                        if rc == right.count_ones() {
                            c.activations = c.activations.saturating_add(1);
                            active.push((c.activations, c.left, c.right, cid));
                            continue;
                        }
                    }
                }
                if novel && rc > 0 && c.zero_level && ls.crossed.len() <= p.max_left {
                    derived.push((ls.crossed.clone(), right & sensed));
                }
            }
        }
        self.review = review;
        let confirmed = if selected > 0 {
            active.len() as f64 / selected as f64
        } else {
            0.0
        };
        // The next left group: the value's facts and the strongest active contexts.
        if p.max_active == 0 {
            active.clear();
        } else if active.len() > p.max_active {
            let at = active.len() - p.max_active;
            active.select_nth_unstable(at);
            active.drain(..at);
        }
        let mut next: Facts = facts_of(sensed).collect();
        next.extend(active.iter().map(|a| NEURON + u64::from(a.3)));
        next.sort_unstable();
        next.dedup();
        self.active = active;
        let mut novelty = 0.0;
        if novel {
            let mut uniq: Vec<&(Facts, Mask)> = derived.iter().collect();
            let zero = (group, sensed);
            uniq.push(&zero);
            uniq.sort_unstable();
            uniq.dedup();
            let n = uniq.len();
            let mut added = 1;
            for (l, r) in &derived {
                added += usize::from(self.store(l, *r, false, p.max_contexts).is_some());
            }
            novelty = added as f64 / n as f64;
        }
        self.derived = derived;
        // Predict: the right groups of the best-scoring contexts whose left group is complete.
        let mut complete = std::mem::take(&mut self.scratch);
        self.lefts.subsets(&next, &mut complete);
        let mut best = 0.0f64;
        let mut predicted: Mask = 0;
        for &lid in &complete {
            for &(rid, cid) in &self.lefts.semis[lid as usize].contexts {
                let c = &self.contexts[cid as usize];
                let w = if c.selected > 0.0 {
                    c.predicted / c.selected
                } else {
                    0.0
                };
                if w > best {
                    best = w;
                    predicted = 0;
                }
                if w == best {
                    predicted |= self.rights[rid as usize];
                }
            }
        }
        self.predicted = predicted;
        self.scratch = std::mem::replace(&mut self.complete, complete);
        self.group = next;
        if unpredicted {
            (1.0 - confirmed + novelty) / 2.0
        } else {
            0.0
        }
    }
}

/// The contextual sequence-memory detector (see the module documentation). Deterministic.
/// Memory grows with what it learns, up to `max_contexts` contexts per lane (each context with
/// its semi-contexts and index entries takes roughly 200–300 bytes).
///
/// ```
/// use nexus_alerting::anomaly::{ContextDetector, Detector};
/// let mut d = ContextDetector::default();
/// let mut at_anomaly = 0.0;
/// for i in 0..2000i64 {
///     let v = if i == 1500 { 90.0 } else { (i % 10) as f64 };
///     let s = d.update(i * 60_000, v);
///     if i == 1500 { at_anomaly = s; }
/// }
/// assert!(at_anomaly > 0.5);
/// ```
#[derive(Debug)]
pub struct ContextDetector {
    p: ContextParams,
    seen: usize,
    lo: f64,
    hi: f64,
    base: f64,
    step: f64,
    lanes: Vec<Lane>,
    recent: VecDeque<f64>,
}

impl Default for ContextDetector {
    fn default() -> Self {
        Self::new(ContextParams::default())
    }
}

impl ContextDetector {
    /// A detector with these parameters.
    pub fn new(p: ContextParams) -> Self {
        let p = ContextParams {
            bits: p.bits.clamp(1, 16),
            margin: if p.margin.is_finite() {
                p.margin.max(0.0)
            } else {
                0.0
            },
            ..p
        };
        Self {
            p,
            seen: 0,
            lo: f64::INFINITY,
            hi: f64::NEG_INFINITY,
            base: 0.0,
            step: 1.0,
            lanes: (0..p.lanes.max(1)).map(|_| Lane::default()).collect(),
            recent: VecDeque::with_capacity(p.rest + 1),
        }
    }

    /// A detector told the series' range instead of learning it (NAB gives every detector the
    /// file's range; CAD OSE and HTM use it): no warm-up, no margin.
    pub fn with_range(p: ContextParams, lo: f64, hi: f64) -> Self {
        let mut d = Self::new(ContextParams {
            warmup: 0,
            margin: 0.0,
            ..p
        });
        d.set_range(lo, hi);
        d
    }

    fn set_range(&mut self, lo: f64, hi: f64) {
        let max_bin = ((1u64 << self.p.bits) - 1) as f64;
        let range = if hi > lo { hi - lo } else { max_bin };
        self.lo = lo;
        self.hi = hi;
        self.base = lo - self.p.margin * range;
        self.step = range * (1.0 + 2.0 * self.p.margin) / max_bin;
    }

    /// Bytes this detector holds (an estimate from its collections' capacities, hash tables
    /// counted at their entries' size plus one control byte): the memory per series.
    pub fn memory_bytes(&self) -> usize {
        use std::mem::size_of;
        let table = |entries: usize, entry: usize| entries * (entry + 1);
        let lanes: usize = self
            .lanes
            .iter()
            .map(|l| {
                let semis: usize = l
                    .lefts
                    .semis
                    .iter()
                    .map(|s| {
                        size_of::<Semi>()
                            + (2 * s.facts.capacity() + s.crossed.capacity()) * size_of::<u64>()
                            + s.contexts.capacity() * size_of::<(u32, u32)>()
                    })
                    .sum();
                let index: usize = l
                    .lefts
                    .by_fact
                    .values()
                    .chain(l.lefts.by_max.values())
                    .map(|v| v.capacity() * size_of::<u32>())
                    .sum();
                size_of::<Lane>()
                    + semis
                    + index
                    + table(l.lefts.ids.capacity(), size_of::<(Facts, u32)>())
                    + table(
                        l.lefts.by_fact.capacity() + l.lefts.by_max.capacity(),
                        size_of::<(u64, Vec<u32>)>(),
                    )
                    + l.rights.capacity() * size_of::<Mask>()
                    + table(l.right_ids.capacity(), size_of::<(Mask, u32)>())
                    + l.contexts.capacity() * size_of::<Context>()
                    + (l.group.capacity()) * size_of::<u64>()
                    + (l.complete.capacity() + l.scratch.capacity()) * size_of::<u32>()
                    + l.review.capacity() * size_of::<(u32, bool)>()
                    + l.active.capacity() * size_of::<(u32, u32, u32, u32)>()
            })
            .sum();
        size_of::<Self>() + lanes + self.recent.capacity() * size_of::<f64>()
    }

    /// Contexts learned so far (all lanes).
    pub fn contexts(&self) -> usize {
        self.lanes.iter().map(|l| l.contexts.len()).sum()
    }

    /// The value facts of `value` in lane `lane`, as a mask: its quantised bits (more than
    /// `bits` when beyond the range, up to 63), and a sign fact below it.
    fn encode(&self, value: f64, lane: usize) -> Mask {
        let shift = lane as f64 / self.lanes.len() as f64;
        let q = ((value - self.base) / self.step + shift).floor();
        let mut n = q.abs().min(1e18) as u64;
        let mut mask: Mask = 0;
        let mut bit = 0u32;
        while bit < self.p.bits || n > 0 {
            mask |= 1 << (bit * 2 + (n & 1) as u32);
            n >>= 1;
            bit += 1;
        }
        if q < 0.0 {
            mask |= 1 << NEGATIVE_BIT;
        }
        mask
    }
}

impl Detector for ContextDetector {
    fn update(&mut self, _ts: Millis, value: f64) -> f64 {
        if !value.is_finite() {
            return 0.0;
        }
        if self.seen < self.p.warmup {
            self.seen += 1;
            self.lo = self.lo.min(value);
            self.hi = self.hi.max(value);
            if self.seen == self.p.warmup {
                self.set_range(self.lo, self.hi);
            }
            return 0.0;
        }
        let mut raw = 0.0;
        for i in 0..self.lanes.len() {
            let sensed = self.encode(value, i);
            raw += self.lanes[i].step(sensed, &self.p);
        }
        let raw = raw / self.lanes.len() as f64;
        if self.seen < self.p.warmup + self.p.learn {
            self.seen += 1;
            return 0.0;
        }
        let quiet = self.recent.iter().all(|&r| r < self.p.rest_threshold);
        if self.p.rest > 0 {
            if self.recent.len() >= self.p.rest {
                self.recent.pop_front();
            }
            self.recent.push_back(raw);
        }
        if quiet { raw } else { 0.0 }
    }
}
