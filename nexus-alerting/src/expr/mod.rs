//! Rule expressions: the documented subset of PromQL.
//!
//! ```text
//! expr      = operand [ cmp number ] | number cmp operand
//! operand   = selector | range_fn "(" selector "[" duration "]" ")" | "anomaly" "(" selector ")"
//! selector  = metric_name [ "{" matcher { "," matcher } "}" ] | "{" matcher { "," matcher } "}"
//! matcher   = label ( "=" | "!=" | "=~" | "!~" ) string
//! range_fn  = avg_over_time | max_over_time | min_over_time | rate | increase
//! cmp       = ">" | ">=" | "<" | "<=" | "==" | "!="
//! ```
//! A comparison filters, as in PromQL: the result keeps the series' value.

use std::fmt;

use crate::matcher::{MatchOp, Matcher, is_label_name, unquote};
use crate::time::{Millis, parse_duration};

/// What this subset supports, quoted in every parse error.
pub const SUPPORTED: &str = "supported: an instant selector (metric{label=\"v\", label!=\"v\", \
label=~\"re\", label!~\"re\"}), or avg_over_time, max_over_time, min_over_time, rate or increase \
of a range selector (metric{...}[5m]), or anomaly(selector), optionally compared with a number \
(>, >=, <, <=, ==, !=)";

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CmpOp {
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `==`
    Eq,
    /// `!=`
    Ne,
}

impl CmpOp {
    /// Whether `lhs op rhs` holds.
    pub fn holds(self, lhs: f64, rhs: f64) -> bool {
        match self {
            CmpOp::Gt => lhs > rhs,
            CmpOp::Ge => lhs >= rhs,
            CmpOp::Lt => lhs < rhs,
            CmpOp::Le => lhs <= rhs,
            CmpOp::Eq => lhs == rhs,
            CmpOp::Ne => lhs != rhs,
        }
    }

    fn flip(self) -> Self {
        match self {
            CmpOp::Gt => CmpOp::Lt,
            CmpOp::Ge => CmpOp::Le,
            CmpOp::Lt => CmpOp::Gt,
            CmpOp::Le => CmpOp::Ge,
            o => o,
        }
    }

    /// The operator's text.
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
        }
    }
}

/// A range function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RangeFn {
    /// `avg_over_time`
    AvgOverTime,
    /// `max_over_time`
    MaxOverTime,
    /// `min_over_time`
    MinOverTime,
    /// `rate` (per second, extrapolated, counter resets handled)
    Rate,
    /// `increase`
    Increase,
}

impl RangeFn {
    fn from_name(s: &str) -> Option<Self> {
        Some(match s {
            "avg_over_time" => Self::AvgOverTime,
            "max_over_time" => Self::MaxOverTime,
            "min_over_time" => Self::MinOverTime,
            "rate" => Self::Rate,
            "increase" => Self::Increase,
            _ => return None,
        })
    }

    /// The function's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::AvgOverTime => "avg_over_time",
            Self::MaxOverTime => "max_over_time",
            Self::MinOverTime => "min_over_time",
            Self::Rate => "rate",
            Self::Increase => "increase",
        }
    }

    /// Applies the function to the samples of one series inside `[start, end]` (in time order),
    /// exactly as Prometheus computes it. `None` when Prometheus returns no element.
    pub fn apply(self, samples: &[(Millis, f64)], start: Millis, end: Millis) -> Option<f64> {
        let first = samples.first()?;
        match self {
            Self::AvgOverTime => {
                // Prometheus 2.42: Kahan-compensated incremental mean.
                let (mut mean, mut count, mut c) = (0.0f64, 0.0f64, 0.0f64);
                for &(_, v) in samples {
                    count += 1.0;
                    if mean.is_infinite() {
                        if v.is_infinite() && (mean > 0.0) == (v > 0.0) {
                            continue;
                        }
                        if !v.is_infinite() && !v.is_nan() {
                            continue;
                        }
                    }
                    (mean, c) = kahan_inc(v / count - mean / count, mean, c);
                }
                Some(if mean.is_infinite() { mean } else { mean + c })
            }
            Self::MaxOverTime => {
                Some(samples.iter().fold(
                    first.1,
                    |m, &(_, v)| {
                        if v > m || m.is_nan() { v } else { m }
                    },
                ))
            }
            Self::MinOverTime => {
                Some(samples.iter().fold(
                    first.1,
                    |m, &(_, v)| {
                        if v < m || m.is_nan() { v } else { m }
                    },
                ))
            }
            Self::Rate | Self::Increase => {
                extrapolated_rate(samples, start, end, matches!(self, Self::Rate))
            }
        }
    }
}

