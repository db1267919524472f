//! The transition memory (`ContextDetector`) and the default detector (`CombinedDetector`):
//! what they see that magnitude statistics cannot (a broken pattern inside the usual range),
//! determinism, warm-up, the memory bound, hostile input, and use through the rule engine.
#![allow(clippy::unwrap_used)]

use nexus_alerting::anomaly::{
    CombinedDetector, CombinedParams, ContextDetector, ContextParams, DEFAULT_THRESHOLD, Detector,
    EnsembleDetector, EnsembleParams,
};

/// NAB's 5-minute step: the sampling these series use (the detectors' warm-ups and rests are
/// in series time).
const STEP: i64 = 300_000;

/// A staircase 0, 4, 8, 11 repeating; from `broken` for three periods it runs backwards
/// (the same values, so no magnitude statistic sees it; only their order is new).
fn staircase(i: i64, broken: i64) -> f64 {
    const STEPS: [f64; 4] = [0.0, 4.0, 8.0, 11.0];
    if (broken..broken + 12).contains(&i) {
        STEPS[3 - (i % 4) as usize]
    } else {
        STEPS[(i % 4) as usize]
    }
}

fn run(d: &mut dyn Detector, n: i64, f: impl Fn(i64) -> f64) -> Vec<f64> {
    (0..n).map(|i| d.update(i * STEP, f(i))).collect()
}

#[test]
fn a_broken_pattern_inside_the_range_is_seen_by_the_transition_memory_only() {
    let broken = 2500;
    let ctx = run(&mut ContextDetector::default(), 3000, |i| {
        staircase(i, broken)
    });
    let ens = run(&mut EnsembleDetector::default(), 3000, |i| {
        staircase(i, broken)
    });
    let comb = run(&mut CombinedDetector::default(), 3000, |i| {
        staircase(i, broken)
    });
    // Learned: the regular pattern scores nothing once known.
    assert!(
        ctx[1500..2500].iter().all(|&s| s < 0.2),
        "{:?}",
        ctx[1500..2500].iter().fold(0.0f64, |a, &b| a.max(b))
    );
    let max = |v: &[f64]| v.iter().fold(0.0f64, |a, &b| a.max(b));
    assert!(max(&ctx[broken as usize..broken as usize + 12]) >= 0.75);
    assert!(max(&ens[broken as usize..broken as usize + 12]) < DEFAULT_THRESHOLD);
    let hits: Vec<usize> = (300..3000)
        .filter(|&i| comb[i] >= DEFAULT_THRESHOLD)
        .collect();
    assert!(!hits.is_empty());
    assert!(
        hits.iter()
            .all(|&i| (broken as usize..broken as usize + 20).contains(&i)),
        "{hits:?}"
    );
}

#[test]
fn silent_in_warm_up_and_deterministic() {
    let p = ContextParams::default();
    let noise = |i: i64| ((i * 7919) % 101) as f64;
    let a = run(&mut ContextDetector::new(p), 5000, noise);
    let b = run(&mut ContextDetector::new(p), 5000, noise);
    assert_eq!(a, b);
    // The warm-up is 25 h of series time: 300 steps.
    assert_eq!(p.warmup, std::time::Duration::from_secs(300 * 300));
    assert!(a[..300].iter().all(|&s| s == 0.0));
    assert!(a.iter().all(|s| (0.0..=1.0).contains(s)));
    let c = run(&mut CombinedDetector::default(), 5000, noise);
    let d = run(&mut CombinedDetector::default(), 5000, noise);
    assert_eq!(c, d);
    assert!(c.iter().all(|s| (0.0..=1.0).contains(s)));
}

#[test]
fn memory_is_bounded_by_max_contexts() {
    let mut p = ContextParams::default();
    p.max_contexts = 500;
    let mut d = ContextDetector::new(p);
    let mut rng = fastrand::Rng::with_seed(7);
    let mut grown_at_cap = None;
    for i in 0..30_000i64 {
        d.update(i * STEP, rng.f64() * 100.0);
        if i == 20_000 {
            grown_at_cap = Some(d.memory_bytes());
        }
    }
    assert!(d.contexts() <= 500 * p.lanes, "{}", d.contexts());
    assert!(d.contexts() >= 400 * p.lanes, "noise fills the memory");
    // Full: learning stopped, so the memory no longer grows (within scratch-buffer slack).
    let (then, now) = (grown_at_cap.unwrap(), d.memory_bytes());
    assert!(now <= then + then / 20, "{then} -> {now}");
}

