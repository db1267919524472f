//! The evaluator: instant and range queries over the sample store.

use foldhash::HashMap;

use crate::labels::{Labels, METRIC_NAME};
use crate::matcher::MatchOp;
use crate::store::{Store, instant, window};
use crate::time::Millis;

use super::ast::{At, Expr, ValueType, VectorSelector};
use super::value::{Element, Series, Value, without_name};

/// Info and warning annotations of a query, as Prometheus reports them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Annotations {
    /// Warnings (the result may be wrong).
    pub warnings: Vec<String>,
    /// Information (the query may not mean what was intended).
    pub infos: Vec<String>,
}

impl Annotations {
    pub(crate) fn warn(&mut self, msg: String) {
        if !self.warnings.contains(&msg) {
            self.warnings.push(msg);
        }
    }

    pub(crate) fn info(&mut self, msg: String) {
        if !self.infos.contains(&msg) {
            self.infos.push(msg);
        }
    }
}

/// Most steps one subquery evaluates (Prometheus' limit on points per series of a range query).
pub const MAX_SUBQUERY_STEPS: i64 = 11_000;

/// Why a query failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EvalError {
    /// Two result series have the same labels.
    #[error("vector cannot contain metrics with the same labelset")]
    DuplicateLabelset,
    /// Vector matching found more than one partner.
    #[error("{0}")]
    Matching(String),
    /// A function or operator argument is out of its domain.
    #[error("{0}")]
    InvalidArgument(String),
    /// A subquery would evaluate too many steps.
    #[error(
        "subquery would evaluate {0} steps, more than the limit of {MAX_SUBQUERY_STEPS} (use a larger step)"
    )]
    TooManySteps(i64),
    /// The query would load more samples than allowed.
    #[error("query processing would load too many samples into memory (limit {0})")]
    TooManySamples(usize),
    /// A range query was asked for an expression that is not a scalar or an instant vector.
    #[error("invalid expression type {0:?} for range query, must be Scalar or instant Vector")]
    RangeType(String),
}

/// Evaluates parsed expressions against a store.
///
/// Prometheus 3 semantics by default: range selectors and the 5-minute lookback are left-open
/// (`(t - range, t]`); [`Query::closed_windows`] gives Prometheus 2's closed windows.
#[derive(Debug, Clone)]
pub struct Query {
    pub(crate) lookback: Millis,
    pub(crate) closed: bool,
    pub(crate) sub_step: Millis,
    pub(crate) max_samples: usize,
}

impl Default for Query {
    fn default() -> Self {
        Self {
            lookback: 5 * 60_000,
            closed: false,
            sub_step: 60_000,
            max_samples: 50_000_000,
        }
    }
}

impl Query {
    /// Prometheus 2 windows (`[t - range, t]`), as `promtool` 2.x evaluates.
    pub fn closed_windows(mut self, closed: bool) -> Self {
        self.closed = closed;
        self
    }

    /// The lookback of instant selectors (default 5 minutes).
    pub fn lookback(mut self, ms: Millis) -> Self {
        self.lookback = ms;
        self
    }

    /// The step of subqueries that give none (default 1 minute: the evaluation interval).
    pub fn subquery_step(mut self, ms: Millis) -> Self {
        self.sub_step = ms.max(1);
        self
    }

    /// The most samples one query may hold at once (default 50 million, as Prometheus).
    pub fn max_samples(mut self, n: usize) -> Self {
        self.max_samples = n;
        self
    }

    /// Evaluates `e` at `t`.
    pub(crate) fn instant(
        &self,
        store: &Store,
        e: &Expr,
        t: Millis,
    ) -> Result<(Value, Annotations), EvalError> {
        self.instant_with(store, e, t, Hooks::default())
    }

