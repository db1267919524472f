//! The default detector: the magnitude/seasonal ensemble ([`EnsembleDetector`]) and the
//! transition memory ([`ContextDetector`]) side by side, the higher score winning, with one
//! rest period, a daily habit (a detection at a time of day where the score crossed the bar on
//! several of the previous days is not reported), a young bar (a series' first days must
//! score higher to count) and a break-through (inside the rest, a much stronger score is
//! reported); across an outage in the data both halves start their one-step views afresh. The
//! two fail on different series (the ensemble misses changes of
//! *pattern* — spikes growing denser, a burst at an odd moment of a bursty series —, the
//! transition memory misses slow drifts and seasonal anomalies), so together they score well
//! above either on NAB.
//!
//! Chosen by measurement on NAB (see `BENCHMARKS.md`); the parameters and threshold are frozen.

use std::time::Duration;

use super::habit::Habit;
use super::{
    ContextDetector, ContextParams, DEFAULT_THRESHOLD, Detector, EnsembleDetector, EnsembleParams,
    Rest, nab_steps,
};
use crate::time::Millis;

/// Parameters of [`CombinedDetector`]. The defaults are the frozen ones.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct CombinedParams {
    /// The ensemble's parameters: its defaults, with a peak memory of 17 d 8 h
    /// ([`EnsembleParams::peak_memory`]).
    pub ensemble: EnsembleParams,
    /// The transition memory's parameters (its own rest period is off: `rest` below applies).
    pub context: ContextParams,
    /// The transition memory's raw score that counts as a detection (mapped onto
    /// [`DEFAULT_THRESHOLD`]).
    pub context_threshold: f64,
    /// Series time of silence after a detection of either (16 h 40 min: 200 of NAB's
    /// 5-minute steps).
    pub rest: Duration,
    /// The score that counts as a detection and starts the rest (the ensemble's own rest
    /// too: it replaces `ensemble.threshold`). A rule that alerts at another bar — say
    /// `anomaly(x) >= 0.7` — should use a detector with that bar here; otherwise a score
    /// between 0.5 and 0.7 silences the detector for `rest` without alerting.
    pub threshold: f64,
    /// The daily habit: how many previous days (at most 7) are looked at when a detection
    /// comes. 0 disables.
    pub habit_days: u8,
    /// A detection is not reported (and starts no rest) when the score crossed the bar within
    /// half an hour of its time of day on at least this many of the `habit_days` previous
    /// days (at least one), whether or not those crossings were reported: a nightly job whose
    /// start drifts, a report every other morning. Its own crossing counts for the days after.
    pub habit_min_days: u8,
    /// The young bar: how much higher than `threshold` the score of a young series must be
    /// to count — `threshold + young_bar` at its first sample, decaying exponentially with the
    /// ensemble's long-run memory (`5 min / ensemble.alpha_long`: 41 h 40 min): 0.8 at the
    /// first sample, 0.6 after two days, 0.53 after four, nothing after two weeks.
    /// Statistics learned from a short history are uncertain; this asks a new series for more
    /// evidence before it alerts (scores are scaled so that the raised bar maps onto
    /// `threshold`). 0 disables.
    pub young_bar: f64,
    /// The break-through: during the rest, a detection whose score beats the one that
    /// started the rest by at least this much is reported all the same (and starts a new
    /// rest). A marginal false alarm then cannot hide a much stronger anomaly that follows
    /// it within the rest, while the same event, which keeps scoring about as high, stays
    /// silent. 0.3: a rest started at up to 0.7 can be broken once, by a score of at least
    /// 0.8–1.0. 0 disables.
    pub break_through: f64,
}

impl Default for CombinedParams {
    fn default() -> Self {
        Self {
            ensemble: EnsembleParams {
                peak_memory: nab_steps(5000),
                ..EnsembleParams::default()
            },
            context: ContextParams {
                rest: Duration::ZERO,
                ..ContextParams::default()
            },
            context_threshold: 0.7,
            rest: nab_steps(200),
            threshold: DEFAULT_THRESHOLD,
            habit_days: 7,
            habit_min_days: 3,
            young_bar: 0.3,
            break_through: 0.3,
        }
    }
}

