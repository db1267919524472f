//! A contextual transition memory in the manner of CAD OSE (Smirnov's Contextual Anomaly
//! Detector, third of NAB's published detectors): each value is quantised into a few bit
//! "facts"; the detector remembers *contexts* — a left group of facts of one value (a subset:
//! "the value was in the upper half") and a right group of facts that followed it — and scores
//! a step by how few of the contexts it could check were confirmed and how many new ones it had
//! to learn. It sees the *order* of values, which magnitude statistics cannot.
//!
//! Differences from CAD OSE, each chosen by measurement on NAB (`BENCHMARKS.md`):
//! - first order: the left group is the previous value's facts only. CAD OSE also puts the
//!   contexts that fired into it (chains, higher orders); on NAB that bought nothing here, at
//!   5–20× the cost.
//! - what the memory expects next is, for each left group that holds, the facts that followed it
//!   most often (a histogram per left group) rather than the best-scoring stored context: the
//!   same NAB score, and it keeps every step's work to a few counters per left group.
//! - no range known in advance: it is learned during a warm-up and widened by a margin; a value
//!   beyond it gets extra bits, themselves new facts.
//! - several memories ("lanes") whose quantisation bins are shifted by a fraction of a step,
//!   averaged, so that a value near a bin edge does not decide the score.
//! - a bound on the contexts remembered.

use std::time::Duration;

use foldhash::HashMap;

use super::{Detector, Rest, Seen, nab_steps};
use crate::time::Millis;

/// Parameters of [`ContextDetector`]. The defaults are the frozen ones.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct ContextParams {
    /// Bits of the quantised value (`2^bits - 1` steps over the range).
    pub bits: u32,
    /// Bits a value beyond the range may take on top of `bits` (values further out share the
    /// outermost bins): bounds the facts per value, hence the contexts and memory a series
    /// with wild outliers makes.
    pub extra_bits: u32,
    /// Series time over which the range is learned, scores 0 meanwhile (25 h: 300 of NAB's
    /// 5-minute steps; at least 100 samples).
    pub warmup: Duration,
    /// Series time after the warm-up during which the memory learns but scores 0 (everything
    /// is new to an empty memory; 25 h, at least 100 samples).
    pub learn: Duration,
    /// Margin added on each side of the learned range, as a fraction of it.
    pub margin: f64,
    /// Memories run side by side, each quantising with bins shifted by `1 / lanes` of a step;
    /// the score is their mean.
    pub lanes: usize,
    /// Most facts in the left group of a derived context.
    pub max_left: usize,
    /// A raw score at or above this within the last `rest` silences the output.
    pub rest_threshold: f64,
    /// Series time of silence after a raw score at or above `rest_threshold` (10 h: 120 of
    /// NAB's 5-minute steps).
    pub rest: Duration,
    /// Contexts remembered at most per lane (the memory bound); none are learned beyond it.
    pub max_contexts: usize,
    /// A sample more than `gap` typical intervals after the previous one (an outage in the
    /// data) starts the sequence afresh: the transition across the gap is neither scored nor
    /// learned. The default is [`OUTAGE`](super::OUTAGE); 0 or NaN disables.
    pub gap: f64,
}

impl Default for ContextParams {
    fn default() -> Self {
        Self {
            bits: 4,
            extra_bits: 4,
            warmup: nab_steps(300),
            learn: nab_steps(300),
            margin: 0.6,
            lanes: 4,
            max_left: 7,
            rest_threshold: 0.75,
            rest: nab_steps(120),
            max_contexts: 8192,
            gap: super::OUTAGE,
        }
    }
}

/// A set of value facts: bit `2i + b` means "bit `i` of the quantised value is `b`" (i < 63);
/// bit 127 means "below the range".
type Mask = u128;
const NEGATIVE_BIT: u32 = 127;
/// Bit 126, never a value fact, marks a stored right group whose context is zero-level.
const ZERO_LEVEL: Mask = 1 << 126;
/// Most bits of a quantised value (range bits plus extra bits).
const MAX_BITS: u32 = 63;

