//! Template functions: Go's built-ins and Prometheus' additions.

use regex::Regex;

use crate::gofmt;
use crate::labels::Labels;

use super::TemplateData;
use super::exec::V;

/// Largest `printf` precision or width rendered (Go's own limit is 10^6; an annotation never
/// needs more).
pub(crate) const MAX_PRECISION: usize = 100;

/// Every function templates may call.
pub(crate) const NAMES: &[&str] = &[
    "and",
    "or",
    "not",
    "len",
    "index",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "print",
    "printf",
    "println",
    "html",
    "js",
    "urlquery",
    "humanize",
    "humanize1024",
    "humanizeDuration",
    "humanizePercentage",
    "humanizeTimestamp",
    "title",
    "toUpper",
    "toLower",
    "reReplaceAll",
    "match",
    "stripPort",
    "stripDomain",
    "args",
    "first",
    "label",
    "value",
    "strvalue",
    "sortByLabel",
    "safeHtml",
    "parseDuration",
    "toTime",
    "toDuration",
    "externalURL",
    "pathPrefix",
    "query",
];

pub(crate) fn is_func(name: &str) -> bool {
    NAMES.contains(&name)
}

fn arity(name: &str, args: &[V], n: usize) -> Result<(), String> {
    if args.len() != n {
        return Err(format!(
            "wrong number of args for {name}: want {n} got {}",
            args.len()
        ));
    }
    Ok(())
}

/// Prometheus' `convertToFloat`.
fn float(v: &V) -> Result<f64, String> {
    match v {
        V::Float(f) => Ok(*f),
        V::Int(i) => Ok(*i as f64),
        V::Str(s) => s
            .trim()
            .parse::<f64>()
            .or_else(|e| match s.trim().to_ascii_lowercase().as_str() {
                "+inf" | "inf" => Ok(f64::INFINITY),
                "-inf" => Ok(f64::NEG_INFINITY),
                "nan" => Ok(f64::NAN),
                _ => Err(e),
            })
            .map_err(|_| format!("strconv.ParseFloat: parsing {s:?}: invalid syntax")),
        other => Err(format!("can't convert {} to float", other.type_name())),
    }
}

fn string(v: &V) -> String {
    match v {
        V::Str(s) => s.clone(),
        other => other.text(),
    }
}

fn cmp(a: &V, b: &V) -> Result<std::cmp::Ordering, String> {
    use std::cmp::Ordering;
    match (a, b) {
        (V::Int(x), V::Int(y)) => Ok(x.cmp(y)),
        (V::Float(x), V::Float(y)) => Ok(x.partial_cmp(y).unwrap_or(Ordering::Equal)),
        (V::Str(x), V::Str(y)) => Ok(x.cmp(y)),
        (V::Bool(x), V::Bool(y)) => Ok(x.cmp(y)),
        _ => Err(format!(
            "incompatible types for comparison: {} and {}",
            a.type_name(),
            b.type_name()
        )),
    }
}

fn eq(a: &V, b: &V) -> Result<bool, String> {
    match (a, b) {
        (V::Float(x), V::Float(y)) => Ok(x == y),
        (V::Nil, V::Nil) => Ok(true),
        _ => cmp(a, b).map(|o| o == std::cmp::Ordering::Equal),
    }
}

fn sample(v: &V, name: &str) -> Result<(Labels, f64), String> {
    match v {
        V::Sample(l, x) => Ok((l.clone(), *x)),
        other => Err(format!(
            "{name}: expected a query result element, got {}",
            other.type_name()
        )),
    }
}

