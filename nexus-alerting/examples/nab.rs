//! Scores detectors on the NAB corpus in `shared/data/nab` (or `$NEXUS_NAB`).
//!
//! `cargo run --release -p nexus-alerting --example nab [-- --write DIR] [--diag] [detector…]`
//!
//! `-- --sweep` instead prints the standard score at the frozen threshold of `CombinedDetector`
//! around its frozen parameters (the table in `BENCHMARKS.md`).
//!
//! Detectors: `default`, `ensemble`, `context`, `art` (streaming; `ART_BLOCK_MINUTES` and
//! `ART_TREND_BLOCKS` override its block and learning period), `art-range` (told the file's
//! range), `art-nab` (ARTime's own protocol: the file's range, and a block and learning period
//! sized from the file's length so that the learning period is NAB's probation), and the
//! baselines.
//!
//! `-- --resample thin30[:SEED]|outages[:SEED]|half-hour` scores the corpus changed first: every
//! row dropped with probability 0.3 (an irregular series; seeded per file and by SEED), outages
//! (one every two days on average, 1–12 h long: the rows inside dropped), or averaged into
//! 30-minute buckets; windows keep their time span (edges moved to the first and last row
//! inside). The same anomalies at another sampling: figures that hold across rates should
//! barely move. `--write-corpus DIR` writes the changed corpus in NAB's layout (to score it with
//! another build: `NEXUS_NAB=DIR`) and exits.
//!
//! `-- --loco-threshold NAME…` prints leave-one-category-out scores over the threshold alone
//! (for `default` and `ensemble`, whose rest starts at their threshold, each threshold of a
//! grid is run afresh with its rest there; for the others NAB's sweep over the fixed scores).
//!
//! `-- --loco` prints leave-one-category-out scores: for each category, the combined detector's
//! three combined-level parameters (context threshold, rest, context margin) chosen on the other
//! categories' files from a grid, then scored on the held-out one. `-- --loco-five` chooses by
//! the mean over the five corpora the frozen parameters were chosen on (published, 30-minute,
//! three 30 % thinnings). `-- --loco-habit` does the same over the daily habit's two parameters
//! (`CombinedParams::habit_days`, `habit_min_days`), `-- --loco-young` over the young bar
//! (`CombinedParams::young_bar`), `-- --loco-break` over the break-through
//! (`CombinedParams::break_through`), `-- --loco-gap` over the outage factor (`gap` of both
//! halves); `-- --young-thresholds`, `-- --break-thresholds` and `-- --gap-thresholds` print
//! those grids on the five corpora at thresholds 0.49–0.51. With `--outages`, those five
//! corpora are the published one and four with outages (`--resample outages:1` to `:4`).
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use nexus_alerting::anomaly::nab::{self, DataFile, PROFILES, ScoredFile};
use nexus_alerting::anomaly::{
    ArtDetector, ArtParams, CombinedDetector, CombinedParams, ContextDetector, DEFAULT_THRESHOLD,
    Detector, EnsembleDetector, EwmaDetector, Likelihood, MadDetector, SeasonalDetector,
};

fn corpus_root() -> PathBuf {
    if let Ok(p) = std::env::var("NEXUS_NAB") {
        return p.into();
    }
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    for c in [
        here.join("../../shared/data/nab"),
        PathBuf::from("/work/shared/data/nab"),
    ] {
        if c.join("labels/combined_windows.json").exists() {
            return c;
        }
    }
    panic!("NAB corpus not found: set NEXUS_NAB to the folder holding data/ and labels/");
}