/// Iterates the facts (bit positions) of `mask`.
fn facts(mut mask: Mask) -> impl Iterator<Item = usize> {
    std::iter::from_fn(move || {
        (mask != 0).then(|| {
            let i = mask.trailing_zeros() as usize;
            mask &= mask - 1;
            i
        })
    })
}

/// A left group and what it knows: the right groups seen after it, and how often each fact
/// followed it.
#[derive(Debug)]
struct Left {
    facts: Mask,
    /// Right groups, sorted, each with [`ZERO_LEVEL`] set if its context is zero-level: seen
    /// whole (this left group was a full value). Only zero-level contexts derive others.
    rights: Vec<Mask>,
    /// Times the left group held (its facts were all in the previous value).
    held: u32,
    /// `followed[i]`: times fact `i` came when the group held.
    followed: Vec<u32>,
    /// The highest count in `followed`, and the facts that have it: what this group expects.
    top: u32,
    expected: Mask,
}

impl Left {
    fn new(facts: Mask) -> Self {
        Self {
            facts,
            rights: Vec::new(),
            held: 0,
            followed: Vec::new(),
            top: 0,
            expected: 0,
        }
    }

    /// The group held and the value with these facts came (`facts`: their positions,
    /// ascending).
    fn count(&mut self, facts: &[u8]) {
        // After 2^32 - 1 steps the shares freeze rather than wrap (no count exceeds `held`).
        if self.held == u32::MAX {
            return;
        }
        self.held += 1;
        let Some(&last) = facts.last() else {
            return;
        };
        if self.followed.len() <= usize::from(last) {
            self.followed.resize(usize::from(last) + 1, 0);
        }
        let (mut top, mut expected) = (self.top, self.expected);
        for &i in facts {
            let slot = &mut self.followed[usize::from(i)];
            *slot += 1;
            let n = *slot;
            if n >= top {
                if n > top {
                    (top, expected) = (n, 0);
                }
                let bit: Mask = 1 << i;
                expected |= bit;
            }
        }
        (self.top, self.expected) = (top, expected);
    }
}

/// What a memory expects: the facts expected by the most confident left groups that hold. A
/// left group's confidence is the share of the times it held in which its expected facts came
/// (0 before it ever held, when it expects all its right groups); compared exactly, as
/// fractions.
#[derive(Debug, Clone, Copy)]
struct Expectation {
    /// The best confidence so far, as (numerator, denominator).
    best: (u32, u32),
    facts: Mask,
}

impl Default for Expectation {
    fn default() -> Self {
        Self {
            best: (0, 1),
            facts: 0,
        }
    }
}

impl Expectation {
    fn add(&mut self, l: &Left) {
        let c = if l.held == 0 { (0, 1) } else { (l.top, l.held) };
        let (lhs, rhs) = (
            u64::from(c.0) * u64::from(self.best.1),
            u64::from(self.best.0) * u64::from(c.1),
        );
        if lhs > rhs {
            (self.best, self.facts) = (c, 0);
        }
        if lhs >= rhs {
            self.facts |= l.expected;
        }
    }
}

/// A value (its facts) as a group: the left groups it contains and what followed it.
#[derive(Debug)]
struct Value {
    facts: Mask,
    /// The left groups contained in it, and how many left groups existed when the list was
    /// brought up to date (those made since are checked on the next use).
    within: Vec<u32>,
    checked: u32,
    /// (next value, contexts of `within` then, how many of them the next value confirmed): a
    /// step seen before costs a few counters (contexts are only ever added, so an unchanged
    /// total means unchanged contexts).
    next: Vec<(u32, u32, u32)>,
}

/// One context memory over one quantisation.
#[derive(Debug, Default)]
struct Lane {
    lefts: Vec<Left>,
    ids: HashMap<Mask, u32>,
    /// Contexts stored.
    contexts: usize,
    /// The values seen (a cache, dropped when it outgrows the bound): what a step needs to
    /// know about a value, found with one lookup.
    values: Vec<Value>,
    value_ids: HashMap<Mask, u32>,
    /// Entries in the values' lists (the cache is emptied beyond `8 × max_contexts`).
    cached: usize,
    /// The previous value.
    group: Option<u32>,
    derived: Vec<(Mask, Mask)>,
}

