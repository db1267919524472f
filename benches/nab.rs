//! The Numenta Anomaly Benchmark on the shared subset (`shared/data/nab`): the frozen default
//! detector (`CombinedDetector`) and its magnitude half alone at their frozen threshold (the
//! default also as NAB runs every detector: told the file's value range), and the baselines at
//! their best (NAB-optimised) thresholds, per category and in total, for NAB's three profiles;
//! then the default detector's largest memory per series over the files. Runs in CI (quick
//! mode changes nothing: the whole corpus takes seconds).
//!
//! `cargo bench --bench nab`

use std::path::PathBuf;

use nexus_alerting::anomaly::nab::{self, DataFile, PROFILES, ScoredFile};
use nexus_alerting::anomaly::{
    CombinedDetector, CombinedParams, DEFAULT_THRESHOLD, Detector, EnsembleDetector, EwmaDetector,
    Likelihood, MadDetector, SeasonalDetector,
};

fn corpus_root() -> PathBuf {
    if let Ok(p) = std::env::var("NEXUS_SHARED") {
        return PathBuf::from(p).join("data/nab");
    }
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    for c in [
        here.join("../shared/data/nab"),
        PathBuf::from("/work/shared/data/nab"),
    ] {
        if c.join("labels/combined_windows.json").exists() {
            return c;
        }
    }
    panic!("NAB corpus not found beside the repository (../shared/data/nab): set NEXUS_SHARED");
}

type Make = fn(&DataFile) -> Box<dyn Detector>;

fn run(files: &[DataFile], make: Make) -> (Vec<ScoredFile>, f64) {
    let started = std::time::Instant::now();
    let scores: Vec<Vec<f64>> = files.iter().map(|f| f.feed(make(f).as_mut())).collect();
    let secs = started.elapsed().as_secs_f64();
    let rows: usize = files.iter().map(|f| f.values.len()).sum();
    (
        files
            .iter()
            .zip(&scores)
            .map(|(f, s)| ScoredFile::new(f, s))
            .collect(),
        rows as f64 / secs,
    )
}

fn main() {
    let files = nab::load_corpus(&corpus_root()).expect("NAB corpus");
    let mut categories: Vec<String> = files
        .iter()
        .map(|f| f.key.split('/').next().unwrap_or("").to_owned())
        .collect();
    categories.dedup();
    let detectors: [(&str, Make, Option<f64>); 7] = [
        (
            "nexus default = combined (frozen)",
            |_| Box::new(CombinedDetector::default()),
            Some(DEFAULT_THRESHOLD),
        ),
        (
            "nexus ensemble alone (frozen)",
            |_| Box::new(EnsembleDetector::default()),
            Some(DEFAULT_THRESHOLD),
        ),
        (
            "nexus default, told the range (NAB protocol)",
            |f| {
                let lo = f.values.iter().copied().fold(f64::INFINITY, f64::min);
                let hi = f.values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                Box::new(CombinedDetector::with_range(
                    CombinedParams::default(),
                    lo,
                    hi,
                ))
            },
            Some(DEFAULT_THRESHOLD),
        ),
        (
            "EWMA z-score",
            |_| Box::new(EwmaDetector::new(0.05, 100)),
            None,
        ),
        ("median/MAD", |_| Box::new(MadDetector::new(200)), None),
        (
            "Holt-Winters",
            |_| Box::new(SeasonalDetector::new(600, 300)),
            None,
        ),
        (
            "EWMA + likelihood",
            |_| Box::new(Likelihood::new(EwmaDetector::new(0.05, 100), 10, 8640, 388)),
            None,
        ),
    ];
    println!(
        "NAB subset: {} files, {} windows",
        files.len(),
        files.iter().map(|f| f.windows.len()).sum::<usize>()
    );
    println!(
        "| detector | threshold | profile | {} | total | FPs | samples/s |",
        categories.join(" | ")
    );
    println!(
        "|---|---|---|{}---|---|---|",
        "---|".repeat(categories.len())
    );
    for (name, make, frozen) in detectors {
        let (scored, rate) = run(&files, make);
        for (profile, cm) in PROFILES {
            // Frozen detectors use their threshold; baselines get their best (optimised) one.
            let t = frozen.unwrap_or_else(|| nab::optimise(&scored, &cm).threshold);
            let total = nab::score(&scored, t, &cm);
            let per_cat: Vec<String> = categories
                .iter()
                .map(|c| {
                    let sub: Vec<ScoredFile> = scored
                        .iter()
                        .filter(|f| f.key.starts_with(&format!("{c}/")))
                        .cloned()
                        .collect();
                    let s = nab::score(&sub, t, &cm);
                    if sub.iter().all(|f| f.windows() == 0) {
                        format!("{} FPs", s.false_positives)
                    } else {
                        format!("{:.1}", s.normalised)
                    }
                })
                .collect();
            println!(
                "| {name} | {} | {profile} | {} | **{:.2}** | {} | {:.3} M |",
                if frozen.is_some() {
                    format!("{t} (frozen)")
                } else {
                    format!("{t:.4} (best)")
                },
                per_cat.join(" | "),
                total.normalised,
                total.false_positives,
                rate / 1e6
            );
        }
    }
    // Memory per series of the default detector at the end of each file.
    let largest = files
        .iter()
        .map(|f| {
            let mut d = CombinedDetector::default();
            f.feed(&mut d);
            (d.memory_bytes(), &f.key)
        })
        .max();
    if let Some((bytes, key)) = largest {
        println!("default detector memory: at most {bytes} bytes per series ({key})");
    }
}