pub(crate) fn call(name: &str, mut args: Vec<V>, data: &TemplateData<'_>) -> Result<V, String> {
    let f0 = |args: &[V]| args.first().map(float).unwrap_or(Ok(f64::NAN));
    Ok(match name {
        "and" => {
            let mut last = V::Nil;
            for a in args {
                if !a.truthy() {
                    return Ok(a);
                }
                last = a;
            }
            last
        }
        "or" => {
            let mut last = V::Nil;
            for a in args {
                if a.truthy() {
                    return Ok(a);
                }
                last = a;
            }
            last
        }
        "not" => {
            arity(name, &args, 1)?;
            V::Bool(!args[0].truthy())
        }
        "len" => {
            arity(name, &args, 1)?;
            V::Int(match &args[0] {
                V::Str(s) => s.len(),
                V::Map(m) => m.len(),
                V::List(l) => l.len(),
                other => return Err(format!("len of type {}", other.type_name())),
            } as i64)
        }
        "index" => {
            let mut it = args.into_iter();
            let mut v = it.next().ok_or("index of nothing")?;
            for k in it {
                v = match (&v, &k) {
                    (V::Map(m), V::Str(key)) => m
                        .iter()
                        .find(|(n, _)| n == key)
                        .map(|(_, x)| x.clone())
                        .unwrap_or(V::Str(String::new())),
                    (V::List(l), V::Int(i)) => l
                        .get(usize::try_from(*i).map_err(|_| "index out of range")?)
                        .cloned()
                        .ok_or_else(|| format!("index out of range: {i}"))?,
                    _ => return Err(format!("can't index item of type {}", v.type_name())),
                };
            }
            v
        }
        "eq" => {
            let (a, rest) = args
                .split_first()
                .ok_or("missing argument for comparison")?;
            if rest.is_empty() {
                return Err("missing argument for comparison".into());
            }
            let mut any = false;
            for b in rest {
                any |= eq(a, b)?;
            }
            V::Bool(any)
        }
        "ne" | "lt" | "le" | "gt" | "ge" => {
            arity(name, &args, 2)?;
            let o = if name == "ne" {
                return Ok(V::Bool(!eq(&args[0], &args[1])?));
            } else {
                cmp(&args[0], &args[1])?
            };
            V::Bool(match name {
                "lt" => o.is_lt(),
                "le" => o.is_le(),
                "gt" => o.is_gt(),
                _ => o.is_ge(),
            })
        }
        "print" | "println" => {
            let mut out = String::new();
            for (i, a) in args.iter().enumerate() {
                let is_str = |v: &V| matches!(v, V::Str(_));
                if i > 0 && (name == "println" || (!is_str(a) && !is_str(&args[i - 1]))) {
                    out.push(' ');
                }
                out.push_str(&a.text());
            }
            if name == "println" {
                out.push('\n');
            }
            V::Str(out)
        }
        "printf" => {
            if args.is_empty() {
                return Err("wrong number of args for printf: want at least 1 got 0".into());
            }
            let fmt = string(&args.remove(0));
            V::Str(printf(&fmt, &args))
        }
        "safeHtml" => {
            arity(name, &args, 1)?;
            V::Str(string(&args[0]))
        }
        "html" => V::Str(
            args.iter()
                .map(string)
                .collect::<String>()
                .replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
                .replace('"', "&#34;")
                .replace('\'', "&#39;"),
        ),
        "js" => V::Str(
            args.iter()
                .map(string)
                .collect::<String>()
                .chars()
                .map(|c| match c {
                    '\\' => "\\\\".into(),
                    '\'' => "\\'".into(),
                    '"' => "\\\"".into(),
                    '<' => "\\u003C".into(),
                    '>' => "\\u003E".into(),
                    '&' => "\\u0026".into(),
                    '=' => "\\u003D".into(),
                    c => c.to_string(),
                })
                .collect(),
        ),
        "urlquery" => V::Str(query_escape(&args.iter().map(string).collect::<String>())),
        "humanize" => {
            arity(name, &args, 1)?;
            V::Str(gofmt::humanize(f0(&args)?))
        }
        "humanize1024" => {
            arity(name, &args, 1)?;
            let mut v = f0(&args)?;
            if v.abs() <= 1.0 || !v.is_finite() {
                return Ok(V::Str(gofmt::go_g(v, Some(4))));
            }
            let mut prefix = "";
            for p in ["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"] {
                if v.abs() < 1024.0 {
                    break;
                }
                prefix = p;
                v /= 1024.0;
            }
            V::Str(format!("{}{prefix}", gofmt::go_g(v, Some(4))))
        }
        "humanizeDuration" => {
            arity(name, &args, 1)?;
            V::Str(humanize_duration(f0(&args)?))
        }
        "humanizePercentage" => {
            arity(name, &args, 1)?;
            V::Str(format!("{}%", gofmt::go_g(f0(&args)? * 100.0, Some(4))))
        }
        "humanizeTimestamp" | "toTime" => {
            arity(name, &args, 1)?;
            let v = f0(&args)?;
            if !v.is_finite() {
                if name == "toTime" {
                    return Err("value is NaN or Inf".into());
                }
                return Ok(V::Str(gofmt::go_g(v, Some(4))));
            }
            V::Str(go_time(v)?)
        }
        "toDuration" => {
            arity(name, &args, 1)?;
            V::Str(go_duration(f0(&args)?))
        }
        "parseDuration" => {
            arity(name, &args, 1)?;
            let d = crate::time::parse_duration(&string(&args[0]))?;
            V::Float(d.as_secs_f64())
        }
        "title" => {
            arity(name, &args, 1)?;
            let mut out = String::new();
            let mut prev_letter = false;
            for c in string(&args[0]).chars() {
                let letter = c.is_alphanumeric() || c == '_' || c == '\'';
                if letter && !prev_letter {
                    out.extend(c.to_uppercase());
                } else {
                    out.push(c);
                }
                prev_letter = letter;
            }
            V::Str(out)
        }
        "toUpper" => {
            arity(name, &args, 1)?;
            V::Str(string(&args[0]).to_uppercase())
        }
        "toLower" => {
            arity(name, &args, 1)?;
            V::Str(string(&args[0]).to_lowercase())
        }
        "match" => {
            arity(name, &args, 2)?;
            let re = Regex::new(&string(&args[0])).map_err(|e| e.to_string())?;
            V::Bool(re.is_match(&string(&args[1])))
        }
        "reReplaceAll" => {
            arity(name, &args, 3)?;
            let re = Regex::new(&string(&args[0])).map_err(|e| e.to_string())?;
            V::Str(
                re.replace_all(&string(&args[2]), string(&args[1]).as_str())
                    .into_owned(),
            )
        }
        "stripPort" => {
            arity(name, &args, 1)?;
            let s = string(&args[0]);
            V::Str(split_host_port(&s).map_or(s.clone(), |(h, _)| h.to_owned()))
        }
        "stripDomain" => {
            arity(name, &args, 1)?;
            let s = string(&args[0]);
            let (host, port) = match split_host_port(&s) {
                Some((h, p)) => (h.to_owned(), Some(p.to_owned())),
                None => (s.clone(), None),
            };
            if host.parse::<std::net::IpAddr>().is_ok() {
                return Ok(V::Str(s));
            }
            let short = host.split('.').next().unwrap_or(&host).to_owned();
            V::Str(match port {
                Some(p) => format!("{short}:{p}"),
                None => short,
            })
        }
        "args" => V::Map(
            args.into_iter()
                .enumerate()
                .map(|(i, v)| (format!("arg{i}"), v))
                .collect(),
        ),
        "first" => {
            arity(name, &args, 1)?;
            match args.remove(0) {
                V::List(l) => l
                    .into_iter()
                    .next()
                    .ok_or("first() called on vector with no elements")?,
                other => {
                    return Err(format!(
                        "first: expected a query result, got {}",
                        other.type_name()
                    ));
                }
            }
        }
        "label" => {
            arity(name, &args, 2)?;
            let (l, _) = sample(&args[1], name)?;
            V::Str(l.get(&string(&args[0])).unwrap_or("").to_owned())
        }
        "value" => {
            arity(name, &args, 1)?;
            V::Float(sample(&args[0], name)?.1)
        }
        "strvalue" => {
            arity(name, &args, 1)?;
            V::Str(
                sample(&args[0], name)?
                    .0
                    .get("__value__")
                    .unwrap_or("")
                    .to_owned(),
            )
        }
        "sortByLabel" => {
            arity(name, &args, 2)?;
            let key = string(&args[0]);
            let V::List(mut l) = args.remove(1) else {
                return Err("sortByLabel: expected a query result".into());
            };
            l.sort_by(|a, b| {
                let get = |v: &V| match v {
                    V::Sample(l, _) => l.get(&key).unwrap_or("").to_owned(),
                    _ => String::new(),
                };
                get(a).cmp(&get(b))
            });
            V::List(l)
        }
        "externalURL" => V::Str(data.external_url.to_owned()),
        "pathPrefix" => {
            let u = data.external_url;
            let path = u
                .split_once("://")
                .map_or(u, |(_, rest)| rest.find('/').map_or("", |i| &rest[i..]));
            V::Str(path.trim_end_matches('/').to_owned())
        }
        "query" => {
            arity(name, &args, 1)?;
            let Some(q) = data.query else {
                return Err("query is not available in this context".into());
            };
            let rows = q(&string(&args[0]))?;
            V::List(rows.into_iter().map(|(l, v)| V::Sample(l, v)).collect())
        }
        _ => return Err(format!("function {name:?} not defined")),
    })
}

