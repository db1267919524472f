//! `Matcher`: one label condition (`=`, `!=`, `=~`, `!~`), as in PromQL selectors and
//! Alertmanager's routes, inhibitions and silences.

use std::fmt;

use regex::Regex;

use crate::labels::Labels;

/// How a matcher compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MatchOp {
    /// `=`
    Equal,
    /// `!=`
    NotEqual,
    /// `=~` (fully anchored regular expression)
    Regex,
    /// `!~`
    NotRegex,
}

impl MatchOp {
    fn as_str(self) -> &'static str {
        match self {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::Regex => "=~",
            MatchOp::NotRegex => "!~",
        }
    }
}

/// One label condition. A missing label matches as the empty string, as in Prometheus.
///
/// ```
/// use nexus_alerting::{Labels, Matcher};
/// let m = Matcher::regex("severity", "critical|warning").unwrap();
/// assert!(m.matches(&Labels::from_pairs([("severity", "warning")])));
/// assert!(!m.matches(&Labels::from_pairs([("severity", "warning-ish")]))); // anchored
/// let all: Vec<Matcher> = Matcher::parse_list(r#"{team="db", env!~"dev|test"}"#).unwrap();
/// assert_eq!(all.len(), 2);
/// ```
#[derive(Clone)]
pub struct Matcher {
    name: String,
    op: MatchOp,
    value: String,
    re: Option<Regex>,
}

impl Matcher {
    /// A matcher from its parts; `=~`/`!~` values must be valid regular expressions.
    pub fn new(name: &str, op: MatchOp, value: &str) -> Result<Self, String> {
        if !is_label_name(name) {
            return Err(format!("invalid label name {name:?}"));
        }
        Self::build(name, op, value, "?")
    }

    fn build(name: &str, op: MatchOp, value: &str, flags: &str) -> Result<Self, String> {
        let re = match op {
            MatchOp::Regex | MatchOp::NotRegex => Some(
                Regex::new(&format!("^({flags}:{value})$"))
                    .map_err(|e| format!("invalid regular expression {value:?}: {e}"))?,
            ),
            _ => None,
        };
        Ok(Self {
            name: name.to_owned(),
            op,
            value: value.to_owned(),
            re,
        })
    }

    /// A PromQL selector matcher: any UTF-8 label name (Prometheus 3), and `.` in a regular
    /// expression also matches a newline, as in Prometheus.
    pub(crate) fn promql(name: &str, op: MatchOp, value: &str) -> Result<Self, String> {
        Self::build(name, op, value, "?s")
    }

    /// `name="value"`.
    pub fn eq(name: &str, value: &str) -> Result<Self, String> {
        Self::new(name, MatchOp::Equal, value)
    }

    /// `name=~"regex"`.
    pub fn regex(name: &str, value: &str) -> Result<Self, String> {
        Self::new(name, MatchOp::Regex, value)
    }

    /// The label name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The operator.
    pub fn op(&self) -> MatchOp {
        self.op
    }

    /// The value (or pattern).
    pub fn value(&self) -> &str {
        &self.value
    }

    /// Whether `v` (the label's value, `""` when absent) passes.
    pub fn matches_value(&self, v: &str) -> bool {
        match (self.op, &self.re) {
            (MatchOp::Equal, _) => v == self.value,
            (MatchOp::NotEqual, _) => v != self.value,
            (MatchOp::Regex, Some(re)) => re.is_match(v),
            (MatchOp::NotRegex, Some(re)) => !re.is_match(v),
            _ => false,
        }
    }

    /// Whether `labels` pass.
    pub fn matches(&self, labels: &Labels) -> bool {
        self.matches_value(labels.get(&self.name).unwrap_or(""))
    }

