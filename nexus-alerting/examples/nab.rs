//! Scores detectors on the NAB corpus in `shared/data/nab` (or `$NEXUS_NAB`).
//!
//! `cargo run --release -p nexus-alerting --example nab [-- --write DIR] [--diag] [detector…]`
//!
//! `-- --sweep` instead prints the standard score at the frozen threshold of `CombinedDetector`
//! around its frozen parameters (the table in `BENCHMARKS.md`).
//!
//! `-- --loco` prints leave-one-category-out scores: for each category, the combined detector's
//! three combined-level parameters (context threshold, rest, context margin) chosen on the other
//! categories' files from a grid, then scored on the held-out one.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use nexus_alerting::anomaly::nab::{self, DataFile, PROFILES, ScoredFile};
use nexus_alerting::anomaly::{
    CombinedDetector, CombinedParams, ContextDetector, DEFAULT_THRESHOLD, Detector,
    EnsembleDetector, EwmaDetector, Likelihood, MadDetector, SeasonalDetector,
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
    files.iter().map(|f| f.feed(make(name).as_mut())).collect()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut write = None;
    let diag = args.iter().any(|a| a == "--diag");
    let mut names = Vec::new();
    let mut i = 0;
    while i < args.len() {
        if args[i] == "--diag" {
            i += 1;
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
    let files = nab::load_corpus(&corpus_root()).unwrap();
    if args.iter().any(|a| a == "--sweep") {
        sweep(&files);
        return;
    }
    if args.iter().any(|a| a == "--loco") {
        loco(&files);
        return;
    }
    for name in &names {
        let t0 = std::time::Instant::now();
        let scores = run(&files, name);
        let secs = t0.elapsed().as_secs_f64();
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

/// Standard score at the frozen threshold of `CombinedDetector` with `p`.
fn combined_score(files: &[DataFile], p: CombinedParams) -> f64 {
    let scored: Vec<ScoredFile> = files
        .iter()
        .map(|f| ScoredFile::new(f, &f.feed(&mut CombinedDetector::new(p))))
        .collect();
    nab::score(&scored, DEFAULT_THRESHOLD, &PROFILES[0].1).normalised
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

/// Leave-one-category-out over a grid of the combined detector's own parameters.
fn loco(files: &[DataFile]) {
    let category = |f: &ScoredFile| f.key.split('/').next().unwrap_or("").to_owned();
    let mut categories: Vec<String> = files
        .iter()
        .map(|f| f.key.split('/').next().unwrap_or("").to_owned())
        .collect();
    categories.dedup();
    let base = CombinedParams::default();
    // Every setting of the grid, scored once per file.
    let mut grid = Vec::new();
    for ct in [0.6, 0.65, 0.7, 0.75, 0.8] {
        for rest in [100u64, 150, 200, 250, 300] {
            for margin in [0.5, 0.6, 0.7] {
                let mut p = base;
                p.context_threshold = ct;
                p.rest = steps(rest as usize);
                p.context.margin = margin;
                let scored: Vec<ScoredFile> = files
                    .iter()
                    .map(|f| ScoredFile::new(f, &f.feed(&mut CombinedDetector::new(p))))
                    .collect();
                grid.push(((ct, rest, margin), scored));
            }
        }
    }
    let pooled = |scored: &[ScoredFile], keep: &dyn Fn(&str) -> bool| {
        let sub: Vec<ScoredFile> = scored
            .iter()
            .filter(|f| keep(&category(f)))
            .cloned()
            .collect();
        nab::score(&sub, DEFAULT_THRESHOLD, &PROFILES[0].1)
    };
    let frozen = (
        base.context_threshold,
        (base.rest.as_secs() / 300),
        base.context.margin,
    );
    println!(
        "| held-out category | chosen on the other three (context threshold, rest, margin) | held-out score | frozen setting there |"
    );
    println!("|---|---|--:|--:|");
    for held in &categories {
        let (best, _) = grid
            .iter()
            .map(|(k, s)| (k, pooled(s, &|c| c != held).normalised))
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap();
        let show = |k: &(f64, u64, f64)| {
            let s = pooled(&grid.iter().find(|(g, _)| g == k).unwrap().1, &|c| {
                c == held
            });
            if s.normalised.is_finite() {
                format!("{:.2} ({} FPs)", s.normalised, s.false_positives)
            } else {
                format!("{} FPs", s.false_positives)
            }
        };
        println!("| {held} | {best:?} | {} | {} |", show(best), show(&frozen));
    }
    let all =
        |k: &(f64, u64, f64)| pooled(&grid.iter().find(|(g, _)| g == k).unwrap().1, &|_| true);
    let best_all = grid
        .iter()
        .map(|(k, s)| (k, pooled(s, &|_| true).normalised))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap();
    println!(
        "all-in: frozen {frozen:?} {:.2}; best of the grid {:?} {:.2}",
        all(&frozen).normalised,
        best_all.0,
        best_all.1
    );
}
