//! The NAB scorer against the reference scorer `shared/tools/nab_score.py`, on the default
//! detector's outputs over the shared corpus: the normalised scores of the three profiles must
//! agree to 1e-6, and the standard one must not fall below issue 19's 72 (measured 72.05; 68.75
//! before warm-ups, rests and memories were put in series time, 67.93 before the echo guard,
//! 68.16 before the CUSUM view, 68.12 before the peak memory, 69.87 before the CUSUM took the
//! peak-held scale, 70.46 before the daily habit, 71.36 before the young bar, 71.95 before the
//! outage rule).
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::Command;

use nexus_alerting::anomaly::nab::{self, PROFILES, ScoredFile};
use nexus_alerting::anomaly::{CombinedDetector, DEFAULT_THRESHOLD};

fn shared() -> PathBuf {
    if let Ok(p) = std::env::var("NEXUS_SHARED") {
        return p.into();
    }
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    for c in [here.join("../../shared"), PathBuf::from("/work/shared")] {
        if c.join("data/nab/labels/combined_windows.json").exists() {
            return c;
        }
    }
    panic!(
        "the shared data (data/nab, tools/nab_score.py) was not found beside the repository: set NEXUS_SHARED"
    );
}

fn fmt_time(t: i64) -> String {
    let s = nexus_alerting::rfc3339(t * 1000);
    format!("{} {}", &s[..10], &s[11..19])
}