    /// Evaluates `e` at `t` with the engine's selection cache and anomaly detectors.
    pub(crate) fn instant_with<'a>(
        &'a self,
        store: &'a Store,
        e: &Expr,
        t: Millis,
        hooks: Hooks<'a>,
    ) -> Result<(Value, Annotations), EvalError> {
        let mut ev = Evaluator::new(self, store, t, t);
        ev.hooks = hooks;
        let v = ev.eval(e, t)?;
        let v = finish(v)?;
        Ok((v, ev.ann))
    }

    /// Evaluates `e` at every step from `start` to `end`: a matrix (series sorted by labels).
    pub(crate) fn range(
        &self,
        store: &Store,
        e: &Expr,
        start: Millis,
        end: Millis,
        step: Millis,
    ) -> Result<(Value, Annotations), EvalError> {
        match e.value_type() {
            ValueType::Scalar | ValueType::Vector => {}
            t => return Err(EvalError::RangeType(t.to_string())),
        }
        let mut ev = Evaluator::new(self, store, start, end);
        let mut out: HashMap<Labels, Series> = HashMap::default();
        let mut t = start;
        while t <= end {
            match ev.eval(e, t)? {
                Value::Scalar(v) => out
                    .entry(Labels::new())
                    .or_insert_with(|| Series {
                        labels: Labels::new(),
                        points: Vec::new(),
                        drop_name: false,
                        id: None,
                    })
                    .points
                    .push((t, v)),
                Value::Vector(v) => {
                    for el in v {
                        let s = out.entry(el.labels.clone()).or_insert_with(|| Series {
                            labels: el.labels,
                            points: Vec::new(),
                            drop_name: false,
                            id: None,
                        });
                        s.drop_name |= el.drop_name;
                        s.points.push((t, el.value));
                    }
                }
                _ => {}
            }
            if step <= 0 {
                break;
            }
            t += step;
        }
        let mut m: Vec<Series> = out.into_values().collect();
        m.sort_by(|a, b| a.labels.cmp(&b.labels));
        let v = finish(Value::Matrix(m))?;
        Ok((v, ev.ann))
    }
}

/// Whether two elements have the same labels. Elements that still carry the labels of distinct
/// store series cannot collide; the rest compare by fingerprint, then in full.
fn has_duplicates<'l>(items: impl Iterator<Item = (&'l Labels, Option<u32>)>) -> bool {
    let mut ids = Vec::new();
    let mut others: Vec<(u64, &Labels)> = Vec::new();
    for (l, id) in items {
        match id {
            Some(id) => ids.push(id),
            None => others.push((l.fingerprint(), l)),
        }
    }
    ids.sort_unstable();
    if ids.windows(2).any(|w| w[0] == w[1]) {
        return true;
    }
    if others.is_empty() {
        return false;
    }
    others.sort_unstable_by_key(|o| o.0);
    others
        .windows(2)
        .any(|w| w[0].0 == w[1].0 && w[0].1 == w[1].1)
}

/// Drops names marked for removal and rejects duplicate label sets.
fn finish(v: Value) -> Result<Value, EvalError> {
    match v {
        Value::Vector(mut v) => {
            // An element keeps counting as its store series' only while it keeps the name.
            let unique: Vec<Option<u32>> = v
                .iter()
                .map(|e| {
                    e.id.filter(|_| !e.drop_name || e.labels.get(METRIC_NAME).is_none())
                })
                .collect();
            for e in &mut v {
                if e.drop_name {
                    e.labels = without_name(&e.labels);
                    e.drop_name = false;
                }
            }
            if has_duplicates(v.iter().zip(unique).map(|(e, id)| (&e.labels, id))) {
                return Err(EvalError::DuplicateLabelset);
            }
            Ok(Value::Vector(v))
        }
        Value::Matrix(mut m) => {
            for s in &mut m {
                if s.drop_name {
                    s.labels = without_name(&s.labels);
                    s.drop_name = false;
                }
            }
            if has_duplicates(m.iter().map(|s| (&s.labels, None))) {
                return Err(EvalError::DuplicateLabelset);
            }
            m.sort_by(|a, b| a.labels.cmp(&b.labels));
            Ok(Value::Matrix(m))
        }
        v => Ok(v),
    }
}

/// The series ids each selector of a rule selected, valid while the store's set of series is
/// unchanged (keyed by the selector's address in the rule's syntax tree).
#[derive(Default)]
pub(crate) struct SelectCache {
    generation: u64,
    /// The first selector's entry inline (most rules have one selector: no map probe).
    first: Option<(usize, std::sync::Arc<[u32]>)>,
    rest: HashMap<usize, std::sync::Arc<[u32]>>,
}

