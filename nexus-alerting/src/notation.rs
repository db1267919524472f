//! The series notation `promtool test rules` and Prometheus' PromQL test scripts share:
//! `metric{a="b"} 1 _ 0+10x3 5-1x2 _x2 3x2 stale`.

use crate::labels::Labels;
use crate::promql::{self, Expr};
use crate::store::STALE_NAN;

/// Splits `metric{a="b"} 1 2 3` into the series text and the values text.
pub(crate) fn split_series(l: &str) -> (&str, &str) {
    let b = l.as_bytes();
    let mut i = 0;
    let mut depth = 0;
    let mut quote: Option<u8> = None;
    while i < b.len() {
        let c = b[i];
        match quote {
            Some(q) => {
                if c == b'\\' {
                    i += 1;
                } else if c == q {
                    quote = None;
                }
            }
            None => match c {
                b'"' | b'\'' | b'`' => quote = Some(c),
                b'{' => depth += 1,
                b'}' => depth -= 1,
                b' ' | b'\t' if depth == 0 => break,
                _ => {}
            },
        }
        i += 1;
    }
    (&l[..i], l[i..].trim())
}

/// `metric{a="b"}` → labels.
pub(crate) fn parse_labels(s: &str) -> Result<Labels, String> {
    let e = promql::parse(s).map_err(|e| format!("series {s:?}: {e}"))?;
    let Expr::Selector(vs) = e else {
        return Err(format!("series {s:?}: expected a metric"));
    };
    let mut l = Labels::new();
    for m in &vs.matchers {
        l.insert(m.name(), m.value());
    }
    Ok(l)
}

pub(crate) fn parse_labels_or_empty(s: &str) -> Result<Labels, String> {
    if s.trim() == "{}" {
        return Ok(Labels::new());
    }
    parse_labels(s)
}

pub(crate) enum Point {
    Omitted,
    Value(f64),
    Histogram,
}

fn number(t: &str) -> Result<f64, String> {
    match t.to_ascii_lowercase().as_str() {
        "inf" | "+inf" => Ok(f64::INFINITY),
        "-inf" => Ok(f64::NEG_INFINITY),
        "nan" | "+nan" | "-nan" => Ok(f64::NAN),
        "stale" => Ok(f64::from_bits(STALE_NAN)),
        _ => t.parse().map_err(|_| format!("bad value {t:?}")),
    }
}

/// The expanding notation: `1 _ 0+10x3 5-1x2 _x2 3x2 stale {{...}}`.
pub(crate) fn expand(s: &str) -> Result<Vec<Point>, String> {
    let mut out = Vec::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        if rest.starts_with("{{") {
            let end = rest.find("}}").ok_or("unterminated histogram")? + 2;
            rest = rest[end..].trim_start();
            let mut n = 1;
            if let Some(r) = rest.strip_prefix('x') {
                let d = r.bytes().take_while(u8::is_ascii_digit).count();
                n = r[..d].parse::<usize>().map_err(|_| "bad repeat")? + 1;
                rest = r[d..].trim_start();
            } else if rest.starts_with('+') || rest.starts_with('-') {
                // `{{a}}+{{b}}xN`
                let end = rest.find("}}").map_or(rest.len(), |e| e + 2);
                rest = rest[end..].trim_start();
                if let Some(r) = rest.strip_prefix('x') {
                    let d = r.bytes().take_while(u8::is_ascii_digit).count();
                    n = r[..d].parse::<usize>().map_err(|_| "bad repeat")? + 1;
                    rest = r[d..].trim_start();
                }
            }
            out.extend((0..n).map(|_| Point::Histogram));
            continue;
        }
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let tok = &rest[..end];
        rest = rest[end..].trim_start();
        if tok == "_" {
            out.push(Point::Omitted);
            continue;
        }
        if let Some(n) = tok.strip_prefix("_x") {
            let n: usize = n.parse().map_err(|_| format!("bad repeat in {tok:?}"))?;
            out.extend((0..n).map(|_| Point::Omitted));
            continue;
        }
        let Some((head, times)) = tok.rsplit_once('x') else {
            out.push(Point::Value(number(tok)?));
            continue;
        };
        let Ok(times) = times.parse::<usize>() else {
            out.push(Point::Value(number(tok)?));
            continue;
        };
        let split = head
            .char_indices()
            .skip(1)
            .find(|&(i, c)| {
                (c == '+' || c == '-') && !matches!(head.as_bytes()[i - 1], b'e' | b'E')
            })
            .map(|(i, _)| i);
        let (mut v, step) = match split {
            Some(i) => (number(&head[..i])?, number(&head[i..])?),
            None => (number(head)?, 0.0),
        };
        for _ in 0..=times {
            out.push(Point::Value(v));
            v += step;
        }
    }
    Ok(out)
}
