//! False alarms a week on stationary bursty count series: what a detector raises where nothing
//! changes but the series is bursty by nature (tweet volumes, request counts). Poisson counts
//! around a daily cycle (mean `BASE` per 5 minutes, ±60 %) with bursts arriving at random,
//! every `EVERY_H` hours on average, each adding a Pareto(`ALPHA`)-sized multiple of the
//! current rate and halving every sample; eight weeks at 5 minutes, the first week not
//! counted, ten seeds.
//!
//! Then the same series with three labelled surges each (the rate × k for an hour, on days 10,
//! 24 and 38 at a random hour), scored as NAB scores a file (its windows: 10 % of the file
//! shared among the surges, centred on each; its probation; standard profile, the frozen
//! threshold), pooled over the seeds, for k = 2, 3, 5, 10: how large a surge must be, on such a
//! series, before a detector's hits outweigh its false alarms.
//!
//! `cargo run --release -p nexus-alerting --example bursty -- [EVERY_H [ALPHA [BASE]]]`
//! (defaults 12, 2, 50; a huge `EVERY_H` gives the series without bursts).
#![allow(clippy::unwrap_used)]

use nexus_alerting::anomaly::nab::{self, DataFile, PROFILES, ScoredFile};
use nexus_alerting::anomaly::{
    ArtDetector, CombinedDetector, ContextDetector, DEFAULT_THRESHOLD, Detector, EnsembleDetector,
};

/// xorshift64: a fixed, dependency-free generator.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15))
    }

    fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A Poisson draw (normal approximation above a mean of 30).
    fn poisson(&mut self, mean: f64) -> f64 {
        if mean > 30.0 {
            let g = (-2.0 * self.uniform().max(1e-300).ln()).sqrt()
                * (std::f64::consts::TAU * self.uniform()).cos();
            (mean + g * mean.sqrt()).round().max(0.0)
        } else {
            let limit = (-mean).exp();
            let (mut k, mut p) = (0.0, 1.0);
            loop {
                p *= self.uniform();
                if p < limit {
                    break k;
                }
                k += 1.0;
            }
        }
    }
}

/// Samples a day (5 minutes each), and days per series.
const DAY: usize = 288;
const DAYS: usize = 56;
const STEP: i64 = 300;
const START: i64 = 1_400_000_000;
const NAMES: [&str; 4] = ["default", "ensemble", "art", "context"];

/// The shape of the series.
#[derive(Clone, Copy)]
struct Shape {
    every_h: f64,
    alpha: f64,
    base: f64,
}

/// One series of `seed`; the rate is multiplied by `k` for an hour from each of `surges`.
fn series(shape: Shape, seed: u64, surges: &[usize], k: f64) -> Vec<f64> {
    let mut rng = Rng::new(seed);
    let mut burst = 0.0f64;
    (0..DAYS * DAY)
        .map(|i| {
            let daily = (std::f64::consts::TAU * i as f64 / DAY as f64).sin();
            let mut rate = shape.base * (1.0 + 0.6 * daily);
            if rng.uniform() < 1.0 / (shape.every_h * 12.0) {
                let size = rng.uniform().max(1e-12).powf(-1.0 / shape.alpha) - 1.0;
                burst += rate * 2.0 * size;
            }
            if surges.iter().any(|&s| (s..s + 12).contains(&i)) {
                rate *= k;
            }
            let v = rng.poisson(rate + burst);
            burst *= 0.5;
            v
        })
        .collect()
}

fn detectors() -> [Box<dyn Detector>; 4] {
    [
        Box::new(CombinedDetector::default()),
        Box::new(EnsembleDetector::default()),
        Box::new(ArtDetector::default()),
        Box::new(ContextDetector::default()),
    ]
}

fn main() {
    let args: Vec<f64> = std::env::args()
        .skip(1)
        .map(|a| a.parse().unwrap())
        .collect();
    let shape = Shape {
        every_h: args.first().copied().unwrap_or(12.0),
        alpha: args.get(1).copied().unwrap_or(2.0),
        base: args.get(2).copied().unwrap_or(50.0),
    };
    let seeds = 1..=10u64;
    let mut alarms = [0usize; 4];
    for seed in seeds.clone() {
        let values = series(shape, seed, &[], 1.0);
        for (mut d, n) in detectors().into_iter().zip(&mut alarms) {
            for (i, &v) in values.iter().enumerate() {
                let ts = (START + i as i64 * STEP) * 1000;
                if d.update(ts, v) >= DEFAULT_THRESHOLD && i >= 7 * DAY {
                    *n += 1;
                }
            }
        }
    }
    let per_week = (seeds.clone().count() * (DAYS / 7 - 1)) as f64;
    let line: Vec<String> = NAMES
        .iter()
        .zip(alarms)
        .map(|(n, a)| format!("{n} {:.2}", a as f64 / per_week))
        .collect();
    let (every_h, alpha, base) = (shape.every_h, shape.alpha, shape.base);
    println!(
        "bursts every {every_h} h, Pareto alpha {alpha}, base {base}: false alarms a week: {}",
        line.join(", ")
    );
    for k in [2.0, 3.0, 5.0, 10.0] {
        let mut scored: [Vec<ScoredFile>; 4] = Default::default();
        for seed in seeds.clone() {
            // Days 10, 24 and 38, each at a random hour (a generator of its own, so the
            // series' own draws are those of the unlabelled run).
            let mut at = Rng::new(seed ^ 0x5u64);
            let surges: Vec<usize> = [10, 24, 38]
                .iter()
                .map(|d| d * DAY + (at.uniform() * (DAY - 12) as f64) as usize)
                .collect();
            let values = series(shape, seed, &surges, k);
            let n = values.len();
            let half = n / 10 / surges.len() / 2;
            let file = DataFile {
                key: format!("bursty/seed{seed}.csv"),
                timestamps: (0..n).map(|i| START + i as i64 * STEP).collect(),
                windows: surges.iter().map(|&s| (s - half, s + half)).collect(),
                values,
            };
            for (d, out) in detectors().iter_mut().zip(&mut scored) {
                out.push(ScoredFile::new(&file, &file.feed(d.as_mut())));
            }
        }
        let line: Vec<String> = NAMES
            .iter()
            .zip(&scored)
            .map(|(name, files)| {
                let s = nab::score(files, DEFAULT_THRESHOLD, &PROFILES[0].1);
                format!("{name} {:.1} ({} FPs)", s.normalised, s.false_positives)
            })
            .collect();
        println!(
            "three surges of {k} x the rate for an hour, NAB standard: {}",
            line.join(", ")
        );
    }
}