fn make(name: &str) -> Box<dyn Detector> {
    match name {
        "default" => Box::new(CombinedDetector::default()),
        "ensemble" => Box::new(EnsembleDetector::default()),
        "art" => {
            let mut p = ArtParams::default();
            if let Some(b) = std::env::var("ART_BLOCK_MINUTES")
                .ok()
                .and_then(|v| v.parse::<u64>().ok())
            {
                p.block = std::time::Duration::from_secs(60 * b);
            }
            if let Some(t) = std::env::var("ART_TREND_BLOCKS")
                .ok()
                .and_then(|v| v.parse().ok())
            {
                p.trend = t;
            }
            Box::new(ArtDetector::new(p))
        }
        "context" => Box::new(ContextDetector::default()),
        "ewma" => Box::new(EwmaDetector::new(0.05, 100)),
        "mad" => Box::new(MadDetector::new(200)),
        "seasonal" => Box::new(SeasonalDetector::new(600, 300)),
        "ewma-lik" => Box::new(Likelihood::new(EwmaDetector::new(0.05, 100), 10, 8640, 388)),
        "seasonal-lik" => Box::new(Likelihood::new(
            SeasonalDetector::new(600, 300),
            10,
            8640,
            388,
        )),
        other => panic!("unknown detector {other}"),
    }
}

