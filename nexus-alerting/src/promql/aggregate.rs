//! Aggregation operators with `by`/`without`.

use foldhash::HashMap;

use crate::labels::{Labels, METRIC_NAME};

use super::ast::AggOp;
use super::eval::{EvalError, Evaluator};
use super::functions::{Mean, kahan_inc, quantile};
use super::group::Grouper;
use super::value::{Element, Value};

/// Which labels make an element's group: `by` keeps the listed ones, `without` all but the
/// listed ones and the name.
fn group_keep(without: bool, grouping: &[String]) -> impl Fn(&str) -> bool + '_ {
    move |k: &str| {
        let listed = grouping.iter().any(|g| g == k);
        if without {
            k != METRIC_NAME && !listed
        } else {
            listed
        }
    }
}

fn group_labels(l: &Labels, without: bool, grouping: &[String]) -> Labels {
    l.subset(group_keep(without, grouping))
}

/// `k` of `topk`/`bottomk`/`limitk`, as Prometheus converts it.
fn param_k(v: Option<&Value>, op: AggOp) -> Result<i64, EvalError> {
    let f = match v {
        Some(Value::Scalar(f)) => *f,
        _ => 0.0,
    };
    if !(-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&f) {
        return Err(EvalError::InvalidArgument(format!(
            "Scalar value {} overflows int64 in {}",
            super::value::format_value(f),
            op.name()
        )));
    }
    Ok(f as i64)
}

pub(crate) fn eval(
    ev: &mut Evaluator<'_>,
    op: AggOp,
    v: Vec<Element>,
    param: Option<Value>,
    without: bool,
    grouping: &[String],
) -> Result<Vec<Element>, EvalError> {
    match op {
        AggOp::Topk | AggOp::Bottomk | AggOp::Limitk => {
            let k = param_k(param.as_ref(), op)?;
            return Ok(select_k(op, v, k, without, grouping));
        }
        AggOp::LimitRatio => {
            let mut r = match param {
                Some(Value::Scalar(f)) => f,
                _ => 0.0,
            };
            if r.is_nan() {
                return Err(EvalError::InvalidArgument(
                    "Ratio value is NaN in limit_ratio".into(),
                ));
            }
            if !(-1.0..=1.0).contains(&r) {
                let capped = r.clamp(-1.0, 1.0);
                ev.ann.warn(format!(
                    "PromQL warning: ratio value should be between -1 and 1, got {}, capping to {}",
                    super::value::format_value(r),
                    super::value::format_value(capped)
                ));
                r = capped;
            }
            return Ok(v
                .into_iter()
                .filter(|e| {
                    let offset = label_hash(&e.labels) as f64 / u64::MAX as f64;
                    (r >= 0.0 && offset < r) || (r < 0.0 && offset >= 1.0 + r)
                })
                .collect());
        }
        AggOp::CountValues => {
            let Some(Value::String(name)) = param else {
                return Ok(Vec::new());
            };
            if name.is_empty() || name.contains('\u{fffd}') {
                return Err(EvalError::InvalidArgument(format!(
                    "invalid label name {name:?}"
                )));
            }
            let mut order: Vec<Labels> = Vec::new();
            let mut counts: HashMap<Labels, f64> = HashMap::default();
            for e in v {
                let mut l = group_labels(&e.labels, without, grouping);
                l.insert(name.as_str(), format_f(e.value));
                let c = counts.entry(l.clone()).or_insert_with(|| {
                    order.push(l);
                    0.0
                });
                *c += 1.0;
            }
            return Ok(order
                .into_iter()
                .map(|l| {
                    let c = counts[&l];
                    Element::new(l, c, false)
                })
                .collect());
        }
        AggOp::Quantile => {
            if let Some(Value::Scalar(q)) = &param
                && !(0.0..=1.0).contains(q)
            {
                ev.ann.warn(format!(
                    "PromQL warning: quantile value should be between 0 and 1, got {}",
                    super::value::format_value(*q)
                ));
            }
        }
        _ => {}
    }
    struct Group {
        drop_name: bool,
        values: Vec<f64>,
    }
    let mut order: Vec<Group> = Vec::new();
    let mut groups = Grouper::new(group_keep(without, grouping));
    for e in v {
        let (i, new) = groups.group(&e.labels);
        if new {
            order.push(Group {
                drop_name: e.drop_name,
                values: Vec::new(),
            });
        }
        order[i].values.push(e.value);
    }
    let q = match param {
        Some(Value::Scalar(q)) => q,
        _ => 0.0,
    };
    Ok(order
        .into_iter()
        .zip(groups.keys)
        .map(|(g, labels)| {
            let vals = g.values;
            let first = vals[0];
            let value = match op {
                AggOp::Sum => {
                    let (mut s, mut c) = (first, 0.0);
                    for &x in &vals[1..] {
                        (s, c) = kahan_inc(x, s, c);
                    }
                    s + c
                }
                AggOp::Avg => {
                    let mut m = Mean::default();
                    vals.iter().for_each(|&x| m.add(x));
                    m.value()
                }
                AggOp::Count => vals.len() as f64,
                AggOp::Group => 1.0,
                AggOp::Max => vals[1..]
                    .iter()
                    .fold(first, |m, &x| if m < x || m.is_nan() { x } else { m }),
                AggOp::Min => vals[1..]
                    .iter()
                    .fold(first, |m, &x| if m > x || m.is_nan() { x } else { m }),
                AggOp::Stddev | AggOp::Stdvar if vals.iter().any(|v| !v.is_finite()) => f64::NAN,
                AggOp::Stddev | AggOp::Stdvar => {
                    let (mut n, mut mean, mut var) = (1.0f64, first, 0.0f64);
                    for &x in &vals[1..] {
                        n += 1.0;
                        let delta = x - mean;
                        mean += delta / n;
                        var += delta * (x - mean);
                    }
                    let var = var / n;
                    if op == AggOp::Stddev { var.sqrt() } else { var }
                }
                AggOp::Quantile => {
                    let mut vals = vals;
                    quantile(q, &mut vals)
                }
                _ => f64::NAN,
            };
            Element::new(labels, value, g.drop_name)
        })
        .collect())
}