fn kahan_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if t.is_infinite() {
        0.0
    } else if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

/// Prometheus' `extrapolatedRate` for counters.
fn extrapolated_rate(
    s: &[(Millis, f64)],
    start: Millis,
    end: Millis,
    is_rate: bool,
) -> Option<f64> {
    if s.len() < 2 {
        return None;
    }
    let (t0, v0) = s[0];
    let (tn, vn) = s[s.len() - 1];
    let mut result = vn - v0;
    let mut last = 0.0f64;
    for &(_, v) in s {
        if v < last {
            result += last;
        }
        last = v;
    }
    let mut to_start = (t0 - start) as f64 / 1000.0;
    let to_end = (end - tn) as f64 / 1000.0;
    let sampled = (tn - t0) as f64 / 1000.0;
    let avg_step = sampled / (s.len() - 1) as f64;
    if result > 0.0 && v0 >= 0.0 {
        let to_zero = sampled * (v0 / result);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    let threshold = avg_step * 1.1;
    let mut interval = sampled;
    interval += if to_start < threshold {
        to_start
    } else {
        avg_step / 2.0
    };
    interval += if to_end < threshold {
        to_end
    } else {
        avg_step / 2.0
    };
    result *= interval / sampled;
    if is_rate {
        result /= (end - start) as f64 / 1000.0;
    }
    Some(result)
}

/// A series selector: an optional metric name and label matchers.
#[derive(Debug, Clone, PartialEq)]
pub struct Selector {
    /// The metric name (`__name__="…"`), when given as a name.
    pub name: Option<String>,
    /// All other matchers (a `__name__` matcher in braces is kept here).
    pub matchers: Vec<Matcher>,
}

/// What the expression computes per series before the comparison.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Operand {
    /// The latest sample within the lookback window.
    Instant(Selector),
    /// A range function over `range`.
    Range {
        /// The function.
        func: RangeFn,
        /// The selector.
        selector: Selector,
        /// The range in milliseconds.
        range: Millis,
    },
    /// The anomaly score in `[0, 1]` of the series' newest sample, from a streaming detector
    /// fed every sample of the series (see [`crate::anomaly`]).
    Anomaly(Selector),
}

impl Operand {
    /// The selector.
    pub fn selector(&self) -> &Selector {
        match self {
            Operand::Instant(s) | Operand::Range { selector: s, .. } | Operand::Anomaly(s) => s,
        }
    }
}

/// A parsed rule expression.
///
/// ```
/// use nexus_alerting::Expr;
/// let e = Expr::parse(r#"rate(http_errors_total{job="api"}[5m]) > 0.05"#).unwrap();
/// assert_eq!(e.threshold(), Some(0.05));
/// let err = Expr::parse("sum by (job) (x) > 1").unwrap_err();
/// assert_eq!(err.offset, 0);
/// assert!(err.message.contains("supported"));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    /// The operand.
    pub operand: Operand,
    /// The comparison, if any.
    pub cmp: Option<(CmpOp, f64)>,
    text: String,
}

/// A parse error: where (byte offset in the expression) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExprError {
    /// Byte offset in the expression text.
    pub offset: usize,
    /// What was found, and what is supported.
    pub message: String,
}

impl fmt::Display for ExprError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at offset {}: {}", self.offset, self.message)
    }
}

impl std::error::Error for ExprError {}

impl Expr {
    /// Parses `text`.
    pub fn parse(text: &str) -> Result<Self, ExprError> {
        let toks = lex(text)?;
        let mut p = Parser {
            toks,
            i: 0,
            len: text.len(),
        };
        let e = p.expr()?;
        if let Some(t) = p.peek() {
            return Err(p.unsupported(t.off, &format!("unexpected {:?}", t.text)));
        }
        Ok(Self {
            operand: e.0,
            cmp: e.1,
            text: text.to_owned(),
        })
    }

