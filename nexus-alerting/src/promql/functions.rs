//! PromQL's functions: the signature table and the numeric kernels.

use std::fmt;

use crate::time::Millis;

use super::ast::ValueType::{self, Matrix, Scalar, String as Str, Vector};

/// A PromQL function's signature.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Func {
    /// The name.
    pub name: &'static str,
    pub(crate) args: &'static [ValueType],
    /// 0: exactly `args`; n > 0: the last n are optional; -1: the last repeats.
    pub(crate) variadic: i8,
    /// The result type.
    pub returns: ValueType,
}

impl fmt::Debug for Func {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

const fn f(
    name: &'static str,
    args: &'static [ValueType],
    variadic: i8,
    returns: ValueType,
) -> Func {
    Func {
        name,
        args,
        variadic,
        returns,
    }
}

const V: &[ValueType] = &[Vector];
const M: &[ValueType] = &[Matrix];

/// Every function, float semantics. The native-histogram ones are accepted and return nothing
/// for float samples, as in Prometheus.
static FUNCS: &[Func] = &[
    f("abs", V, 0, Vector),
    f("absent", V, 0, Vector),
    f("absent_over_time", M, 0, Vector),
    f("acos", V, 0, Vector),
    // A nexus extension: each selected series' anomaly score in [0, 1] (the engine's detector).
    f("anomaly", V, 0, Vector),
    f("acosh", V, 0, Vector),
    f("asin", V, 0, Vector),
    f("asinh", V, 0, Vector),
    f("atan", V, 0, Vector),
    f("atanh", V, 0, Vector),
    f("avg_over_time", M, 0, Vector),
    f("ceil", V, 0, Vector),
    f("changes", M, 0, Vector),
    f("clamp", &[Vector, Scalar, Scalar], 0, Vector),
    f("clamp_max", &[Vector, Scalar], 0, Vector),
    f("clamp_min", &[Vector, Scalar], 0, Vector),
    f("cos", V, 0, Vector),
    f("cosh", V, 0, Vector),
    f("count_over_time", M, 0, Vector),
    f("day_of_month", V, 1, Vector),
    f("day_of_week", V, 1, Vector),
    f("day_of_year", V, 1, Vector),
    f("days_in_month", V, 1, Vector),
    f("deg", V, 0, Vector),
    f("delta", M, 0, Vector),
    f("deriv", M, 0, Vector),
    f(
        "double_exponential_smoothing",
        &[Matrix, Scalar, Scalar],
        0,
        Vector,
    ),
    f("exp", V, 0, Vector),
    f("floor", V, 0, Vector),
    f("histogram_avg", V, 0, Vector),
    f("histogram_count", V, 0, Vector),
    f("histogram_fraction", &[Scalar, Scalar, Vector], 0, Vector),
    f("histogram_quantile", &[Scalar, Vector], 0, Vector),
    f("histogram_stddev", V, 0, Vector),
    f("histogram_stdvar", V, 0, Vector),
    f("histogram_sum", V, 0, Vector),
    f("hour", V, 1, Vector),
    f("idelta", M, 0, Vector),
    f("increase", M, 0, Vector),
    f("irate", M, 0, Vector),
    f("label_join", &[Vector, Str, Str, Str], -1, Vector),
    f("label_replace", &[Vector, Str, Str, Str, Str], 0, Vector),
    f("last_over_time", M, 0, Vector),
    f("ln", V, 0, Vector),
    f("log10", V, 0, Vector),
    f("log2", V, 0, Vector),
    f("mad_over_time", M, 0, Vector),
    f("max_over_time", M, 0, Vector),
    f("min_over_time", M, 0, Vector),
    f("minute", V, 1, Vector),
    f("month", V, 1, Vector),
    f("pi", &[], 0, Scalar),
    f("predict_linear", &[Matrix, Scalar], 0, Vector),
    f("present_over_time", M, 0, Vector),
    f("quantile_over_time", &[Scalar, Matrix], 0, Vector),
    f("rad", V, 0, Vector),
    f("rate", M, 0, Vector),
    f("resets", M, 0, Vector),
    f("round", &[Vector, Scalar], 1, Vector),
    f("scalar", V, 0, Scalar),
    f("sgn", V, 0, Vector),
    f("sin", V, 0, Vector),
    f("sinh", V, 0, Vector),
    f("sort", V, 0, Vector),
    f("sort_by_label", &[Vector, Str], -1, Vector),
    f("sort_by_label_desc", &[Vector, Str], -1, Vector),
    f("sort_desc", V, 0, Vector),
    f("sqrt", V, 0, Vector),
    f("stddev_over_time", M, 0, Vector),
    f("stdvar_over_time", M, 0, Vector),
    f("sum_over_time", M, 0, Vector),
    f("tan", V, 0, Vector),
    f("ts_of_last_over_time", M, 0, Vector),
    f("ts_of_max_over_time", M, 0, Vector),
    f("ts_of_min_over_time", M, 0, Vector),
    f("tanh", V, 0, Vector),
    f("time", &[], 0, Scalar),
    f("timestamp", V, 0, Vector),
    f("vector", &[Scalar], 0, Vector),
    f("year", V, 1, Vector),
];

impl Func {
    /// The function called `name`.
    pub fn lookup(name: &str) -> Option<Func> {
        FUNCS.iter().find(|f| f.name == name).copied()
    }

