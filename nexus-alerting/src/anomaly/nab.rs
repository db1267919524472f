//! A scorer for the Numenta Anomaly Benchmark (NAB v1.1 rules), and a loader for its corpus
//! layout (`data/<category>/<name>.csv`, `labels/combined_windows.json`,
//! `config/profiles.json`).
//!
//! Rules: the first `min(floor(0.15 n), 750)` rows of a file are probation (not scored); a row
//! is a detection when its score is `>= threshold`; a window counts only its best (earliest)
//! detection, worth `tp · S(−(r − i + 1)/w) / S(−1)` with `S(x) = 2·sigmoid(−5x) − 1`, or
//! `−fn` when missed; a detection outside every window costs `fp · S(|r_prev − i| / (w_prev −
//! 1))` after a window, `−fp` before any; the normalised score is `100 (S − S_null) / (S_perfect −
//! S_null)`. Cross-checked against `shared/tools/nab_score.py` (tests/nab.rs).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::error::Error;

/// A scoring profile's weights.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub struct CostMatrix {
    /// True-positive weight.
    #[serde(rename = "tpWeight")]
    pub tp: f64,
    /// False-positive weight.
    #[serde(rename = "fpWeight")]
    pub fp: f64,
    /// False-negative weight.
    #[serde(rename = "fnWeight")]
    pub fn_: f64,
}

/// NAB's three profiles, in its order.
pub const PROFILES: [(&str, CostMatrix); 3] = [
    (
        "standard",
        CostMatrix {
            tp: 1.0,
            fp: 0.11,
            fn_: 1.0,
        },
    ),
    (
        "reward_low_FP_rate",
        CostMatrix {
            tp: 1.0,
            fp: 0.22,
            fn_: 1.0,
        },
    ),
    (
        "reward_low_FN_rate",
        CostMatrix {
            tp: 1.0,
            fp: 0.11,
            fn_: 2.0,
        },
    ),
];

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

fn scaled_sigmoid(pos: f64) -> f64 {
    if pos > 3.0 {
        -1.0
    } else {
        2.0 * sigmoid(-5.0 * pos) - 1.0
    }
}

/// One data file of the corpus.
#[derive(Debug, Clone)]
pub struct DataFile {
    /// `<category>/<name>.csv`.
    pub key: String,
    /// Seconds since the epoch (naive: the corpus has no time zone).
    pub timestamps: Vec<i64>,
    /// The values.
    pub values: Vec<f64>,
    /// Labelled windows as row ranges (inclusive).
    pub windows: Vec<(usize, usize)>,
}

impl DataFile {
    /// Feeds the file's rows to `detector` in order (timestamps in milliseconds, as
    /// [`Detector`](super::Detector) takes them) and returns its scores, one per row.
    pub fn feed(&self, detector: &mut dyn super::Detector) -> Vec<f64> {
        self.timestamps
            .iter()
            .zip(&self.values)
            .map(|(t, v)| detector.update(t * 1000, *v))
            .collect()
    }
}

impl DataFile {
    /// This file averaged into buckets of `secs` seconds of its timestamps (one row per
    /// bucket that has rows, at the bucket's start): the same series sampled more slowly.
    /// Windows keep their time span (edges moved to the first and last row inside; a window
    /// left with no row is dropped).
    pub fn bucketed(&self, secs: i64) -> DataFile {
        let (mut ts, mut vs) = (Vec::new(), Vec::<f64>::new());
        let mut n = 0.0;
        for (&t, &v) in self.timestamps.iter().zip(&self.values) {
            let bucket = t - t.rem_euclid(secs.max(1));
            if ts.last() == Some(&bucket) {
                n += 1.0;
                if let Some(mean) = vs.last_mut() {
                    *mean += (v - *mean) / n;
                }
            } else {
                n = 1.0;
                ts.push(bucket);
                vs.push(v);
            }
        }
        self.with_rows(ts, vs)
    }