    /// The expression text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The comparison's number, if any.
    pub fn threshold(&self) -> Option<f64> {
        self.cmp.map(|c| c.1)
    }

    /// The longest range this expression reads (for sample retention).
    pub fn range(&self) -> Millis {
        match &self.operand {
            Operand::Range { range, .. } => *range,
            Operand::Instant(_) | Operand::Anomaly(_) => 0,
        }
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Ident,
    Str(String),
    Num(f64),
    Dur(Millis),
    Punct,
}

#[derive(Debug, Clone)]
struct Tok {
    kind: Kind,
    text: String,
    off: usize,
}

fn lex(s: &str) -> Result<Vec<Tok>, ExprError> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut in_brackets = false;
    while i < b.len() {
        let c = b[i];
        let start = i;
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c == b'#' {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        if in_brackets && c.is_ascii_digit() {
            while i < b.len() && b[i].is_ascii_alphanumeric() {
                i += 1;
            }
            let d = parse_duration(&s[start..i]).map_err(|m| ExprError {
                offset: start,
                message: m,
            })?;
            out.push(Tok {
                kind: Kind::Dur(crate::time::ms(d)),
                text: s[start..i].into(),
                off: start,
            });
            continue;
        }
        if c.is_ascii_alphabetic() || c == b'_' || c == b':' {
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b':') {
                i += 1;
            }
            let word = &s[start..i];
            let kind = match word.to_ascii_lowercase().as_str() {
                "inf" => Kind::Num(f64::INFINITY),
                "nan" => Kind::Num(f64::NAN),
                _ => Kind::Ident,
            };
            out.push(Tok {
                kind,
                text: word.into(),
                off: start,
            });
            continue;
        }
        let signed = c == b'-'
            && b.get(i + 1)
                .is_some_and(|n| n.is_ascii_digit() || *n == b'.');
        if signed
            || c.is_ascii_digit()
            || (c == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit))
        {
            if signed {
                i += 1;
            }
            while i < b.len()
                && (b[i].is_ascii_alphanumeric()
                    || b[i] == b'.'
                    || ((b[i] == b'+' || b[i] == b'-') && matches!(b[i - 1], b'e' | b'E')))
            {
                i += 1;
            }
            let t = &s[start..i];
            let kind = match (t.parse::<f64>(), parse_duration(t)) {
                (Ok(v), _) => Kind::Num(v),
                (_, Ok(d)) => Kind::Dur(crate::time::ms(d)),
                _ => {
                    return Err(ExprError {
                        offset: start,
                        message: format!("invalid number {t:?}"),
                    });
                }
            };
            out.push(Tok {
                kind,
                text: t.into(),
                off: start,
            });
            continue;
        }
        if c == b'"' || c == b'\'' || c == b'`' {
            let (v, used) = if c == b'`' {
                match s[start + 1..].find('`') {
                    Some(e) => (s[start + 1..start + 1 + e].to_owned(), e + 2),
                    None => {
                        return Err(ExprError {
                            offset: start,
                            message: "unterminated string".into(),
                        });
                    }
                }
            } else {
                unquote(&s[start..]).ok_or(ExprError {
                    offset: start,
                    message: "unterminated string".into(),
                })?
            };
            i += used;
            out.push(Tok {
                kind: Kind::Str(v),
                text: s[start..i].into(),
                off: start,
            });
            continue;
        }
        let two = s.get(i..i + 2).unwrap_or("");
        let len = if matches!(two, "!=" | "=~" | "!~" | ">=" | "<=" | "==") {
            2
        } else {
            1
        };
        let p = s.get(i..i + len).unwrap_or("");
        if !matches!(
            p,
            "{" | "}"
                | "("
                | ")"
                | "["
                | "]"
                | ","
                | "="
                | "!="
                | "=~"
                | "!~"
                | ">"
                | ">="
                | "<"
                | "<="
                | "=="
        ) {
            let ch = s[i..].chars().next().unwrap_or('?');
            return Err(ExprError {
                offset: start,
                message: format!("unexpected character {ch:?}; {SUPPORTED}"),
            });
        }
        match p {
            "[" => in_brackets = true,
            "]" => in_brackets = false,
            _ => {}
        }
        i += len;
        out.push(Tok {
            kind: Kind::Punct,
            text: p.into(),
            off: start,
        });
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    i: usize,
    len: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.i)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.i).cloned();
        self.i += 1;
        t
    }

    fn here(&self) -> usize {
        self.peek().map(|t| t.off).unwrap_or(self.len)
    }

    fn unsupported(&self, off: usize, what: &str) -> ExprError {
        ExprError {
            offset: off,
            message: format!("{what}; {SUPPORTED}"),
        }
    }

    fn expect(&mut self, p: &str) -> Result<(), ExprError> {
        match self.next() {
            Some(t) if t.kind == Kind::Punct && t.text == p => Ok(()),
            Some(t) => Err(self.unsupported(t.off, &format!("expected {p:?}, found {:?}", t.text))),
            None => Err(self.unsupported(self.len, &format!("expected {p:?} at the end"))),
        }
    }

    fn cmp(&mut self) -> Option<CmpOp> {
        let t = self.peek()?;
        if t.kind != Kind::Punct {
            return None;
        }
        let op = match t.text.as_str() {
            ">" => CmpOp::Gt,
            ">=" => CmpOp::Ge,
            "<" => CmpOp::Lt,
            "<=" => CmpOp::Le,
            "==" => CmpOp::Eq,
            "!=" => CmpOp::Ne,
            _ => return None,
        };
        self.i += 1;
        Some(op)
    }

    fn number(&mut self) -> Result<f64, ExprError> {
        let neg = if self.peek().is_some_and(|t| t.text == "-") {
            self.i += 1;
            true
        } else {
            false
        };
        match self.next() {
            Some(Tok {
                kind: Kind::Num(v), ..
            }) => Ok(if neg { -v } else { v }),
            Some(t) => {
                Err(self.unsupported(t.off, &format!("expected a number, found {:?}", t.text)))
            }
            None => Err(self.unsupported(self.len, "expected a number at the end")),
        }
    }

    fn expr(&mut self) -> Result<(Operand, Option<(CmpOp, f64)>), ExprError> {
        if matches!(
            self.peek(),
            Some(Tok {
                kind: Kind::Num(_),
                ..
            })
        ) {
            let n = self.number()?;
            let off = self.here();
            let op = self.cmp().ok_or_else(|| {
                self.unsupported(off, "a number must be compared with a selector")
            })?;
            self.bool_modifier()?;
            let o = self.operand()?;
            return Ok((o, Some((op.flip(), n))));
        }
        let o = self.operand()?;
        let Some(op) = self.cmp() else {
            return Ok((o, None));
        };
        self.bool_modifier()?;
        let n = self.number()?;
        Ok((o, Some((op, n))))
    }

    fn bool_modifier(&self) -> Result<(), ExprError> {
        match self.peek() {
            Some(t) if t.kind == Kind::Ident && t.text == "bool" => {
                Err(self.unsupported(t.off, "the bool modifier is not supported"))
            }
            _ => Ok(()),
        }
    }

    fn operand(&mut self) -> Result<Operand, ExprError> {
        let Some(t) = self.peek().cloned() else {
            return Err(self.unsupported(self.len, "empty expression"));
        };
        if t.kind == Kind::Ident
            && t.text == "anomaly"
            && self.toks.get(self.i + 1).is_some_and(|n| n.text == "(")
        {
            self.i += 2;
            let selector = self.selector()?;
            self.expect(")")?;
            return Ok(Operand::Anomaly(selector));
        }
        if t.kind == Kind::Ident && self.toks.get(self.i + 1).is_some_and(|n| n.text == "(") {
            let Some(func) = RangeFn::from_name(&t.text) else {
                return Err(
                    self.unsupported(t.off, &format!("function {:?} is not supported", t.text))
                );
            };
            self.i += 2;
            let selector = self.selector()?;
            let off = self.here();
            if self.peek().map(|t| t.text.as_str()) != Some("[") {
                return Err(self.unsupported(
                    off,
                    &format!("{} needs a range selector such as x[5m]", func.name()),
                ));
            }
            self.i += 1;
            let range = match self.next() {
                Some(Tok {
                    kind: Kind::Dur(d), ..
                }) if d > 0 => d,
                Some(t) => {
                    return Err(self
                        .unsupported(t.off, &format!("expected a duration, found {:?}", t.text)));
                }
                None => return Err(self.unsupported(self.len, "expected a duration")),
            };
            self.expect("]")?;
            if let Some(t) = self.peek()
                && t.kind == Kind::Ident
                && t.text == "offset"
            {
                return Err(self.unsupported(t.off, "offset is not supported"));
            }
            self.expect(")")?;
            return Ok(Operand::Range {
                func,
                selector,
                range,
            });
        }
        let s = self.selector()?;
        if let Some(t) = self.peek()
            && t.text == "["
        {
            return Err(self.unsupported(t.off, "a range selector must be inside a range function"));
        }
        Ok(Operand::Instant(s))
    }

    fn selector(&mut self) -> Result<Selector, ExprError> {
        let mut name = None;
        let start = self.here();
        match self.peek().cloned() {
            Some(t) if t.kind == Kind::Ident => {
                if matches!(
                    t.text.as_str(),
                    "sum"
                        | "avg"
                        | "min"
                        | "max"
                        | "count"
                        | "by"
                        | "without"
                        | "on"
                        | "ignoring"
                        | "and"
                        | "or"
                        | "unless"
                        | "topk"
                        | "bottomk"
                        | "quantile"
                        | "stddev"
                        | "stdvar"
                        | "group"
                ) {
                    return Err(self.unsupported(t.off, &format!("{:?} is not supported", t.text)));
                }
                name = Some(t.text.clone());
                self.i += 1;
            }
            Some(t) if t.text == "{" => {}
            Some(t) => {
                return Err(
                    self.unsupported(t.off, &format!("expected a selector, found {:?}", t.text))
                );
            }
            None => return Err(self.unsupported(self.len, "expected a selector")),
        }
        let mut matchers = Vec::new();
        if self.peek().is_some_and(|t| t.text == "{") {
            self.i += 1;
            loop {
                if self.peek().is_some_and(|t| t.text == "}") {
                    self.i += 1;
                    break;
                }
                let lt = self
                    .next()
                    .ok_or_else(|| self.unsupported(self.len, "unclosed {"))?;
                if lt.kind != Kind::Ident || !is_label_name(&lt.text) {
                    return Err(self.unsupported(
                        lt.off,
                        &format!("expected a label name, found {:?}", lt.text),
                    ));
                }
                let op_t = self
                    .next()
                    .ok_or_else(|| self.unsupported(self.len, "unclosed {"))?;
                let op = match op_t.text.as_str() {
                    "=" => MatchOp::Equal,
                    "!=" => MatchOp::NotEqual,
                    "=~" => MatchOp::Regex,
                    "!~" => MatchOp::NotRegex,
                    other => {
                        return Err(self.unsupported(
                            op_t.off,
                            &format!("expected a matcher operator, found {other:?}"),
                        ));
                    }
                };
                let vt = self
                    .next()
                    .ok_or_else(|| self.unsupported(self.len, "unclosed {"))?;
                let Kind::Str(v) = &vt.kind else {
                    return Err(self.unsupported(
                        vt.off,
                        &format!("expected a quoted string, found {:?}", vt.text),
                    ));
                };
                let m = Matcher::new(&lt.text, op, v).map_err(|m| ExprError {
                    offset: vt.off,
                    message: m,
                })?;
                matchers.push(m);
                match self.next() {
                    Some(t) if t.text == "," => {}
                    Some(t) if t.text == "}" => break,
                    Some(t) => {
                        return Err(self.unsupported(
                            t.off,
                            &format!("expected ',' or '}}', found {:?}", t.text),
                        ));
                    }
                    None => return Err(self.unsupported(self.len, "unclosed {")),
                }
            }
        }
        if name.is_none() && !matchers.iter().any(|m| !m.matches_value("")) {
            return Err(ExprError {
                offset: start,
                message: "a selector needs a metric name or a matcher that does not match the empty string".into(),
            });
        }
        Ok(Selector { name, matchers })
    }
}

#[cfg(test)]
mod tests;