impl Lane {
    /// Stores a context unless known (or the memory is full); true when new.
    fn store(&mut self, left: Mask, right: Mask, zero_level: bool, cap: usize) -> bool {
        let full = self.contexts >= cap;
        if full && !self.ids.contains_key(&left) {
            return false;
        }
        let next_left = self.lefts.len() as u32;
        let l = *self.ids.entry(left).or_insert(next_left);
        if l == next_left {
            self.lefts.push(Left::new(left));
        }
        let flag = if zero_level { ZERO_LEVEL } else { 0 };
        let ls = &mut self.lefts[l as usize];
        match ls.rights.binary_search_by_key(&right, |r| r & !ZERO_LEVEL) {
            Ok(i) => {
                ls.rights[i] |= flag;
                false
            }
            Err(_) if full => false,
            Err(at) => {
                ls.rights.insert(at, right | flag);
                if ls.held == 0 {
                    ls.expected |= right;
                }
                self.contexts += 1;
                true
            }
        }
    }

    /// The id of the value whose facts are `facts`.
    fn value(&mut self, facts: Mask, cap: usize) -> u32 {
        if self.cached > cap.saturating_mul(8) {
            self.forget_values(cap);
        }
        if let Some(&id) = self.value_ids.get(&facts) {
            return id;
        }
        if self.values.len() >= cap {
            self.forget_values(cap);
        }
        let id = self.values.len() as u32;
        self.value_ids.insert(facts, id);
        self.values.push(Value {
            facts,
            within: Vec::new(),
            checked: 0,
            next: Vec::new(),
        });
        id
    }

    /// Empties the values cache (it outgrew its bound); the previous value is looked up again.
    fn forget_values(&mut self, cap: usize) {
        let group = self.group.take().map(|g| self.values[g as usize].facts);
        self.values.clear();
        self.value_ids.clear();
        self.cached = 0;
        self.group = group.map(|g| self.value(g, cap));
    }

    /// Brings the list of left groups within value `v` up to date.
    fn within(&mut self, v: u32) -> &mut Value {
        let value = &mut self.values[v as usize];
        for (i, l) in self.lefts.iter().enumerate().skip(value.checked as usize) {
            if l.facts & !value.facts == 0 {
                value.within.push(i as u32);
                self.cached += 1;
            }
        }
        value.checked = self.lefts.len() as u32;
        value
    }

