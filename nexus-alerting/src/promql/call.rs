//! Function calls: evaluation of every function of the table in `functions`.

use regex::Regex;

use crate::labels::{Labels, METRIC_NAME};
use crate::store::{instant_with_time, window};
use crate::time::Millis;

use super::ast::Expr;
use super::eval::{EvalError, Evaluator, absent_labels};
use super::functions::{self as f, Func, Mean, kahan_inc, quantile};
use super::group::Grouper;
use super::histogram::{Bucket, bucket_fraction, bucket_quantile};
use super::value::{Element, Value, format_value};

fn scalar(v: &Value) -> f64 {
    match v {
        Value::Scalar(s) => *s,
        _ => f64::NAN,
    }
}

fn string(v: &Value) -> &str {
    match v {
        Value::String(s) => s,
        _ => "",
    }
}

fn vector(v: Value) -> Vec<Element> {
    match v {
        Value::Vector(v) => v,
        _ => Vec::new(),
    }
}

/// Go's `math.Max`/`math.Min`: NaN wins.
fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.min(b)
    }
}

fn unparen(e: &Expr) -> &Expr {
    match e {
        Expr::Paren(inner) => unparen(inner),
        e => e,
    }
}

fn valid_label_name(s: &str) -> bool {
    !s.is_empty()
}

