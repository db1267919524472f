//! Annotation and label templates: the part of Prometheus' Go templates that alert rules use.
//!
//! Supported inside `{{ }}`: `$value`, `$labels.<name>`, `$externalLabels.<name>` (also
//! `.Value`, `.Labels.<name>`, `.ExternalLabels.<name>`), string and number literals, the
//! functions `humanize`, `humanizePercentage`, `printf` (`%v %s %d %f %.Nf %g %.Ng %e %%`),
//! `toUpper`, `toLower`, pipelines (`{{ $value | humanizePercentage }}`), comments and `{{-`/`-}}`
//! whitespace trimming. Anything else is rejected when the rule is loaded, with its position.

use crate::gofmt;
use crate::labels::Labels;

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    parts: Vec<Part>,
    source: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    Action(Vec<Command>),
}

#[derive(Debug, Clone, PartialEq)]
struct Command {
    func: Option<Func>,
    args: Vec<Operand>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Func {
    Humanize,
    HumanizePercentage,
    Printf,
    ToUpper,
    ToLower,
}

#[derive(Debug, Clone, PartialEq)]
enum Operand {
    Value,
    Label(String),
    External(String),
    Str(String),
    Num(f64),
}

#[derive(Debug, Clone)]
enum Val {
    Str(String),
    Num(f64),
}

impl Val {
    fn to_text(&self) -> String {
        match self {
            Val::Str(s) => s.clone(),
            Val::Num(n) => gofmt::go_g(*n, None),
        }
    }
    fn num(&self) -> Option<f64> {
        match self {
            Val::Num(n) => Some(*n),
            // Prometheus' humanize functions accept strings that parse as numbers.
            Val::Str(s) => s.parse().ok(),
        }
    }
}

/// What a template reads.
#[derive(Debug, Clone, Copy)]
pub struct TemplateData<'a> {
    /// `$labels`
    pub labels: &'a Labels,
    /// `$externalLabels`
    pub external: &'a Labels,
    /// `$value`
    pub value: f64,
}

/// A template error: byte offset in the template text and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    /// Byte offset of the problem in the template text.
    pub offset: usize,
    /// What is wrong and what is supported.
    pub message: String,
}

impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "template error at offset {}: {}",
            self.offset, self.message
        )
    }
}

impl std::error::Error for TemplateError {}

const SUPPORTED: &str = "supported: $value, $labels.<name>, $externalLabels.<name>, \
literals, humanize, humanizePercentage, printf, toUpper, toLower, pipelines";

impl Template {
    /// Parses `src`.
    ///
    /// ```
    /// use nexus_alerting::{Labels, Template, TemplateData};
    /// let t = Template::parse("{{ $labels.job }} errors at {{ $value | humanizePercentage }}").unwrap();
    /// let labels = Labels::from_pairs([("job", "api")]);
    /// let out = t.render(&TemplateData { labels: &labels, external: &Labels::new(), value: 0.0731 });
    /// assert_eq!(out, "api errors at 7.31%");
    /// assert!(Template::parse("{{ range .Alerts }}").is_err());
    /// ```
    pub fn parse(src: &str) -> Result<Self, TemplateError> {
        let mut parts = Vec::new();
        let mut rest = 0usize;
        let bytes = src.as_bytes();
        let mut text = String::new();
        while let Some(open) = src[rest..].find("{{").map(|i| i + rest) {
            text.push_str(&src[rest..open]);
            let mut inner_start = open + 2;
            if bytes.get(inner_start) == Some(&b'-')
                && bytes
                    .get(inner_start + 1)
                    .is_some_and(|c| c.is_ascii_whitespace())
            {
                let t = text.trim_end().len();
                text.truncate(t);
                inner_start += 1;
            }
            let close = src[inner_start..]
                .find("}}")
                .map(|i| i + inner_start)
                .ok_or(TemplateError {
                    offset: open,
                    message: "unclosed action: missing }}".into(),
                })?;
            let mut inner_end = close;
            let trim_after = close > inner_start
                && bytes[close - 1] == b'-'
                && bytes
                    .get(close.wrapping_sub(2))
                    .is_some_and(|c| c.is_ascii_whitespace());
            if trim_after {
                inner_end -= 1;
            }
            if !text.is_empty() {
                parts.push(Part::Text(std::mem::take(&mut text)));
            }
            let inner = &src[inner_start..inner_end];
            let trimmed = inner.trim();
            if !(trimmed.starts_with("/*") && trimmed.ends_with("*/")) {
                parts.push(Part::Action(parse_pipeline(inner, inner_start)?));
            }
            rest = close + 2;
            if trim_after {
                rest += src[rest..].len() - src[rest..].trim_start().len();
            }
        }
        text.push_str(&src[rest..]);
        if !text.is_empty() {
            parts.push(Part::Text(text));
        }
        Ok(Self {
            parts,
            source: src.to_owned(),
        })
    }