#[test]
fn our_scorer_agrees_with_nab_score_py() {
    let shared = shared();
    let files = nab::load_corpus(&shared.join("data/nab")).unwrap();
    assert_eq!(files.len(), 35);
    assert_eq!(files.iter().map(|f| f.windows.len()).sum::<usize>(), 55);
    let out = tempfile::tempdir().unwrap();
    let mut scored = Vec::new();
    for f in &files {
        let scores = f.feed(&mut CombinedDetector::default());
        let path = out.path().join("nexus").join(&f.key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let mut csv = String::from("timestamp,value,anomaly_score\n");
        for ((t, v), a) in f.timestamps.iter().zip(&f.values).zip(&scores) {
            // 17 significant digits: the exact f64 the Rust scorer saw.
            csv.push_str(&format!("{},{v},{a:.17e}\n", fmt_time(*t)));
        }
        std::fs::write(&path, csv).unwrap();
        scored.push(ScoredFile::new(f, &scores));
    }
    let py = Command::new("python3")
        .arg(shared.join("tools/nab_score.py"))
        .arg(out.path().join("nexus"))
        .arg("--labels")
        .arg(shared.join("data/nab/labels/combined_windows.json"))
        .arg("--profiles")
        .arg(shared.join("data/nab/config/profiles.json"))
        .args([
            "--threshold",
            &DEFAULT_THRESHOLD.to_string(),
            "--json",
            "--data",
        ])
        .arg(shared.join("data/nab/data"))
        .output()
        .unwrap();
    assert!(
        py.status.success(),
        "{}",
        String::from_utf8_lossy(&py.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&py.stdout).unwrap();
    for (name, cm) in PROFILES {
        let ours = nab::score(&scored, DEFAULT_THRESHOLD, &cm);
        let theirs = &report["profiles"][name];
        let (n, r) = (
            theirs["normalised"].as_f64().unwrap(),
            theirs["raw"].as_f64().unwrap(),
        );
        assert!(
            (ours.normalised - n).abs() < 1e-6,
            "{name}: ours {} vs nab_score.py {n}",
            ours.normalised
        );
        assert!(
            (ours.raw - r).abs() < 1e-6,
            "{name}: raw {} vs {r}",
            ours.raw
        );
        assert_eq!(
            ours.false_positives as u64,
            theirs["counts"]["fp"].as_u64().unwrap(),
            "{name}"
        );
        if name == "standard" {
            // The target for the frozen default detector, confirmed by NAB's scorer.
            assert!(
                n >= 72.0,
                "the default detector scores {n} < 72 on the subset"
            );
        }
    }
    // The optimiser agrees with nab_score.py's sweep too.
    let py = Command::new("python3")
        .arg(shared.join("tools/nab_score.py"))
        .arg(out.path().join("nexus"))
        .arg("--labels")
        .arg(shared.join("data/nab/labels/combined_windows.json"))
        .arg("--profiles")
        .arg(shared.join("data/nab/config/profiles.json"))
        .args(["--optimize", "--json"])
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&py.stdout).unwrap();
    for (name, cm) in PROFILES {
        let ours = nab::optimise(&scored, &cm);
        let n = report["profiles"][name]["normalised"].as_f64().unwrap();
        assert!(
            (ours.normalised - n).abs() < 1e-6,
            "{name} optimised: ours {} vs {n}",
            ours.normalised
        );
    }
}

/// The same anomalies at other samplings (the corpus averaged into 30-minute buckets, with
/// 30 % of its rows dropped at random, or with outages): the default detector's parameters are
/// series time, so its score holds. Measured 67.74 (half-hour) and 69.92 / 67.95 / 71.76 (three
/// thinnings); before the outage rule 67.55 and 69.82 / 67.85 / 71.66; before the
/// break-through 67.58 and 69.20 / 65.96 / 71.66; before the young bar 66.98 and 68.29 / 65.64
/// / 71.05; before the daily habit 66.47 and 67.19 / 65.35 / 69.82; before the CUSUM view and
/// the peak memory 65.86 and 61.19 / 60.44 / 68.96; with sample counts (session 10) 45.58 and
/// 55.72 / 56.01 / 55.17.
#[test]
fn the_default_detector_holds_at_other_samplings() {
    let files = nab::load_corpus(&shared().join("data/nab")).unwrap();
    let standard = |files: Vec<nab::DataFile>| {
        let scored: Vec<ScoredFile> = files
            .iter()
            .map(|f| ScoredFile::new(f, &f.feed(&mut CombinedDetector::default())))
            .collect();
        nab::score(&scored, DEFAULT_THRESHOLD, &PROFILES[0].1).normalised
    };
    let half_hour = standard(files.iter().map(|f| f.bucketed(1800)).collect());
    assert!(
        half_hour >= 66.0,
        "averaged into 30-minute buckets: {half_hour}"
    );
    let thinned: Vec<f64> = (1..=3)
        .map(|seed| standard(files.iter().map(|f| f.thinned(0.3, seed)).collect()))
        .collect();
    let mean = thinned.iter().sum::<f64>() / 3.0;
    assert!(mean >= 69.5, "30 % of rows dropped: {thinned:?}");
    // Outages (one every two days on average, 1–12 h long): 67.94 / 64.60 / 68.25, and 66.54 /
    // 63.62 / 66.51 with the outage rule off (a jump across a gap scored as one step).
    let outages: Vec<f64> = (1..=3)
        .map(|seed| {
            standard(
                files
                    .iter()
                    .map(|f| f.with_outages(48.0, (1.0, 12.0), seed))
                    .collect(),
            )
        })
        .collect();
    let mean = outages.iter().sum::<f64>() / 3.0;
    assert!(mean >= 66.5, "with outages: {outages:?}");
}

/// `DataFile::with_outages` drops whole spans of rows (gaps of at least an hour where the file
/// had none) and keeps the windows; arguments that make no sense change nothing.
#[test]
fn outages_drop_spans_of_rows_and_odd_arguments_change_nothing() {
    let files = nab::load_corpus(&shared().join("data/nab")).unwrap();
    let f = files
        .iter()
        .find(|f| f.key.ends_with("rds_cpu_utilization_e47b3b.csv"))
        .unwrap();
    let cut = f.with_outages(48.0, (1.0, 12.0), 1);
    assert!(
        cut.values.len() < f.values.len() * 95 / 100,
        "{}",
        cut.values.len()
    );
    let long_gaps = cut
        .timestamps
        .windows(2)
        .filter(|w| w[1] - w[0] >= 3600)
        .count();
    assert!(long_gaps >= 3, "{long_gaps}");
    assert_eq!(cut.windows.len(), f.windows.len());
    for (every, hours) in [
        (0.0, (1.0, 2.0)),
        (f64::NAN, (1.0, 2.0)),
        (-1.0, (1.0, 2.0)),
        (48.0, (f64::INFINITY, 1.0)),
    ] {
        let same = f.with_outages(every, hours, 1);
        assert_eq!(same.values.len(), f.values.len(), "{every} {hours:?}");
    }
}