    /// This file with each row dropped with probability `share` (deterministic per file and
    /// `seed`): the same series sampled irregularly. Windows as in [`DataFile::bucketed`].
    pub fn thinned(&self, share: f64, seed: u64) -> DataFile {
        let seed = self
            .key
            .bytes()
            .fold(seed, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
        let mut rng = fastrand::Rng::with_seed(seed);
        let (ts, vs) = self
            .timestamps
            .iter()
            .zip(&self.values)
            .filter(|_| rng.f64() >= share)
            .unzip();
        self.with_rows(ts, vs)
    }

    /// This file with outages: gaps in the data starting at random times (on average one every
    /// `every_hours` hours of series time) and each lasting between `hours.0` and `hours.1`
    /// hours (uniform), every row inside one dropped (deterministic per file and `seed`). The
    /// same series from a source that goes away now and then. Windows as in
    /// [`DataFile::bucketed`].
    /// A spacing that is not a positive number means no outages; lengths are taken as at least
    /// 0.
    pub fn with_outages(&self, every_hours: f64, hours: (f64, f64), seed: u64) -> DataFile {
        let ok = |x: f64| x.is_finite() && x >= 0.0;
        if !(ok(every_hours) && every_hours > 0.0 && ok(hours.0) && ok(hours.1)) {
            return self.with_rows(self.timestamps.clone(), self.values.clone());
        }
        let seed = self
            .key
            .bytes()
            .fold(seed, |h, b| h.wrapping_mul(37).wrapping_add(u64::from(b)));
        let mut rng = fastrand::Rng::with_seed(seed);
        let hour = 3600.0;
        // The next outage's start and end, in seconds (exponential spacing).
        let mut next = |after: f64| {
            let start = after - (1.0 - rng.f64()).ln() * every_hours * hour;
            let len = hours.0 + rng.f64() * (hours.1 - hours.0);
            (start, start + len * hour)
        };
        let first = self.timestamps.first().copied().unwrap_or(0) as f64;
        let mut outage = next(first);
        let (ts, vs) = self
            .timestamps
            .iter()
            .zip(&self.values)
            .filter(|&(&t, _)| {
                let t = t as f64;
                while t >= outage.1 {
                    outage = next(outage.1);
                }
                t < outage.0
            })
            .unzip();
        self.with_rows(ts, vs)
    }

    fn with_rows(&self, ts: Vec<i64>, vs: Vec<f64>) -> DataFile {
        let windows = self
            .windows
            .iter()
            .filter_map(|&(a, b)| {
                let (ta, tb) = (self.timestamps[a], self.timestamps[b]);
                let first = ts.iter().position(|&t| t >= ta)?;
                let last = ts.iter().rposition(|&t| t <= tb)?;
                (first <= last).then_some((first, last))
            })
            .collect();
        DataFile {
            key: self.key.clone(),
            timestamps: ts,
            values: vs,
            windows,
        }
    }
}

/// Parses `YYYY-MM-DD HH:MM:SS[.ffffff]` as naive seconds (UTC).
pub fn parse_time(s: &str) -> Option<i64> {
    nexus_core::time::parse_utc_seconds(s)
}

/// Loads every labelled file under `root` (`data/`, `labels/combined_windows.json`).
pub fn load_corpus(root: &Path) -> Result<Vec<DataFile>, Error> {
    let io = |p: &Path, e: std::io::Error| Error::Io {
        path: p.display().to_string(),
        source: e,
    };
    let labels_path = root.join("labels/combined_windows.json");
    let text = std::fs::read_to_string(&labels_path).map_err(|e| io(&labels_path, e))?;
    let labels: BTreeMap<String, Vec<(String, String)>> = serde_json::from_str(&text)
        .map_err(|e| Error::Config(format!("{}: {e}", labels_path.display())))?;
    let mut out = Vec::new();
    for (key, wins) in labels {
        let path = root.join("data").join(&key);
        let text = std::fs::read_to_string(&path).map_err(|e| io(&path, e))?;
        let (mut ts, mut vs) = (Vec::new(), Vec::new());
        for (i, line) in text.lines().enumerate().skip(1) {
            if line.trim().is_empty() {
                continue;
            }
            let (t, v) = line
                .split_once(',')
                .ok_or_else(|| Error::Config(format!("{key}:{}: no comma", i + 1)))?;
            ts.push(
                parse_time(t)
                    .ok_or_else(|| Error::Config(format!("{key}:{}: bad time {t:?}", i + 1)))?,
            );
            vs.push(
                v.trim()
                    .parse()
                    .map_err(|_| Error::Config(format!("{key}:{}: bad value {v:?}", i + 1)))?,
            );
        }
        let mut windows = Vec::new();
        for (a, b) in wins {
            let (ta, tb) = (parse_time(&a), parse_time(&b));
            let ia = ts.iter().position(|&t| Some(t) == ta);
            let ib = ts.iter().position(|&t| Some(t) == tb);
            match (ia, ib) {
                (Some(a), Some(b)) => windows.push((a, b)),
                _ => {
                    return Err(Error::Config(format!(
                        "{key}: window {a}..{b} is not on row timestamps"
                    )));
                }
            }
        }
        windows.sort();
        out.push(DataFile {
            key,
            timestamps: ts,
            values: vs,
            windows,
        });
    }
    Ok(out)
}

/// One file's rows, prepared for scoring at any threshold.
#[derive(Debug, Clone)]
pub struct ScoredFile {
    /// The file.
    pub key: String,
    windows_total: usize,
    /// Scored rows sorted by anomaly score (descending, stable): (score, window or -1, unweighted value).
    order: Vec<(f64, i64, f64)>,
    scorable_windows: Vec<i64>,
}

impl ScoredFile {
    /// Prepares `scores` (one per row) of `file`.
    pub fn new(file: &DataFile, scores: &[f64]) -> Self {
        let n = file.values.len();
        let probation = ((0.15 * n as f64).floor()).min(0.15 * 5000.0);
        let mut win_of = vec![-1i64; n];
        let mut unweighted = vec![0.0f64; n];
        let (mut prev_right, mut prev_width): (Option<usize>, f64) = (None, 0.0);
        let mut w = 0usize;
        let mut i = 0usize;
        while i < n {
            while w < file.windows.len() && file.windows[w].0 < i {
                w += 1; // overlapping window: ignored, as nab_score.py
            }
            if w < file.windows.len() && i == file.windows[w].0 {
                let (left, right) = file.windows[w];
                let width = (right - left + 1) as f64;
                for j in left..=right.min(n - 1) {
                    win_of[j] = w as i64;
                    unweighted[j] = scaled_sigmoid(-((right - j + 1) as f64) / width);
                }
                prev_right = Some(right);
                prev_width = width;
                w += 1;
                i = right + 1;
                continue;
            }
            unweighted[i] = match prev_right {
                None => -1.0,
                Some(r) => {
                    let den = prev_width - 1.0;
                    let pos = if den > 0.0 {
                        (r as f64 - i as f64).abs() / den
                    } else {
                        f64::INFINITY
                    };
                    scaled_sigmoid(pos)
                }
            };
            i += 1;
        }
        let mut scored: Vec<usize> = (0..n).filter(|&i| (i as f64) >= probation).collect();
        scored.sort_by(|&a, &b| {
            scores[b]
                .partial_cmp(&scores[a])
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        let order: Vec<(f64, i64, f64)> = scored
            .iter()
            .map(|&i| (scores[i], win_of[i], unweighted[i]))
            .collect();
        let mut scorable_windows = Vec::new();
        for &(_, wi, _) in &order {
            if wi >= 0 && !scorable_windows.contains(&wi) {
                scorable_windows.push(wi);
            }
        }
        Self {
            key: file.key.clone(),
            windows_total: file.windows.len(),
            order,
            scorable_windows,
        }
    }

    /// Labelled windows of the file.
    pub fn windows(&self) -> usize {
        self.windows_total
    }

    /// Raw score at `threshold`, and the number of detections outside windows.
    pub fn score(&self, threshold: f64, cm: &CostMatrix) -> (f64, usize) {
        let max_tp = scaled_sigmoid(-1.0);
        let mut best: Vec<f64> = vec![-cm.fn_; self.scorable_windows.len()];
        let mut fp_sum = 0.0;
        let mut fps = 0;
        for &(s, wi, u) in &self.order {
            if s < threshold {
                break;
            }
            if wi >= 0 {
                let k = self
                    .scorable_windows
                    .iter()
                    .position(|&x| x == wi)
                    .unwrap_or(0);
                let v = u * cm.tp / max_tp;
                if v > best[k] {
                    best[k] = v;
                }
            } else {
                fps += 1;
                fp_sum += u * cm.fp;
            }
        }
        // Summed in NAB's order: the FP part first, then windows in first-appearance order.
        let total = std::iter::once(fp_sum).chain(best).sum::<f64>();
        (total, fps)
    }
}

/// A corpus score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Score {
    /// The threshold used.
    pub threshold: f64,
    /// Raw score.
    pub raw: f64,
    /// Normalised 0–100 score.
    pub normalised: f64,
    /// Detections outside windows.
    pub false_positives: usize,
}

/// Scores `files` at `threshold`.
pub fn score(files: &[ScoredFile], threshold: f64, cm: &CostMatrix) -> Score {
    let mut raw = 0.0;
    let mut fps = 0;
    for f in files {
        let (s, n) = f.score(threshold, cm);
        raw += s;
        fps += n;
    }
    let null = -cm.fn_
        * files
            .iter()
            .map(|f| f.scorable_windows.len())
            .sum::<usize>() as f64
        + 0.0;
    let perfect = cm.tp * files.iter().map(|f| f.windows_total).sum::<usize>() as f64 + 0.0;
    let normalised = if perfect == null {
        0.0
    } else {
        100.0 * (raw - null) / (perfect - null)
    };
    Score {
        threshold,
        raw,
        normalised,
        false_positives: fps,
    }
}

/// NAB's threshold sweep: the best threshold over the combined rows (ties to the highest).
pub fn optimise(files: &[ScoredFile], cm: &CostMatrix) -> Score {
    let max_tp = scaled_sigmoid(-1.0);
    // (anomaly score, (file, window) or none, weighted value)
    type Row = (f64, Option<(usize, i64)>, f64);
    let mut rows: Vec<Row> = Vec::new();
    for (fi, f) in files.iter().enumerate() {
        for &(s, wi, u) in &f.order {
            if wi >= 0 {
                rows.push((s, Some((fi, wi)), u * cm.tp / max_tp));
            } else {
                rows.push((s, None, u * cm.fp));
            }
        }
    }
    rows.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap_or(std::cmp::Ordering::Equal));
    let mut slot: std::collections::HashMap<(usize, i64), usize> = std::collections::HashMap::new();
    let mut parts = vec![0.0f64];
    for r in &rows {
        if let Some(k) = r.1
            && !slot.contains_key(&k)
        {
            slot.insert(k, parts.len());
            parts.push(-cm.fn_);
        }
    }
    let mut cur = 1.1f64;
    let (mut best_t, mut best_s) = (cur, f64::NEG_INFINITY);
    for r in &rows {
        if r.0 != cur {
            let s: f64 = parts.iter().sum();
            if s > best_s {
                best_t = cur;
                best_s = s;
            }
            cur = r.0;
        }
        match r.1 {
            None => parts[0] += r.2,
            Some(k) => {
                let i = slot[&k];
                if r.2 > parts[i] {
                    parts[i] = r.2;
                }
            }
        }
    }
    let s: f64 = parts.iter().sum();
    if s > best_s {
        best_t = cur;
    }
    score(files, best_t, cm)
}