fn split_host_port(s: &str) -> Option<(&str, &str)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (h, p) = rest.split_once("]:")?;
        return Some((h, p));
    }
    let (h, p) = s.rsplit_once(':')?;
    if h.contains(':') {
        return None;
    }
    Some((h, p))
}

fn query_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Prometheus' `humanizeDuration`.
fn humanize_duration(mut v: f64) -> String {
    if !v.is_finite() {
        return gofmt::go_g(v, Some(4));
    }
    if v == 0.0 {
        return format!("{}s", gofmt::go_g(v, Some(4)));
    }
    if v.abs() >= 1.0 {
        let sign = if v < 0.0 { "-" } else { "" };
        v = v.abs();
        let d = v as i64;
        let (s, m, h, days) = (d % 60, (d / 60) % 60, (d / 3600) % 24, d / 86_400);
        if days != 0 {
            return format!("{sign}{days}d {h}h {m}m {s}s");
        }
        if h != 0 {
            return format!("{sign}{h}h {m}m {s}s");
        }
        if m != 0 {
            return format!("{sign}{m}m {s}s");
        }
        return format!("{sign}{}s", gofmt::go_g(v, Some(4)));
    }
    let mut prefix = "";
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    format!("{}{prefix}s", gofmt::go_g(v, Some(4)))
}