#[test]
fn hostile_values_are_scored_without_panic() {
    let mut d = CombinedDetector::default();
    let mut c = ContextDetector::default();
    for i in 0..2_000i64 {
        let v = match i % 7 {
            0 => f64::NAN,
            1 => f64::INFINITY,
            2 => -1e300,
            3 => 1e300,
            4 => f64::MIN_POSITIVE,
            _ => (i % 5) as f64,
        };
        let (a, b) = (d.update(i * STEP, v), c.update(i * STEP, v));
        assert!(
            (0.0..=1.0).contains(&a) && (0.0..=1.0).contains(&b),
            "{v}: {a} {b}"
        );
    }
    // A constant series (no range to learn) is scored too.
    let s = run(&mut ContextDetector::default(), 1000, |_| 3.0);
    assert!(s.iter().all(|&x| x < 0.5));
}

#[test]
fn odd_parameters_are_clamped_not_panicked_on() {
    for (bits, lanes, left, margin, cap) in [
        (0, 0, 0, -1.0, 0),
        (40, 1, 1, f64::NAN, 1),
        (16, 5, 0, 3.0, 10),
        (1, 1, 100, 0.0, 100_000),
    ] {
        let mut p = ContextParams::default();
        (p.bits, p.lanes, p.max_left, p.margin, p.max_contexts) = (bits, lanes, left, margin, cap);
        (p.warmup, p.learn, p.rest) = Default::default();
        let s = run(&mut ContextDetector::new(p), 2000, |i| {
            ((i * 37) % 19) as f64
        });
        assert!(s.iter().all(|x| (0.0..=1.0).contains(x)), "{p:?}");
        let s = run(&mut ContextDetector::with_range(p, 5.0, 5.0), 500, |i| {
            (i % 3) as f64
        });
        assert!(s.iter().all(|x| (0.0..=1.0).contains(x)), "{p:?}");
    }
    // The default detector's own: a habit of more days than it keeps, none required, a young
    // bar, a break-through and an outage factor that are NaN, infinite or negative, a zero
    // threshold; time running backwards.
    for (days, min, young, threshold, brk) in [
        (255, 0, f64::NAN, 0.5, f64::INFINITY),
        (7, 255, f64::INFINITY, 0.5, f64::NAN),
        (1, 1, -1.0, 0.0, 1e-300),
        (0, 3, 1e300, -1.0, -1.0),
    ] {
        let mut p = CombinedParams::default();
        (p.habit_days, p.habit_min_days, p.young_bar) = (days, min, young);
        (p.threshold, p.break_through) = (threshold, brk);
        (p.ensemble.gap, p.context.gap) = (young, brk);
        let mut d = CombinedDetector::new(p);
        for i in 0..3000i64 {
            let ts = if i % 500 == 499 { 0 } else { i * STEP };
            let s = d.update(
                ts,
                ((i * 37) % 19) as f64 + if i % 288 == 30 { 50.0 } else { 0.0 },
            );
            assert!((0.0..=1.0).contains(&s), "{p:?} {i} {s}");
        }
    }
}

#[test]
fn the_engine_uses_the_combined_detector_by_default() {
    use nexus_alerting::{EvalConfig, Evaluator, Labels, Rule, RuleGroup, Sample};
    let mut ev = Evaluator::new(EvalConfig::default());
    ev.set_rules(vec![RuleGroup {
        name: "g".into(),
        interval: None,
        rules: vec![
            Rule::builder("Pattern", "anomaly(queue_depth) >= 0.5")
                .build()
                .unwrap(),
        ],
    }]);
    let labels = Labels::from_pairs([("queue", "q1")]);
    let broken = 2500;
    let mut fired = Vec::new();
    for i in 0..3000i64 {
        ev.push(Sample::new(
            "queue_depth",
            labels.clone(),
            staircase(i, broken),
            i * STEP,
        ));
        let out = ev.eval(i * STEP);
        if out.iter().any(|a| a.ends_at.is_some_and(|e| e > i * STEP)) {
            fired.push(i);
        }
    }
    assert!(!fired.is_empty());
    assert!(
        fired.iter().all(|&i| (broken..broken + 20).contains(&i)),
        "{fired:?}"
    );
}

