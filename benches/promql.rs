//! PromQL rules at scale: one evaluation tick of 1 000 aggregation rules over 100 000 series
//! (target ≤ 100 ms), next to a floor measured in the same run: the same sums, ratios and
//! bucket interpolation done by hand over each series' first and last sample in contiguous arrays
//! (no PromQL, no sample store, no extrapolation, no alert state). Printed: memory per stored
//! sample (RSS growth while loading), and that both find the same alerts.
//!
//! - 500 ratio rules `sum by (route) (rate(err_K_total[5m])) / sum by (route) (rate(req_K_total[5m])) > 0.05`,
//!   each over 120 series (20 routes × 3 instances × 2 metrics);
//! - 500 latency rules `histogram_quantile(0.95, sum by (le, route) (rate(lat_K_bucket[5m]))) > 0.3`,
//!   each over 80 series (10 routes × 8 buckets).
//!
//! 100 000 series, 23 samples each (15 s apart), evaluated with 5-minute windows.
//!
//! `cargo bench --bench promql`

mod common;
use common::rss_bytes;

use std::hint::black_box;
use std::time::Duration;

use criterion::Criterion;
use nexus_alerting::{EvalConfig, Evaluator, Labels, Rule, Sample};

const RULES: usize = 500;
const ROUTES: usize = 20;
const INSTANCES: usize = 3;
const HIST_ROUTES: usize = 10;
const LES: [&str; 8] = ["0.05", "0.1", "0.2", "0.3", "0.5", "1", "2", "+Inf"];
const STEP: i64 = 15_000;
const POINTS: i64 = 23;

/// What the floor reads: per rule, each series' route and its first and last sample, in
/// contiguous arrays (the least data a rule's answer needs).
struct Floor {
    /// Per ratio rule: (route, first, last) of each error series, then of each request series.
    ratio: Vec<[Vec<(usize, f64, f64)>; 2]>,
    /// Per latency rule: (route, bucket, first, last) of each bucket series.
    hist: Vec<Vec<(usize, usize, f64, f64)>>,
}

fn build() -> (Evaluator, Floor, u64, usize) {
    let mut rng = fastrand::Rng::with_seed(11);
    let before = rss_bytes();
    let mut ev = Evaluator::new(EvalConfig::default());
    let mut floor = Floor {
        ratio: Vec::new(),
        hist: Vec::new(),
    };
    let mut samples = 0usize;
    let mut push = |ev: &mut Evaluator, name: &str, labels: &Labels, per_step: f64| {
        for i in 0..POINTS {
            ev.push(Sample::new(
                name,
                labels.clone(),
                per_step * i as f64,
                i * STEP,
            ));
        }
        samples += POINTS as usize;
        // The window at the first tick (t = 20 steps) holds samples 1 ..= 20.
        (per_step, per_step * 20.0)
    };
    for k in 0..RULES {
        let mut series = [Vec::new(), Vec::new()];
        for r in 0..ROUTES {
            let bad = r == k % ROUTES;
            for i in 0..INSTANCES {
                let l = Labels::from_pairs([
                    ("route", format!("/r{r}")),
                    ("instance", format!("h{i}")),
                ]);
                let req = 10.0 + rng.f64() * 20.0;
                let err = req * if bad { 0.1 } else { 0.01 + rng.f64() * 0.02 };
                let e = push(&mut ev, &format!("err_{k}_total"), &l, err);
                let q = push(&mut ev, &format!("req_{k}_total"), &l, req);
                series[0].push((r, e.0, e.1));
                series[1].push((r, q.0, q.1));
            }
        }
        floor.ratio.push(series);
        ev.add_rule(
            "ratio",
            Rule::builder(
                &format!("ErrorRatio{k}"),
                &format!("sum by (route) (rate(err_{k}_total[5m])) / sum by (route) (rate(req_{k}_total[5m])) > 0.05"),
            )
            .annotation("summary", "{{ $labels.route }}: {{ $value | humanizePercentage }}")
            .build()
            .expect("rule"),
        );
        let mut buckets = Vec::new();
        for r in 0..HIST_ROUTES {
            let slow = r == k % HIST_ROUTES;
            let mut cum = 0.0;
            for (b, le) in LES.iter().enumerate() {
                cum += if slow { 1.0 + b as f64 } else { 8.0 - b as f64 } * (1.0 + rng.f64());
                let l = Labels::from_pairs([("route", format!("/r{r}")), ("le", (*le).to_owned())]);
                let (first, last) = push(&mut ev, &format!("lat_{k}_bucket"), &l, cum);
                buckets.push((r, b, first, last));
            }
        }
        floor.hist.push(buckets);
        ev.add_rule(
            "latency",
            Rule::builder(
                &format!("SlowP95_{k}"),
                &format!(
                    "histogram_quantile(0.95, sum by (le, route) (rate(lat_{k}_bucket[5m]))) > 0.3"
                ),
            )
            .build()
            .expect("rule"),
        );
    }
    let grown = rss_bytes().saturating_sub(before);
    (ev, floor, grown, samples)
}

/// The floor: per series the increase over the window (last − first, no extrapolation), summed
/// by route; the ratio per route; per route and bucket the summed increase, and the 0.95 quantile
/// by linear interpolation.
fn floor_tick(f: &Floor) -> usize {
    let mut firing = 0;
    let bounds = [0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0];
    for [err, req] in &f.ratio {
        let (mut e, mut q) = ([0.0f64; ROUTES], [0.0f64; ROUTES]);
        for &(r, first, last) in err {
            e[r] += last - first;
        }
        for &(r, first, last) in req {
            q[r] += last - first;
        }
        for r in 0..ROUTES {
            if black_box(e[r] / q[r]) > 0.05 {
                firing += 1;
            }
        }
    }
    for rule in &f.hist {
        let mut counts = [[0.0f64; 8]; HIST_ROUTES];
        for &(r, b, first, last) in rule {
            counts[r][b] += last - first;
        }
        for c in &counts {
            let rank = 0.95 * c[7];
            let i = c.iter().position(|&x| x >= rank).unwrap_or(7).min(6);
            let (lo, lo_c) = if i == 0 {
                (0.0, 0.0)
            } else {
                (bounds[i - 1], c[i - 1])
            };
            let q = lo + (bounds[i] - lo) * (rank - lo_c) / (c[i] - lo_c);
            if black_box(q) > 0.3 {
                firing += 1;
            }
        }
    }
    firing
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (mut ev, floor, grown, samples) = build();
    let (series, held) = ev.size();
    println!(
        "promql_tick: {} rules, {series} series, {held} samples; memory {:.1} bytes per stored sample ({:.0} per series, RSS growth while loading)",
        ev.rule_count(),
        grown as f64 / samples as f64,
        grown as f64 / series as f64,
    );
    let (t1, t2) = (20 * STEP, 21 * STEP);
    let first = ev.eval(t1).len();
    println!(
        "promql_tick: {first} alerts after the first tick; floor finds {}",
        floor_tick(&floor)
    );
    let mut c = Criterion::default()
        .configure_from_args()
        .measurement_time(Duration::from_secs(if quick { 2 } else { 10 }));
    let mut g = c.benchmark_group("promql_tick");
    g.sample_size(10);
    let mut flip = false;
    g.bench_function("nexus_1000_aggregation_rules_100k_series", |b| {
        b.iter(|| {
            flip = !flip;
            // Alternate two due times so every rule evaluates every iteration.
            black_box(ev.eval(if flip { t2 } else { t1 }).len())
        })
    });
    g.bench_function("floor_by_hand", |b| {
        b.iter(|| black_box(floor_tick(&floor)))
    });
    g.finish();
}