    /// The template text as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether the template has no actions (renders to itself).
    pub fn is_static(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Text(_)))
    }

    /// Renders with `data`. Never fails and never panics: a missing label renders as Go's
    /// `<no value>`, a `printf` precision over 100 as Go's `%!(BADPREC)`, and the output stops
    /// at 16 KiB (ending in `…`).
    pub fn render(&self, data: &TemplateData<'_>) -> String {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Action(cmds) => {
                    let mut prev: Option<Val> = None;
                    for c in cmds {
                        prev = Some(run(c, prev.take(), data));
                    }
                    if let Some(v) = prev {
                        out.push_str(&v.to_text());
                    }
                }
            }
            if out.len() > MAX_OUTPUT {
                let mut cut = MAX_OUTPUT;
                while !out.is_char_boundary(cut) {
                    cut -= 1;
                }
                out.truncate(cut);
                out.push('…');
                break;
            }
        }
        out
    }
}

fn run(c: &Command, piped: Option<Val>, d: &TemplateData<'_>) -> Val {
    let mut args: Vec<Val> = c.args.iter().map(|a| eval(a, d)).collect();
    if let Some(p) = piped {
        args.push(p);
    }
    let Some(f) = c.func else {
        return args.pop().unwrap_or(Val::Str(String::new()));
    };
    let first = args.first().cloned().unwrap_or(Val::Str(String::new()));
    match f {
        Func::Humanize => match first.num() {
            Some(n) => Val::Str(gofmt::humanize(n)),
            None => first,
        },
        Func::HumanizePercentage => match first.num() {
            Some(n) => Val::Str(format!("{}%", gofmt::go_g(n * 100.0, Some(4)))),
            None => first,
        },
        Func::ToUpper => Val::Str(first.to_text().to_uppercase()),
        Func::ToLower => Val::Str(first.to_text().to_lowercase()),
        Func::Printf => Val::Str(printf(&first.to_text(), &args[1.min(args.len())..])),
    }
}

fn eval(o: &Operand, d: &TemplateData<'_>) -> Val {
    match o {
        Operand::Value => Val::Num(d.value),
        Operand::Label(n) => Val::Str(d.labels.get(n).unwrap_or("<no value>").to_owned()),
        Operand::External(n) => Val::Str(d.external.get(n).unwrap_or("<no value>").to_owned()),
        Operand::Str(s) => Val::Str(s.clone()),
        Operand::Num(n) => Val::Num(*n),
    }
}

/// Largest `printf` precision rendered (Go's own limit is 10^6; an annotation never needs more).
pub(crate) const MAX_PRECISION: usize = 100;
/// Largest rendered annotation or label, in bytes.
pub(crate) const MAX_OUTPUT: usize = 16 * 1024;

fn printf(fmt: &str, args: &[Val]) -> String {
    let mut out = String::new();
    let mut it = args.iter();
    let mut chars = fmt.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut prec: Option<usize> = None;
        if chars.peek() == Some(&'.') {
            chars.next();
            let mut p = 0usize;
            while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
                p = p.saturating_mul(10).saturating_add(d as usize);
                chars.next();
            }
            prec = Some(p);
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        if prec.is_some_and(|p| p > MAX_PRECISION) {
            out.push_str("%!(BADPREC)");
            it.next();
            continue;
        }
        let Some(arg) = it.next() else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        let s = match (verb, arg) {
            ('v' | 's', a) => a.to_text(),
            ('f' | 'F', Val::Num(n)) => gofmt::go_f(*n, prec.unwrap_or(6)),
            ('g', Val::Num(n)) => gofmt::go_g(*n, prec),
            ('e', Val::Num(n)) => gofmt::go_e(*n, prec.unwrap_or(6)),
            ('d', Val::Num(n)) if n.fract() == 0.0 && n.is_finite() => format!("{}", *n as i64),
            (v, a) => format!(
                "%!{v}({}={})",
                if matches!(a, Val::Num(_)) {
                    "float64"
                } else {
                    "string"
                },
                a.to_text()
            ),
        };
        out.push_str(&s);
    }
    out
}

fn parse_pipeline(inner: &str, base: usize) -> Result<Vec<Command>, TemplateError> {
    let toks = tokenize(inner, base)?;
    if toks.is_empty() {
        return Err(TemplateError {
            offset: base,
            message: "empty action".into(),
        });
    }
    let mut cmds = Vec::new();
    for (i, seg) in toks.split(|(t, _)| t == "|").enumerate() {
        let Some(((head, off), rest)) = seg.split_first() else {
            return Err(TemplateError {
                offset: base,
                message: "empty command in pipeline".into(),
            });
        };
        let func = match head.as_str() {
            "humanize" => Some(Func::Humanize),
            "humanizePercentage" => Some(Func::HumanizePercentage),
            "printf" => Some(Func::Printf),
            "toUpper" => Some(Func::ToUpper),
            "toLower" => Some(Func::ToLower),
            _ => None,
        };
        let args_toks = if func.is_some() { rest } else { seg };
        if func.is_none() && (seg.len() != 1 || i > 0) {
            return Err(TemplateError {
                offset: *off,
                message: format!("unsupported template function or syntax {head:?}; {SUPPORTED}"),
            });
        }
        let args = args_toks
            .iter()
            .map(|(t, o)| operand(t, *o))
            .collect::<Result<Vec<_>, _>>()?;
        cmds.push(Command { func, args });
    }
    Ok(cmds)
}

