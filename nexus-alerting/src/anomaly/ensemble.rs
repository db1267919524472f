//! The magnitude ensemble: robust z-scores of several views of the series (the value against
//! its long-run level, a short-run mean against the long run, the first difference, and the
//! cumulative sum of the value's deviations beyond a slack — a CUSUM), after removing a
//! seasonal profile learned during warm-up, with a noise floor relative to the series' own
//! scale and the largest scale of the last days, and a rest period after each detection.
//!
//! Chosen by measurement on NAB (see `BENCHMARKS.md`); the parameters and threshold are frozen.

use std::time::Duration;

use super::{Detector, Interval, Rest, Seen, nab_steps, rate};
use crate::time::Millis;

/// The frozen detection threshold of every detector of this crate that has one (scores `>=`
/// it are anomalies): [`EnsembleDetector`], [`CombinedDetector`](super::CombinedDetector).
pub const DEFAULT_THRESHOLD: f64 = 0.5;

/// Parameters of [`EnsembleDetector`]. The defaults are the frozen ones.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct EnsembleParams {
    /// EWMA weight of the long-run level and variance, per 5 minutes of series time (a
    /// memory of 41 h 40 min; for a series sampled more slowly, 500 samples).
    pub alpha_long: f64,
    /// EWMA weight of the short-run mean, per 5 minutes (a memory of 4 h 10 min; for a series
    /// sampled more slowly, 50 samples).
    pub alpha_short: f64,
    /// Series time of silence after a detection (12 h 30 min: 150 of NAB's 5-minute steps).
    pub rest: Duration,
    /// Score at which a detection starts the rest period.
    pub threshold: f64,
    /// Weights of the value, short-mean and difference views.
    pub weights: [f64; 3],
    /// Series time before any score (25 h: 300 of NAB's 5-minute steps; at least 100 samples).
    pub warmup: Duration,
    /// Samples used to find a seasonal period (and longest period considered: half of it).
    pub season_warmup: usize,
    /// Minimum autocorrelation for a period to be used.
    pub min_autocorrelation: f64,
    /// Per-cycle learning rate of the seasonal profile.
    pub alpha_season: f64,
    /// Noise floor, as a fraction of the series' mean absolute deviation.
    pub floor: f64,
    /// Use time-of-day / time-of-week profiles (from timestamps) instead of the learned period.
    pub calendar: bool,
    /// Learning rate of a calendar bucket per visit 5 minutes apart (for a series sampled
    /// faster, the same learning per day; more slowly, this per visit).
    pub alpha_bucket: f64,
    /// A detection whose distance to the previous one matches the distance between the two
    /// before it (within this fraction) belongs to a regular train (a daily job's spike): it
    /// is not reported. 0 disables.
    pub periodic_tolerance: f64,
    /// A richer calendar model is used when its error is below this fraction of the simpler's.
    pub model_margin: f64,
    /// The echo guard: a time-of-day bucket whose running value is further than this many
    /// day-to-day spreads from the median of its last three daily visits (their means) is
    /// predicted by that median instead. A surge is then not taken as the next day's normal
    /// (without the guard the usual value scores as a drop at the same hour the next day: an
    /// "echo" false alarm), while ordinary day-to-day change is followed as before. The spread
    /// is an EWMA of how far each visit's mean falls from the median before it, a fall counted
    /// at most 4 × the spread. 0 disables; 2 KB per series. Measured flat on NAB from 5 to 8
    /// (`BENCHMARKS.md`).
    pub echo_guard: f64,
    /// The CUSUM view's slack, in standard deviations: each sample adds its deviation from the
    /// long-run level minus the slack (one sum per direction, never below 0; a deviation counts
    /// at most 10 σ), so several moderately large deviations in a row add up to a detection
    /// that no single one of them makes — the view that keeps a shift visible when the series
    /// is sampled irregularly or sparsely (`BENCHMARKS.md`).
    pub cusum_slack: f64,
    /// The CUSUM that scores as [`DEFAULT_THRESHOLD`] (a sum of 10 σ of excess: e.g. five
    /// samples 4 σ away). Each sample adds at most its share of 5 minutes (a series sampled
    /// every minute accumulates per unit of time as one sampled every 5 minutes). 0 or NaN
    /// disables.
    pub cusum_limit: f64,
    /// How long the value, difference and CUSUM views remember their largest scale: a
    /// deviation is measured against the largest standard deviation of about the last
    /// `peak_memory` (an exponential decay, never slower than the series' own age), not only
    /// the current one. A turbulent spell then keeps the bar up for days, so the next burst of
    /// the same size is not an anomaly once the running variance has forgotten the last. Zero
    /// (the default here) disables; [`CombinedParams`](super::CombinedParams) sets 17 d 8 h
    /// (5 000 of NAB's 5-minute steps): on NAB it lifts the default detector and lowers the
    /// ensemble alone (`BENCHMARKS.md`). Worth setting for an ensemble alone over bursty series.
    pub peak_memory: Duration,
    /// A sample more than `gap` typical intervals after the previous one (an outage in the
    /// data) is not compared with that one: the difference view skips it (it neither scores
    /// nor learns the jump across the gap), as a change over hours is not a one-step change.
    /// The default is [`OUTAGE`](super::OUTAGE); 0 or NaN disables (`BENCHMARKS.md`).
    pub gap: f64,
}

