//! Loading rules from Prometheus rule files (`groups` / `rules` / `alert`, `expr`, `for`,
//! `keep_firing_for`, `labels`, `annotations`). Errors carry the file's line and column.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::error::Error;
use crate::rule::{Rule, RuleGroup};
use crate::time::parse_duration;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDoc {
    groups: Vec<GroupDoc>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupDoc {
    name: String,
    interval: Option<String>,
    #[serde(default)]
    rules: Vec<RuleDoc>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleDoc {
    alert: Option<String>,
    record: Option<String>,
    expr: Option<String>,
    #[serde(rename = "for")]
    for_: Option<String>,
    keep_firing_for: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

/// Where each rule's `alert:` and `expr:` sit in the file, in file order.
struct Positions {
    rules: Vec<(usize, usize)>,
    exprs: Vec<ExprPos>,
}

struct ExprPos {
    line: usize,
    col: usize,
    /// Block scalar (`|`, `>`): the text starts on the next line, at this indentation.
    block_indent: Option<usize>,
    /// A quoted scalar: offsets shift by the quote.
    quoted: bool,
}

fn key_at(line: &str, key: &str) -> Option<usize> {
    let t = line.trim_start();
    let t2 = t.strip_prefix("- ").map(str::trim_start).unwrap_or(t);
    let rest = t2.strip_prefix(key)?.strip_prefix(':')?;
    let value_start = line.len() - rest.len() + (rest.len() - rest.trim_start().len());
    Some(value_start)
}

fn positions(src: &str) -> Positions {
    let lines: Vec<&str> = src.lines().collect();
    let mut p = Positions {
        rules: Vec::new(),
        exprs: Vec::new(),
    };
    for (i, line) in lines.iter().enumerate() {
        if let Some(c) = key_at(line, "alert").or_else(|| key_at(line, "record")) {
            p.rules.push((i + 1, c + 1));
        }
        if let Some(c) = key_at(line, "expr") {
            let v = line[c..].trim_end();
            let block = v.starts_with('|') || v.starts_with('>');
            let block_indent = block.then(|| {
                lines
                    .get(i + 1)
                    .map(|n| n.len() - n.trim_start().len())
                    .unwrap_or(0)
            });
            p.exprs.push(ExprPos {
                line: i + 1,
                col: c + 1,
                block_indent,
                quoted: v.starts_with('"') || v.starts_with('\''),
            });
        }
    }
    p
}

/// Parses a Prometheus rule file's text. `file` names it in errors.
///
/// ```
/// let groups = nexus_alerting::parse_rule_file("rules.yml", r#"
/// groups:
///   - name: app
///     rules:
///       - alert: HighErrorRate
///         expr: sum by (job) (rate(http_errors_total[5m])) / sum by (job) (rate(http_requests_total[5m])) > 0.05
///         for: 2m
///         labels: { severity: critical }
///         annotations: { summary: "{{ $labels.job }}: {{ $value }}" }
/// "#).unwrap();
/// assert_eq!(groups[0].rules[0].name(), "HighErrorRate");
///
/// let err = nexus_alerting::parse_rule_file("bad.yml", r#"
/// groups:
///   - name: app
///     rules:
///       - alert: X
///         expr: sum(rate(x[5m]) by (job) > 1
/// "#).unwrap_err();
/// assert!(err.to_string().starts_with("bad.yml:6:31: "), "{err}");
/// ```
pub fn parse_rule_file(file: &str, src: &str) -> Result<Vec<RuleGroup>, Error> {
    check_shape(src).map_err(|(line, message)| Error::Load {
        file: file.to_owned(),
        line,
        column: 1,
        message,
    })?;
    let doc: FileDoc = serde_yaml_ng::from_str(src).map_err(|e| {
        let (line, column) = e
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((1, 1));
        Error::Load {
            file: file.to_owned(),
            line,
            column,
            message: e.to_string(),
        }
    })?;
    let pos = positions(src);
    let mut groups = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut n = 0usize;
    for g in doc.groups {
        let at = |idx: usize, msg: String| {
            let (line, column) = pos.rules.get(idx).copied().unwrap_or((1, 1));
            Error::Load {
                file: file.to_owned(),
                line,
                column,
                message: msg,
            }
        };
        if !seen.insert(g.name.clone()) {
            return Err(at(n, format!("group {:?}: repeated group name", g.name)));
        }
        let interval = match &g.interval {
            Some(s) => {
                Some(parse_duration(s).map_err(|e| at(n, format!("group {:?}: {e}", g.name)))?)
            }
            None => None,
        };
        let mut rules = Vec::new();
        for (ri, r) in g.rules.into_iter().enumerate() {
            let idx = n;
            n += 1;
            let ctx = |m: String| at(idx, format!("group {:?}, rule {}: {m}", g.name, ri + 1));
            if r.record.is_some() {
                return Err(ctx(
                    "recording rules are not supported (only alerting rules)".into(),
                ));
            }
            let Some(name) = r.alert else {
                return Err(ctx("a rule needs `alert:`".into()));
            };
            let Some(expr) = r.expr else {
                return Err(ctx(format!("{name:?}: a rule needs `expr:`")));
            };
            if let Err(e) = crate::promql::parse(&expr) {
                let p = pos.exprs.get(idx);
                let (line, column) = match p {
                    Some(p) => locate(p, &expr, e.offset),
                    None => (1, 1),
                };
                return Err(Error::Load {
                    file: file.to_owned(),
                    line,
                    column,
                    message: format!(
                        "group {:?}, rule {} ({name:?}): {}",
                        g.name,
                        ri + 1,
                        e.message
                    ),
                });
            }
            let mut b = Rule::builder(&name, &expr);
            if let Some(f) = &r.for_ {
                b = b.for_(parse_duration(f).map_err(|e| ctx(format!("{name:?}: for: {e}")))?);
            }
            if let Some(f) = &r.keep_firing_for {
                b = b.keep_firing_for(
                    parse_duration(f)
                        .map_err(|e| ctx(format!("{name:?}: keep_firing_for: {e}")))?,
                );
            }
            for (k, v) in &r.labels {
                b = b.label(k, v);
            }
            for (k, v) in &r.annotations {
                b = b.annotation(k, v);
            }
            rules.push(b.build().map_err(|e| ctx(e.to_string()))?);
        }
        groups.push(RuleGroup {
            name: g.name,
            interval,
            rules,
        });
    }
    Ok(groups)
}

fn locate(p: &ExprPos, expr: &str, offset: usize) -> (usize, usize) {
    let before = &expr[..offset.min(expr.len())];
    match p.block_indent {
        Some(indent) => {
            let line_in = before.matches('\n').count();
            let col_in = before.len() - before.rfind('\n').map(|i| i + 1).unwrap_or(0);
            (p.line + 1 + line_in, indent + col_in + 1)
        }
        None => (p.line, p.col + offset + usize::from(p.quoted)),
    }
}

/// Reads and parses a Prometheus rule file.
pub fn load_rule_file(path: impl AsRef<Path>) -> Result<Vec<RuleGroup>, Error> {
    let path = path.as_ref();
    let src = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })?;
    parse_rule_file(&path.display().to_string(), &src)
}

/// Largest rule file accepted.
const MAX_FILE_BYTES: usize = 4 << 20;
/// Deepest `[`/`{` nesting accepted (rule files use two or three levels).
const MAX_FLOW_DEPTH: usize = 32;
/// Deepest indentation accepted, in columns (block nesting; rule files use under 20).
const MAX_INDENT: usize = 128;

/// Refuses, in one linear pass and before the YAML parser sees it, input whose size or nesting
/// no rule file has: deeply nested YAML makes the parser's time grow quadratically (200 KB of
/// `[[[…]]]` took 59 s to reject). Returns the line and the reason.
fn check_shape(src: &str) -> Result<(), (usize, String)> {
    if src.len() > MAX_FILE_BYTES {
        return Err((1, format!("file larger than {} MiB", MAX_FILE_BYTES >> 20)));
    }
    let mut depth = 0usize;
    for (n, line) in src.lines().enumerate() {
        let indent = line.len() - line.trim_start_matches([' ', '\t']).len();
        if indent > MAX_INDENT {
            return Err((n + 1, format!("indented deeper than {MAX_INDENT} columns")));
        }
        let mut quote: Option<char> = None;
        for c in line.chars() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '"' | '\'') => quote = Some(c),
                (None, '#') => break,
                (None, '[' | '{') => {
                    depth += 1;
                    if depth > MAX_FLOW_DEPTH {
                        return Err((n + 1, format!("nested deeper than {MAX_FLOW_DEPTH} levels")));
                    }
                }
                (None, ']' | '}') => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
    }
    Ok(())
}