pub(crate) fn call(
    ev: &mut Evaluator<'_>,
    func: &Func,
    args: &[Expr],
    t: Millis,
) -> Result<Value, EvalError> {
    if func.takes_matrix() {
        return range_call(ev, func, args, t).map(Value::Vector);
    }
    let name = func.name;
    match name {
        "time" => return Ok(Value::Scalar(t as f64 / 1000.0)),
        "anomaly" => {
            let Expr::Selector(vs) = unparen(&args[0]) else {
                return Ok(Value::Vector(Vec::new()));
            };
            let ids = ev.select(vs);
            let store = ev.store;
            let mut out = Vec::new();
            if let Some(score) = ev.hooks.anomaly.as_deref_mut() {
                for &id in ids.iter() {
                    let s = &store.series[id as usize];
                    if let Some(v) = score(s, t) {
                        let mut e = Element::new(s.labels.clone(), v, true);
                        e.id = Some(id);
                        out.push(e);
                    }
                }
            }
            return Ok(Value::Vector(out));
        }
        "pi" => return Ok(Value::Scalar(std::f64::consts::PI)),
        "vector" => {
            let v = scalar(&ev.eval(&args[0], t)?);
            return Ok(Value::Vector(vec![Element::new(Labels::new(), v, false)]));
        }
        "scalar" => {
            let v = vector(ev.eval(&args[0], t)?);
            return Ok(Value::Scalar(if v.len() == 1 {
                v[0].value
            } else {
                f64::NAN
            }));
        }
        "timestamp" => {
            if let Expr::Selector(vs) = unparen(&args[0]) {
                let at = ev.at_time(vs.at, t) - vs.offset;
                let mut out = Vec::new();
                for &id in ev.select(vs).iter() {
                    let s = &ev.store.series[id as usize];
                    if let Some((ts, _)) = instant_with_time(s, at, ev.q.lookback, ev.q.closed) {
                        out.push(Element::new(s.labels.clone(), ts as f64 / 1000.0, true));
                    }
                }
                return Ok(Value::Vector(out));
            }
            let mut v = vector(ev.eval(&args[0], t)?);
            for e in &mut v {
                e.value = t as f64 / 1000.0;
                e.drop_name = true;
            }
            return Ok(Value::Vector(v));
        }
        _ => {}
    }
    let mut vals = Vec::with_capacity(args.len());
    for a in args {
        vals.push(ev.eval(a, t)?);
    }
    let out = match name {
        "absent" => {
            if vector(vals.remove(0)).is_empty() {
                vec![Element::new(absent_labels(&args[0]), 1.0, false)]
            } else {
                Vec::new()
            }
        }
        "clamp" => {
            let (lo, hi) = (scalar(&vals[1]), scalar(&vals[2]));
            if hi < lo {
                return Ok(Value::Vector(Vec::new()));
            }
            map(vector(vals.remove(0)), |v| go_max(lo, go_min(hi, v)))
        }
        "clamp_max" => {
            let hi = scalar(&vals[1]);
            map(vector(vals.remove(0)), |v| go_min(hi, v))
        }
        "clamp_min" => {
            let lo = scalar(&vals[1]);
            map(vector(vals.remove(0)), |v| go_max(lo, v))
        }
        "round" => {
            let to = vals.get(1).map_or(1.0, scalar);
            let inv = 1.0 / to;
            map(vector(vals.remove(0)), |v| (v * inv + 0.5).floor() / inv)
        }
        "sort" | "sort_desc" => {
            let mut v = vector(vals.remove(0));
            let desc = name == "sort_desc";
            v.sort_by(|a, b| match (a.value.is_nan(), b.value.is_nan()) {
                (true, true) => std::cmp::Ordering::Equal,
                (true, false) => std::cmp::Ordering::Greater,
                (false, true) => std::cmp::Ordering::Less,
                _ if desc => b.value.total_cmp(&a.value),
                _ => a.value.total_cmp(&b.value),
            });
            v
        }
        "sort_by_label" | "sort_by_label_desc" => {
            let names: Vec<String> = vals[1..].iter().map(|v| string(v).to_owned()).collect();
            let mut v = vector(vals.remove(0));
            v.sort_by(|a, b| {
                for n in &names {
                    let (x, y) = (a.labels.get(n).unwrap_or(""), b.labels.get(n).unwrap_or(""));
                    if x != y {
                        return natural_cmp(x, y);
                    }
                }
                a.labels.cmp(&b.labels)
            });
            if name == "sort_by_label_desc" {
                v.reverse();
            }
            v
        }
        "label_replace" => label_replace(
            vector(vals.remove(0)),
            string(&vals[0]),
            string(&vals[1]),
            string(&vals[2]),
            string(&vals[3]),
        )?,
        "label_join" => {
            let dst = string(&vals[1]).to_owned();
            let sep = string(&vals[2]).to_owned();
            let srcs: Vec<String> = vals[3..].iter().map(|v| string(v).to_owned()).collect();
            if !valid_label_name(&dst) {
                return Err(EvalError::InvalidArgument(format!(
                    "invalid destination label name in label_join(): {dst}"
                )));
            }
            if let Some(s) = srcs.iter().find(|s| !valid_label_name(s)) {
                return Err(EvalError::InvalidArgument(format!(
                    "invalid source label name in label_join(): {s}"
                )));
            }
            let mut v = vector(vals.remove(0));
            for e in &mut v {
                let joined: Vec<&str> =
                    srcs.iter().map(|s| e.labels.get(s).unwrap_or("")).collect();
                let joined = joined.join(&sep);
                e.labels.insert(dst.as_str(), joined);
                e.id = None;
                if dst == METRIC_NAME {
                    e.drop_name = false;
                }
            }
            v
        }
        "histogram_quantile" => {
            let q = scalar(&vals[0]);
            if !(0.0..=1.0).contains(&q) {
                ev.ann.warn(format!(
                    "PromQL warning: quantile value should be between 0 and 1, got {}",
                    format_value(q)
                ));
            }
            let mut out = Vec::new();
            for (labels, name, buckets) in classic_buckets(ev, vector(vals.remove(1))) {
                let (v, forced) = bucket_quantile(q, buckets);
                if forced {
                    ev.ann.info(format!("PromQL info: input to histogram_quantile needed to be fixed for monotonicity (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile) for metric name {name:?}"));
                }
                out.push(Element::new(labels, v, true));
            }
            out
        }
        "histogram_fraction" => {
            let (lo, hi) = (scalar(&vals[0]), scalar(&vals[1]));
            classic_buckets(ev, vector(vals.remove(2)))
                .into_iter()
                .map(|(labels, _, b)| Element::new(labels, bucket_fraction(lo, hi, b), true))
                .collect()
        }
        "histogram_avg" | "histogram_count" | "histogram_sum" | "histogram_stddev"
        | "histogram_stdvar" => Vec::new(),
        "day_of_month" | "day_of_week" | "day_of_year" | "days_in_month" | "hour" | "minute"
        | "month" | "year" => {
            let v = if vals.is_empty() {
                vec![Element::new(Labels::new(), t as f64 / 1000.0, false)]
            } else {
                vector(vals.remove(0))
            };
            map(v, |secs| date_part(name, secs))
        }
        _ => {
            let v = vector(vals.remove(0));
            map(v, |x| f::math(name, x).unwrap_or(f64::NAN))
        }
    };
    Ok(Value::Vector(out))
}