impl Default for EnsembleParams {
    fn default() -> Self {
        Self {
            alpha_long: 0.002,
            alpha_short: 0.02,
            rest: nab_steps(150),
            threshold: DEFAULT_THRESHOLD,
            weights: [1.0, 1.0, 1.0],
            warmup: nab_steps(300),
            season_warmup: 600,
            min_autocorrelation: 0.8,
            alpha_season: 0.1,
            floor: 0.1,
            calendar: true,
            alpha_bucket: 0.3,
            periodic_tolerance: 0.05,
            model_margin: 0.8,
            echo_guard: 6.0,
            cusum_slack: 2.0,
            cusum_limit: 10.0,
            peak_memory: Duration::ZERO,
            gap: super::OUTAGE,
        }
    }
}

/// The magnitude ensemble, one half of the default detector
/// ([`CombinedDetector`](super::CombinedDetector)). Memory: the time-of-day and time-of-week
/// profiles (384 floats), the echo guard's last three days (2 KB) and a dozen floats, 6 KB in
/// all ([`EnsembleDetector::memory_bytes`]); without the calendar, the learned seasonal profile
/// instead (at most `season_warmup / 2` floats, plus the warm-up buffer until the period is
/// known).
///
/// ```
/// use nexus_alerting::anomaly::{EnsembleDetector, Detector, DEFAULT_THRESHOLD};
/// let mut d = EnsembleDetector::default();
/// let mut hits = 0;
/// for i in 0..2000i64 {
///     let v = if i == 1500 { 80.0 } else { 10.0 + ((i * 7919) % 13) as f64 / 13.0 };
///     if d.update(i * 60_000, v) >= DEFAULT_THRESHOLD { hits += 1; }
/// }
/// assert_eq!(hits, 1);
/// ```
#[derive(Debug, Clone)]
pub struct EnsembleDetector {
    p: EnsembleParams,
    n: usize,
    mean: f64,
    var: f64,
    short: f64,
    dmean: f64,
    dvar: f64,
    prev: f64,
    interval: Interval,
    /// The per-sample weights for the current interval, refreshed every 64 samples: long,
    /// short, scale (raw mean and deviation, model errors), calendar bucket.
    rates: [f64; 4],
    seen: Seen,
    /// The warm-up is over.
    warm: bool,
    rest: Rest,
    learn: Vec<f64>,
    period: usize,
    phase: usize,
    profile: Vec<f64>,
    level: f64,
    raw_mean: f64,
    raw_dev: f64,
    cal: Option<Box<Calendar>>,
    /// The last two detection times.
    detections: [Millis; 2],
    /// The last score returned, before the periodic-train filter (0 in the rest).
    pub(crate) unfiltered: f64,
    /// The last score, before the rest and the periodic-train filter.
    pub(crate) unrested: f64,
    /// The CUSUMs of deviations above and below the long-run level.
    cusum: [f64; 2],
    /// The largest variances of the value and difference views, decaying
    /// ([`EnsembleParams::peak_memory`]), and the decay per sample.
    peak: [f64; 2],
    peak_decay: f64,
}

