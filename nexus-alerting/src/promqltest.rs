//! A runner for Prometheus' PromQL test scripts (`promql/promqltest/testdata/*.test`): `load`,
//! `clear`, `eval instant`, `eval range`, `expect fail|warn|info|no_warn|no_info|ordered` and the
//! older `eval_fail`, `eval_warn`, `eval_info`, `eval_ordered` forms.
//!
//! Values compare as Prometheus' runner compares them (relative error 1e-6). An `eval` whose
//! data or expected output holds a native histogram is reported as skipped: this engine
//! evaluates float samples.
//!
//! ```
//! let script = "load 1m\n  http_requests_total{job=\"api\"} 0+60x10\n\n\
//!               eval instant at 5m rate(http_requests_total[5m])\n  {job=\"api\"} 1\n";
//! let report = nexus_alerting::promqltest::run_str("example.test", script).unwrap();
//! assert_eq!(report.passed(), 1);
//! ```

use std::fmt;
use std::path::Path;

use regex::Regex;

use crate::labels::{Labels, METRIC_NAME};
use crate::notation::{Point, expand, parse_labels, parse_labels_or_empty, split_series};
use crate::promql::{self, Query, Value};
use crate::store::Store;
use crate::time::{Millis, parse_duration};

/// What became of one `eval` command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The result was as expected.
    Passed,
    /// It was not; why.
    Failed(String),
    /// Not run: it needs native histograms.
    Skipped(String),
}

/// One `eval` command and its outcome.
#[derive(Debug, Clone)]
pub struct Case {
    /// The script's name.
    pub file: String,
    /// 1-based line of the `eval`.
    pub line: usize,
    /// The query.
    pub expr: String,
    /// What happened.
    pub outcome: Outcome,
}

impl Case {
    /// `file:line`, the key the expectations file uses.
    pub fn key(&self) -> String {
        format!("{}:{}", self.file, self.line)
    }
}

/// The outcome of every `eval` of one or more scripts.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Every case, in script order.
    pub cases: Vec<Case>,
}

impl Report {
    /// Cases that passed.
    pub fn passed(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Passed))
    }

    /// Cases that failed.
    pub fn failed(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Failed(_)))
    }

    /// Cases skipped (native histograms).
    pub fn skipped(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Skipped(_)))
    }

    fn count(&self, f: impl Fn(&Outcome) -> bool) -> usize {
        self.cases.iter().filter(|c| f(&c.outcome)).count()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let run = self.passed() + self.failed();
        write!(
            f,
            "{} of {} eval commands passed ({:.1} %), {} skipped (native histograms)",
            self.passed(),
            run,
            if run == 0 {
                0.0
            } else {
                100.0 * self.passed() as f64 / run as f64
            },
            self.skipped()
        )
    }
}

/// Runs one script file.
pub fn run_file(path: impl AsRef<Path>) -> Result<Report, String> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    run_str(&name, &text)
}

/// Runs a script given as text; `name` labels its cases. Errors are malformed scripts.
pub fn run_str(name: &str, text: &str) -> Result<Report, String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut report = Report::default();
    let mut store = new_store();
    let mut native: Vec<Labels> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim_end();
        let lineno = i + 1;
        i += 1;
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let err = |m: String| format!("{name}:{lineno}: {m}");
        // The block: following indented or non-command lines up to a blank line.
        let mut block = Vec::new();
        while i < lines.len() {
            let l = lines[i].trim();
            if l.is_empty() || is_command(l) {
                break;
            }
            if !l.starts_with('#') {
                block.push((i + 1, l));
            }
            i += 1;
        }
        let (cmd, rest) = trimmed
            .split_once(char::is_whitespace)
            .unwrap_or((trimmed, ""));
        match cmd {
            "clear" => {
                store = new_store();
                native.clear();
            }
            "load" | "load_with_nhcb" => {
                let step = ms(rest.trim()).map_err(err)?;
                for (ln, l) in &block {
                    load_series(&mut store, &mut native, l, step, cmd == "load_with_nhcb")
                        .map_err(|m| format!("{name}:{ln}: {m}"))?;
                }
            }
            c if c.starts_with("eval") => {
                let case = eval(&store, &native, name, lineno, c, rest, &block).map_err(err)?;
                report.cases.push(case);
            }
            other => return Err(err(format!("unknown command {other:?}"))),
        }
    }
    Ok(report)
}