/// Go's `time.Time.String()` in UTC for Unix seconds `v`.
fn go_time(v: f64) -> Result<String, String> {
    let nanos = v * 1e9;
    if !(-9.2e18..9.2e18).contains(&nanos) {
        return Err(format!(
            "{} is out of bounds for a time",
            gofmt::go_g(v, None)
        ));
    }
    let ts = jiff::Timestamp::from_nanosecond(nanos as i128).map_err(|e| e.to_string())?;
    let z = ts.to_zoned(jiff::tz::TimeZone::UTC);
    let mut s = z.strftime("%Y-%m-%d %H:%M:%S").to_string();
    let frac = z.subsec_nanosecond();
    if frac != 0 {
        let f = format!("{frac:09}");
        s.push('.');
        s.push_str(f.trim_end_matches('0'));
    }
    s.push_str(" +0000 UTC");
    Ok(s)
}

/// Go's `time.Duration.String()` for `v` seconds.
fn go_duration(v: f64) -> String {
    if !v.is_finite() {
        return gofmt::go_g(v, None);
    }
    let ns = (v * 1e9) as i128;
    if ns == 0 {
        return "0s".into();
    }
    let sign = if ns < 0 { "-" } else { "" };
    let ns = ns.unsigned_abs();
    if ns < 1_000_000_000 {
        let (unit, div) = if ns < 1_000 {
            ("ns", 1u128)
        } else if ns < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        let whole = ns / div;
        let frac = ns % div;
        let mut s = format!("{sign}{whole}");
        if frac > 0 {
            let width = div.ilog10() as usize;
            s.push('.');
            s.push_str(format!("{frac:0width$}").trim_end_matches('0'));
        }
        s.push_str(unit);
        return s;
    }
    let secs = ns / 1_000_000_000;
    let frac = ns % 1_000_000_000;
    let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
    let mut out = String::from(sign);
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if h > 0 || m > 0 {
        out.push_str(&format!("{m}m"));
    }
    out.push_str(&s.to_string());
    if frac > 0 {
        out.push('.');
        out.push_str(format!("{frac:09}").trim_end_matches('0'));
    }
    out.push('s');
    out
}