impl SelectCache {
    /// The ids `vs` selects in `store`.
    pub(crate) fn get(&mut self, store: &Store, vs: &VectorSelector) -> &std::sync::Arc<[u32]> {
        if self.generation != store.generation {
            self.first = None;
            self.rest.clear();
            self.generation = store.generation;
        }
        let key = vs as *const VectorSelector as usize;
        let select = || -> std::sync::Arc<[u32]> {
            store
                .select_matchers(vs.name.as_deref(), &vs.matchers)
                .into()
        };
        match &mut self.first {
            slot @ None => &slot.insert((key, select())).1,
            Some((k, ids)) if *k == key => ids,
            Some(_) => self.rest.entry(key).or_insert_with(select),
        }
    }
}

/// An anomaly score for a store series at a time (the engine's detectors).
pub(crate) type AnomalyFn<'h> = &'h mut dyn FnMut(&crate::store::Series, Millis) -> Option<f64>;

/// What the rule engine lends an evaluation.
#[derive(Default)]
pub(crate) struct Hooks<'h> {
    pub(crate) cache: Option<&'h mut SelectCache>,
    pub(crate) anomaly: Option<AnomalyFn<'h>>,
}

pub(crate) struct Evaluator<'a> {
    pub(crate) q: &'a Query,
    pub(crate) store: &'a Store,
    start: Millis,
    end: Millis,
    pub(crate) ann: Annotations,
    samples: usize,
    pub(crate) hooks: Hooks<'a>,
}

/// A range vector argument with the bounds of its window.
pub(crate) struct RangeArg {
    pub(crate) series: Vec<Series>,
    pub(crate) start: Millis,
    pub(crate) end: Millis,
}

impl<'a> Evaluator<'a> {
    fn new(q: &'a Query, store: &'a Store, start: Millis, end: Millis) -> Self {
        Self {
            q,
            store,
            start,
            end,
            ann: Annotations::default(),
            samples: 0,
            hooks: Hooks::default(),
        }
    }

    /// The ids of the series `vs` selects (cached across evaluations when the engine lends a
    /// cache).
    pub(crate) fn select(&mut self, vs: &VectorSelector) -> std::sync::Arc<[u32]> {
        match self.hooks.cache.as_deref_mut() {
            Some(cache) => cache.get(self.store, vs).clone(),
            None => self
                .store
                .select_matchers(vs.name.as_deref(), &vs.matchers)
                .into(),
        }
    }

    pub(crate) fn at_time(&self, at: Option<At>, t: Millis) -> Millis {
        match at {
            None => t,
            Some(At::Time(ms)) => ms,
            Some(At::Start) => self.start,
            Some(At::End) => self.end,
        }
    }

    pub(crate) fn count(&mut self, n: usize) -> Result<(), EvalError> {
        self.samples += n;
        if self.samples > self.q.max_samples {
            return Err(EvalError::TooManySamples(self.q.max_samples));
        }
        Ok(())
    }

    pub(crate) fn eval(&mut self, e: &Expr, t: Millis) -> Result<Value, EvalError> {
        Ok(match e {
            Expr::Number(n) => Value::Scalar(*n),
            Expr::String(s) => Value::String(s.clone()),
            Expr::Paren(e) => self.eval(e, t)?,
            Expr::Selector(vs) => Value::Vector(self.select_instant(vs, t)),
            Expr::Matrix { .. } | Expr::Subquery { .. } => {
                Value::Matrix(self.range_arg(e, t)?.series)
            }
            Expr::Neg(inner) => match self.eval(inner, t)? {
                Value::Scalar(v) => Value::Scalar(-v),
                Value::Vector(mut v) => {
                    for el in &mut v {
                        el.value = -el.value;
                        el.drop_name = true;
                    }
                    Value::Vector(v)
                }
                v => v,
            },
            Expr::Binary {
                op,
                lhs,
                rhs,
                matching,
                return_bool,
            } => {
                let l = self.eval(lhs, t)?;
                let r = self.eval(rhs, t)?;
                super::binary::eval(*op, l, r, matching.as_ref(), *return_bool)?
            }
            Expr::Aggregate {
                op,
                expr,
                param,
                without,
                grouping,
            } => {
                let param = match param {
                    Some(p) => Some(self.eval(p, t)?),
                    None => None,
                };
                let Value::Vector(v) = self.eval(expr, t)? else {
                    return Ok(Value::Vector(Vec::new()));
                };
                Value::Vector(super::aggregate::eval(
                    self, *op, v, param, *without, grouping,
                )?)
            }
            Expr::Call { func, args } => super::call::call(self, func, args, t)?,
        })
    }

