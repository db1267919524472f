//! HTM's anomaly likelihood: how unusual the recent average of raw anomaly scores is, given
//! their distribution over a long window.

use std::collections::VecDeque;

use super::{Detector, erfc};
use crate::time::Millis;

/// Wraps a detector: its raw scores' short moving average is compared with a normal fitted to
/// the moving averages of the last `history` samples; the output is NAB's log-scaled
/// likelihood (`0.5` ≈ a 1-in-100 000 event).
#[derive(Debug)]
pub struct Likelihood<D> {
    inner: D,
    short: usize,
    history: usize,
    learning: usize,
    recent: VecDeque<f64>,
    recent_sum: f64,
    averages: VecDeque<f64>,
    sum: f64,
    sum_sq: f64,
    n: usize,
}

impl<D: Detector> Likelihood<D> {
    /// `short`: moving-average length (HTM: 10); `history`: distribution window (HTM: 8640);
    /// no output during the first `learning` samples (HTM: 288 + 100).
    pub fn new(inner: D, short: usize, history: usize, learning: usize) -> Self {
        Self {
            inner,
            short: short.max(1),
            history: history.max(10),
            learning,
            recent: VecDeque::new(),
            recent_sum: 0.0,
            averages: VecDeque::new(),
            sum: 0.0,
            sum_sq: 0.0,
            n: 0,
        }
    }
}

impl<D: Detector> Detector for Likelihood<D> {
    fn update(&mut self, ts: Millis, value: f64) -> f64 {
        let raw = self.inner.update(ts, value);
        self.n += 1;
        self.recent.push_back(raw);
        self.recent_sum += raw;
        if self.recent.len() > self.short {
            self.recent_sum -= self.recent.pop_front().unwrap_or(0.0);
        }
        let avg = self.recent_sum / self.recent.len() as f64;
        let out = if self.n > self.learning && self.averages.len() >= 10 {
            let k = self.averages.len() as f64;
            let mean = self.sum / k;
            let var = (self.sum_sq / k - mean * mean).max(0.0);
            let sd = var.sqrt().max(0.03);
            let tail = 0.5 * erfc((avg - mean) / sd / std::f64::consts::SQRT_2);
            let likelihood = 1.0 - tail;
            ((1.0000000001 - likelihood).ln() / -23.02585084720009).clamp(0.0, 1.0)
        } else {
            0.0
        };
        self.averages.push_back(avg);
        self.sum += avg;
        self.sum_sq += avg * avg;
        if self.averages.len() > self.history {
            let old = self.averages.pop_front().unwrap_or(0.0);
            self.sum -= old;
            self.sum_sq -= old * old;
        }
        out
    }
}