/// The spec's default rules (error rate > 5 % critical, p95 latency > 2 s warning, cache hit
/// ratio < 80 % warning, resource usage > 85 % warning, backup failure critical), as a
/// Prometheus rule file over the metric names the other Nexus crates export.
pub const DEFAULT_RULES: &str = include_str!("../rules/default.yml");

/// [`DEFAULT_RULES`], parsed.
///
/// ```
/// let groups = nexus_alerting::default_rules();
/// assert!(groups[0].rules.iter().any(|r| r.name() == "HighErrorRate"));
/// ```
pub fn default_rules() -> Vec<RuleGroup> {
    // The file is part of the crate and checked by a unit test and by promtool.
    parse_rule_file("default.yml", DEFAULT_RULES).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_rules_parse() {
        let g = parse_rule_file("default.yml", DEFAULT_RULES).unwrap();
        let names: Vec<&str> = g
            .iter()
            .flat_map(|g| g.rules.iter().map(|r| r.name()))
            .collect();
        for n in [
            "HighErrorRate",
            "HighLatency",
            "LowCacheHitRatio",
            "HighResourceUsage",
            "BackupFailed",
        ] {
            assert!(names.contains(&n), "{n} missing from {names:?}");
        }
    }

    #[test]
    fn hostile_shapes_are_refused_at_once() {
        // Refused by the shape check (its messages), before the YAML parser sees the input.
        let nested = format!("groups: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
        let e = parse_rule_file("f", &nested).unwrap_err().to_string();
        assert!(e.contains("nested deeper than 32"), "{e}");
        let deep: String = (0..2000)
            .map(|i| format!("{}- a:\n", "  ".repeat(i)))
            .collect();
        let e = parse_rule_file("f", &format!("groups:\n{deep}"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("indented deeper"), "{e}");
        let e = parse_rule_file("f", &" ".repeat(5 << 20))
            .unwrap_err()
            .to_string();
        assert!(e.contains("larger than 4 MiB"), "{e}");
        // Brackets in quotes and comments do not count; the default rules pass.
        let ok = "groups: [] # [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\n";
        assert!(parse_rule_file("f", ok).is_ok());
        assert!(parse_rule_file("f", DEFAULT_RULES).is_ok());
    }

    #[test]
    fn errors_point_at_the_problem() {
        let src = "groups:\n  - name: a\n    rules:\n      - alert: A\n        expr: |\n          x > 1\n          and y )\n";
        let e = parse_rule_file("f", src).unwrap_err().to_string();
        assert!(e.starts_with("f:7:17: "), "{e}");
        let src = "groups:\n  - name: a\n    rules:\n      - alert: A\n        expr: \"x >> 1\"\n";
        let e = parse_rule_file("f", src).unwrap_err().to_string();
        assert!(e.starts_with("f:5:19: "), "{e}");
        let src = "groups:\n  - name: a\n    rules:\n      - alert: A\n        expr: x\n        for: 5 min\n";
        let e = parse_rule_file("f", src).unwrap_err().to_string();
        assert!(e.starts_with("f:4:16: ") && e.contains("for"), "{e}");
        let src = "groups:\n  - name: a\n    rules:\n      - alert: A\n        exp: x\n";
        let e = parse_rule_file("f", src).unwrap_err().to_string();
        assert!(e.starts_with("f:5:"), "{e}");
        let src = "groups:\n  - name: a\n    rules:\n      - record: r\n        expr: x\n";
        assert!(
            parse_rule_file("f", src)
                .unwrap_err()
                .to_string()
                .contains("recording rules")
        );
        let src = "groups:\n  - name: a\n    rules:\n      - alert: A\n        expr: x\n        annotations:\n          s: '{{ template \"x\" }}'\n";
        assert!(
            parse_rule_file("f", src)
                .unwrap_err()
                .to_string()
                .contains("supported")
        );
    }
}