    pub(crate) fn select_instant(&mut self, vs: &VectorSelector, t: Millis) -> Vec<Element> {
        let ts = self.at_time(vs.at, t) - vs.offset;
        let ids = self.select(vs);
        let mut out = Vec::with_capacity(ids.len());
        for &id in ids.iter() {
            let s = &self.store.series[id as usize];
            if let Some(v) = instant(s, ts, self.q.lookback, self.q.closed) {
                let mut e = Element::new(s.labels.clone(), v, false);
                e.id = Some(id);
                out.push(e);
            }
        }
        out
    }

    /// Evaluates a range-vector expression (a range selector or a subquery, possibly in
    /// parentheses) at `t`.
    pub(crate) fn range_arg(&mut self, e: &Expr, t: Millis) -> Result<RangeArg, EvalError> {
        match e {
            Expr::Paren(inner) => self.range_arg(inner, t),
            Expr::Matrix { vs, range } => {
                let end = self.at_time(vs.at, t) - vs.offset;
                let start = end - range;
                let mut out = Vec::new();
                let mut buf = Vec::new();
                for &id in self.select(vs).iter() {
                    let s = &self.store.series[id as usize];
                    window(&s.samples, end, *range, self.q.closed, &mut buf);
                    if buf.is_empty() {
                        continue;
                    }
                    self.count(buf.len())?;
                    out.push(Series {
                        labels: s.labels.clone(),
                        points: buf.clone(),
                        drop_name: false,
                        id: None,
                    });
                }
                Ok(RangeArg {
                    series: out,
                    start,
                    end,
                })
            }
            Expr::Subquery {
                expr,
                range,
                step,
                offset,
                at,
            } => {
                let end = self.at_time(*at, t) - offset;
                let start = end - range;
                let step = step.unwrap_or(self.q.sub_step);
                // The first step-aligned time after the window's start (Go's truncating division).
                let mut ts = step * (start / step);
                if ts < start || (!self.q.closed && ts == start) {
                    ts += step;
                }
                let steps = (end - ts) / step + 1;
                if steps > MAX_SUBQUERY_STEPS {
                    return Err(EvalError::TooManySteps(steps));
                }
                let mut by_labels: HashMap<Labels, usize> = HashMap::default();
                let mut out: Vec<Series> = Vec::new();
                while ts <= end {
                    if let Value::Vector(v) = self.eval(expr, ts)? {
                        self.count(v.len())?;
                        for el in v {
                            let i = *by_labels.entry(el.labels.clone()).or_insert_with(|| {
                                out.push(Series {
                                    labels: el.labels.clone(),
                                    points: Vec::new(),
                                    drop_name: false,
                                    id: None,
                                });
                                out.len() - 1
                            });
                            out[i].drop_name |= el.drop_name;
                            out[i].points.push((ts, el.value));
                        }
                    }
                    ts += step;
                }
                Ok(RangeArg {
                    series: out,
                    start,
                    end,
                })
            }
            _ => Ok(RangeArg {
                series: Vec::new(),
                start: t,
                end: t,
            }),
        }
    }
}

/// The labels `absent`/`absent_over_time` give: the selector's equality matchers (a label
/// matched more than once is left out), without the name.
pub(crate) fn absent_labels(e: &Expr) -> Labels {
    let vs = match e {
        Expr::Paren(inner) => return absent_labels(inner),
        Expr::Selector(vs) | Expr::Matrix { vs, .. } => vs,
        Expr::Subquery { expr, .. } => return absent_labels(expr),
        _ => return Labels::new(),
    };
    let mut out = Labels::new();
    let mut seen = foldhash::HashSet::default();
    for m in &vs.matchers {
        if m.name() == METRIC_NAME {
            continue;
        }
        if m.op() == MatchOp::Equal && seen.insert(m.name().to_owned()) {
            out.insert(m.name(), m.value());
        } else {
            out.remove(m.name());
        }
    }
    out
}