fn run(files: &[DataFile], name: &str) -> Vec<Vec<f64>> {
    files
        .iter()
        .map(|f| {
            // The file's range, for the detectors told it (NAB's protocol); outside the timed
            // work of the others.
            let range = || {
                let lo = f.values.iter().copied().fold(f64::INFINITY, f64::min);
                let hi = f.values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                (lo, hi)
            };
            let mut d: Box<dyn Detector> = match name {
                "art-range" => {
                    let (lo, hi) = range();
                    Box::new(ArtDetector::with_range(Default::default(), lo, hi))
                }
                "art-nab" => {
                    // ARTime's file-relative setup: the learning period is NAB's probation.
                    let n = f.values.len();
                    let prob = if n < 5000 { n * 15 / 100 } else { 750 };
                    let prob = prob - prob % 2;
                    let sstep = (prob / 104).max(1);
                    let mut gaps: Vec<i64> = f.timestamps.windows(2).map(|w| w[1] - w[0]).collect();
                    gaps.sort();
                    let gap = gaps[gaps.len() / 2] as u64;
                    let mut p = ArtParams::default();
                    p.block = std::time::Duration::from_secs(gap * sstep as u64);
                    p.trend = prob / sstep;
                    let (lo, hi) = range();
                    Box::new(ArtDetector::with_range(p, lo, hi))
                }
                _ => make(name),
            };
            f.feed(d.as_mut())
        })
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut write = None;
    let mut resample = None;
    let mut write_corpus = None;
    let diag = args.iter().any(|a| a == "--diag");
    let mut names = Vec::new();
    let mut i = 0;
    while i < args.len() {
        if args[i] == "--diag" || args[i] == "--loco-threshold" {
            i += 1;
        } else if args[i] == "--write-corpus" {
            write_corpus = Some(PathBuf::from(&args[i + 1]));
            i += 2;
        } else if args[i] == "--resample" {
            resample = Some(args[i + 1].clone());
            i += 2;
        } else if args[i] == "--write" {
            write = Some(PathBuf::from(&args[i + 1]));
            i += 2;
        } else {
            names.push(args[i].clone());
            i += 1;
        }
    }
    if names.is_empty() {
        names = [
            "default",
            "ensemble",
            "ewma",
            "mad",
            "seasonal",
            "ewma-lik",
            "seasonal-lik",
        ]
        .map(String::from)
        .to_vec();
    }
    let mut files = nab::load_corpus(&corpus_root()).unwrap();
    if let Some(how) = &resample {
        files = files.iter().map(|f| resampled(f, how)).collect();
    }
    if let Some(dir) = &write_corpus {
        save_corpus(&files, dir);
        return;
    }
    if args.iter().any(|a| a == "--sweep") {
        sweep(&files);
        return;
    }
    const COMBINED: &str = "(context threshold, rest, margin)";
    if args.iter().any(|a| a == "--loco") {
        loco(std::slice::from_ref(&files), combined_grid(), COMBINED);
        return;
    }
    // The five corpora that chose the frozen parameters: published, 30-minute, 3 thinnings
    // (or, with `--outages`, published and four with outages).
    let five = || {
        let mut corpora = vec![files.clone()];
        let hows = if args.iter().any(|a| a == "--outages") {
            ["outages:1", "outages:2", "outages:3", "outages:4"]
        } else {
            ["half-hour", "thin30:1", "thin30:2", "thin30:3"]
        };
        for how in hows {
            corpora.push(files.iter().map(|f| resampled(f, how)).collect());
        }
        corpora
    };
    if args.iter().any(|a| a == "--loco-five") {
        loco(&five(), combined_grid(), COMBINED);
        return;
    }
    type Grid = fn() -> Vec<(String, CombinedParams)>;
    let grids: [(&str, &str, Grid, &str); 4] = [
        (
            "--loco-habit",
            "",
            habit_grid,
            "habit days, of them required",
        ),
        (
            "--loco-young",
            "--young-thresholds",
            young_grid,
            "young bar",
        ),
        (
            "--loco-break",
            "--break-thresholds",
            break_grid,
            "break-through",
        ),
        ("--loco-gap", "--gap-thresholds", gap_grid, "gap"),
    ];
    for (loco_flag, thresholds_flag, grid, label) in grids {
        if args.iter().any(|a| a == loco_flag) {
            loco(&five(), grid(), &format!("({label})"));
            return;
        }
        if !thresholds_flag.is_empty() && args.iter().any(|a| a == thresholds_flag) {
            around_threshold(&five(), grid(), label);
            return;
        }
    }
    if args.iter().any(|a| a == "--loco-threshold") {
        for name in names.iter().filter(|n| !n.starts_with("--")) {
            match name.as_str() {
                "default" | "ensemble" => loco_rest_threshold(&files, name),
                _ => loco_threshold(&files, name),
            }
        }
        return;
    }
    for name in &names {
        // The replay's speed: the best of three runs (the machines are shared and noisy).
        let mut secs = f64::INFINITY;
        let mut scores = Vec::new();
        for _ in 0..3 {
            let t0 = std::time::Instant::now();
            scores = run(&files, name);
            secs = secs.min(t0.elapsed().as_secs_f64());
        }
        let scored: Vec<ScoredFile> = files
            .iter()
            .zip(&scores)
            .map(|(f, s)| ScoredFile::new(f, s))
            .collect();
        let mut line = format!("{name:14}");
        for (p, cm) in PROFILES {
            let fixed = nab::score(&scored, 0.5, &cm);
            line.push_str(&format!(" {p}@0.5={:.2}", fixed.normalised));
        }
        for (p, cm) in PROFILES {
            let best = nab::optimise(&scored, &cm);
            line.push_str(&format!(
                " {p}={:.2}@{:.6}(fp {})",
                best.normalised, best.threshold, best.false_positives
            ));
        }
        let rows: usize = files.iter().map(|f| f.values.len()).sum();
        println!("{line}  [{:.3} M samples/s]", rows as f64 / secs / 1e6);
        if diag {
            for ((f, s), sf) in files.iter().zip(&scores).zip(&scored) {
                let (raw, _) = sf.score(0.5, &PROFILES[0].1);
                let n = f.values.len();
                let prob = ((0.15 * n as f64).floor()).min(750.0) as usize;
                let dets: Vec<usize> = (prob..n).filter(|&i| s[i] >= 0.5).collect();
                let hit: Vec<String> = f
                    .windows
                    .iter()
                    .map(|(a, b)| {
                        dets.iter()
                            .find(|&&i| i >= *a && i <= *b)
                            .map(|i| format!("{:.2}", (*i - a) as f64 / (b - a + 1) as f64))
                            .unwrap_or("MISS".into())
                    })
                    .collect();
                let fps: Vec<usize> = dets
                    .iter()
                    .copied()
                    .filter(|&i| !f.windows.iter().any(|(a, b)| i >= *a && i <= *b))
                    .collect();
                println!(
                    "{:58} raw={raw:+.3} n={n:6} win={:?} hits={hit:?} fps={fps:?}",
                    f.key, f.windows
                );
            }
        }
        if let Some(dir) = &write {
            for (f, s) in files.iter().zip(&scores) {
                let path = dir.join(name).join(&f.key);
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                let mut out = String::from("timestamp,value,anomaly_score\n");
                for ((t, v), a) in f.timestamps.iter().zip(&f.values).zip(s) {
                    out.push_str(&format!("{},{v},{a}\n", fmt_time(*t)));
                }
                std::fs::write(path, out).unwrap();
            }
        }
    }
}

