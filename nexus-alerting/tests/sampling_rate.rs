//! The default detector's parameters mean the same at any sampling rate: one underlying signal
//! (a daily cycle with noise, two weeks) sampled every minute, every 5 minutes and every hour,
//! with the same three anomalies three days apart, gives the same anomalies found at each rate.
//!
//! Before warm-ups, rests and memories were in series time, the hourly series found none (a
//! 300-sample warm-up is 12.5 days there) and the per-minute one raised seven false alarms
//! (three in its first day: 300 samples are 5 hours there).
//! The calendar profile learns an anomaly; without the echo guard the usual value scored as a
//! drop at the same hour the next day (an "echo": one false alarm per anomaly at 1 and
//! 5 minutes). The guard removes those; one echo is left, a week after the first surge (the
//! week profile, which the guard does not cover) — bounded here at one.
#![allow(clippy::unwrap_used)]

use nexus_alerting::anomaly::{CombinedDetector, DEFAULT_THRESHOLD, Detector};

const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;
const DAY: i64 = 24 * HOUR;

/// The anomalies: (start, end, what) — a surge, an outage (drop to zero) and a surge again,
/// three days apart, each two hours long.
const ANOMALIES: [(i64, i64, f64); 3] = [
    (5 * DAY + 9 * HOUR, 5 * DAY + 11 * HOUR, 3.0),
    (8 * DAY + 15 * HOUR, 8 * DAY + 17 * HOUR, 0.0),
    (11 * DAY + 3 * HOUR, 11 * DAY + 5 * HOUR, 3.0),
];

/// A request rate: a daily cycle between 60 and 140, ±5 % deterministic noise; during an
/// anomaly it is multiplied by its factor.
fn signal(t: i64) -> f64 {
    let phase = (t % DAY) as f64 / DAY as f64 * std::f64::consts::TAU;
    let noise = ((t / MIN).wrapping_mul(2_654_435_761) % 1000) as f64 / 1000.0 - 0.5;
    let base = 100.0 + 40.0 * phase.sin();
    let v = base * (1.0 + 0.1 * noise);
    ANOMALIES
        .iter()
        .find(|(a, b, _)| (*a..*b).contains(&t))
        .map_or(v, |(_, _, f)| v * f)
}

/// Detections (sample times whose score reaches the threshold) over 14 days sampled every
/// `step`.
fn detections(d: &mut dyn Detector, step: i64) -> Vec<i64> {
    let t0 = 1_700_000_000_000 - 1_700_000_000_000 % DAY;
    (0..14 * DAY / step)
        .map(|i| i * step)
        .filter(|&t| d.update(t0 + t, signal(t)) >= DEFAULT_THRESHOLD)
        .collect()
}

/// Which anomalies were found (a detection from its start to 4 h after its end), and how many
/// detections lay outside every anomaly.
fn judge(hits: &[i64]) -> ([bool; 3], usize) {
    let within = |t: i64, (a, b, _): (i64, i64, f64)| t >= a && t <= b + 4 * HOUR;
    let found = ANOMALIES.map(|a| hits.iter().any(|&t| within(t, a)));
    let false_alarms = hits
        .iter()
        .filter(|&&t| !ANOMALIES.iter().any(|&a| within(t, a)))
        .count();
    (found, false_alarms)
}

fn check(name: &str, make: &dyn Fn() -> Box<dyn Detector>) {
    for (rate, step) in [("1 min", MIN), ("5 min", 5 * MIN), ("1 h", HOUR)] {
        let hits = detections(make().as_mut(), step);
        let (found, false_alarms) = judge(&hits);
        eprintln!(
            "{name} every {rate}: found {found:?}, {false_alarms} false alarms, hits at {hits:?}"
        );
        assert_eq!(
            found, [true; 3],
            "{name} sampled every {rate}: every anomaly is found (hits at {hits:?})"
        );
        assert!(
            false_alarms <= 1,
            "{name} sampled every {rate}: {false_alarms} false alarms (hits at {hits:?})"
        );
    }
}

#[test]
fn the_default_detector_finds_the_same_anomalies_at_every_rate() {
    check(
        "CombinedDetector",
        &|| Box::new(CombinedDetector::default()),
    );
}
