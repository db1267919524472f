//! PromQL for float samples: the language Prometheus 3 documents, evaluated over this crate's
//! sample store.
//!
//! ```
//! use nexus_alerting::promql;
//! let e = promql::parse(r#"sum by (route) (rate(http_requests_total{code=~"5.."}[5m])) > 0.1"#).unwrap();
//! assert_eq!(e.value_type(), promql::ValueType::Vector);
//! let err = promql::parse("sum(rate(x[5m]) by (a)").unwrap_err();
//! assert_eq!((err.line, err.column), (1, 17));
//! assert_eq!(err.to_string(), r#"1:17: parse error: unexpected identifier "by", expected "," or ")""#);
//! ```

use std::fmt;

mod aggregate;
mod ast;
mod binary;
mod call;
mod eval;
mod functions;
mod group;
mod histogram;
mod lex;
mod parse;
#[cfg(test)]
mod tests;
mod value;

pub use ast::{AggOp, At, BinOp, Cardinality, Expr, ValueType, VectorMatching, VectorSelector};
pub use eval::{Annotations, EvalError, MAX_SUBQUERY_STEPS, Query};
pub(crate) use eval::{Hooks, SelectCache};
pub use functions::Func;
pub use value::{Element, Series, Value};

/// Prometheus' test comparison: equal within a relative error of 1e-6 (NaN equals NaN).
pub(crate) fn almost_equal(a: f64, b: f64) -> bool {
    histogram::almost_equal(a, b, 1e-6)
}

/// A quoted string (Go's escapes) at the start of `s`: (value, bytes used).
pub(crate) fn unquote_prefix(s: &str) -> Result<(String, usize), String> {
    lex::unquote(s)
}

/// A quoted PromQL string's value.
pub(crate) fn unquote_str(s: &str) -> Option<String> {
    lex::unquote(s).ok().map(|(v, _)| v)
}

/// Parses a PromQL expression, with Prometheus' type checks.
pub fn parse(src: &str) -> Result<Expr, ParseError> {
    parse::parse(src)
}

/// A parse error with the 1-based line and column where it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub column: usize,
    /// What is wrong.
    pub message: String,
    /// Byte offset in the expression.
    pub(crate) offset: usize,
}

impl ParseError {
    pub(crate) fn at(src: &str, offset: usize, message: String) -> Self {
        let before = &src[..offset.min(src.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        Self {
            line,
            column,
            message,
            offset: offset.min(src.len()),
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: parse error: {}",
            self.line, self.column, self.message
        )
    }
}

impl std::error::Error for ParseError {}