/// EWMA weight of the series' scale (mean absolute deviation) and of the calendar models'
/// errors, per 5 minutes (a memory of 8 h 20 min).
const SCALE_ALPHA: f64 = 0.01;

const DAY_BUCKETS: usize = 48;
const WEEK_BUCKETS: usize = 7 * DAY_BUCKETS;

/// The mean of each time-of-day bucket over its last three daily visits, and how far a visit's
/// mean usually falls from the median of the three before it: the echo guard's memory.
#[derive(Debug, Clone)]
struct Visits {
    /// Per bucket: the last three completed visits' means (oldest first), how many there are,
    /// the day of the current visit, and its sum and samples.
    means: [[f64; 3]; DAY_BUCKETS],
    complete: [u8; DAY_BUCKETS],
    day: [i64; DAY_BUCKETS],
    sum: [f64; DAY_BUCKETS],
    samples: [u32; DAY_BUCKETS],
    /// EWMA of |a completed visit's mean - the median before it| (NaN until the first).
    spread: f64,
}

/// Weight of one completed visit in [`Visits::spread`].
const SPREAD_ALPHA: f64 = 0.05;

fn median3([a, b, c]: [f64; 3]) -> f64 {
    a.max(b).min(a.min(b).max(c))
}

impl Visits {
    fn new() -> Self {
        Self {
            means: [[0.0; 3]; DAY_BUCKETS],
            complete: [0; DAY_BUCKETS],
            day: [i64::MIN; DAY_BUCKETS],
            sum: [0.0; DAY_BUCKETS],
            samples: [0; DAY_BUCKETS],
            spread: f64::NAN,
        }
    }

    /// `x` falls in bucket `b` on `day`. Returns the median of the bucket's last three
    /// completed visits and the spread, once both are known (before `x` counts).
    fn visit(&mut self, b: usize, day: i64, x: f64) -> Option<(f64, f64)> {
        if self.day[b] != day {
            let mean = self.sum[b] / f64::from(self.samples[b].max(1));
            // A visit with no samples, or whose sum overflowed (values near f64::MAX), is
            // not a day's value.
            if self.samples[b] > 0 && mean.is_finite() {
                let m = &mut self.means[b];
                if self.complete[b] < 3 {
                    m[usize::from(self.complete[b])] = mean;
                    self.complete[b] += 1;
                } else {
                    let fall = (mean - median3(*m)).abs();
                    self.spread = if self.spread.is_nan() {
                        fall
                    } else {
                        let fall = fall.min(4.0 * self.spread);
                        self.spread + SPREAD_ALPHA * (fall - self.spread)
                    };
                    *m = [m[1], m[2], mean];
                }
            }
            (self.day[b], self.sum[b], self.samples[b]) = (day, 0.0, 0);
        }
        let known = self.complete[b] == 3 && !self.spread.is_nan();
        let out = known.then(|| (median3(self.means[b]), self.spread));
        self.sum[b] += x;
        self.samples[b] = self.samples[b].saturating_add(1);
        out
    }
}

/// Time-of-day and time-of-week profiles, with the residual variance of each model.
#[derive(Debug, Clone)]
struct Calendar {
    day: [f64; DAY_BUCKETS],
    day_seen: [bool; DAY_BUCKETS],
    week: Vec<f64>,
    week_seen: Vec<bool>,
    /// EWMA of squared residuals: none, daily, weekly.
    err: [f64; 3],
    level: f64,
    /// The echo guard's memory ([`EnsembleParams::echo_guard`] > 0).
    visits: Option<Box<Visits>>,
}