#[test]
fn wild_outliers_take_a_bounded_number_of_facts() {
    // Values spread over fifteen orders of magnitude beyond the learned range: each would
    // otherwise bring up to 60 bits of facts (and thousands of left groups). Capped at
    // `extra_bits`, the memory stays that of an ordinary noisy series.
    let wild = |p: ContextParams| {
        let mut d = ContextDetector::new(p);
        let mut rng = fastrand::Rng::with_seed(3);
        for i in 0..8_000i64 {
            let v = if i < 1000 {
                rng.f64()
            } else {
                10f64.powf(rng.f64() * 15.0)
            };
            assert!((0.0..=1.0).contains(&d.update(i * STEP, v)));
        }
        d.memory_bytes()
    };
    let capped = wild(ContextParams::default());
    let mut p = ContextParams::default();
    p.extra_bits = 59;
    let uncapped = wild(p);
    assert!(capped * 3 < uncapped, "{capped} vs {uncapped}");
    assert!(capped < 4 << 20, "{capped}");
}

/// A rule alerting at 0.7 uses a detector whose rest starts at 0.7: a moderate spike (score
/// between 0.5 and 0.7) then does not silence it, and a strong one 2.5 hours later is
/// reported. With the default bar the moderate spike starts the rest and the strong one
/// scores 0 — a rule at 0.7 over it would have seen neither.
#[test]
fn the_rest_starts_at_the_detectors_own_threshold() {
    let series = |i: i64| match i {
        1500 => 12.0,
        1530 => 40.0,
        _ => 10.0 + ((i * 7919) % 13) as f64 / 13.0,
    };
    let default = run(&mut CombinedDetector::default(), 1531, series);
    assert!(
        (DEFAULT_THRESHOLD..0.7).contains(&default[1500]),
        "moderate: {}",
        default[1500]
    );
    assert_eq!(
        default[1530], 0.0,
        "silenced by the rest the moderate spike started"
    );
    let mut p = CombinedParams::default();
    p.threshold = 0.7;
    let strict = run(&mut CombinedDetector::new(p), 1531, series);
    assert!(strict[1500] < 0.7, "moderate: {}", strict[1500]);
    assert!(strict[1530] >= 0.7, "strong: {}", strict[1530]);
    assert!(strict[..1530].iter().all(|&s| s < 0.7));
}

/// A shift too small for any single sample — 80 minutes 3.1 σ above the usual level (no
/// sample, noise included, reaches the bar of 5 σ) — adds up in the ensemble's CUSUM view and is found; without that view
/// (`cusum_limit` 0) nothing is. Ordinary noise around it raises nothing in either.
#[test]
fn a_run_of_moderate_deviations_adds_up_in_the_cusum_view() {
    // Uniform noise in [-1, 1] (σ 0.58).
    let noise = |i: i64| 2.0 * unit(i as u64) - 1.0;
    let series = |i: i64| 10.0 + noise(i) + if (1500..1516).contains(&i) { 1.8 } else { 0.0 };
    let hits = |p: EnsembleParams| {
        let scores = run(&mut EnsembleDetector::new(p), 2000, series);
        (0..2000)
            .filter(|&i| scores[i] >= DEFAULT_THRESHOLD)
            .collect::<Vec<_>>()
    };
    let with = hits(EnsembleParams::default());
    assert_eq!(with.len(), 1, "{with:?}");
    assert!((1505..1516).contains(&with[0]), "{with:?}");
    let mut p = EnsembleParams::default();
    p.cusum_limit = 0.0;
    assert_eq!(hits(p), Vec::<usize>::new());
    // Odd settings score in [0, 1] without panicking (a negative slack sums every deviation).
    for (slack, limit) in [
        (-3.0, 10.0),
        (f64::NAN, 10.0),
        (2.0, f64::NAN),
        (2.0, f64::INFINITY),
    ] {
        let mut p = EnsembleParams::default();
        (p.cusum_slack, p.cusum_limit) = (slack, limit);
        let s = run(&mut EnsembleDetector::new(p), 2000, series);
        assert!(s.iter().all(|x| (0.0..=1.0).contains(x)), "{slack} {limit}");
    }
}