fn new_store() -> Store {
    Store::new(Millis::MAX / 4)
}

fn is_command(l: &str) -> bool {
    let w = l.split_whitespace().next().unwrap_or("");
    w == "load" || w == "load_with_nhcb" || w == "clear" || w.starts_with("eval")
}

fn ms(s: &str) -> Result<Millis, String> {
    let (neg, s) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let v = match s.parse::<f64>() {
        Ok(secs) if s.bytes().all(|c| c.is_ascii_digit() || c == b'.') => {
            (secs * 1000.0).round() as Millis
        }
        _ => parse_duration(s)?.as_millis() as Millis,
    };
    Ok(if neg { -v } else { v })
}

fn load_series(
    store: &mut Store,
    native: &mut Vec<Labels>,
    l: &str,
    step: Millis,
    nhcb: bool,
) -> Result<(), String> {
    let (series, values) = split_series(l);
    let labels = parse_labels(series)?;
    let points = expand(values)?;
    if points.iter().any(|p| matches!(p, Point::Histogram)) {
        native.push(labels.clone());
    }
    if nhcb && let Some(name) = labels.get(METRIC_NAME) {
        for suffix in ["_bucket", "_sum", "_count"] {
            if let Some(base) = name.strip_suffix(suffix) {
                let mut l = labels.clone();
                l.insert(METRIC_NAME, base);
                l.remove("le");
                native.push(l);
            }
        }
    }
    for (k, p) in points.iter().enumerate() {
        if let Point::Value(v) = p {
            store.push(&labels, k as Millis * step, *v);
        }
    }
    Ok(())
}

struct Expect {
    fail: bool,
    fail_msg: Option<String>,
    fail_re: Option<Regex>,
    warn: bool,
    info: bool,
    ordered: bool,
    warn_msgs: Vec<(bool, String)>,
    info_msgs: Vec<(bool, String)>,
    no_warn: bool,
    no_info: bool,
}