/// Every file of `files` run through a fresh `CombinedDetector` with `p`.
fn scored_with(files: &[DataFile], p: CombinedParams) -> Vec<ScoredFile> {
    files
        .iter()
        .map(|f| ScoredFile::new(f, &f.feed(&mut CombinedDetector::new(p))))
        .collect()
}

/// Standard score at the frozen threshold of `CombinedDetector` with `p`.
fn combined_score(files: &[DataFile], p: CombinedParams) -> f64 {
    nab::score(&scored_with(files, p), DEFAULT_THRESHOLD, &PROFILES[0].1).normalised
}

fn sweep(files: &[DataFile]) {
    let base = CombinedParams::default();
    println!("margin \\ (context threshold, rest)");
    for margin in [0.3, 0.4, 0.5, 0.6, 0.7, 0.8] {
        let mut line = format!("{margin}:");
        for ct in [0.65, 0.7, 0.75] {
            for rest in [175, 200, 225] {
                let mut p = base;
                p.context.margin = margin;
                p.context_threshold = ct;
                p.rest = steps(rest);
                line.push_str(&format!(" ({ct},{rest})={:.2}", combined_score(files, p)));
            }
        }
        println!("{line}");
    }
    // One parameter of the transition memory at a time, the others frozen.
    type Set = fn(&mut CombinedParams, usize);
    let one_at_a_time: [(&str, &[usize], Set); 7] = [
        ("memories", &[1, 2, 3, 5, 6, 8], |p, v| p.context.lanes = v),
        ("bits", &[3, 5], |p, v| p.context.bits = v as u32),
        ("extra bits", &[1, 2, 3, 6, 8, 59], |p, v| {
            p.context.extra_bits = v as u32
        }),
        ("warm-up", &[200, 400, 600], |p, v| {
            p.context.warmup = steps(v)
        }),
        ("learning", &[100, 200, 500], |p, v| {
            p.context.learn = steps(v)
        }),
        ("context bound", &[2048, 4096, 16384], |p, v| {
            p.context.max_contexts = v
        }),
        ("longest derived left group", &[3, 5, 9], |p, v| {
            p.context.max_left = v
        }),
    ];
    for (what, values, set) in one_at_a_time {
        for &v in values {
            let mut p = base;
            set(&mut p, v);
            println!("{what} {v}: {:.2}", combined_score(files, p));
        }
    }
}

/// `n` of NAB's 5-minute steps.
fn steps(n: usize) -> std::time::Duration {
    std::time::Duration::from_secs(300 * n as u64)
}

fn fmt_time(t: i64) -> String {
    let s = nexus_alerting::rfc3339(t * 1000);
    // 2014-07-01T00:00:00.000Z -> 2014-07-01 00:00:00
    format!("{} {}", &s[..10], &s[11..19])
}

/// A file's NAB category: the first part of its key.
fn category(key: &str) -> &str {
    key.split('/').next().unwrap_or("")
}

/// The categories of `keys`, in corpus order, once each.
fn categories<'a>(keys: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = keys.map(|k| category(k).to_owned()).collect();
    out.dedup();
    out
}

/// NAB's standard score at `threshold` of the files of `scored` whose category passes `keep`.
fn score_where(scored: &[ScoredFile], threshold: f64, keep: &dyn Fn(&str) -> bool) -> nab::Score {
    let sub: Vec<ScoredFile> = scored
        .iter()
        .filter(|f| keep(category(&f.key)))
        .cloned()
        .collect();
    nab::score(&sub, threshold, &PROFILES[0].1)
}

/// The grid of `--loco`: the combined detector's context threshold, rest and context margin.
fn combined_grid() -> Vec<(String, CombinedParams)> {
    let mut grid = Vec::new();
    for ct in [0.6, 0.65, 0.7, 0.75, 0.8] {
        for rest in [100usize, 150, 200, 250, 300] {
            for margin in [0.5, 0.6, 0.7] {
                let mut p = CombinedParams::default();
                p.context_threshold = ct;
                p.rest = steps(rest);
                p.context.margin = margin;
                grid.push((format!("({ct}, {rest}, {margin})"), p));
            }
        }
    }
    grid
}

