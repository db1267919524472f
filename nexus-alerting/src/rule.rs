//! `Rule`: an alerting rule (expression, `for`, `keep_firing_for`, labels, annotations) plus the
//! extensions Prometheus lacks: a clear threshold (hysteresis), severity tiers and a flap policy.

use std::time::Duration;

use crate::error::Error;
use crate::promql::{self, BinOp, Expr, ValueType};
use crate::template::Template;
use crate::time::Millis;

pub use nexus_core::severity::Severity;

/// A comparison operator (of a rule's condition, its tiers and its clear threshold).
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

    fn of(op: BinOp, flipped: bool) -> Option<Self> {
        Some(match (op, flipped) {
            (BinOp::Gt, false) | (BinOp::Lt, true) => CmpOp::Gt,
            (BinOp::Ge, false) | (BinOp::Le, true) => CmpOp::Ge,
            (BinOp::Lt, false) | (BinOp::Gt, true) => CmpOp::Lt,
            (BinOp::Le, false) | (BinOp::Ge, true) => CmpOp::Le,
            (BinOp::Eq, _) => CmpOp::Eq,
            (BinOp::Ne, _) => CmpOp::Ne,
            _ => return None,
        })
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

/// A rule expression's top-level filter against a number (`operand > 0.05`): the engine
/// evaluates the operand and applies the comparison itself, so that tiers and a clear threshold
/// can use the same value. The result is the same as evaluating the whole expression.
#[derive(Debug, Clone)]
pub(crate) struct Condition {
    pub(crate) op: CmpOp,
    pub(crate) threshold: f64,
    pub(crate) operand: Expr,
}

fn condition(e: &Expr) -> Option<Condition> {
    let Expr::Binary {
        op,
        lhs,
        rhs,
        return_bool: false,
        ..
    } = e
    else {
        return None;
    };
    match (lhs.value_type(), strip(rhs), strip(lhs), rhs.value_type()) {
        (ValueType::Vector, Some(n), _, _) => Some(Condition {
            op: CmpOp::of(*op, false)?,
            threshold: n,
            operand: (**lhs).clone(),
        }),
        (_, _, Some(n), ValueType::Vector) => Some(Condition {
            op: CmpOp::of(*op, true)?,
            threshold: n,
            operand: (**rhs).clone(),
        }),
        _ => None,
    }
}

/// A number literal, possibly in parentheses.
fn strip(e: &Expr) -> Option<f64> {
    match e {
        Expr::Number(n) => Some(*n),
        Expr::Paren(inner) => strip(inner),
        _ => None,
    }
}

/// How far back an expression reads, beyond the lookback: its longest range plus offset
/// (subqueries add up).
fn horizon(e: &Expr) -> Millis {
    let mut out: Millis = 0;
    e.walk(&mut |x| {
        let h = match x {
            Expr::Selector(vs) => vs.offset.max(0),
            Expr::Matrix { vs, range } => range + vs.offset.max(0),
            Expr::Subquery {
                expr,
                range,
                offset,
                ..
            } => range + (*offset).max(0) + horizon(expr),
            _ => 0,
        };
        out = out.max(h);
    });
    out
}

/// Flap handling: an alert that starts firing `max_starts` times within `window` is marked
/// flapping and held open until its condition has stayed false for a whole `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlapPolicy {
    /// How many firing starts within `window` make an alert flapping.
    pub max_starts: usize,
    /// The window.
    pub window: Duration,
}

/// An alerting rule.
///
/// ```
/// use nexus_alerting::{Rule, Severity};
/// use std::time::Duration;
/// let rule = Rule::builder("HighLatency", "max_over_time(http_p95_seconds[5m]) > 2")
///     .for_(Duration::from_secs(60))
///     .tier(Severity::Critical, 5.0)        // warning above 2 s, critical above 5 s
///     .severity(Severity::Warning)
///     .annotation("summary", "p95 is {{ $value }}s on {{ $labels.route }}")
///     .build()
///     .unwrap();
/// assert_eq!(rule.name(), "HighLatency");
/// ```
#[derive(Debug, Clone)]
pub struct Rule {
    pub(crate) name: String,
    pub(crate) text: String,
    pub(crate) expr: Expr,
    pub(crate) cond: Option<Condition>,
    pub(crate) horizon: Millis,
    pub(crate) for_: Duration,
    pub(crate) keep_firing_for: Duration,
    pub(crate) labels: Vec<(String, Template)>,
    pub(crate) annotations: Vec<(String, Template)>,
    pub(crate) clear: Option<f64>,
    /// (threshold, severity), in escalating order; empty when the rule has one severity.
    pub(crate) tiers: Vec<(f64, Severity)>,
    pub(crate) flap: Option<FlapPolicy>,
}