fn map(mut v: Vec<Element>, f: impl Fn(f64) -> f64) -> Vec<Element> {
    for e in &mut v {
        e.value = f(e.value);
        e.drop_name = true;
    }
    v
}

fn date_part(name: &str, secs: f64) -> f64 {
    if !secs.is_finite() {
        return f64::NAN;
    }
    let Ok(ts) = jiff::Timestamp::from_second(secs as i64) else {
        return f64::NAN;
    };
    let d = ts.to_zoned(jiff::tz::TimeZone::UTC);
    f64::from(match name {
        "day_of_month" => i16::from(d.day()),
        "day_of_week" => i16::from(d.weekday().to_sunday_zero_offset()),
        "day_of_year" => d.day_of_year(),
        "days_in_month" => i16::from(d.days_in_month()),
        "hour" => i16::from(d.hour()),
        "minute" => i16::from(d.minute()),
        "month" => i16::from(d.month()),
        _ => d.year(),
    })
}

/// Natural order: runs of digits compare as numbers.
fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let (mut x, mut y) = (a.as_bytes(), b.as_bytes());
    while !x.is_empty() && !y.is_empty() {
        if x[0].is_ascii_digit() && y[0].is_ascii_digit() {
            let nx = x.iter().take_while(|c| c.is_ascii_digit()).count();
            let ny = y.iter().take_while(|c| c.is_ascii_digit()).count();
            let (dx, dy) = (&x[..nx], &y[..ny]);
            let tx = dx.iter().skip_while(|c| **c == b'0').count();
            let ty = dy.iter().skip_while(|c| **c == b'0').count();
            let o = tx.cmp(&ty).then_with(|| dx[nx - tx..].cmp(&dy[ny - ty..]));
            if o != std::cmp::Ordering::Equal {
                return o;
            }
            x = &x[nx..];
            y = &y[ny..];
        } else {
            if x[0] != y[0] {
                return x[0].cmp(&y[0]);
            }
            x = &x[1..];
            y = &y[1..];
        }
    }
    x.len().cmp(&y.len())
}

fn label_replace(
    mut v: Vec<Element>,
    dst: &str,
    repl: &str,
    src: &str,
    re: &str,
) -> Result<Vec<Element>, EvalError> {
    let regex = Regex::new(&format!("^(?s:{re})$")).map_err(|e| {
        EvalError::InvalidArgument(format!(
            "invalid regular expression in label_replace(): {e}"
        ))
    })?;
    if !valid_label_name(dst) {
        return Err(EvalError::InvalidArgument(format!(
            "invalid destination label name in label_replace(): {dst}"
        )));
    }
    for e in &mut v {
        let value = e.labels.get(src).unwrap_or("").to_owned();
        if let Some(c) = regex.captures(&value) {
            let mut out = String::new();
            c.expand(repl, &mut out);
            e.labels.insert(dst, out);
            e.id = None;
            if dst == METRIC_NAME {
                e.drop_name = false;
            }
        }
    }
    Ok(v)
}

/// Groups `_bucket` samples into histograms: (labels without `le` and name, metric name, buckets).
fn classic_buckets(ev: &mut Evaluator<'_>, v: Vec<Element>) -> Vec<(Labels, String, Vec<Bucket>)> {
    let mut order: Vec<(Labels, String, Vec<Bucket>)> = Vec::new();
    let mut index = Grouper::new(|k: &str| k != "le");
    for e in v {
        let name = || e.labels.get(METRIC_NAME).unwrap_or("").to_owned();
        let le_text = e.labels.get("le").unwrap_or("");
        let Some(le) = parse_go_float(le_text) else {
            ev.ann.warn(format!(
                "PromQL warning: bucket label \"le\" is missing or has a malformed value of {le_text:?} for metric name {:?}",
                name()
            ));
            continue;
        };
        let (i, new) = index.group(&e.labels);
        if new {
            order.push((index.keys[i].clone(), name(), Vec::new()));
        }
        order[i].2.push(Bucket { le, count: e.value });
    }
    order
}