    /// One step; returns the raw anomaly score of the value whose facts are `sensed`.
    fn step(&mut self, sensed: Mask, p: &ContextParams) -> f64 {
        let v = self.value(sensed, p.max_contexts);
        let Some(g) = self.group.replace(v) else {
            return 0.0;
        };
        let group = self.values[g as usize].facts;
        let known = self.values[g as usize]
            .next
            .iter()
            .find(|n| n.0 == v)
            .map(|n| (n.1, n.2));
        // What the memory expected after the group is read from the left groups that held,
        // before this step changes them: in the same pass as their update on the usual step
        // (a transition seen before), in a pass of its own when this step may add a context.
        self.within(g);
        let mut expected = Expectation::default();
        if known.is_none() {
            for &l in &self.values[g as usize].within {
                expected.add(&self.lefts[l as usize]);
            }
        }
        // A transition seen before was stored then (or the memory was full, as it still is).
        let novel = known.is_none() && self.store(group, sensed, true, p.max_contexts);
        if novel {
            self.within(g);
        }
        let mut total = 0;
        // At most one fact per quantised bit (MAX_BITS) and the sign fact.
        let mut positions = [0u8; MAX_BITS as usize + 1];
        let n = facts(sensed)
            .zip(positions.iter_mut())
            .map(|(i, p)| *p = i as u8)
            .count();
        let positions = &positions[..n];
        let read = known.is_some();
        for &l in &self.values[g as usize].within {
            let ls = &mut self.lefts[l as usize];
            if read {
                expected.add(ls);
            }
            total += ls.rights.len() as u32;
            ls.count(positions);
        }
        // Count the contexts of the left groups that held (checked) and those the value
        // confirmed; on a step that made a new context, also derive contexts from every left
        // group that shares a fact with the group (the only kind of step that derives).
        let mut derived = std::mem::take(&mut self.derived);
        derived.clear();
        let (checked, confirmed) = match known {
            Some((t, c)) if t == total => (t, c),
            _ => {
                let (mut checked, mut confirmed) = (0, 0);
                for &l in &self.values[g as usize].within {
                    let ls = &self.lefts[l as usize];
                    for &r in &ls.rights {
                        let (right, zero) = (r & !ZERO_LEVEL, r & ZERO_LEVEL != 0);
                        if novel && zero && right == sensed && ls.facts == group {
                            continue; // the context just made
                        }
                        checked += 1;
                        if right & !sensed == 0 {
                            confirmed += 1;
                        } else if novel
                            && zero
                            && right & sensed != 0
                            && ls.facts.count_ones() as usize <= p.max_left
                        {
                            derived.push((ls.facts, right & sensed));
                        }
                    }
                }
                if !novel {
                    let next = &mut self.values[g as usize].next;
                    match next.iter_mut().find(|n| n.0 == v) {
                        Some(n) => (n.1, n.2) = (checked, confirmed),
                        None => {
                            next.push((v, checked, confirmed));
                            self.cached += 1;
                        }
                    }
                }
                (checked, confirmed)
            }
        };
        let mut novelty = 0.0;
        if novel {
            for ls in &self.lefts {
                let crossed = ls.facts & group;
                if crossed == 0 || crossed == ls.facts {
                    continue;
                }
                if crossed.count_ones() as usize > p.max_left {
                    continue;
                }
                for &r in &ls.rights {
                    let (right, zero) = (r & !ZERO_LEVEL, r & ZERO_LEVEL != 0);
                    if zero && right & sensed != 0 {
                        derived.push((crossed, right & sensed));
                    }
                }
            }
            derived.push((group, sensed));
            derived.sort_unstable();
            derived.dedup();
            let mut added = 1;
            for &(l, r) in &derived {
                if (l, r) != (group, sensed) {
                    added += usize::from(self.store(l, r, false, p.max_contexts));
                }
            }
            novelty = added as f64 / derived.len() as f64;
        }
        self.derived = derived;
        let share = if checked > 0 {
            f64::from(confirmed) / f64::from(checked)
        } else {
            0.0
        };
        if sensed & !expected.facts != 0 {
            (1.0 - share + novelty) / 2.0
        } else {
            0.0
        }
    }
}

/// The contextual transition-memory detector (see the module documentation). Deterministic.
/// Memory grows with what it learns, up to `max_contexts` contexts per lane (16 bytes each,
/// plus their left groups and the per-value caches: at most a few hundred bytes per context;
/// in practice tens of KB for a regular series, 2.5 MB on the worst series we know —
/// `BENCHMARKS.md`). Time per sample and memory: a few counters per left group that holds on
/// the usual step (a transition seen before); at most one pass over the memory, so bounded by
/// `max_contexts`, on a step that learns.
///
/// ```
/// use nexus_alerting::anomaly::{ContextDetector, Detector};
/// let mut d = ContextDetector::default();
/// let mut at_anomaly = 0.0;
/// for i in 0..2000i64 {
///     let v = if i == 1500 { 90.0 } else { (i % 10) as f64 };
///     let s = d.update(i * 300_000, v); // one sample every 5 min
///     if i == 1500 { at_anomaly = s; }
/// }
/// assert!(at_anomaly > 0.5);
/// ```
#[derive(Debug)]
pub struct ContextDetector {
    p: ContextParams,
    lo: f64,
    hi: f64,
    base: f64,
    step: f64,
    lanes: Vec<Lane>,
    /// Samples seen in the range warm-up, then in the learning phase (restarted between).
    seen: Seen,
    phase: Phase,
    rest: Rest,
    /// The series' typical interval, to tell an outage.
    interval: super::Interval,
}

/// Where a [`ContextDetector`] is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Learning the range.
    Range,
    /// Learning the transitions, scoring 0.
    Learn,
    Score,
}

impl Default for ContextDetector {
    fn default() -> Self {
        Self::new(ContextParams::default())
    }
}