impl Rule {
    /// Starts a rule named `name` over `expr` (parsed when `build` is called).
    pub fn builder(name: &str, expr: &str) -> RuleBuilder {
        RuleBuilder {
            name: name.to_owned(),
            expr: expr.to_owned(),
            for_: Duration::ZERO,
            keep_firing_for: Duration::ZERO,
            labels: Vec::new(),
            annotations: Vec::new(),
            clear: None,
            extra_tiers: Vec::new(),
            flap: None,
        }
    }

    /// The alert name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The expression.
    pub fn expr(&self) -> &Expr {
        &self.expr
    }

    /// The expression as written.
    pub fn expr_text(&self) -> &str {
        &self.text
    }

    /// The `for` duration.
    pub fn for_duration(&self) -> Duration {
        self.for_
    }

    /// The `keep_firing_for` duration.
    pub fn keep_firing_for(&self) -> Duration {
        self.keep_firing_for
    }

    /// The severity of the lowest tier (the `severity` label), if set.
    pub fn severity(&self) -> Option<Severity> {
        self.labels
            .iter()
            .find(|(k, _)| k == "severity")
            .and_then(|(_, t)| Severity::parse(t.source()))
    }

    /// The annotation templates.
    pub fn annotations(&self) -> impl Iterator<Item = (&str, &str)> {
        self.annotations
            .iter()
            .map(|(k, t)| (k.as_str(), t.source()))
    }

    /// The label templates.
    pub fn labels(&self) -> impl Iterator<Item = (&str, &str)> {
        self.labels.iter().map(|(k, t)| (k.as_str(), t.source()))
    }

    /// Whether `value` passes the firing condition; with tiers, the severity it reaches.
    pub(crate) fn fires(&self, value: f64, active: bool) -> Option<Option<Severity>> {
        let Some(Condition { op, threshold, .. }) = self.cond else {
            return Some(None);
        };
        let tier = self
            .tiers
            .iter()
            .rev()
            .find(|(t, _)| op.holds(value, *t))
            .map(|(_, s)| *s);
        let base = if active {
            self.clear.unwrap_or(threshold)
        } else {
            threshold
        };
        if op.holds(value, base) || tier.is_some() {
            // Below the first tier but held by hysteresis: the lowest tier's severity.
            Some(tier.or_else(|| self.tiers.first().map(|t| t.1)))
        } else {
            None
        }
    }
}

/// Builds a [`Rule`].
#[derive(Debug, Clone)]
#[must_use]
pub struct RuleBuilder {
    name: String,
    expr: String,
    for_: Duration,
    keep_firing_for: Duration,
    labels: Vec<(String, String)>,
    annotations: Vec<(String, String)>,
    clear: Option<f64>,
    extra_tiers: Vec<(Severity, f64)>,
    flap: Option<FlapPolicy>,
}

impl RuleBuilder {
    /// Pending time before firing (Prometheus `for`; default 0: fire at the first evaluation).
    pub fn for_(mut self, d: Duration) -> Self {
        self.for_ = d;
        self
    }

    /// Keep firing this long after the condition clears (Prometheus `keep_firing_for`).
    pub fn keep_firing_for(mut self, d: Duration) -> Self {
        self.keep_firing_for = d;
        self
    }

    /// Adds a label (a template: `{{ $labels.x }}` and `{{ $value }}` work).
    pub fn label(mut self, k: &str, v: &str) -> Self {
        self.labels.retain(|(n, _)| n != k);
        self.labels.push((k.to_owned(), v.to_owned()));
        self
    }

    /// Sets the `severity` label (the lowest tier when tiers are added).
    pub fn severity(self, s: Severity) -> Self {
        self.label("severity", s.as_str())
    }

    /// Adds an annotation template.
    pub fn annotation(mut self, k: &str, v: &str) -> Self {
        self.annotations.retain(|(n, _)| n != k);
        self.annotations.push((k.to_owned(), v.to_owned()));
        self
    }

    /// Hysteresis: once active, the alert stays active while the value passes the comparison
    /// against `threshold` instead of the firing threshold (`> 0.05` fires, `clear_at(0.03)`
    /// resolves only below 0.03).
    pub fn clear_at(mut self, threshold: f64) -> Self {
        self.clear = Some(threshold);
        self
    }

    /// A higher tier: past `threshold` (same comparison as the expression) the alert's severity
    /// becomes `severity`, in place — no resolve and re-fire.
    pub fn tier(mut self, severity: Severity, threshold: f64) -> Self {
        self.extra_tiers.push((severity, threshold));
        self
    }

    /// Marks and holds flapping alerts (see [`FlapPolicy`]).
    pub fn flap(mut self, max_starts: usize, window: Duration) -> Self {
        self.flap = Some(FlapPolicy { max_starts, window });
        self
    }