/// Go's `fmt.Sprintf` for the verbs templates use, with Go's output for mismatched verbs
/// (`%!d(float64=5)`), missing (`%!d(MISSING)`) and extra (`%!(EXTRA …)`) arguments.
pub(crate) fn printf(fmt: &str, args: &[V]) -> String {
    let mut out = String::new();
    let mut next = 0usize;
    let mut chars = fmt.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let (mut minus, mut plus, mut zero, mut space, mut sharp) =
            (false, false, false, false, false);
        while let Some(&f) = chars.peek() {
            match f {
                '-' => minus = true,
                '+' => plus = true,
                '0' => zero = true,
                ' ' => space = true,
                '#' => sharp = true,
                _ => break,
            }
            chars.next();
        }
        let number = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>| {
            let mut n: Option<usize> = None;
            while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
                n = Some(n.unwrap_or(0).saturating_mul(10).saturating_add(d as usize));
                chars.next();
            }
            n
        };
        let width = number(&mut chars);
        let mut prec = None;
        if chars.peek() == Some(&'.') {
            chars.next();
            prec = Some(number(&mut chars).unwrap_or(0));
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
            next += 1;
            continue;
        }
        if width.is_some_and(|w| w > MAX_PRECISION) {
            out.push_str("%!(BADWIDTH)");
            next += 1;
            continue;
        }
        let Some(arg) = args.get(next) else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        next += 1;
        let sign = |s: String, neg_ok: bool| -> String {
            if neg_ok && !s.starts_with('-') && !s.starts_with('+') {
                if plus {
                    return format!("+{s}");
                }
                if space {
                    return format!(" {s}");
                }
            }
            s
        };
        let bad = || format!("%!{verb}({}={})", arg.type_name(), arg.text());
        let (s, numeric) = match (verb, arg) {
            ('v', V::Float(f)) => (sign(gofmt::go_g(*f, prec), true), true),
            ('v', V::Int(i)) => (sign(i.to_string(), true), true),
            ('v', a) => (a.text(), false),
            ('s', V::Str(s)) => (
                prec.map_or(s.clone(), |p| s.chars().take(p).collect()),
                false,
            ),
            ('s', V::Map(_) | V::List(_)) => (arg.text(), false),
            ('q', V::Str(s)) => (format!("{s:?}"), false),
            ('t', V::Bool(b)) => (b.to_string(), false),
            ('d', V::Int(i)) => (sign(i.to_string(), true), true),
            ('x', V::Int(i)) => (
                if sharp {
                    format!("{i:#x}")
                } else {
                    format!("{i:x}")
                },
                true,
            ),
            ('X', V::Int(i)) => (
                if sharp {
                    format!("{i:#X}")
                } else {
                    format!("{i:X}")
                },
                true,
            ),
            ('x', V::Str(s)) => (s.bytes().map(|b| format!("{b:02x}")).collect(), false),
            ('X', V::Str(s)) => (s.bytes().map(|b| format!("{b:02X}")).collect(), false),
            ('o', V::Int(i)) => (format!("{i:o}"), true),
            ('b', V::Int(i)) => (format!("{i:b}"), true),
            ('c', V::Int(i)) => (
                u32::try_from(*i)
                    .ok()
                    .and_then(char::from_u32)
                    .unwrap_or('\u{fffd}')
                    .to_string(),
                false,
            ),
            ('f' | 'F', V::Float(f)) => (sign(gofmt::go_f(*f, prec.unwrap_or(6)), true), true),
            ('e', V::Float(f)) => (sign(gofmt::go_e(*f, prec.unwrap_or(6)), true), true),
            ('E', V::Float(f)) => (
                sign(gofmt::go_e(*f, prec.unwrap_or(6)).to_uppercase(), true),
                true,
            ),
            ('g', V::Float(f)) => (sign(gofmt::go_g(*f, prec), true), true),
            ('G', V::Float(f)) => (sign(gofmt::go_g(*f, prec).to_uppercase(), true), true),
            _ => (bad(), false),
        };
        let w = width.unwrap_or(0);
        let len = s.chars().count();
        if len >= w {
            out.push_str(&s);
        } else if minus {
            out.push_str(&s);
            out.extend(std::iter::repeat_n(' ', w - len));
        } else if zero && numeric {
            let (sg, digits) = match s.strip_prefix(['-', '+', ' ']) {
                Some(d) => (&s[..1], d),
                None => ("", s.as_str()),
            };
            out.push_str(sg);
            out.extend(std::iter::repeat_n('0', w - len));
            out.push_str(digits);
        } else {
            out.extend(std::iter::repeat_n(' ', w - len));
            out.push_str(&s);
        }
    }
    if next < args.len() {
        let extra: Vec<String> = args[next..]
            .iter()
            .map(|a| format!("{}={}", a.type_name(), a.text()))
            .collect();
        out.push_str(&format!("%!(EXTRA {})", extra.join(", ")));
    }
    out
}
