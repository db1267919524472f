//! Baseline detectors: EWMA z-score, median/MAD, seasonal Holt-Winters.

use std::collections::VecDeque;

use super::{Detector, z_to_score};
use crate::time::Millis;

/// EWMA/EWMV z-score: `|x − mean| / std` with exponentially weighted mean and variance.
///
/// ```
/// use nexus_alerting::anomaly::{Detector, EwmaDetector};
/// let mut d = EwmaDetector::new(0.05, 50);
/// for i in 0..200 { d.update(i, (i % 7) as f64); }
/// assert!(d.update(200, 100.0) > 0.8); // ≈ 45 σ
/// ```
#[derive(Debug, Clone)]
pub struct EwmaDetector {
    alpha: f64,
    warmup: usize,
    n: usize,
    mean: f64,
    var: f64,
}

impl EwmaDetector {
    /// Weight `alpha` of each new sample; no score before `warmup` samples.
    pub fn new(alpha: f64, warmup: usize) -> Self {
        Self {
            alpha,
            warmup,
            n: 0,
            mean: 0.0,
            var: 0.0,
        }
    }
}

impl Detector for EwmaDetector {
    fn update(&mut self, _: Millis, x: f64) -> f64 {
        self.n += 1;
        if self.n == 1 {
            self.mean = x;
            return 0.0;
        }
        let d = x - self.mean;
        let sd = self.var.sqrt();
        let z = if sd > 0.0 {
            d / sd
        } else if d == 0.0 {
            0.0
        } else {
            f64::INFINITY
        };
        let incr = self.alpha * d;
        self.mean += incr;
        self.var = (1.0 - self.alpha) * (self.var + d * incr);
        if self.n <= self.warmup {
            0.0
        } else {
            z_to_score(z)
        }
    }
}

/// Median/MAD over the last `window` samples: `|x − median| / (1.4826 · MAD)` (the mean
/// absolute deviation when the MAD is 0).
#[derive(Debug, Clone)]
pub struct MadDetector {
    window: usize,
    buf: VecDeque<f64>,
    scratch: Vec<f64>,
}

impl MadDetector {
    /// A detector over the last `window` samples (also its warm-up).
    pub fn new(window: usize) -> Self {
        Self {
            window: window.max(3),
            buf: VecDeque::new(),
            scratch: Vec::new(),
        }
    }
}

fn median(v: &mut [f64]) -> f64 {
    let n = v.len();
    let mid = n / 2;
    let (_, m, _) = v.select_nth_unstable_by(mid, |a, b| a.total_cmp(b));
    *m
}

impl Detector for MadDetector {
    fn update(&mut self, _: Millis, x: f64) -> f64 {
        let score = if self.buf.len() >= self.window {
            self.scratch.clear();
            self.scratch.extend(self.buf.iter().copied());
            let med = median(&mut self.scratch);
            for v in self.scratch.iter_mut() {
                *v = (*v - med).abs();
            }
            let mut mad = median(&mut self.scratch) * 1.4826;
            if mad == 0.0 {
                // More than half the window equal (quantised data): fall back to the mean
                // absolute deviation, scaled to σ for a normal.
                mad = self.scratch.iter().sum::<f64>() / self.scratch.len() as f64 * 1.2533;
            }
            let d = x - med;
            z_to_score(if mad > 0.0 {
                d / mad
            } else if d == 0.0 {
                0.0
            } else {
                f64::INFINITY
            })
        } else {
            0.0
        };
        self.buf.push_back(x);
        if self.buf.len() > self.window {
            self.buf.pop_front();
        }
        score
    }
}

/// Additive Holt-Winters with a seasonal period learned during warm-up (the lag, up to
/// `max_period`, with the highest autocorrelation above 0.3; none: plain Holt), scoring the
/// one-step forecast error against its EWMA deviation.
#[derive(Debug, Clone)]
pub struct SeasonalDetector {
    warmup: usize,
    max_period: usize,
    learn: Vec<f64>,
    period: usize,
    level: f64,
    trend: f64,
    season: Vec<f64>,
    t: usize,
    err_var: f64,
    ready: bool,
}

impl SeasonalDetector {
    /// Learns the period over the first `warmup` samples (at least `2 · max_period`).
    pub fn new(warmup: usize, max_period: usize) -> Self {
        Self {
            warmup: warmup.max(2 * max_period + 2),
            max_period,
            learn: Vec::new(),
            period: 0,
            level: 0.0,
            trend: 0.0,
            season: Vec::new(),
            t: 0,
            err_var: 0.0,
            ready: false,
        }
    }

    fn fit(&mut self) {
        let x = &self.learn;
        let n = x.len();
        let mean = x.iter().sum::<f64>() / n as f64;
        let var: f64 = x.iter().map(|v| (v - mean).powi(2)).sum();
        let mut best = (0usize, 0.3f64);
        if var > 0.0 {
            for lag in 2..=self.max_period.min(n / 2) {
                let c: f64 = (lag..n)
                    .map(|i| (x[i] - mean) * (x[i - lag] - mean))
                    .sum::<f64>()
                    / var;
                if c > best.1 {
                    best = (lag, c);
                }
            }
        }
        self.period = best.0;
        self.level = mean;
        self.season = vec![0.0; self.period.max(1)];
        if self.period > 0 {
            let mut counts = vec![0usize; self.period];
            for (i, v) in x.iter().enumerate() {
                self.season[i % self.period] += v - mean;
                counts[i % self.period] += 1;
            }
            for (s, c) in self.season.iter_mut().zip(counts) {
                *s /= c.max(1) as f64;
            }
        }
        self.err_var = var / n as f64;
        self.t = n;
        self.ready = true;
    }
}

impl Detector for SeasonalDetector {
    fn update(&mut self, _: Millis, x: f64) -> f64 {
        if !self.ready {
            self.learn.push(x);
            if self.learn.len() >= self.warmup {
                self.fit();
                self.learn = Vec::new();
            }
            return 0.0;
        }
        let (a, b, g) = (0.1, 0.01, 0.1);
        let si = if self.period > 0 {
            self.t % self.period
        } else {
            0
        };
        let s = if self.period > 0 {
            self.season[si]
        } else {
            0.0
        };
        let forecast = self.level + self.trend + s;
        let err = x - forecast;
        let sd = self.err_var.sqrt();
        let z = if sd > 0.0 {
            err / sd
        } else if err == 0.0 {
            0.0
        } else {
            f64::INFINITY
        };
        let prev_level = self.level;
        self.level = a * (x - s) + (1.0 - a) * (self.level + self.trend);
        self.trend = b * (self.level - prev_level) + (1.0 - b) * self.trend;
        if self.period > 0 {
            self.season[si] = g * (x - self.level) + (1.0 - g) * s;
        }
        self.err_var = 0.99 * self.err_var + 0.01 * err * err;
        self.t += 1;
        z_to_score(z)
    }
}