impl Calendar {
    fn new(echo_guard: bool) -> Self {
        Self {
            day: [0.0; DAY_BUCKETS],
            day_seen: [false; DAY_BUCKETS],
            week: vec![0.0; WEEK_BUCKETS],
            week_seen: vec![false; WEEK_BUCKETS],
            err: [0.0; 3],
            level: f64::NAN,
            visits: echo_guard.then(|| Box::new(Visits::new())),
        }
    }
}

/// The day-profile bucket, week-profile bucket and day number of a timestamp.
fn buckets(ts_ms: Millis) -> (usize, usize, i64) {
    let secs = ts_ms.div_euclid(1000);
    let day = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let b = (sod * DAY_BUCKETS as i64 / 86_400) as usize;
    // 1970-01-01 was a Thursday; any fixed origin will do for a weekly profile.
    let dow = day.rem_euclid(7) as usize;
    (b, dow * DAY_BUCKETS + b, day)
}

impl Default for EnsembleDetector {
    fn default() -> Self {
        Self::new(EnsembleParams::default())
    }
}

/// The z-score of `x` against the EWMA `mean` on the scale `sd`; then `x` updates `mean` and
/// `var`.
fn ew_z(mean: &mut f64, var: &mut f64, sd: f64, a: f64, x: f64) -> f64 {
    let d = x - *mean;
    let z = if sd > 1e-12 {
        d / sd
    } else if d.abs() < 1e-12 {
        0.0
    } else {
        50.0
    };
    let inc = a * d;
    *mean += inc;
    *var = (1.0 - a) * (*var + d * inc);
    z.abs().min(50.0)
}

impl EnsembleDetector {
    /// A detector with `p`.
    pub fn new(p: EnsembleParams) -> Self {
        Self {
            p,
            n: 0,
            mean: 0.0,
            var: 0.0,
            short: 0.0,
            dmean: 0.0,
            dvar: 0.0,
            prev: 0.0,
            interval: Interval::default(),
            rates: [p.alpha_long, p.alpha_short, SCALE_ALPHA, p.alpha_bucket],
            seen: Seen::default(),
            rest: Rest::new(p.rest),
            warm: false,
            learn: Vec::new(),
            period: 0,
            phase: 0,
            profile: Vec::new(),
            level: 0.0,
            raw_mean: 0.0,
            raw_dev: 0.0,
            cal: p
                .calendar
                .then(|| Box::new(Calendar::new(p.echo_guard > 0.0))),
            detections: [Millis::MIN; 2],
            unfiltered: 0.0,
            unrested: 0.0,
            cusum: [0.0; 2],
            peak: [0.0; 2],
            peak_decay: 0.0,
        }
    }

    /// The residual after the best calendar model (none, time of day, time of week).
    fn decalendar(&mut self, ts: Millis, x: f64) -> f64 {
        let [al, _, ae, a] = self.rates;
        let margin = self.p.model_margin;
        let Some(c) = self.cal.as_deref_mut() else {
            return x;
        };
        let (db, wb, day) = buckets(ts);
        if c.level.is_nan() {
            c.level = x;
        }
        let mut pred_day = if c.day_seen[db] { c.day[db] } else { c.level };
        if let Some(v) = c.visits.as_deref_mut()
            && let Some((median, spread)) = v.visit(db, day, x)
            && c.day_seen[db]
            && (pred_day - median).abs() > self.p.echo_guard * spread
        {
            pred_day = median;
        }
        let pred_week = if c.week_seen[wb] {
            c.week[wb]
        } else {
            pred_day
        };
        let res = [x - c.level, x - pred_day, x - pred_week];
        let best = {
            // Prefer the simpler model unless a richer one is clearly better.
            let mut m = 0;
            if c.err[1] < margin * c.err[m] {
                m = 1;
            }
            if c.err[2] < margin * c.err[m] {
                m = 2;
            }
            m
        };
        let out = res[best];
        for (e, r) in c.err.iter_mut().zip(res) {
            *e += ae * (r * r - *e);
        }
        c.level += al * (x - c.level);
        if c.day_seen[db] {
            c.day[db] += a * (x - c.day[db])
        } else {
            c.day[db] = x;
            c.day_seen[db] = true;
        }
        if c.week_seen[wb] {
            c.week[wb] += a * (x - c.week[wb])
        } else {
            c.week[wb] = x;
            c.week_seen[wb] = true;
        }
        out
    }