/// `topk`, `bottomk` (ordered by value, NaN last) and `limitk` (input order): at most `k` of each
/// group, groups in order of first appearance.
fn select_k(
    op: AggOp,
    v: Vec<Element>,
    k: i64,
    without: bool,
    grouping: &[String],
) -> Vec<Element> {
    if k < 1 {
        return Vec::new();
    }
    let mut groups: Vec<Vec<Element>> = Vec::new();
    let mut index = Grouper::new(group_keep(without, grouping));
    for e in v {
        let (i, new) = index.group(&e.labels);
        if new {
            groups.push(Vec::new());
        }
        groups[i].push(e);
    }
    let k = usize::try_from(k).unwrap_or(usize::MAX);
    let mut out = Vec::new();
    for mut g in groups {
        match op {
            AggOp::Topk => g.sort_by(|a, b| by_value_desc(a.value, b.value)),
            AggOp::Bottomk => g.sort_by(|a, b| by_value(a.value, b.value)),
            _ => {}
        }
        g.truncate(k);
        out.extend(g);
    }
    out
}

/// Ascending with NaN after every number.
fn by_value(a: f64, b: f64) -> std::cmp::Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Greater,
        (false, true) => std::cmp::Ordering::Less,
        _ => a.partial_cmp(&b).unwrap_or(std::cmp::Ordering::Equal),
    }
}

/// Descending with NaN after every number.
fn by_value_desc(a: f64, b: f64) -> std::cmp::Ordering {
    match (a.is_nan(), b.is_nan()) {
        (false, false) => b.partial_cmp(&a).unwrap_or(std::cmp::Ordering::Equal),
        _ => by_value(a, b),
    }
}

/// Go's `strconv.FormatFloat(v, 'f', -1, 64)`.
pub(crate) fn format_f(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        format!("{v}")
    }
}

/// Prometheus' `labels.Hash()`: xxHash64 of `name\xffvalue\xff…`.
pub(crate) fn label_hash(l: &Labels) -> u64 {
    let mut b = Vec::with_capacity(128);
    for (k, v) in l.iter() {
        b.extend_from_slice(k.as_bytes());
        b.push(0xff);
        b.extend_from_slice(v.as_bytes());
        b.push(0xff);
    }
    xxh64(&b)
}

const P1: u64 = 11_400_714_785_074_694_791;
const P2: u64 = 14_029_467_366_897_019_727;
const P3: u64 = 1_609_587_929_392_839_161;
const P4: u64 = 9_650_029_242_287_828_579;
const P5: u64 = 2_870_177_450_012_600_261;

fn round(acc: u64, input: u64) -> u64 {
    acc.wrapping_add(input.wrapping_mul(P2))
        .rotate_left(31)
        .wrapping_mul(P1)
}

fn merge(acc: u64, val: u64) -> u64 {
    (acc ^ round(0, val)).wrapping_mul(P1).wrapping_add(P4)
}

fn read64(d: &[u8], i: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&d[i..i + 8]);
    u64::from_le_bytes(a)
}

/// xxHash64 with seed 0.
fn xxh64(d: &[u8]) -> u64 {
    let len = d.len();
    let mut i = 0;
    let mut h = if len >= 32 {
        let (mut v1, mut v2, mut v3, mut v4) =
            (P1.wrapping_add(P2), P2, 0u64, 0u64.wrapping_sub(P1));
        while i + 32 <= len {
            v1 = round(v1, read64(d, i));
            v2 = round(v2, read64(d, i + 8));
            v3 = round(v3, read64(d, i + 16));
            v4 = round(v4, read64(d, i + 24));
            i += 32;
        }
        let mut h = v1
            .rotate_left(1)
            .wrapping_add(v2.rotate_left(7))
            .wrapping_add(v3.rotate_left(12))
            .wrapping_add(v4.rotate_left(18));
        h = merge(h, v1);
        h = merge(h, v2);
        h = merge(h, v3);
        merge(h, v4)
    } else {
        P5
    };
    h = h.wrapping_add(len as u64);
    while i + 8 <= len {
        h ^= round(0, read64(d, i));
        h = h.rotate_left(27).wrapping_mul(P1).wrapping_add(P4);
        i += 8;
    }
    if i + 4 <= len {
        let mut a = [0u8; 4];
        a.copy_from_slice(&d[i..i + 4]);
        h ^= u64::from(u32::from_le_bytes(a)).wrapping_mul(P1);
        h = h.rotate_left(23).wrapping_mul(P2).wrapping_add(P3);
        i += 4;
    }
    while i < len {
        h ^= u64::from(d[i]).wrapping_mul(P5);
        h = h.rotate_left(11).wrapping_mul(P1);
        i += 1;
    }
    h ^= h >> 33;
    h = h.wrapping_mul(P2);
    h ^= h >> 29;
    h = h.wrapping_mul(P3);
    h ^ (h >> 32)
}

#[cfg(test)]
mod tests {
    #[test]
    fn xxhash64_known_values() {
        assert_eq!(super::xxh64(b""), 0xef46db3751d8e999);
        assert_eq!(super::xxh64(b"a"), 0xd24ec4f1a98c6e5b);
        assert_eq!(
            super::xxh64(b"Nobody inspects the spammish repetition"),
            0xfbcea83c8a378bf1
        );
    }
}
