//! `Store`: recent samples per series, indexed by metric name, for rule evaluation.

use std::collections::VecDeque;

use foldhash::HashMap;

use crate::labels::{Labels, METRIC_NAME};
use crate::matcher::{MatchOp, Matcher};
use crate::time::Millis;

/// Prometheus' staleness marker (a NaN with this exact bit pattern).
pub const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;

/// Whether `v` is the staleness marker.
pub fn is_stale(v: f64) -> bool {
    v.to_bits() == STALE_NAN
}

/// One sample of one series.
///
/// ```
/// use nexus_alerting::{Labels, Sample};
/// let s = Sample::new("http_requests_total", Labels::from_pairs([("job", "api")]), 42.0, 1_700_000_000_000);
/// assert_eq!(s.labels.get("__name__"), Some("http_requests_total"));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The series' labels, including `__name__`.
    pub labels: Labels,
    /// The value.
    pub value: f64,
    /// Milliseconds since the epoch.
    pub timestamp: Millis,
}

impl Sample {
    /// A sample of metric `name` with `labels`.
    pub fn new(name: &str, mut labels: Labels, value: f64, timestamp: Millis) -> Self {
        labels.insert(METRIC_NAME, name);
        Self {
            labels,
            value,
            timestamp,
        }
    }
}

pub(crate) struct Series {
    pub(crate) labels: Labels,
    pub(crate) fp: u64,
    /// The newest sample, inline: most instant lookups need nothing else (one cache line).
    pub(crate) last: (Millis, f64),
    pub(crate) samples: VecDeque<(Millis, f64)>,
}

/// Series by id; ids are stable until `compact` (which bumps `generation`).
#[derive(Default)]
pub(crate) struct Store {
    by_fp: HashMap<u64, Vec<u32>>,
    pub(crate) series: Vec<Series>,
    by_name: HashMap<String, Vec<u32>>,
    /// Bumped whenever the id → series mapping or the set of series changes.
    pub(crate) generation: u64,
    pub(crate) retention: Millis,
    pub(crate) out_of_order: u64,
}

impl Store {
    pub(crate) fn new(retention: Millis) -> Self {
        Self {
            retention,
            ..Self::default()
        }
    }

    fn id_of(&mut self, labels: &Labels) -> u32 {
        let fp = labels.fingerprint();
        if let Some(ids) = self.by_fp.get(&fp)
            && let Some(&id) = ids
                .iter()
                .find(|&&i| self.series[i as usize].labels == *labels)
        {
            return id;
        }
        let id = self.series.len() as u32;
        self.series.push(Series {
            labels: labels.clone(),
            fp,
            last: (Millis::MIN, f64::NAN),
            samples: VecDeque::new(),
        });
        self.by_fp.entry(fp).or_default().push(id);
        let name = labels.get(METRIC_NAME).unwrap_or("").to_owned();
        self.by_name.entry(name).or_default().push(id);
        self.generation += 1;
        id
    }

    /// Appends a sample; an older-than-last sample is dropped (counted), an equal timestamp
    /// replaces the last value.
    pub(crate) fn push(&mut self, labels: &Labels, ts: Millis, v: f64) {
        let id = self.id_of(labels);
        let retention = self.retention;
        let series = &mut self.series[id as usize];
        if ts >= series.last.0 {
            series.last = (ts, v);
        }
        let s = &mut series.samples;
        match s.back_mut() {
            Some(last) if last.0 > ts => {
                self.out_of_order += 1;
                return;
            }
            Some(last) if last.0 == ts => last.1 = v,
            _ => s.push_back((ts, v)),
        }
        while s.front().is_some_and(|f| f.0 < ts - retention) {
            s.pop_front();
        }
    }

    /// Ids of the series `matchers` select (`name`, when given, is also one of the matchers).
    pub(crate) fn select_matchers(&self, name: Option<&str>, matchers: &[Matcher]) -> Vec<u32> {
        let name = name.or_else(|| {
            matchers
                .iter()
                .find(|m| m.name() == METRIC_NAME && m.op() == MatchOp::Equal)
                .map(Matcher::value)
        });
        let matches = |id: &u32| {
            let l = &self.series[*id as usize].labels;
            matchers.iter().all(|m| m.matches(l))
        };
        match name {
            Some(n) => self
                .by_name
                .get(n)
                .map(|ids| ids.iter().copied().filter(matches).collect())
                .unwrap_or_default(),
            None => (0..self.series.len() as u32).filter(matches).collect(),
        }
    }

    /// Drops series with no sample newer than `now - retention`; renumbers ids.
    pub(crate) fn compact(&mut self, now: Millis) {
        let horizon = now - self.retention;
        let before = self.series.len();
        let old = std::mem::take(&mut self.series);
        self.by_fp.clear();
        self.by_name.clear();
        for mut s in old {
            while s.samples.front().is_some_and(|f| f.0 < horizon) {
                s.samples.pop_front();
            }
            if s.samples.is_empty() {
                continue;
            }
            let id = self.series.len() as u32;
            self.by_fp
                .entry(s.labels.fingerprint())
                .or_default()
                .push(id);
            let name = s.labels.get(METRIC_NAME).unwrap_or("").to_owned();
            self.by_name.entry(name).or_default().push(id);
            self.series.push(s);
        }
        if self.series.len() != before || before > 0 {
            self.generation += 1;
        }
    }

    /// Number of series and of samples held.
    pub(crate) fn size(&self) -> (usize, usize) {
        (
            self.series.len(),
            self.series.iter().map(|s| s.samples.len()).sum(),
        )
    }
}

/// The latest non-stale sample at or before `t` and its timestamp, no older than
/// `t - lookback` (inclusive when `closed`).
pub(crate) fn instant_with_time(
    series: &Series,
    t: Millis,
    lookback: Millis,
    closed: bool,
) -> Option<(Millis, f64)> {
    let (ts, v) = if series.last.0 <= t {
        series.last
    } else {
        let s = &series.samples;
        let idx = s.partition_point(|p| p.0 <= t);
        *s.get(idx.checked_sub(1)?)?
    };
    let fresh = if closed {
        ts >= t - lookback
    } else {
        ts > t - lookback
    };
    (fresh && !is_stale(v)).then_some((ts, v))
}

/// The latest non-stale sample at or before `t`, no older than `t - lookback` (inclusive when
/// `closed`).
pub(crate) fn instant(series: &Series, t: Millis, lookback: Millis, closed: bool) -> Option<f64> {
    instant_with_time(series, t, lookback, closed).map(|(_, v)| v)
}

/// The non-stale samples in `[t - range, t]` (`(t - range, t]` when not `closed`).
pub(crate) fn window(
    s: &VecDeque<(Millis, f64)>,
    t: Millis,
    range: Millis,
    closed: bool,
    out: &mut Vec<(Millis, f64)>,
) {
    out.clear();
    let start = t - range;
    let before_window = |p: &(Millis, f64)| if closed { p.0 < start } else { p.0 <= start };
    // Short deques are scanned from the front: sequential reads the copy below reuses, where a
    // binary search would miss the cache on scattered lines first.
    let lo = if s.len() <= 64 {
        s.iter().take_while(|p| before_window(p)).count()
    } else {
        s.partition_point(before_window)
    };
    // Rules evaluate at or after the newest sample: no second search then.
    let hi = if s.back().is_some_and(|b| b.0 <= t) {
        s.len()
    } else {
        s.partition_point(|p| p.0 <= t)
    };
    out.extend(s.range(lo..hi.max(lo)).filter(|p| !is_stale(p.1)));
}