    /// Bytes this detector holds (inline, calendar profiles, buffers): the memory per series.
    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.cal.as_ref().map_or(0, |c| {
                std::mem::size_of::<Calendar>()
                    + c.week.capacity() * std::mem::size_of::<f64>()
                    + c.week_seen.capacity()
                    + c.visits
                        .as_ref()
                        .map_or(0, |_| std::mem::size_of::<Visits>())
            })
            + (self.learn.capacity() + self.profile.capacity()) * std::mem::size_of::<f64>()
    }

    /// The seasonal period found (0: none).
    pub fn period(&self) -> usize {
        self.period
    }

    fn deseason(&mut self, x: f64) -> f64 {
        if self.period == 0 && self.learn.len() < self.p.season_warmup {
            self.learn.push(x);
            if self.learn.len() == self.p.season_warmup {
                self.fit_season();
            }
            return x;
        }
        if self.period == 0 {
            return x;
        }
        let s = self.profile[self.phase];
        let e = x - s;
        self.profile[self.phase] += self.p.alpha_season * (x - self.level - s);
        self.level += self.rates[0] * (e - self.level);
        self.phase = (self.phase + 1) % self.period;
        e
    }

    fn fit_season(&mut self) {
        let v = std::mem::take(&mut self.learn);
        let n = v.len();
        let mean = v.iter().sum::<f64>() / n as f64;
        let var: f64 = v.iter().map(|a| (a - mean).powi(2)).sum();
        let mut best = (0usize, self.p.min_autocorrelation);
        if var > 0.0 {
            for lag in 4..=(n / 2) {
                let c: f64 = (lag..n)
                    .map(|i| (v[i] - mean) * (v[i - lag] - mean))
                    .sum::<f64>()
                    / var;
                if c > best.1 {
                    best = (lag, c);
                }
            }
        }
        if best.0 == 0 {
            self.learn = Vec::new();
            self.learn.shrink_to_fit();
            // No period: never look again (bounded work).
            self.period = 0;
            self.p.season_warmup = 0;
            return;
        }
        let p = best.0;
        let mut prof = vec![0.0; p];
        let mut cnt = vec![0usize; p];
        for (i, a) in v.iter().enumerate() {
            prof[i % p] += a - mean;
            cnt[i % p] += 1;
        }
        for (a, c) in prof.iter_mut().zip(cnt) {
            *a /= c.max(1) as f64;
        }
        self.period = p;
        self.phase = n % p;
        self.profile = prof;
        self.level = mean;
    }

    /// Adds the signed deviation `z` (in standard deviations) to the CUSUMs; returns the view's
    /// z-score equivalent (the limit maps onto 5 σ, the bar). Nothing accumulates before the
    /// warm-up is over.
    #[inline]
    fn cusum(&mut self, z: f64) -> f64 {
        let (k, h) = (self.p.cusum_slack, self.p.cusum_limit);
        if h.is_nan() || h <= 0.0 || !self.warm {
            return 0.0;
        }
        let w = self.interval.steps().min(1.0);
        // A NaN deviation empties both sums (`max` returns the other operand).
        let z = z.clamp(-10.0, 10.0);
        let [up, down] = &mut self.cusum;
        *up = (*up + w * (z - k)).max(0.0);
        *down = (*down - w * (z + k)).max(0.0);
        (up.max(*down) * (5.0 / h)).min(50.0)
    }

    fn raw(&mut self, ts: Millis, x: f64) -> f64 {
        let intervals = self.interval.tick(ts);
        if self.n % 64 == 1 {
            let steps = self.interval.steps();
            let p = &self.p;
            self.rates =
                [p.alpha_long, p.alpha_short, SCALE_ALPHA, p.alpha_bucket].map(|a| rate(a, steps));
            let memory = super::millis(p.peak_memory) as f64;
            let age = self.seen.first.map_or(0, |f| ts.saturating_sub(f)) as f64;
            self.peak_decay = if memory > 0.0 {
                (-steps * 300_000.0 / memory.min(age).max(1.0)).exp()
            } else {
                0.0
            };
        }
        let [al, ashort, ascale, _] = self.rates;
        self.raw_mean += ascale * (x - self.raw_mean);
        self.raw_dev += ascale * ((x - self.raw_mean).abs() - self.raw_dev);
        let floor = self.p.floor * (self.raw_dev + 1e-3 * self.raw_mean.abs()).max(1e-9);
        let x = if self.p.calendar {
            self.decalendar(ts, x)
        } else {
            self.deseason(x)
        };
        self.n += 1;
        self.seen.tick(ts);
        if self.n == 1 {
            self.mean = x;
            self.short = x;
            self.prev = x;
            return 0.0;
        }
        let p = self.p;
        let sd_before = self.var.sqrt().max(floor).max(1e-9);
        // The largest recent variances (the current ones when the memory is switched off:
        // the decay is 0 then): the scale of the value, difference and CUSUM views.
        self.peak[0] = self.var.max(self.peak[0] * self.peak_decay);
        self.peak[1] = self.dvar.max(self.peak[1] * self.peak_decay);
        let sd = self.peak[0].sqrt().max(floor);
        let z_cusum = self.cusum((x - self.mean) / sd.max(1e-9));
        let z_value = ew_z(&mut self.mean, &mut self.var, sd, al, x);
        self.short += ashort * (x - self.short);
        let z_shift = ((self.short - self.mean).abs() / sd_before).min(50.0);
        let dx = x - self.prev;
        self.prev = x;
        // `gap` NaN or ≤ 0: never an outage.
        let z_diff = if p.gap > 0.0 && intervals > p.gap {
            0.0
        } else {
            ew_z(
                &mut self.dmean,
                &mut self.dvar,
                self.peak[1].sqrt().max(floor),
                al,
                dx,
            )
        };
        let s = (z_value * p.weights[0])
            .max(z_shift * p.weights[1])
            .max(z_diff * p.weights[2])
            .max(z_cusum);
        if self.warm || self.seen.covers(ts, p.warmup) {
            self.warm = true;
            s
        } else {
            0.0
        }
    }
}

impl Detector for EnsembleDetector {
    fn update(&mut self, ts: Millis, value: f64) -> f64 {
        if !value.is_finite() {
            self.unfiltered = 0.0;
            self.unrested = 0.0;
            return 0.0;
        }
        let r = self.raw(ts, value);
        let score = r / (r + 5.0);
        self.unrested = score;
        let mut out = if self.rest.quiet(ts) { score } else { 0.0 };
        self.unfiltered = out;
        if out >= self.p.threshold {
            self.cusum = [0.0; 2];
            self.rest.start(ts);
            let [d1, d2] = self.detections;
            let tol = self.p.periodic_tolerance;
            if tol > 0.0 && d2 != Millis::MIN {
                let (gap, prev_gap) = ((ts - d1) as f64, (d1 - d2) as f64);
                if (gap - prev_gap).abs() <= tol * prev_gap {
                    out = 0.0;
                }
            }
            self.detections = [ts, d1];
        }
        out
    }
}