    /// Validates and builds.
    pub fn build(self) -> Result<Rule, Error> {
        let bad = |m: String| Error::Rule {
            rule: self.name.clone(),
            message: m,
        };
        if self.name.is_empty()
            || !crate::matcher::is_label_name(&self.name.replace([':', '-', '.'], "_"))
        {
            return Err(bad(format!("invalid alert name {:?}", self.name)));
        }
        let expr = promql::parse(&self.expr)
            .map_err(|e| bad(format!("expression {:?}: {}", self.expr, e)))?;
        if matches!(expr.value_type(), ValueType::String | ValueType::Matrix) {
            return Err(bad(format!(
                "expression {:?}: an alerting rule needs an instant vector or a scalar, not a {}",
                self.expr,
                expr.value_type()
            )));
        }
        let cond = condition(&expr);
        let tpl =
            |pairs: Vec<(String, String)>, what: &str| -> Result<Vec<(String, Template)>, Error> {
                pairs
                    .into_iter()
                    .map(|(k, v)| {
                        if !crate::matcher::is_label_name(&k) {
                            return Err(bad(format!("invalid {what} name {k:?}")));
                        }
                        let t = Template::parse(&v).map_err(|e| {
                            bad(format!(
                                "{what} {k:?}: template at offset {}: {}",
                                e.offset, e.message
                            ))
                        })?;
                        Ok((k, t))
                    })
                    .collect()
            };
        let labels = tpl(self.labels.clone(), "label")?;
        let annotations = tpl(self.annotations.clone(), "annotation")?;
        let mut tiers = Vec::new();
        if !self.extra_tiers.is_empty() {
            let Some(Condition { op, threshold, .. }) = cond else {
                return Err(bad("tiers need a comparison in the expression".into()));
            };
            if matches!(op, CmpOp::Eq | CmpOp::Ne) {
                return Err(bad(
                    "tiers need an ordering comparison (>, >=, <, <=)".into()
                ));
            }
            let base = labels
                .iter()
                .find(|(k, _)| k == "severity")
                .and_then(|(_, t)| Severity::parse(t.source()))
                .unwrap_or(Severity::Warning);
            tiers.push((threshold, base));
            for (s, t) in &self.extra_tiers {
                let (prev_t, prev_s) = tiers[tiers.len() - 1];
                if *s <= prev_s || !op.holds(*t, prev_t) || *t == prev_t {
                    return Err(bad(format!(
                        "tier {s} at {t} must be more severe and further past the threshold than {prev_s} at {prev_t}"
                    )));
                }
                tiers.push((*t, *s));
            }
        }
        if let Some(c) = self.clear {
            let Some(Condition { op, threshold, .. }) = cond else {
                return Err(bad(
                    "a clear threshold needs a comparison in the expression".into(),
                ));
            };
            if matches!(op, CmpOp::Eq | CmpOp::Ne) || (c != threshold && op.holds(c, threshold)) {
                return Err(bad(format!(
                    "clear threshold {c} must be on the other side of the firing threshold {threshold} ({})",
                    op.as_str()
                )));
            }
        }
        if let Some(f) = self.flap
            && (f.max_starts < 2 || f.window.is_zero())
        {
            return Err(bad(
                "flap policy needs max_starts >= 2 and a non-zero window".into(),
            ));
        }
        Ok(Rule {
            name: self.name,
            horizon: horizon(&expr),
            text: self.expr,
            expr,
            cond,
            for_: self.for_,
            keep_firing_for: self.keep_firing_for,
            labels,
            annotations,
            clear: self.clear,
            tiers,
            flap: self.flap,
        })
    }
}

/// Rules evaluated together at one interval (a Prometheus rule group).
#[derive(Debug, Clone)]
pub struct RuleGroup {
    /// The group's name.
    pub name: String,
    /// Its evaluation interval (`None`: the engine's).
    pub interval: Option<Duration>,
    /// Its rules, in order.
    pub rules: Vec<Rule>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers_and_hysteresis() {
        let r = Rule::builder("Lat", "x > 2")
            .severity(Severity::Warning)
            .tier(Severity::Critical, 5.0)
            .clear_at(1.5)
            .build()
            .unwrap();
        assert_eq!(r.fires(1.0, false), None);
        assert_eq!(r.fires(3.0, false), Some(Some(Severity::Warning)));
        assert_eq!(r.fires(6.0, false), Some(Some(Severity::Critical)));
        assert_eq!(r.fires(1.8, false), None);
        assert_eq!(r.fires(1.8, true), Some(Some(Severity::Warning)));
        assert!(Rule::builder("a", "x > 2").clear_at(3.0).build().is_err());
        assert!(
            Rule::builder("a", "x > 2")
                .tier(Severity::Critical, 1.0)
                .build()
                .is_err()
        );
        assert!(
            Rule::builder("a", "x")
                .tier(Severity::Critical, 1.0)
                .build()
                .is_err()
        );
        assert!(Rule::builder("a", "x < 0.8").clear_at(0.85).build().is_ok());
    }

    #[test]
    fn bad_templates_are_rejected() {
        let e = Rule::builder("a", "x > 1")
            .annotation("s", "{{ .Foo }}")
            .build()
            .unwrap_err();
        assert!(e.to_string().contains("annotation \"s\""), "{e}");
    }
}