/// The default detector (see the module documentation), the one the rule engine's
/// `anomaly(...)` uses unless told otherwise: NAB's best score in this crate, over a million
/// samples per second per core, and a memory per series that grows with what the series does — tens
/// of KB for a regular series, bounded by [`ContextParams::max_contexts`] (figures in
/// `BENCHMARKS.md`). Where memory per series matters more than detection (hundreds of
/// thousands of series), [`EnsembleDetector`] alone takes 6 KB. Threshold:
/// [`DEFAULT_THRESHOLD`].
///
/// ```
/// use nexus_alerting::anomaly::{CombinedDetector, Detector, DEFAULT_THRESHOLD};
/// let mut d = CombinedDetector::default();
/// let mut hits = Vec::new();
/// let steps = [0.0, 4.0, 8.0, 11.0];
/// for i in 0..3000i64 {
///     // A staircase; from 2500 it runs backwards for a while: the same values, a new order.
///     let k = (i % 4) as usize;
///     let v = if (2500..2512).contains(&i) { steps[3 - k] } else { steps[k] };
///     if d.update(i * 300_000, v) >= DEFAULT_THRESHOLD { // one sample every 5 min
///         hits.push(i);
///     }
/// }
/// assert_eq!(hits, [2500]);
/// ```
#[derive(Debug)]
pub struct CombinedDetector {
    p: CombinedParams,
    ensemble: EnsembleDetector,
    context: ContextDetector,
    rest: Rest,
    habit: Habit,
    /// When the first sample came.
    first: Option<Millis>,
    /// The score of the detection that started the current rest.
    rest_score: f64,
}

impl Default for CombinedDetector {
    fn default() -> Self {
        Self::new(CombinedParams::default())
    }
}

impl CombinedDetector {
    /// A detector with `p`.
    pub fn new(p: CombinedParams) -> Self {
        Self {
            ensemble: EnsembleDetector::new(EnsembleParams {
                threshold: p.threshold,
                ..p.ensemble
            }),
            context: ContextDetector::new(p.context),
            rest: Rest::new(p.rest),
            habit: Habit::new(),
            first: None,
            rest_score: 0.0,
            p,
        }
    }

    /// A detector told the series' range (NAB's protocol gives every detector the file's range);
    /// the transition memory then skips learning it. See [`ContextDetector::with_range`].
    pub fn with_range(p: CombinedParams, lo: f64, hi: f64) -> Self {
        Self {
            context: ContextDetector::with_range(p.context, lo, hi),
            ..Self::new(p)
        }
    }

    /// The young bar at `ts` as a factor on the score: `threshold / (threshold + young_bar ·
    /// e^(−age / memory))`, 1 once negligible or when disabled.
    fn youth(&mut self, ts: Millis) -> f64 {
        let first = *self.first.get_or_insert(ts);
        let p = &self.p;
        let memory = 300_000.0 / p.ensemble.alpha_long;
        let (t, bar) = (p.threshold, p.young_bar);
        if !(bar > 0.0 && t > 0.0 && memory.is_finite() && memory > 0.0) {
            return 1.0;
        }
        let age = ts.saturating_sub(first).max(0) as f64;
        if age > 40.0 * memory {
            return 1.0;
        }
        t / (t + bar * (-age / memory).exp())
    }

    /// Bytes this detector holds (both parts): the memory per series.
    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of::<Self>() + self.ensemble.memory_bytes() + self.context.memory_bytes()
            - std::mem::size_of::<EnsembleDetector>()
            - std::mem::size_of::<ContextDetector>()
    }
}

impl Detector for CombinedDetector {
    fn update(&mut self, ts: Millis, value: f64) -> f64 {
        let a = self.ensemble.update(ts, value);
        let b = self.context.update(ts, value) * DEFAULT_THRESHOLD / self.p.context_threshold;
        let youth = self.youth(ts);
        let s = a.max(b).clamp(0.0, 1.0) * youth;
        let p = &self.p;
        let mut out = if self.rest.quiet(ts) {
            s
        } else {
            // The ensemble's score past its own rest: a break-through beats both rests.
            let full = self.ensemble.unrested.max(b).clamp(0.0, 1.0) * youth;
            if p.break_through > 0.0 && full >= self.rest_score + p.break_through {
                full
            } else {
                0.0
            }
        };
        if p.habit_days > 0 {
            self.habit.advance(ts);
            // The ensemble's score before its periodic-train filter (a train it hides is a
            // habit all the same), and before the young bar (routine is routine however young).
            if self.ensemble.unfiltered.max(b) >= p.threshold {
                if out >= p.threshold
                    && self.habit.days_seen(ts, p.habit_days) >= p.habit_min_days.max(1)
                {
                    out = 0.0;
                }
                self.habit.mark(ts);
            }
        }
        if out >= p.threshold {
            self.rest.start(ts);
            self.rest_score = out;
        }
        out
    }
}
