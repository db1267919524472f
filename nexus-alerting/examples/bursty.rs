//! False alarms a week on stationary bursty count series: what a detector raises where nothing
//! changes but the series is bursty by nature (tweet volumes, request counts). Poisson counts
//! around a daily cycle (mean `BASE` per 5 minutes, ±60 %) with bursts arriving at random,
//! every `EVERY_H` hours on average, each adding a Pareto(`ALPHA`)-sized multiple of the
//! current rate and halving every sample; eight weeks at 5 minutes, the first week not
//! counted, ten seeds.
//!
//! `cargo run --release -p nexus-alerting --example bursty -- [EVERY_H [ALPHA [BASE]]]`
//! (defaults 12, 2, 50; a huge `EVERY_H` gives the series without bursts).
#![allow(clippy::unwrap_used)]

use nexus_alerting::anomaly::{
    ArtDetector, CombinedDetector, ContextDetector, DEFAULT_THRESHOLD, Detector, EnsembleDetector,
};

/// xorshift64: a fixed, dependency-free generator.
struct Rng(u64);

impl Rng {
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

fn main() {
    let args: Vec<f64> = std::env::args()
        .skip(1)
        .map(|a| a.parse().unwrap())
        .collect();
    let every_h = args.first().copied().unwrap_or(12.0);
    let alpha = args.get(1).copied().unwrap_or(2.0);
    let base = args.get(2).copied().unwrap_or(50.0);
    let step = 300_000i64;
    let (day, weeks, seeds) = (288usize, 8usize, 10u64);
    let names = ["default", "ensemble", "art", "context"];
    let mut alarms = [0usize; 4];
    for seed in 1..=seeds {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut detectors: [Box<dyn Detector>; 4] = [
            Box::new(CombinedDetector::default()),
            Box::new(EnsembleDetector::default()),
            Box::new(ArtDetector::default()),
            Box::new(ContextDetector::default()),
        ];
        let mut burst = 0.0f64;
        for i in 0..weeks * 7 * day {
            let rate = base * (1.0 + 0.6 * (std::f64::consts::TAU * i as f64 / day as f64).sin());
            if rng.uniform() < 1.0 / (every_h * 12.0) {
                burst += rate * 2.0 * (rng.uniform().max(1e-12).powf(-1.0 / alpha) - 1.0);
            }
            let v = rng.poisson(rate + burst);
            burst *= 0.5;
            let ts = 1_400_000_000_000 + i as i64 * step;
            for (d, n) in detectors.iter_mut().zip(&mut alarms) {
                if d.update(ts, v) >= DEFAULT_THRESHOLD && i >= 7 * day {
                    *n += 1;
                }
            }
        }
    }
    let per_week = (seeds as usize * (weeks - 1)) as f64;
    let line: Vec<String> = names
        .iter()
        .zip(alarms)
        .map(|(n, a)| format!("{n} {:.2}", a as f64 / per_week))
        .collect();
    println!(
        "bursts every {every_h} h, Pareto alpha {alpha}, base {base}: false alarms a week: {}",
        line.join(", ")
    );
}