/// The grid of `--loco-habit`: the daily habit's days looked at and days required (0: off).
fn habit_grid() -> Vec<(String, CombinedParams)> {
    [
        (0, 0),
        (3, 2),
        (4, 2),
        (5, 2),
        (5, 3),
        (6, 3),
        (7, 3),
        (7, 4),
    ]
    .into_iter()
    .map(|(days, min)| {
        let mut p = CombinedParams::default();
        p.habit_days = days;
        p.habit_min_days = min;
        (format!("({days}, {min})"), p)
    })
    .collect()
}

/// The defaults with one parameter (`set`) at each of `values`, labelled by the value.
fn one_parameter_grid(
    values: &[f64],
    set: fn(&mut CombinedParams, f64),
) -> Vec<(String, CombinedParams)> {
    values
        .iter()
        .map(|&v| {
            let mut p = CombinedParams::default();
            set(&mut p, v);
            (format!("{v}"), p)
        })
        .collect()
}

/// The grid of `--loco-young`: the young bar (0: off).
fn young_grid() -> Vec<(String, CombinedParams)> {
    let bars = [0.0, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.6];
    one_parameter_grid(&bars, |p, v| p.young_bar = v)
}

/// The grid of `--loco-break`: the break-through (0: off).
fn break_grid() -> Vec<(String, CombinedParams)> {
    let margins = [0.0, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4];
    one_parameter_grid(&margins, |p, v| p.break_through = v)
}

/// The grid of `--loco-gap`: the outage factor of both halves (0: off).
fn gap_grid() -> Vec<(String, CombinedParams)> {
    let factors = [0.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 20.0];
    one_parameter_grid(&factors, |p, v| (p.ensemble.gap, p.context.gap) = (v, v))
}

/// A grid (`label` names its parameter) scored at the frozen threshold and around it (each
/// threshold run afresh, the detector's own bar there): the mean over the five corpora per
/// threshold, and their average — a choice that holds when the bar moves a little, not only
/// exactly at 0.5.
fn around_threshold(corpora: &[Vec<DataFile>], grid: Vec<(String, CombinedParams)>, label: &str) {
    let thresholds = [0.49, 0.495, 0.5, 0.505, 0.51];
    println!(
        "| {label} | {} | average |",
        thresholds.map(|t| t.to_string()).join(" | ")
    );
    println!("|---|{}--:|", "--:|".repeat(thresholds.len()));
    for (label, p) in grid {
        let means: Vec<f64> = thresholds
            .iter()
            .map(|&t| {
                let mut p = p;
                p.threshold = t;
                let total: f64 = corpora
                    .iter()
                    .map(|files| score_where(&scored_with(files, p), t, &|_| true).normalised)
                    .sum();
                total / corpora.len() as f64
            })
            .collect();
        let cells: Vec<String> = means.iter().map(|m| format!("{m:.2}")).collect();
        println!(
            "| {label} | {} | {:.2} |",
            cells.join(" | "),
            means.iter().sum::<f64>() / means.len() as f64
        );
    }
}