    /// Whether the function takes a range vector.
    pub(crate) fn takes_matrix(&self) -> bool {
        self.args.contains(&Matrix)
    }
}

/// Neumaier's compensated summation step, as Prometheus' `kahanSumInc`.
pub(crate) fn kahan_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
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

/// A running mean as Prometheus computes `avg` and `avg_over_time`: a compensated sum while it
/// stays finite, then an incremental mean.
#[derive(Default)]
pub(crate) struct Mean {
    count: f64,
    sum: f64,
    c: f64,
    incremental: bool,
    mean: f64,
}

impl Mean {
    pub(crate) fn add(&mut self, v: f64) {
        self.count += 1.0;
        if self.count == 1.0 {
            self.sum = v;
            return;
        }
        if !self.incremental {
            let (s, c) = kahan_inc(v, self.sum, self.c);
            if !s.is_infinite() {
                self.sum = s;
                self.c = c;
                return;
            }
            self.incremental = true;
            self.mean = self.sum / (self.count - 1.0);
            self.c /= self.count - 1.0;
        }
        if self.mean.is_infinite() {
            if v.is_infinite() && (self.mean > 0.0) == (v > 0.0) {
                return;
            }
            if !v.is_infinite() && !v.is_nan() {
                return;
            }
        }
        let current = self.mean + self.c;
        (self.mean, self.c) = kahan_inc(v / self.count - current / self.count, self.mean, self.c);
    }