    /// Parses one `name="value"` / `name=~"re"` matcher (Alertmanager's syntax; the value may be
    /// unquoted when it has no spaces, commas or quotes).
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut list = Self::parse_list(s)?;
        match list.len() {
            1 => Ok(list.remove(0)),
            n => Err(format!("expected one matcher in {s:?}, found {n}")),
        }
    }

    /// Parses `{a="1", b=~"x|y"}` or `a="1", b=~"x|y"` (braces optional).
    pub fn parse_list(s: &str) -> Result<Vec<Self>, String> {
        let t = s.trim();
        let t = match (t.strip_prefix('{'), t.ends_with('}')) {
            (Some(inner), true) => &inner[..inner.len() - 1],
            (None, false) => t,
            _ => return Err(format!("unbalanced braces in {s:?}")),
        };
        let mut out = Vec::new();
        let mut rest = t.trim_start();
        while !rest.is_empty() {
            let name_end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            let name = &rest[..name_end];
            rest = rest[name_end..].trim_start();
            let op = if let Some(r) = rest.strip_prefix("=~") {
                rest = r;
                MatchOp::Regex
            } else if let Some(r) = rest.strip_prefix("!~") {
                rest = r;
                MatchOp::NotRegex
            } else if let Some(r) = rest.strip_prefix("!=") {
                rest = r;
                MatchOp::NotEqual
            } else if let Some(r) = rest.strip_prefix('=') {
                rest = r;
                MatchOp::Equal
            } else {
                return Err(format!("expected =, !=, =~ or !~ after {name:?} in {s:?}"));
            };
            rest = rest.trim_start();
            let value;
            if rest.starts_with('"') {
                let (v, used) =
                    unquote(rest).ok_or_else(|| format!("unterminated string in {s:?}"))?;
                value = v;
                rest = &rest[used..];
            } else {
                let end = rest.find([',', '}']).unwrap_or(rest.len());
                value = rest[..end].trim().to_owned();
                rest = &rest[end..];
            }
            out.push(Self::new(name, op, &value)?);
            rest = rest.trim_start();
            if let Some(r) = rest.strip_prefix(',') {
                rest = r.trim_start();
            } else if !rest.is_empty() {
                return Err(format!("expected ',' between matchers in {s:?}"));
            }
        }
        Ok(out)
    }
}

/// A double-quoted string with Go/PromQL escapes at the start of `s`: (value, bytes used).
pub(crate) fn unquote(s: &str) -> Option<(String, usize)> {
    let quote = s.chars().next()?;
    let mut out = String::new();
    let mut chars = s.char_indices().skip(1);
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                let (_, e) = chars.next()?;
                let c = match e {
                    'n' => '\n',
                    't' => '\t',
                    'r' => '\r',
                    '\\' => '\\',
                    '"' => '"',
                    '\'' => '\'',
                    // Keep regex escapes such as \d intact.
                    other => {
                        out.push('\\');
                        other
                    }
                };
                out.push(c);
            }
            c if c == quote => return Some((out, i + 1)),
            c => out.push(c),
        }
    }
    None
}

pub(crate) fn is_label_name(s: &str) -> bool {
    let mut b = s.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{:?}", self.name, self.op.as_str(), self.value)
    }
}

impl fmt::Debug for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl PartialEq for Matcher {
    fn eq(&self, o: &Self) -> bool {
        self.name == o.name && self.op == o.op && self.value == o.value
    }
}

/// Whether every matcher passes.
pub fn matches_all(matchers: &[Matcher], labels: &Labels) -> bool {
    matchers.iter().all(|m| m.matches(labels))
}

impl serde::Serialize for Matcher {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Matcher {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Matcher::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_alertmanager_forms() {
        let m = Matcher::parse_list(r#"{a="x,y", b!=z, c=~"d.*", e!~"\d+"}"#).unwrap();
        assert_eq!(m.len(), 4);
        assert_eq!(m[0].value(), "x,y");
        assert_eq!(m[1].op(), MatchOp::NotEqual);
        assert!(m[3].matches_value("abc"));
        assert!(!m[3].matches_value("123"));
        assert!(Matcher::parse_list("a=~\"(\"").is_err());
        assert!(Matcher::parse_list("9a=\"x\"").is_err());
        assert!(Matcher::parse_list("{a=\"x\"").is_err());
        assert!(Matcher::parse_list("a>3").is_err());
    }

    #[test]
    fn missing_label_is_empty() {
        let l = Labels::new();
        assert!(Matcher::eq("x", "").unwrap().matches(&l));
        assert!(
            Matcher::new("x", MatchOp::NotEqual, "y")
                .unwrap()
                .matches(&l)
        );
    }
}
