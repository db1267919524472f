//! Streaming anomaly detection: a [`Detector`] takes one timestamped sample and returns an
//! anomaly score in `[0, 1]`, in constant time and bounded memory per series; deterministic.
//!
//! Baselines: [`EwmaDetector`] (EWMA/EWMV z-score), [`MadDetector`] (median/MAD over a window),
//! [`SeasonalDetector`] (additive Holt-Winters with a learned period). Post-step:
//! [`Likelihood`] (HTM's anomaly likelihood). [`EnsembleDetector`] scores magnitudes (robust
//! z-scores after a learned seasonal profile); [`ContextDetector`] is a transition memory in
//! the manner of CAD OSE, which sees the order of values; the default detector,
//! [`CombinedDetector`], runs both — chosen by measurement on NAB, where it scores above every
//! published detector on the shared subset, at over a million samples per second.
//! [`ArtDetector`] is ARTime's adaptive-resonance method, streaming (measured below the default
//! on NAB when it must learn the range; not the default). [`nab`] scores detectors on the
//! Numenta Anomaly Benchmark.
//!
//! Warm-ups, rest periods and memories are series time, so a detector means the same at a 15 s
//! scrape and on hourly data; their defaults are written as the 5-minute sample counts of NAB
//! they were measured at. A gap of more than [`OUTAGE`] typical intervals is an outage: the
//! sample after it is not compared with the one before (a change over hours is not a one-step
//! change).
//!
//! ```
//! use nexus_alerting::anomaly::{CombinedDetector, Detector};
//! let mut d = CombinedDetector::default();
//! let mut last = 0.0;
//! for i in 0..2_000i64 {
//!     let value = if i == 1_900 { 500.0 } else { 10.0 + (i % 24) as f64 };
//!     last = d.update(i * 300_000, value); // one sample every 5 min
//!     if i == 1_900 {
//!         assert!(last > 0.5, "the spike scores high: {last}");
//!     }
//! }
//! assert!((0.0..=1.0).contains(&last));
//! ```

mod art;
mod baselines;
mod combined;
mod context;
mod ensemble;
mod habit;
mod likelihood;
pub mod nab;

pub use art::{ArtDetector, ArtParams};
pub use baselines::{EwmaDetector, MadDetector, SeasonalDetector};
pub use combined::{CombinedDetector, CombinedParams};
pub use context::{ContextDetector, ContextParams};
pub use ensemble::{DEFAULT_THRESHOLD, EnsembleDetector, EnsembleParams};
pub use likelihood::Likelihood;

use std::time::Duration;

use crate::time::Millis;

/// Fewest samples any warm-up takes, whatever its length in time: a range or a variance
/// estimated from fewer is noise.
pub(crate) const MIN_WARMUP_SAMPLES: u64 = 100;

/// `n` of NAB's 5-minute steps as a duration. The frozen parameters were first measured in
/// samples of NAB's 5-minute series; their defaults in time are written with this.
pub(crate) const fn nab_steps(n: u32) -> Duration {
    Duration::from_secs(300 * n as u64)
}

/// A duration in milliseconds, saturating.
pub(crate) fn millis(d: Duration) -> Millis {
    Millis::try_from(d.as_millis()).unwrap_or(Millis::MAX)
}

/// Series time seen so far: when the first sample came and how many came since, for warm-ups
/// measured in time (with a floor of [`MIN_WARMUP_SAMPLES`]).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Seen {
    first: Option<Millis>,
    samples: u64,
}

impl Seen {
    /// Counts a sample at `ts`.
    pub(crate) fn tick(&mut self, ts: Millis) {
        self.first.get_or_insert(ts);
        self.samples = self.samples.saturating_add(1);
    }

    /// Whether at least `span` of series time and [`MIN_WARMUP_SAMPLES`] samples have been
    /// seen by the sample at `ts`.
    pub(crate) fn covers(&self, ts: Millis, span: Duration) -> bool {
        self.samples >= MIN_WARMUP_SAMPLES
            && self
                .first
                .is_some_and(|f| ts.saturating_sub(f) >= millis(span))
    }
}

/// A gap longer than this many typical intervals is an outage: it does not stretch the
/// interval's estimate, and by default the sample after it starts the difference and transition
/// views afresh ([`EnsembleParams::gap`], [`ContextParams::gap`]).
pub const OUTAGE: f64 = 4.0;

/// The series' typical sampling interval, learned from the gaps between samples: an EWMA of
/// the gaps, each counted at most [`OUTAGE`] × the estimate (an outage does not stretch it).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Interval {
    last: Millis,
    /// The estimate in NAB's 5-minute steps (1 until two samples came).
    steps: f64,
    known: bool,
}

impl Default for Interval {
    fn default() -> Self {
        Self {
            last: Millis::MIN,
            steps: 1.0,
            known: false,
        }
    }
}

impl Interval {
    /// Counts a sample at `ts`; returns the time since the previous sample in estimated
    /// intervals (before this gap updates the estimate; 0 for the first two samples).
    pub(crate) fn tick(&mut self, ts: Millis) -> f64 {
        let mut intervals = 0.0;
        if self.last != Millis::MIN && ts > self.last {
            let gap = (ts - self.last) as f64 / 300_000.0;
            if self.known {
                intervals = gap / self.steps;
                self.steps += 0.05 * (gap.min(OUTAGE * self.steps) - self.steps);
            } else {
                (self.steps, self.known) = (gap, true);
            }
        }
        self.last = self.last.max(ts);
        intervals
    }

    /// The interval in NAB's 5-minute steps.
    pub(crate) fn steps(&self) -> f64 {
        self.steps
    }
}

/// The per-sample weight of an EWMA whose weight is `per_step` per NAB 5-minute step, for
/// samples `steps` steps apart: the same memory in time for series sampled faster than every
/// 5 minutes, and the same memory in samples for slower ones (a floor: measured on NAB's
/// hourly and 30-minute files, shorter memories in samples cost 0.9 points — `BENCHMARKS.md`).
pub(crate) fn rate(per_step: f64, steps: f64) -> f64 {
    (1.0 - (1.0 - per_step).powf(steps)).min(per_step)
}

/// A silence after an event, in series time: [`Rest::quiet`] is false until the rest has passed
/// since the last [`Rest::start`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rest {
    last: Millis,
    len: Millis,
}

impl Rest {
    pub(crate) fn new(len: Duration) -> Self {
        Self {
            last: Millis::MIN,
            len: millis(len),
        }
    }

    pub(crate) fn start(&mut self, ts: Millis) {
        self.last = ts;
    }

    pub(crate) fn quiet(&self, ts: Millis) -> bool {
        self.last == Millis::MIN || ts.saturating_sub(self.last) > self.len
    }
}

/// A streaming anomaly detector for one series.
pub trait Detector: Send + std::fmt::Debug {
    /// Feeds one sample; returns its anomaly score in `[0, 1]` (0 during warm-up).
    fn update(&mut self, timestamp: Millis, value: f64) -> f64;
}

/// Maps a z-score to `[0, 1)`, monotone and without saturating in `f64` (`|z| / (|z| + 5)`:
/// 0.5 at 5 σ), so a threshold can be placed anywhere.
pub(crate) fn z_to_score(z: f64) -> f64 {
    if z.is_nan() {
        return 0.0;
    }
    let a = z.abs();
    if a.is_infinite() { 1.0 } else { a / (a + 5.0) }
}

pub(crate) use nexus_core::stats::erfc;