/// Leave-one-category-out over a grid of the combined detector's own parameters (`grid`:
/// labelled settings; the frozen one is the one equal to the defaults). With several corpora
/// (the published one first, then resampled copies) a setting is chosen by its mean over them
/// — the procedure that chose the frozen parameters — and the held-out category is reported on
/// the first corpus and as the mean over all.
fn loco(corpora: &[Vec<DataFile>], grid: Vec<(String, CombinedParams)>, names: &str) {
    let categories = categories(corpora[0].iter().map(|f| f.key.as_str()));
    // Every setting of the grid, scored once per file of every corpus.
    let grid: Vec<(String, bool, Vec<Vec<ScoredFile>>)> = grid
        .into_iter()
        .map(|(label, p)| {
            let scored = corpora.iter().map(|files| scored_with(files, p)).collect();
            (label, p == CombinedParams::default(), scored)
        })
        .collect();
    let pooled = |scored: &[ScoredFile], keep: &dyn Fn(&str) -> bool| {
        score_where(scored, DEFAULT_THRESHOLD, keep)
    };
    let mean = |sets: &[Vec<ScoredFile>], keep: &dyn Fn(&str) -> bool| {
        sets.iter().map(|s| pooled(s, keep).normalised).sum::<f64>() / sets.len() as f64
    };
    let frozen = grid
        .iter()
        .find(|g| g.1)
        .expect("the grid holds the defaults");
    let many = corpora.len() > 1;
    println!(
        "| held-out category | chosen on the other three{} {names} | held-out score | frozen setting there |",
        if many { ", mean over the corpora" } else { "" }
    );
    println!("|---|---|--:|--:|");
    for held in &categories {
        let best = grid
            .iter()
            .max_by(|a, b| mean(&a.2, &|c| c != held).total_cmp(&mean(&b.2, &|c| c != held)))
            .unwrap();
        let show = |sets: &[Vec<ScoredFile>]| {
            let s = pooled(&sets[0], &|c| c == held);
            let mut out = if s.normalised.is_finite() {
                format!("{:.2} ({} FPs)", s.normalised, s.false_positives)
            } else {
                format!("{} FPs", s.false_positives)
            };
            if many && s.normalised.is_finite() {
                out.push_str(&format!(", mean {:.2}", mean(sets, &|c| c == held)));
            }
            out
        };
        println!(
            "| {held} | {} | {} | {} |",
            best.0,
            show(&best.2),
            show(&frozen.2)
        );
    }
    let best_all = grid
        .iter()
        .max_by(|a, b| mean(&a.2, &|_| true).total_cmp(&mean(&b.2, &|_| true)))
        .unwrap();
    println!(
        "all-in{}: frozen {} {:.2}; best of the grid {} {:.2}",
        if many { " (mean over the corpora)" } else { "" },
        frozen.0,
        mean(&frozen.2, &|_| true),
        best_all.0,
        mean(&best_all.2, &|_| true)
    );
    // Each setting by category (short grids): which categories a parameter moves at all.
    if grid.len() > 12 {
        return;
    }
    // Categories without windows have no normalised score (only false positives).
    let labelled: Vec<&String> = categories
        .iter()
        .filter(|c| {
            corpora[0]
                .iter()
                .any(|f| f.key.starts_with(&format!("{c}/")) && !f.windows.is_empty())
        })
        .collect();
    println!(
        "\n| setting | {} |",
        labelled
            .iter()
            .map(|c| c.as_str())
            .collect::<Vec<_>>()
            .join(" | ")
    );
    println!("|---|{}", "--:|".repeat(labelled.len()));
    for (label, _, sets) in &grid {
        let cells: Vec<String> = labelled
            .iter()
            .map(|held| format!("{:.2}", mean(sets, &|c| c == held.as_str())))
            .collect();
        println!("| {label} | {} |", cells.join(" | "));
    }
}

/// Leave-one-category-out over the detection threshold alone: NAB's threshold sweep on three
/// categories, the fourth scored at that threshold.
fn loco_threshold(files: &[DataFile], name: &str) {
    let scores = run(files, name);
    let scored: Vec<ScoredFile> = files
        .iter()
        .zip(&scores)
        .map(|(f, s)| ScoredFile::new(f, s))
        .collect();
    let categories = categories(scored.iter().map(|f| f.key.as_str()));
    let cm = &PROFILES[0].1;
    println!(
        "{name}: | held-out category | threshold chosen on the other three | held-out score |"
    );
    for held in &categories {
        let (train, test): (Vec<ScoredFile>, Vec<ScoredFile>) = scored
            .iter()
            .cloned()
            .partition(|f| category(&f.key) != held);
        let t = nab::optimise(&train, cm).threshold;
        let s = nab::score(&test, t, cm);
        println!(
            "| {held} | {t:.4} | {:.2} ({} FPs) |",
            s.normalised, s.false_positives
        );
    }
    let all = nab::optimise(&scored, cm);
    println!(
        "all-in best {:.2} at {:.4}; at 0.5: {:.2}",
        all.normalised,
        all.threshold,
        nab::score(&scored, 0.5, cm).normalised
    );
}