/// Go's `strconv.ParseFloat` for the forms a `le` label takes.
pub(crate) fn parse_go_float(s: &str) -> Option<f64> {
    let lower = s.to_ascii_lowercase();
    match lower.trim_start_matches(['+', '-']) {
        "inf" | "infinity" => {
            return Some(if s.starts_with('-') {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            });
        }
        "nan" => return Some(f64::NAN),
        _ => {}
    }
    if s.is_empty() || s.contains(['i', 'I', 'n', 'N']) {
        return None;
    }
    s.parse().ok()
}

fn range_call(
    ev: &mut Evaluator<'_>,
    func: &Func,
    args: &[Expr],
    t: Millis,
) -> Result<Vec<Element>, EvalError> {
    let name = func.name;
    let (matrix_at, scalars) = match name {
        "quantile_over_time" => (1, vec![scalar(&ev.eval(&args[0], t)?)]),
        "predict_linear" => (0, vec![scalar(&ev.eval(&args[1], t)?)]),
        "double_exponential_smoothing" => (
            0,
            vec![
                scalar(&ev.eval(&args[1], t)?),
                scalar(&ev.eval(&args[2], t)?),
            ],
        ),
        _ => (0, Vec::new()),
    };
    // Checks of the parameters, whatever the data.
    if name == "quantile_over_time" {
        let q = scalars[0];
        if !(0.0..=1.0).contains(&q) {
            ev.ann.warn(format!(
                "PromQL warning: quantile value should be between 0 and 1, got {}",
                format_value(q)
            ));
        }
    }
    if name == "double_exponential_smoothing" {
        let (sf, tf) = (scalars[0], scalars[1]);
        if !(sf > 0.0 && sf < 1.0) {
            return Err(EvalError::InvalidArgument(format!(
                "invalid smoothing factor. Expected: 0 < sf < 1, got: {sf:.6}"
            )));
        }
        if !(tf > 0.0 && tf < 1.0) {
            return Err(EvalError::InvalidArgument(format!(
                "invalid trend factor. Expected: 0 < tf < 1, got: {tf:.6}"
            )));
        }
    }
    let mut out = Vec::new();
    let mut any = false;
    // rate/increase of a metric not named like a counter is worth an info (once per name: a
    // selector with a literal name is checked once, not per series).
    let mut check_counter_name = matches!(name, "rate" | "increase");
    let mut literal_name = None;
    if check_counter_name
        && let Expr::Matrix { vs, .. } = unparen(&args[matrix_at])
        && let Some(n) = &vs.name
    {
        check_counter_name = false;
        literal_name = Some(n.clone());
    }
    let mut emit = |ev: &mut Evaluator<'_>,
                    labels: &Labels,
                    id,
                    drop_name: bool,
                    p: &[(Millis, f64)],
                    start,
                    end| {
        any = true;
        if check_counter_name && let Some(n) = labels.get(METRIC_NAME) {
            counter_name_info(ev, n);
        }
        if let Some(v) = range_value(name, p, start, end, t, &scalars) {
            let keep_name = name == "last_over_time";
            let mut e = Element::new(labels.clone(), v, drop_name || !keep_name);
            e.id = id;
            out.push(e);
        }
    };
    if let Expr::Matrix { vs, range } = unparen(&args[matrix_at]) {
        // A range selector: each series' window is read into one reused buffer.
        let end = ev.at_time(vs.at, t) - vs.offset;
        let mut buf = Vec::new();
        let store = ev.store;
        for &id in ev.select(vs).iter() {
            let s = &store.series[id as usize];
            window(&s.samples, end, *range, ev.q.closed, &mut buf);
            if buf.is_empty() {
                continue;
            }
            ev.count(buf.len())?;
            emit(ev, &s.labels, Some(id), false, &buf, end - range, end);
        }
    } else {
        let arg = ev.range_arg(&args[matrix_at], t)?;
        for s in &arg.series {
            if !s.points.is_empty() {
                emit(
                    ev,
                    &s.labels,
                    s.id,
                    s.drop_name,
                    &s.points,
                    arg.start,
                    arg.end,
                );
            }
        }
    }
    if any && let Some(n) = literal_name {
        counter_name_info(ev, &n);
    }
    if name == "absent_over_time" {
        return Ok(if any {
            Vec::new()
        } else {
            vec![Element::new(absent_labels(&args[0]), 1.0, false)]
        });
    }
    Ok(out)
}