fn operand(t: &str, off: usize) -> Result<Operand, TemplateError> {
    let bad = || TemplateError {
        offset: off,
        message: format!("unsupported template operand {t:?}; {SUPPORTED}"),
    };
    if t == "$value" || t == ".Value" {
        return Ok(Operand::Value);
    }
    for (prefix, external) in [
        ("$labels.", false),
        (".Labels.", false),
        ("$externalLabels.", true),
        (".ExternalLabels.", true),
    ] {
        if let Some(name) = t.strip_prefix(prefix) {
            if !crate::matcher::is_label_name(name) {
                return Err(bad());
            }
            return Ok(if external {
                Operand::External(name.into())
            } else {
                Operand::Label(name.into())
            });
        }
    }
    if t.starts_with('"') || t.starts_with('`') {
        if t.starts_with('`') {
            return Ok(Operand::Str(t.trim_matches('`').to_owned()));
        }
        return crate::matcher::unquote(t)
            .map(|(s, _)| Operand::Str(s))
            .ok_or_else(bad);
    }
    t.parse::<f64>().map(Operand::Num).map_err(|_| bad())
}

fn tokenize(s: &str, base: usize) -> Result<Vec<(String, usize)>, TemplateError> {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c == b'|' {
            out.push(("|".to_owned(), base + i));
            i += 1;
        } else if c == b'"' || c == b'`' {
            let start = i;
            i += 1;
            while i < b.len() && b[i] != c {
                if b[i] == b'\\' && c == b'"' {
                    i += 1;
                }
                i += 1;
            }
            if i >= b.len() {
                return Err(TemplateError {
                    offset: base + start,
                    message: "unterminated string".into(),
                });
            }
            i += 1;
            out.push((s[start..i].to_owned(), base + start));
        } else {
            let start = i;
            while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'|' {
                i += 1;
            }
            out.push((s[start..i].to_owned(), base + start));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(src: &str, value: f64) -> String {
        let l = Labels::from_pairs([("job", "api"), ("instance", "h:1")]);
        let e = Labels::from_pairs([("cluster", "eu")]);
        Template::parse(src).unwrap().render(&TemplateData {
            labels: &l,
            external: &e,
            value,
        })
    }

    #[test]
    fn renders_like_prometheus() {
        assert_eq!(render("{{ $value }}", 0.5), "0.5");
        assert_eq!(
            render("{{$labels.job}}/{{ .Labels.instance }}", 0.0),
            "api/h:1"
        );
        assert_eq!(render("{{ $externalLabels.cluster }}", 0.0), "eu");
        assert_eq!(render("{{ $labels.nope }}", 0.0), "<no value>");
        assert_eq!(render("{{ humanize $value }}", 1234567.0), "1.235M");
        assert_eq!(render("{{ printf \"%.2f\" $value }}s", 2.345), "2.35s");
        assert_eq!(render("a  {{- $value -}}  b", 1.0), "a1b");
        assert_eq!(render("{{/* note */}}x", 1.0), "x");
        assert_eq!(render("{{ $labels.job | toUpper }}", 1.0), "API");
    }

    #[test]
    fn hostile_templates_render_bounded_and_never_panic() {
        assert_eq!(
            render("{{ printf \"%.70000f\" $value }}", 1.0),
            "%!(BADPREC)"
        );
        assert_eq!(
            render("{{ printf \"%.99999999999999999999999f\" $value }}", 1.0),
            "%!(BADPREC)"
        );
        assert_eq!(render("{{ printf \"%.100e\" $value }}", 1.0).len(), 106);
        let many = "{{ printf \"%.100f\" $value }}".repeat(1000);
        let out = render(&many, 1e300);
        assert!(out.len() <= MAX_OUTPUT + '…'.len_utf8(), "{}", out.len());
        assert!(out.ends_with('…'));
    }

    #[test]
    fn rejects_with_position() {
        let e = Template::parse("ok {{ range $x }}").unwrap_err();
        assert_eq!(e.offset, 6);
        assert!(e.message.contains("supported"));
        assert!(Template::parse("{{ $value ").is_err());
        assert!(Template::parse("{{ $labels.9 }}").is_err());
        assert!(Template::parse("{{ \"abc }}").is_err());
        assert!(Template::parse("{{ }}").is_err());
    }
}