/// SplitMix64 of `i`, as a uniform number in [0, 1).
fn unit(i: u64) -> f64 {
    let mut x = i.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 31;
    (x >> 11) as f64 / (1u64 << 53) as f64
}

/// A bursty series where nothing changes: noise, and twice a day at a random moment a burst
/// that halves every sample, of a Pareto-distributed size (α 2: at least 7 σ of the noise,
/// one in four above 14 σ). The peak memory keeps the bar where the larger recent bursts put
/// it, so the ensemble raises half the false alarms it raises with the running variance alone
/// (which forgets a burst in about two days): 15 against 31 over five weeks.
#[test]
fn the_peak_memory_takes_ordinary_bursts_as_ordinary() {
    let day = 288i64;
    let series = |i: i64| {
        let (slot, at) = (i / 144, i % 144);
        let start = (unit(slot as u64 ^ 0xB0) * 140.0) as i64;
        let size = 40.0 / unit(slot as u64 ^ 0x51).max(1e-6).sqrt();
        let burst = if at >= start {
            size * 0.5f64.powi((at - start) as i32)
        } else {
            0.0
        };
        50.0 + 10.0 * (2.0 * unit(i as u64) - 1.0) + burst
    };
    let alarms = |p: EnsembleParams| {
        let s = run(&mut EnsembleDetector::new(p), 42 * day, series);
        s[7 * day as usize..]
            .iter()
            .filter(|&&x| x >= DEFAULT_THRESHOLD)
            .count()
    };
    // The default detector's ensemble has it; the ensemble's own defaults do not.
    let with = alarms(CombinedParams::default().ensemble);
    let without = alarms(EnsembleParams::default());
    assert!(
        with * 2 <= without,
        "with the peak memory {with}, without {without}"
    );
}

/// A nightly job: a one-sample spike at 03:00, its start drifting by up to 25 minutes either
/// way from night to night, 10 % larger every night (so no magnitude statistic gets used to
/// it), on a quiet noisy series; on day 12 such a spike at 14:00. After three nights the
/// default detector takes 03:00 as the series' habit and stops reporting it, but still
/// reports the spike at the unusual hour. Without the habit the nightly spike is reported
/// every night, and the rest it starts hides the one at 14:00.
#[test]
fn a_nightly_spike_becomes_a_habit_but_the_same_spike_at_noon_does_not() {
    let day = 288i64;
    let nightly = |d: i64| d * day + 36 + (unit(d as u64 ^ 0x4E) * 11.0) as i64 - 5;
    let odd = 12 * day + 168;
    let series = |i: i64| {
        // The job grows: each night's spike is a new maximum, and so is the one at noon.
        let size = 30.0 * 1.1f64.powi((i / day) as i32);
        let spike = if i == odd {
            size * 1.1
        } else if i == nightly(i / day) {
            size
        } else {
            0.0
        };
        10.0 + 2.0 * unit(i as u64) + spike
    };
    let hits = |p: CombinedParams| {
        let s = run(&mut CombinedDetector::new(p), 14 * day, series);
        (0..14 * day)
            .filter(|&i| s[i as usize] >= DEFAULT_THRESHOLD)
            .collect::<Vec<_>>()
    };
    let with = hits(CombinedParams::default());
    assert!(with.contains(&odd), "{with:?}");
    let late_nights = |h: &[i64]| h.iter().filter(|&&i| i >= 6 * day && i != odd).count();
    assert_eq!(late_nights(&with), 0, "{with:?}");
    let mut p = CombinedParams::default();
    p.habit_days = 0;
    let without = hits(p);
    assert!(late_nights(&without) >= 3, "{without:?}");
}