fn counter_name_info(ev: &mut Evaluator<'_>, n: &str) {
    if !["_total", "_sum", "_count", "_bucket"]
        .iter()
        .any(|suf| n.ends_with(suf))
    {
        ev.ann.info(format!(
            "PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: {n:?}"
        ));
    }
}

/// A range function's value over one series' samples in `(start, end]`; `None` when
/// Prometheus gives no element.
fn range_value(
    name: &str,
    p: &[(Millis, f64)],
    start: Millis,
    end: Millis,
    t: Millis,
    scalars: &[f64],
) -> Option<f64> {
    let values = || p.iter().map(|x| x.1);
    match name {
        "rate" => f::extrapolated_rate(p, start, end, true, true),
        "increase" => f::extrapolated_rate(p, start, end, true, false),
        "delta" => f::extrapolated_rate(p, start, end, false, false),
        "irate" => f::instant_value(p, true),
        "idelta" => f::instant_value(p, false),
        "deriv" => (p.len() >= 2).then(|| f::linear_regression(p, p[0].0).0),
        "predict_linear" => (p.len() >= 2).then(|| {
            let (slope, intercept) = f::linear_regression(p, t);
            slope * scalars[0] + intercept
        }),
        "double_exponential_smoothing" => {
            f::double_exponential_smoothing(p, scalars[0], scalars[1])
        }
        "avg_over_time" => {
            let mut m = Mean::default();
            values().for_each(|x| m.add(x));
            Some(m.value())
        }
        "sum_over_time" => {
            let (mut sum, mut c) = (0.0, 0.0);
            for x in values() {
                (sum, c) = kahan_inc(x, sum, c);
            }
            Some(if sum.is_infinite() { sum } else { sum + c })
        }
        "count_over_time" => Some(p.len() as f64),
        "max_over_time" => {
            Some(values().fold(p[0].1, |m, x| if x > m || m.is_nan() { x } else { m }))
        }
        "min_over_time" => {
            Some(values().fold(p[0].1, |m, x| if x < m || m.is_nan() { x } else { m }))
        }
        "stdvar_over_time" => Some(f::variance(values())),
        "stddev_over_time" => Some(f::variance(values()).sqrt()),
        "last_over_time" => Some(p[p.len() - 1].1),
        "ts_of_last_over_time" => Some(p[p.len() - 1].0 as f64 / 1000.0),
        "ts_of_max_over_time" | "ts_of_min_over_time" => {
            let max = name == "ts_of_max_over_time";
            let mut best = p[0];
            for &x in &p[1..] {
                let better = if max { x.1 >= best.1 } else { x.1 <= best.1 };
                if better || best.1.is_nan() {
                    best = x;
                }
            }
            Some(best.0 as f64 / 1000.0)
        }
        "quantile_over_time" => {
            let mut v: Vec<f64> = values().collect();
            Some(quantile(scalars[0], &mut v))
        }
        "mad_over_time" => {
            let mut v: Vec<f64> = values().collect();
            let median = quantile(0.5, &mut v);
            let mut dev: Vec<f64> = v.iter().map(|x| (x - median).abs()).collect();
            Some(quantile(0.5, &mut dev))
        }
        "changes" => {
            let mut n = 0.0;
            for w in p.windows(2) {
                let (a, b) = (w[0].1, w[1].1);
                if a != b && !(a.is_nan() && b.is_nan()) {
                    n += 1.0;
                }
            }
            Some(n)
        }
        "resets" => Some(p.windows(2).filter(|w| w[1].1 < w[0].1).count() as f64),
        "present_over_time" | "absent_over_time" => Some(1.0),
        _ => None,
    }
}