    pub(crate) fn value(&self) -> f64 {
        if self.incremental {
            self.mean + self.c
        } else {
            (self.sum + self.c) / self.count
        }
    }
}

/// Prometheus' `quantile` over unsorted values (linear interpolation between ranks).
pub(crate) fn quantile(q: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
}

/// Slope and intercept (at `intercept_time`) of the least-squares line, as Prometheus computes.
pub(crate) fn linear_regression(s: &[(Millis, f64)], intercept_time: Millis) -> (f64, f64) {
    let (mut n, mut sx, mut cx, mut sy, mut cy, mut sxy, mut cxy, mut sx2, mut cx2) =
        (0.0f64, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    let init_y = s[0].1;
    let mut const_y = true;
    for (i, &(t, v)) in s.iter().enumerate() {
        if const_y && i > 0 && v != init_y {
            const_y = false;
        }
        n += 1.0;
        let x = (t - intercept_time) as f64 / 1e3;
        (sx, cx) = kahan_inc(x, sx, cx);
        (sy, cy) = kahan_inc(v, sy, cy);
        (sxy, cxy) = kahan_inc(x * v, sxy, cxy);
        (sx2, cx2) = kahan_inc(x * x, sx2, cx2);
    }
    if const_y {
        if init_y.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init_y);
    }
    sx += cx;
    sy += cy;
    sxy += cxy;
    sx2 += cx2;
    let cov = sxy - sx * sy / n;
    let var = sx2 - sx * sx / n;
    let slope = cov / var;
    (slope, sy / n - slope * sx / n)
}

/// `rate`, `increase` (counters) and `delta` (gauges): Prometheus' `extrapolatedRate`.
pub(crate) fn extrapolated_rate(
    s: &[(Millis, f64)],
    range_start: Millis,
    range_end: Millis,
    counter: bool,
    rate: bool,
) -> Option<f64> {
    if s.len() < 2 {
        return None;
    }
    let (t0, v0) = s[0];
    let (tn, vn) = s[s.len() - 1];
    let mut result = vn - v0;
    if counter {
        let mut prev = v0;
        for &(_, v) in &s[1..] {
            if v < prev {
                result += prev;
            }
            prev = v;
        }
    }
    let mut to_start = (t0 - range_start) as f64 / 1000.0;
    let mut to_end = (range_end - tn) as f64 / 1000.0;
    let sampled = (tn - t0) as f64 / 1000.0;
    let avg = sampled / (s.len() - 1) as f64;
    let threshold = avg * 1.1;
    if to_start >= threshold {
        to_start = avg / 2.0;
    }
    if counter && result > 0.0 && v0 >= 0.0 {
        let to_zero = sampled * (v0 / result);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    if to_end >= threshold {
        to_end = avg / 2.0;
    }
    let mut factor = (sampled + to_start + to_end) / sampled;
    if rate {
        factor /= (range_end - range_start) as f64 / 1000.0;
    }
    Some(result * factor)
}

/// `irate` / `idelta`: from the last two samples.
pub(crate) fn instant_value(s: &[(Millis, f64)], rate: bool) -> Option<f64> {
    if s.len() < 2 {
        return None;
    }
    let (tp, vp) = s[s.len() - 2];
    let (tl, vl) = s[s.len() - 1];
    let mut r = if rate && vl < vp { vl } else { vl - vp };
    if rate {
        let dt = tl - tp;
        if dt == 0 {
            return None;
        }
        r /= dt as f64 / 1000.0;
    }
    Some(r)
}

/// Holt's linear smoothing as Prometheus' `double_exponential_smoothing`; `None` with fewer
/// than two samples.
pub(crate) fn double_exponential_smoothing(s: &[(Millis, f64)], sf: f64, tf: f64) -> Option<f64> {
    if s.len() < 2 {
        return None;
    }
    let (mut s0, mut s1) = (0.0f64, s[0].1);
    let mut b = s[1].1 - s[0].1;
    for (i, &(_, v)) in s.iter().enumerate().skip(1) {
        let x = sf * v;
        if i > 1 {
            b = tf * (s1 - s0) + (1.0 - tf) * b;
        }
        let y = (1.0 - sf) * (s1 + b);
        (s0, s1) = (s1, x + y);
    }
    Some(s1)
}

/// `stddev_over_time`'s variance (compensated Welford).
pub(crate) fn variance(values: impl Iterator<Item = f64>) -> f64 {
    let (mut count, mut mean, mut c_mean, mut aux, mut c_aux) = (0.0f64, 0.0, 0.0, 0.0, 0.0);
    for v in values {
        count += 1.0;
        let delta = v - (mean + c_mean);
        (mean, c_mean) = kahan_inc(delta / count, mean, c_mean);
        (aux, c_aux) = kahan_inc(delta * (v - (mean + c_mean)), aux, c_aux);
    }
    (aux + c_aux) / count
}

/// One-argument math functions; `None` when `name` is not one.
pub(crate) fn math(name: &str, v: f64) -> Option<f64> {
    Some(match name {
        "abs" => v.abs(),
        "ceil" => v.ceil(),
        "floor" => v.floor(),
        "exp" => v.exp(),
        "sqrt" => v.sqrt(),
        "ln" => v.ln(),
        "log2" => v.log2(),
        "log10" => v.log10(),
        "sin" => v.sin(),
        "cos" => v.cos(),
        "tan" => v.tan(),
        "asin" => v.asin(),
        "acos" => v.acos(),
        "atan" => v.atan(),
        "sinh" => v.sinh(),
        "cosh" => v.cosh(),
        "tanh" => v.tanh(),
        "asinh" => v.asinh(),
        "acosh" => v.acosh(),
        "atanh" => v.atanh(),
        "deg" => v * 180.0 / std::f64::consts::PI,
        "rad" => v * std::f64::consts::PI / 180.0,
        "sgn" => {
            if v > 0.0 {
                1.0
            } else if v < 0.0 {
                -1.0
            } else {
                v
            }
        }
        _ => return None,
    })
}
