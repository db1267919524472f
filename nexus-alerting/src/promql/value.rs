//! Query results: scalars, strings, instant vectors and range vectors.

use std::fmt;

use crate::labels::{Labels, METRIC_NAME};
use crate::time::Millis;

/// One element of an instant vector.
#[derive(Debug, Clone, PartialEq)]
pub struct Element {
    /// The series' labels.
    pub labels: Labels,
    /// The value.
    pub value: f64,
    /// Prometheus 3's delayed name removal: the name goes when the query ends.
    pub(crate) drop_name: bool,
    /// The store series this element's labels come from (unchanged but for the name).
    pub(crate) id: Option<u32>,
}

impl Element {
    pub(crate) fn new(labels: Labels, value: f64, drop_name: bool) -> Self {
        Self {
            labels,
            value,
            drop_name,
            id: None,
        }
    }
}

/// One series of a range vector.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The series' labels.
    pub labels: Labels,
    /// (timestamp, value), in time order.
    pub points: Vec<(Millis, f64)>,
    pub(crate) drop_name: bool,
    pub(crate) id: Option<u32>,
}

/// A query result.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A number.
    Scalar(f64),
    /// A string.
    String(String),
    /// An instant vector.
    Vector(Vec<Element>),
    /// A range vector (also the result of a range query).
    Matrix(Vec<Series>),
}

/// Labels without `__name__`.
pub(crate) fn without_name(l: &Labels) -> Labels {
    if l.get(METRIC_NAME).is_none() {
        return l.clone();
    }
    let mut l = l.clone();
    l.remove(METRIC_NAME);
    l
}

/// Formats a float as Go's `strconv.FormatFloat(f, 'g', -1, 64)` does for PromQL output
/// (`+Inf`, `-Inf`, `NaN`, shortest round-trip digits).
pub(crate) fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        crate::gofmt::go_g(v, None)
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Scalar(v) => write!(f, "scalar: {}", format_value(*v)),
            Value::String(s) => write!(f, "string: {s:?}"),
            Value::Vector(v) => {
                for e in v {
                    writeln!(f, "{} => {}", e.labels, format_value(e.value))?;
                }
                Ok(())
            }
            Value::Matrix(m) => {
                for s in m {
                    write!(f, "{} =>", s.labels)?;
                    for (t, v) in &s.points {
                        write!(f, " {} @{t}", format_value(*v))?;
                    }
                    writeln!(f)?;
                }
                Ok(())
            }
        }
    }
}
