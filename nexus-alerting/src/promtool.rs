//! A runner for `promtool test rules` files, so a rule set can be checked against this engine
//! with the same file that checks it against Prometheus.
//!
//! Supported: `rule_files`, `evaluation_interval`, `tests[].interval`, `input_series` (values in
//! promtool's expanding notation: `1 2 _ stale 0+10x5 5-1x3 _x2 3x2`), `external_labels`,
//! `alert_rule_test` (firing alerts at `eval_time`, labels and annotations) and
//! `promql_expr_test` (instant values, compared exactly as promtool compares them). `group_eval_order` is
//! accepted and ignored (rules here do not read each other's output).
//!
//! ```no_run
//! // The same file `promtool test rules tests/rules.test.yml` runs.
//! let report = nexus_alerting::promtool::run_file("tests/rules.test.yml").unwrap();
//! assert!(report.ok(), "{report:?}");
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::engine::{EvalConfig, Evaluator};
use crate::error::Error;
use crate::labels::{ALERT_NAME, Labels};
use crate::notation::{self, Point};
use crate::rulefile::load_rule_file;
use crate::store::Sample;
use crate::time::{Millis, ms, parse_duration};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TestFile {
    rule_files: Vec<String>,
    evaluation_interval: Option<String>,
    #[serde(default)]
    group_eval_order: Vec<String>,
    tests: Vec<TestGroup>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TestGroup {
    name: Option<String>,
    interval: Option<String>,
    #[serde(default)]
    input_series: Vec<InputSeries>,
    #[serde(default)]
    alert_rule_test: Vec<AlertTest>,
    #[serde(default)]
    promql_expr_test: Vec<ExprTest>,
    #[serde(default)]
    external_labels: BTreeMap<String, String>,
    external_url: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InputSeries {
    series: String,
    values: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertTest {
    eval_time: String,
    alertname: String,
    #[serde(default)]
    exp_alerts: Vec<ExpAlert>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpAlert {
    #[serde(default)]
    exp_labels: BTreeMap<String, String>,
    #[serde(default)]
    exp_annotations: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExprTest {
    expr: String,
    eval_time: String,
    #[serde(default)]
    exp_samples: Vec<ExpSample>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpSample {
    labels: String,
    value: f64,
}

/// The outcome of a test file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Checks that passed (one per alert test and per expression test).
    pub passed: usize,
    /// One message per failed check.
    pub failures: Vec<String>,
}

impl Report {
    /// No failure.
    pub fn ok(&self) -> bool {
        self.failures.is_empty()
    }
}

/// Runs a promtool test file (`rule_files` relative to it).
///
/// ```no_run
/// let report = nexus_alerting::promtool::run_file("tests/promtool/for.test.yml").unwrap();
/// assert!(report.ok(), "{:#?}", report.failures);
/// ```
pub fn run_file(path: impl AsRef<Path>) -> Result<Report, Error> {
    let path = path.as_ref();
    let file = path.display().to_string();
    let src = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: file.clone(),
        source,
    })?;
    let doc: TestFile = serde_yaml_ng::from_str(&src).map_err(|e| {
        let (line, column) = e
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((1, 1));
        Error::Load {
            file: file.clone(),
            line,
            column,
            message: e.to_string(),
        }
    })?;
    let _ = doc.group_eval_order;
    let dir = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let mut groups = Vec::new();
    for f in &doc.rule_files {
        groups.extend(load_rule_file(dir.join(f))?);
    }
    let cfg_err = |m: String| Error::Load {
        file: file.clone(),
        line: 1,
        column: 1,
        message: m,
    };
    let eval_interval = match &doc.evaluation_interval {
        Some(s) => ms(parse_duration(s).map_err(&cfg_err)?),
        None => 60_000,
    };
    if eval_interval <= 0 {
        return Err(cfg_err("evaluation_interval must be positive".into()));
    }
    let mut report = Report::default();
    for (ti, t) in doc.tests.iter().enumerate() {
        let tname = t.name.clone().unwrap_or_else(|| format!("test {}", ti + 1));
        let interval = match &t.interval {
            Some(s) => ms(parse_duration(s).map_err(&cfg_err)?),
            None => eval_interval,
        };
        let mut samples = Vec::new();
        for s in &t.input_series {
            let labels = parse_series(&s.series).map_err(|m| cfg_err(format!("{tname}: {m}")))?;
            let values = expand_values(&s.values)
                .map_err(|m| cfg_err(format!("{tname}: series {}: {m}", s.series)))?;
            for (i, v) in values.into_iter().enumerate() {
                if let Some(v) = v {
                    samples.push(Sample {
                        labels: labels.clone(),
                        value: v,
                        timestamp: i as Millis * interval,
                    });
                }
            }
        }
        samples.sort_by_key(|s| s.timestamp);
        let cfg = EvalConfig {
            interval: std::time::Duration::from_millis(eval_interval as u64),
            external_labels: Labels::from_pairs(t.external_labels.clone()),
            external_url: t.external_url.clone().unwrap_or_default(),
            // promtool 2.42 (Debian 12), the oracle these files are checked against.
            closed_windows: true,
            ..EvalConfig::default()
        };
        let mut ev = Evaluator::new(cfg);
        ev.set_rules(groups.clone());
        ev.keep_everything();
        let mut alert_tests: Vec<(Millis, &AlertTest)> = Vec::new();
        for a in &t.alert_rule_test {
            alert_tests.push((ms(parse_duration(&a.eval_time).map_err(&cfg_err)?), a));
        }
        alert_tests.sort_by_key(|a| a.0);
        let max_t = alert_tests.last().map(|a| a.0).unwrap_or(0);
        let mut next_sample = 0;
        let mut next_test = 0;
        let mut ts = 0;
        while ts <= max_t {
            while next_sample < samples.len() && samples[next_sample].timestamp <= ts {
                ev.push(samples[next_sample].clone());
                next_sample += 1;
            }
            ev.eval(ts);
            // promtool compares at the last evaluation at or before eval_time.
            while next_test < alert_tests.len() && alert_tests[next_test].0 < ts + eval_interval {
                let (at, test) = alert_tests[next_test];
                next_test += 1;
                check_alerts(&ev, &tname, at, test, &mut report);
            }
            ts += eval_interval;
        }
        for s in &samples[next_sample..] {
            ev.push(s.clone());
        }
        for e in &t.promql_expr_test {
            let at = ms(parse_duration(&e.eval_time).map_err(&cfg_err)?);
            let expr = crate::promql::parse(&e.expr)
                .map_err(|x| cfg_err(format!("{tname}: expr {:?}: {x}", e.expr)))?;
            let got = match ev.query(&expr, at) {
                Ok(v) => v,
                Err(x) => {
                    report.failures.push(format!(
                        "{tname}: expr {:?} at {}: {x}",
                        e.expr, e.eval_time
                    ));
                    continue;
                }
            };
            let mut want = Vec::new();
            for s in &e.exp_samples {
                want.push((
                    parse_series(&s.labels).map_err(|m| cfg_err(format!("{tname}: {m}")))?,
                    s.value,
                ));
            }
            want.sort_by(|a, b| a.0.cmp(&b.0));
            let same = got.len() == want.len()
                && got
                    .iter()
                    .zip(&want)
                    .all(|(g, w)| g.0 == w.0 && close(g.1, w.1));
            if same {
                report.passed += 1;
            } else {
                report.failures.push(format!(
                    "{tname}: expr {:?} at {}: expected {want:?}, got {got:?}",
                    e.expr, e.eval_time
                ));
            }
        }
    }
    Ok(report)
}

/// promtool compares values exactly (NaN equals NaN).
fn close(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b
}

fn check_alerts(ev: &Evaluator, tname: &str, at: Millis, test: &AlertTest, report: &mut Report) {
    let mut got = ev.firing_of(&test.alertname);
    let mut want: Vec<(Labels, Labels)> = test
        .exp_alerts
        .iter()
        .map(|a| {
            let mut l = Labels::from_pairs(a.exp_labels.clone());
            l.insert(ALERT_NAME, test.alertname.clone());
            (l, Labels::from_pairs(a.exp_annotations.clone()))
        })
        .collect();
    got.sort();
    want.sort();
    if got == want {
        report.passed += 1;
    } else {
        report.failures.push(format!(
            "{tname}: alert {:?} at {}ms: expected {want:?}, got {got:?}",
            test.alertname, at
        ));
    }
}

fn parse_series(s: &str) -> Result<Labels, String> {
    notation::parse_labels_or_empty(s)
}

/// promtool's value notation → one optional value per step.
fn expand_values(s: &str) -> Result<Vec<Option<f64>>, String> {
    notation::expand(s)?
        .into_iter()
        .map(|p| match p {
            Point::Value(v) => Ok(Some(v)),
            Point::Omitted => Ok(None),
            Point::Histogram => Err("native histograms are not supported".to_owned()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_promtool_notation() {
        let v = expand_values("1 _ 0+10x2 5-1x1 _x2 3x1 stale").unwrap();
        let shown: Vec<String> = v
            .iter()
            .map(|x| match x {
                None => "_".into(),
                Some(f) if f.is_nan() => "stale".into(),
                Some(f) => f.to_string(),
            })
            .collect();
        assert_eq!(
            shown,
            [
                "1", "_", "0", "10", "20", "5", "4", "_", "_", "3", "3", "stale"
            ]
        );
        assert!(expand_values("1+x").is_err());
    }
}
