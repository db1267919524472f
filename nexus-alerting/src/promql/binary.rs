//! Binary operators: arithmetic, comparisons and set operators, with vector matching.

use foldhash::HashSet;

use crate::labels::{Labels, METRIC_NAME};

use super::ast::{BinOp, Cardinality, VectorMatching};
use super::eval::EvalError;
use super::group::Grouper;
use super::value::{Element, Value};

/// `lhs op rhs` on floats: the value and whether a comparison holds.
pub(crate) fn scalar_op(op: BinOp, l: f64, r: f64) -> (f64, bool) {
    match op {
        BinOp::Add => (l + r, true),
        BinOp::Sub => (l - r, true),
        BinOp::Mul => (l * r, true),
        BinOp::Div => (l / r, true),
        BinOp::Mod => (l % r, true),
        BinOp::Pow => (l.powf(r), true),
        BinOp::Atan2 => (l.atan2(r), true),
        BinOp::Eq => (l, l == r),
        BinOp::Ne => (l, l != r),
        BinOp::Gt => (l, l > r),
        BinOp::Lt => (l, l < r),
        BinOp::Ge => (l, l >= r),
        BinOp::Le => (l, l <= r),
        BinOp::And | BinOp::Or | BinOp::Unless => (f64::NAN, false),
    }
}

fn drops_name(op: BinOp) -> bool {
    !op.is_comparison() && !op.is_set()
}

pub(crate) fn eval(
    op: BinOp,
    l: Value,
    r: Value,
    matching: Option<&VectorMatching>,
    return_bool: bool,
) -> Result<Value, EvalError> {
    Ok(match (l, r) {
        (Value::Scalar(a), Value::Scalar(b)) => {
            let (v, keep) = scalar_op(op, a, b);
            Value::Scalar(if op.is_comparison() {
                if keep { 1.0 } else { 0.0 }
            } else {
                v
            })
        }
        (Value::Vector(v), Value::Scalar(s)) => {
            Value::Vector(vector_scalar(op, v, s, false, return_bool))
        }
        (Value::Scalar(s), Value::Vector(v)) => {
            Value::Vector(vector_scalar(op, v, s, true, return_bool))
        }
        (Value::Vector(a), Value::Vector(b)) => {
            let default = VectorMatching {
                card: if op.is_set() {
                    Cardinality::ManyToMany
                } else {
                    Cardinality::OneToOne
                },
                on: false,
                labels: Vec::new(),
                include: Vec::new(),
            };
            let m = matching.unwrap_or(&default);
            Value::Vector(match op {
                BinOp::And => and_unless(a, b, m, true),
                BinOp::Unless => and_unless(a, b, m, false),
                BinOp::Or => or(a, b, m),
                _ => vector_vector(op, a, b, m, return_bool)?,
            })
        }
        (l, _) => l,
    })
}

fn vector_scalar(
    op: BinOp,
    v: Vec<Element>,
    s: f64,
    swap: bool,
    return_bool: bool,
) -> Vec<Element> {
    let mut out = Vec::with_capacity(v.len());
    for mut el in v {
        let (l, r) = if swap { (s, el.value) } else { (el.value, s) };
        let (mut value, mut keep) = scalar_op(op, l, r);
        if op.is_comparison() && swap {
            value = r;
        }
        if return_bool {
            value = if keep { 1.0 } else { 0.0 };
            keep = true;
        }
        if keep {
            el.value = value;
            if drops_name(op) || return_bool {
                el.drop_name = true;
            }
            out.push(el);
        }
    }
    out
}

/// Which labels make the match signature: the `on` labels, or every label but the `ignoring`
/// ones and the name.
fn sig_keep(m: &VectorMatching) -> impl Fn(&str) -> bool + '_ {
    move |k: &str| {
        let listed = m.labels.iter().any(|n| n == k);
        if m.on {
            listed
        } else {
            k != METRIC_NAME && !listed
        }
    }
}

fn and_unless(a: Vec<Element>, b: Vec<Element>, m: &VectorMatching, and: bool) -> Vec<Element> {
    let mut right = Grouper::new(sig_keep(m));
    for e in &b {
        right.group(&e.labels);
    }
    a.into_iter()
        .filter(|e| right.find(&e.labels).is_some() == and)
        .collect()
}

fn or(a: Vec<Element>, b: Vec<Element>, m: &VectorMatching) -> Vec<Element> {
    let mut left = Grouper::new(sig_keep(m));
    for e in &a {
        left.group(&e.labels);
    }
    let mut out = a;
    out.extend(b.into_iter().filter(|e| left.find(&e.labels).is_none()));
    out
}

fn vector_vector(
    op: BinOp,
    a: Vec<Element>,
    b: Vec<Element>,
    m: &VectorMatching,
    return_bool: bool,
) -> Result<Vec<Element>, EvalError> {
    if a.is_empty() || b.is_empty() {
        return Ok(Vec::new());
    }
    let swap = m.card == Cardinality::OneToMany;
    let (many, one) = if swap { (b, a) } else { (a, b) };
    // The "one" side: one element per signature.
    let mut sigs = Grouper::new(sig_keep(m));
    let mut one_of: Vec<usize> = Vec::with_capacity(one.len());
    for (k, e) in one.iter().enumerate() {
        let (g, new) = sigs.group(&e.labels);
        if !new {
            let side = if swap { "left" } else { "right" };
            return Err(EvalError::Matching(format!(
                "found duplicate series for the match group {} on the {side} hand-side of the operation: [{}, {}];many-to-many matching not allowed: matching labels must be unique on one side",
                sigs.keys[g], one[one_of[g]].labels, e.labels
            )));
        }
        one_of.push(k);
    }
    // Per signature: whether matched (one-to-one), or the result label sets (many-to-one).
    let mut matched: Vec<bool> = vec![false; one.len()];
    let mut inserted: HashSet<Labels> = HashSet::default();
    let mut out = Vec::new();
    for e in &many {
        let Some(g) = sigs.find(&e.labels) else {
            continue;
        };
        let r = &one[one_of[g]];
        let (l, rv) = if swap {
            (r.value, e.value)
        } else {
            (e.value, r.value)
        };
        let (mut value, mut keep) = scalar_op(op, l, rv);
        if return_bool {
            value = if keep { 1.0 } else { 0.0 };
            keep = true;
        }
        if !keep {
            continue;
        }
        let labels = result_labels(&e.labels, &r.labels, m);
        if m.card == Cardinality::OneToOne {
            if std::mem::replace(&mut matched[g], true) {
                return Err(EvalError::Matching(
                    "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)".into(),
                ));
            }
        } else if !inserted.insert(labels.clone()) {
            return Err(EvalError::Matching(
                "multiple matches for labels: grouping labels must ensure unique matches".into(),
            ));
        }
        let drop_name = return_bool || drops_name(op) || e.drop_name;
        out.push(Element::new(labels, value, drop_name));
    }
    Ok(out)
}

fn result_labels(many: &Labels, one: &Labels, m: &VectorMatching) -> Labels {
    let mut l = many.clone();
    if m.card == Cardinality::OneToOne {
        if m.on {
            l = Labels::from_pairs(many.iter().filter(|(k, _)| m.labels.iter().any(|n| n == k)));
        } else {
            for n in &m.labels {
                l.remove(n);
            }
        }
    }
    for n in &m.include {
        match one.get(n) {
            Some(v) => l.insert(n.as_str(), v),
            None => {
                l.remove(n);
            }
        }
    }
    l
}