/// Leave-one-category-out over the threshold of a detector whose rest starts at it (`default`,
/// `ensemble`): NAB's sweep over fixed scores would drop a detection below the swept bar but
/// keep the silence it started, so each threshold of a grid (0.40–0.65 by 0.005) is run
/// afresh, the detector's own bar there.
fn loco_rest_threshold(files: &[DataFile], name: &str) {
    let grid: Vec<(f64, Vec<ScoredFile>)> = (0..=50)
        .map(|i| {
            let t = 0.4 + 0.005 * f64::from(i);
            let scored = files
                .iter()
                .map(|f| {
                    let mut d: Box<dyn Detector> = if name == "default" {
                        let mut p = CombinedParams::default();
                        p.threshold = t;
                        Box::new(CombinedDetector::new(p))
                    } else {
                        let mut p = nexus_alerting::anomaly::EnsembleParams::default();
                        p.threshold = t;
                        Box::new(EnsembleDetector::new(p))
                    };
                    ScoredFile::new(f, &f.feed(d.as_mut()))
                })
                .collect();
            (t, scored)
        })
        .collect();
    let categories = categories(files.iter().map(|f| f.key.as_str()));
    let score = score_where;
    println!(
        "{name}: | held-out category | threshold (its rest's too) chosen on the other three | held-out score |"
    );
    for held in &categories {
        let (t, scored) = grid
            .iter()
            .max_by(|a, b| {
                let s = |g: &(f64, Vec<ScoredFile>)| score(&g.1, g.0, &|c| c != held).normalised;
                s(a).total_cmp(&s(b))
            })
            .unwrap();
        let s = score(scored, *t, &|c| c == held);
        println!(
            "| {held} | {t:.3} | {:.2} ({} FPs) |",
            s.normalised, s.false_positives
        );
    }
    let (t, scored) = grid
        .iter()
        .max_by(|a, b| {
            let s = |g: &(f64, Vec<ScoredFile>)| score(&g.1, g.0, &|_| true).normalised;
            s(a).total_cmp(&s(b))
        })
        .unwrap();
    println!(
        "all-in best {:.2} at {t:.3}",
        score(scored, *t, &|_| true).normalised
    );
}

/// `f` at another sampling (see the module documentation), its windows kept in time.
fn resampled(f: &DataFile, how: &str) -> DataFile {
    let (how, seed) = how.split_once(':').unwrap_or((how, "0"));
    match how {
        "thin30" => f.thinned(0.3, seed.parse().unwrap()),
        "half-hour" => f.bucketed(1800),
        "outages" => f.with_outages(48.0, (1.0, 12.0), seed.parse().unwrap()),
        other => panic!("unknown resampling {other}: thin30[:SEED], outages[:SEED] or half-hour"),
    }
}

/// Writes `files` in NAB's layout (data, labels; the profiles copied from the corpus).
fn save_corpus(files: &[DataFile], dir: &std::path::Path) {
    let mut labels = serde_json::Map::new();
    for f in files {
        let path = dir.join("data").join(&f.key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let mut csv = String::from("timestamp,value\n");
        for (t, v) in f.timestamps.iter().zip(&f.values) {
            csv.push_str(&format!("{},{v}\n", fmt_time(*t)));
        }
        std::fs::write(path, csv).unwrap();
        let windows: Vec<serde_json::Value> = f
            .windows
            .iter()
            .map(|&(a, b)| {
                let edge = |i: usize| format!("{}.000000", fmt_time(f.timestamps[i]));
                serde_json::json!([edge(a), edge(b)])
            })
            .collect();
        labels.insert(f.key.clone(), windows.into());
    }
    std::fs::create_dir_all(dir.join("labels")).unwrap();
    std::fs::write(
        dir.join("labels/combined_windows.json"),
        serde_json::to_string_pretty(&labels).unwrap(),
    )
    .unwrap();
    std::fs::create_dir_all(dir.join("config")).unwrap();
    std::fs::copy(
        corpus_root().join("config/profiles.json"),
        dir.join("config/profiles.json"),
    )
    .unwrap();
}