fn eval(
    store: &Store,
    native: &[Labels],
    file: &str,
    line: usize,
    cmd: &str,
    rest: &str,
    block: &[(usize, &str)],
) -> Result<Case, String> {
    let mut ex = Expect {
        fail: cmd == "eval_fail",
        fail_msg: None,
        fail_re: None,
        warn: cmd == "eval_warn",
        info: cmd == "eval_info",
        ordered: cmd == "eval_ordered",
        warn_msgs: Vec::new(),
        info_msgs: Vec::new(),
        no_warn: false,
        no_info: false,
    };
    let (range, expr_text) = if let Some(r) = rest.strip_prefix("instant") {
        let r = r.trim_start();
        let r = r
            .strip_prefix("at")
            .ok_or("expected `at` after `eval instant`")?
            .trim_start();
        let (at, e) = r.split_once(char::is_whitespace).ok_or("missing query")?;
        let at = ms(at)?;
        ((at, at, 0), e.trim())
    } else if let Some(r) = rest.strip_prefix("range") {
        let words: Vec<&str> = r.split_whitespace().collect();
        if words.len() < 7 || words[0] != "from" || words[2] != "to" || words[4] != "step" {
            return Err("expected `eval range from <start> to <end> step <step> <query>`".into());
        }
        let mut rest = r.trim_start();
        for _ in 0..6 {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            rest = rest[end..].trim_start();
        }
        ((ms(words[1])?, ms(words[3])?, ms(words[5])?), rest)
    } else {
        return Err(format!("unknown eval form {rest:?}"));
    };
    let is_range = rest.starts_with("range");
    let mut expected: Vec<(usize, Option<Labels>, Vec<Point>)> = Vec::new();
    let mut expected_string: Option<String> = None;
    let mut has_hist = false;
    for (ln, l) in block {
        if let Some(e) = l.strip_prefix("expected_fail_message") {
            ex.fail_msg = Some(e.trim().to_owned());
            continue;
        }
        if let Some(e) = l.strip_prefix("expected_fail_regexp") {
            ex.fail_re = Some(Regex::new(e.trim()).map_err(|e| e.to_string())?);
            continue;
        }
        if let Some(e) = l.strip_prefix("expect string") {
            expected_string = Some(crate::promql::unquote_str(e.trim()).unwrap_or_default());
            continue;
        }
        if let Some(e) = l.strip_prefix("expect ") {
            let (kind, msg) = match e.split_once(char::is_whitespace) {
                Some((k, m)) => (k, m.trim()),
                None => (e.trim(), ""),
            };
            let parsed = if let Some(m) = msg.strip_prefix("msg:") {
                Some((false, m.trim().to_owned()))
            } else {
                msg.strip_prefix("regex:")
                    .map(|m| (true, m.trim().to_owned()))
            };
            match kind {
                "fail" => {
                    ex.fail = true;
                    match parsed {
                        Some((false, m)) => ex.fail_msg = Some(m.trim_matches('"').to_owned()),
                        Some((true, m)) => {
                            ex.fail_re =
                                Some(Regex::new(m.trim_matches('"')).map_err(|e| e.to_string())?)
                        }
                        None => {}
                    }
                }
                "warn" => {
                    ex.warn = true;
                    ex.warn_msgs.extend(parsed);
                }
                "info" => {
                    ex.info = true;
                    ex.info_msgs.extend(parsed);
                }
                "no_warn" => ex.no_warn = true,
                "no_info" => ex.no_info = true,
                "ordered" => ex.ordered = true,
                other => return Err(format!("line {ln}: unknown expectation {other:?}")),
            }
            continue;
        }
        if l.contains("{{") {
            has_hist = true;
        }
        let (series, values) = split_series(l);
        // A bare number is a scalar.
        if values.is_empty() {
            expected.push((*ln, None, expand(series)?));
            continue;
        }
        let labels = parse_labels_or_empty(series).map_err(|e| format!("line {ln}: {e}"))?;
        expected.push((*ln, Some(labels), expand(values)?));
    }
    let mut case = Case {
        file: file.to_owned(),
        line,
        expr: expr_text.to_owned(),
        outcome: Outcome::Passed,
    };
    let parsed = promql::parse(expr_text);
    if let Ok(e) = &parsed {
        let touches_native = e.selectors().iter().any(|vs| {
            native
                .iter()
                .any(|l| vs.matchers.iter().all(|m| m.matches(l)))
        });
        if has_hist || touches_native {
            case.outcome = Outcome::Skipped("native histograms".into());
            return Ok(case);
        }
    }
    let q = Query::default();
    let result = parsed.map_err(|e| e.to_string()).and_then(|e| {
        if is_range {
            q.range(store, &e, range.0, range.1, range.2)
        } else {
            q.instant(store, &e, range.0)
        }
        .map_err(|e| e.to_string())
    });
    case.outcome = match check(result, &ex, &expected, expected_string.as_deref(), range) {
        Ok(()) => Outcome::Passed,
        Err(m) => Outcome::Failed(m),
    };
    Ok(case)
}