/// A young series asks for more evidence: the same moderate spike is not reported 33 hours
/// into the series (the young bar is then about 0.63) but is reported on day 12 (the bar is
/// back at 0.5), and without the young bar it is reported both times.
#[test]
fn a_young_series_asks_for_more_evidence() {
    let spikes = [400i64, 3400];
    let series = |i: i64| 10.0 + 2.0 * unit(i as u64) + if spikes.contains(&i) { 3.5 } else { 0.0 };
    let scores = |p: CombinedParams| {
        let s = run(&mut CombinedDetector::new(p), 3600, series);
        spikes.map(|i| s[i as usize])
    };
    let with = scores(CombinedParams::default());
    let mut p = CombinedParams::default();
    p.young_bar = 0.0;
    let without = scores(p);
    assert!(
        with[0] < DEFAULT_THRESHOLD && with[1] >= DEFAULT_THRESHOLD,
        "{with:?}"
    );
    assert!(
        without.iter().all(|&s| s >= DEFAULT_THRESHOLD),
        "{without:?}"
    );
}

/// The break-through: a moderate spike on day 10 starts the rest; a slightly larger one three
/// hours later stays silent (it crosses the bar, but by about as much as the first), while a
/// spike nearly thirty times larger two hours after that is reported although the rest still runs.
/// Without the break-through the rest hides it; with a tiny one, both.
#[test]
fn a_much_stronger_anomaly_breaks_through_the_rest() {
    let (first, again, strong) = (2900i64, 2936, 2960);
    let series = |i: i64| {
        let spike = match i {
            _ if i == first => 3.5,
            _ if i == again => 4.0,
            _ if i == strong => 100.0,
            _ => 0.0,
        };
        10.0 + 2.0 * unit(i as u64) + spike
    };
    let hits = |p: CombinedParams| {
        let s = run(&mut CombinedDetector::new(p), 3100, series);
        (0..3100)
            .filter(|&i| s[i as usize] >= DEFAULT_THRESHOLD)
            .collect::<Vec<i64>>()
    };
    assert_eq!(hits(CombinedParams::default()), [first, strong]);
    let mut p = CombinedParams::default();
    p.break_through = 0.0;
    assert_eq!(hits(p), [first]);
    p.break_through = 0.01;
    assert_eq!(hits(p), [first, again, strong]);
}

/// A slow wave (a two-day period, amplitude 20, noise ±0.5) sampled every 5 minutes with a
/// 6-hour outage where the wave is steepest: across it the value moves by 14, an ordinary move
/// for 6 hours of this series but 30 times its usual 5-minute step. The first sample after the
/// outage is not compared with the last one before it, so nothing is reported; compared (the
/// outage rule off), the jump is reported. A real shift across an outage (the level 300 higher)
/// is still reported within the hour after it.
#[test]
fn a_jump_across_an_outage_is_not_a_one_step_change() {
    let (gap_from, gap_to) = (3000i64, 3072i64);
    let wave = |i: i64| {
        let phase = (i - (gap_from + gap_to) / 2) as f64 / 576.0;
        20.0 * (std::f64::consts::TAU * phase).sin() + unit(i as u64 ^ 0x3A) - 0.5
    };
    let after = |p: CombinedParams, shift: f64| {
        let mut d = CombinedDetector::new(p);
        let mut max = 0.0f64;
        for i in (0..3400i64).filter(|i| !(gap_from..gap_to).contains(i)) {
            let s = d.update(i * STEP, wave(i) + if i >= gap_to { shift } else { 0.0 });
            if (gap_to..gap_to + 12).contains(&i) {
                max = max.max(s);
            }
        }
        max
    };
    let mut off = CombinedParams::default();
    (off.ensemble.gap, off.context.gap) = (0.0, 0.0);
    let (with, without) = (after(CombinedParams::default(), 0.0), after(off, 0.0));
    assert!(
        with < DEFAULT_THRESHOLD,
        "reported across the outage: {with}"
    );
    assert!(
        without >= DEFAULT_THRESHOLD,
        "the outage rule off: {without}"
    );
    let shifted = after(CombinedParams::default(), 300.0);
    assert!(shifted >= DEFAULT_THRESHOLD, "a real shift: {shifted}");
}