impl ContextDetector {
    /// A detector with these parameters.
    pub fn new(p: ContextParams) -> Self {
        let bits = p.bits.clamp(1, 16);
        let p = ContextParams {
            bits,
            extra_bits: p.extra_bits.min(MAX_BITS - bits),
            margin: if p.margin.is_finite() {
                p.margin.max(0.0)
            } else {
                0.0
            },
            ..p
        };
        Self {
            p,
            seen: Seen::default(),
            phase: Phase::Range,
            rest: Rest::new(p.rest),
            interval: super::Interval::default(),
            lo: f64::INFINITY,
            hi: f64::NEG_INFINITY,
            base: 0.0,
            step: 1.0,
            lanes: (0..p.lanes.max(1)).map(|_| Lane::default()).collect(),
        }
    }

    /// A detector told the series' range instead of learning it (NAB gives every detector the
    /// file's range; CAD OSE and HTM use it): no warm-up, no margin.
    pub fn with_range(p: ContextParams, lo: f64, hi: f64) -> Self {
        let mut d = Self::new(ContextParams { margin: 0.0, ..p });
        d.set_range(lo, hi);
        d.phase = Phase::Learn;
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
                let lefts: usize = l
                    .lefts
                    .iter()
                    .map(|s| {
                        size_of::<Left>()
                            + s.rights.capacity() * size_of::<Mask>()
                            + s.followed.capacity() * size_of::<u32>()
                    })
                    .sum();
                let values: usize = l
                    .values
                    .iter()
                    .map(|v| {
                        v.within.capacity() * size_of::<u32>()
                            + v.next.capacity() * size_of::<(u32, u32, u32)>()
                    })
                    .sum();
                size_of::<Lane>()
                    + lefts
                    + l.lefts.capacity().saturating_sub(l.lefts.len()) * size_of::<Left>()
                    + values
                    + l.values.capacity() * size_of::<Value>()
                    + table(l.ids.capacity(), size_of::<(Mask, u32)>())
                    + table(l.value_ids.capacity(), size_of::<(Mask, u32)>())
                    + l.derived.capacity() * size_of::<(Mask, Mask)>()
            })
            .sum();
        size_of::<Self>() + lanes
    }

    /// Contexts learned so far (all lanes).
    pub fn contexts(&self) -> usize {
        self.lanes.iter().map(|l| l.contexts).sum()
    }

    /// The value facts of `value` in lane `lane`, as a mask: its quantised bits (more than
    /// `bits` when beyond the range, up to 63), and a sign fact below it.
    fn encode(&self, value: f64, lane: usize) -> Mask {
        let shift = lane as f64 / self.lanes.len() as f64;
        let q = ((value - self.base) / self.step + shift).floor();
        let top = self.p.bits + self.p.extra_bits;
        let mut n = (q.abs().min(1e18) as u64).min((1 << top) - 1);
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
    fn update(&mut self, ts: Millis, value: f64) -> f64 {
        if !value.is_finite() {
            return 0.0;
        }
        self.seen.tick(ts);
        if self.p.gap > 0.0 && self.interval.tick(ts) > self.p.gap {
            for lane in &mut self.lanes {
                lane.group = None;
            }
        }
        if self.phase == Phase::Range {
            self.lo = self.lo.min(value);
            self.hi = self.hi.max(value);
            if self.seen.covers(ts, self.p.warmup) {
                self.set_range(self.lo, self.hi);
                (self.phase, self.seen) = (Phase::Learn, Seen::default());
            }
            return 0.0;
        }
        let mut raw = 0.0;
        for i in 0..self.lanes.len() {
            let sensed = self.encode(value, i);
            raw += self.lanes[i].step(sensed, &self.p);
        }
        let raw = raw / self.lanes.len() as f64;
        if self.phase == Phase::Learn {
            if self.seen.covers(ts, self.p.learn) {
                self.phase = Phase::Score;
            }
            return 0.0;
        }
        let quiet = self.rest.quiet(ts);
        if raw >= self.p.rest_threshold && !self.p.rest.is_zero() {
            self.rest.start(ts);
        }
        if quiet { raw } else { 0.0 }
    }
}