fn check(
    result: Result<(Value, promql::Annotations), String>,
    ex: &Expect,
    expected: &[(usize, Option<Labels>, Vec<Point>)],
    expected_string: Option<&str>,
    range: (Millis, Millis, Millis),
) -> Result<(), String> {
    let (value, ann) = match result {
        Err(e) => {
            if !ex.fail {
                return Err(format!("unexpected error: {e}"));
            }
            if let Some(m) = &ex.fail_msg
                && !e.contains(m.as_str())
            {
                return Err(format!("expected error {m:?}, got {e:?}"));
            }
            if let Some(re) = &ex.fail_re
                && !re.is_match(&e)
            {
                return Err(format!("expected error matching {re}, got {e:?}"));
            }
            return Ok(());
        }
        Ok(v) => v,
    };
    if ex.fail {
        return Err("expected the query to fail, it succeeded".into());
    }
    check_annotations(&ann.warnings, ex.warn, &ex.warn_msgs, ex.no_warn, "warn")?;
    check_annotations(&ann.infos, ex.info, &ex.info_msgs, ex.no_info, "info")?;
    let close = crate::promql::almost_equal;
    match value {
        Value::Scalar(v) => {
            let want = match expected.first() {
                Some((_, None, p)) => match p.first() {
                    Some(Point::Value(w)) => *w,
                    _ => return Err("expected a vector, got a scalar".into()),
                },
                _ => return Err(format!("expected a vector, got scalar {v}")),
            };
            if !close(want, v) {
                return Err(format!("expected scalar {want}, got {v}"));
            }
        }
        Value::String(s) => {
            if expected_string != Some(s.as_str()) {
                return Err(format!("expected string {expected_string:?}, got {s:?}"));
            }
        }
        Value::Vector(v) => {
            if expected.iter().any(|e| e.1.is_none()) {
                return Err("expected a scalar, got a vector".into());
            }
            for (pos, el) in v.iter().enumerate() {
                let Some(k) = expected
                    .iter()
                    .position(|e| e.1.as_ref() == Some(&el.labels))
                else {
                    return Err(format!(
                        "unexpected series {} = {} in the result",
                        el.labels, el.value
                    ));
                };
                if ex.ordered && k != pos {
                    return Err(format!(
                        "series {} at position {} instead of {}",
                        el.labels,
                        pos + 1,
                        k + 1
                    ));
                }
                let want = match expected[k].2.first() {
                    Some(Point::Value(w)) => *w,
                    _ => return Err(format!("no expected value for {}", el.labels)),
                };
                if !close(want, el.value) {
                    return Err(format!(
                        "expected {want} for {}, got {}",
                        el.labels, el.value
                    ));
                }
            }
            if v.len() != expected.len() {
                let missing: Vec<String> = expected
                    .iter()
                    .filter(|e| !v.iter().any(|el| Some(&el.labels) == e.1.as_ref()))
                    .map(|e| e.1.as_ref().map(|l| l.to_string()).unwrap_or_default())
                    .collect();
                return Err(format!(
                    "expected series not in the result: {}",
                    missing.join(", ")
                ));
            }
        }
        Value::Matrix(m) => {
            if ex.ordered {
                return Err("expected an ordered result, got a matrix".into());
            }
            for s in &m {
                let Some(k) = expected
                    .iter()
                    .position(|e| e.1.as_ref() == Some(&s.labels))
                else {
                    return Err(format!("unexpected series {} in the result", s.labels));
                };
                let want: Vec<(Millis, f64)> = expected[k]
                    .2
                    .iter()
                    .enumerate()
                    .filter_map(|(i, p)| match p {
                        Point::Value(v) => Some((range.0 + i as Millis * range.2, *v)),
                        _ => None,
                    })
                    .collect();
                let ok = want.len() == s.points.len()
                    && want
                        .iter()
                        .zip(&s.points)
                        .all(|(w, g)| w.0 == g.0 && close(w.1, g.1));
                if !ok {
                    return Err(format!(
                        "series {}: expected {:?}, got {:?}",
                        s.labels, want, s.points
                    ));
                }
            }
            if m.len() != expected.len() {
                return Err(format!(
                    "expected {} series, got {}",
                    expected.len(),
                    m.len()
                ));
            }
        }
    }
    Ok(())
}

fn check_annotations(
    got: &[String],
    expected: bool,
    msgs: &[(bool, String)],
    none: bool,
    kind: &str,
) -> Result<(), String> {
    if expected && got.is_empty() {
        return Err(format!("expected {kind} annotations, got none"));
    }
    let matches = |(re, m): &(bool, String), a: &str| {
        if *re {
            Regex::new(m).is_ok_and(|r| r.is_match(a))
        } else {
            a == m
        }
    };
    for m in msgs {
        if !got.iter().any(|a| matches(m, a)) {
            return Err(format!("expected {kind} annotation {:?}, got {got:?}", m.1));
        }
    }
    if !msgs.is_empty()
        && let Some(a) = got.iter().find(|a| !msgs.iter().any(|m| matches(m, a)))
    {
        return Err(format!("unexpected {kind} annotation {a:?}"));
    }
    if none && !got.is_empty() {
        return Err(format!("unexpected {kind} annotations {got:?}"));
    }
    Ok(())
}
