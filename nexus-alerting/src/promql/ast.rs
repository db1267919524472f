//! The PromQL syntax tree.

use std::fmt;

use crate::matcher::Matcher;
use crate::time::Millis;

use super::functions::Func;

/// The type of a PromQL expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    /// A single number.
    Scalar,
    /// A string literal.
    String,
    /// One sample per series.
    Vector,
    /// A range of samples per series.
    Matrix,
}

impl fmt::Display for ValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ValueType::Scalar => "scalar",
            ValueType::String => "string",
            ValueType::Vector => "instant vector",
            ValueType::Matrix => "range vector",
        })
    }
}

/// An `@` modifier.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum At {
    /// `@ <unix seconds>`, in milliseconds.
    Time(Millis),
    /// `@ start()`
    Start,
    /// `@ end()`
    End,
}

/// An instant vector selector: `name{matchers} offset d @ t`.
#[derive(Debug, Clone)]
pub struct VectorSelector {
    /// The metric name, when given outside the braces.
    pub name: Option<String>,
    /// All matchers, including one on `__name__` for the name.
    pub matchers: Vec<Matcher>,
    /// `offset`, in milliseconds (negative allowed).
    pub offset: Millis,
    /// `@`
    pub at: Option<At>,
}

/// A binary operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Mod,
    /// `^`
    Pow,
    /// `atan2`
    Atan2,
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `>`
    Gt,
    /// `<`
    Lt,
    /// `>=`
    Ge,
    /// `<=`
    Le,
    /// `and`
    And,
    /// `or`
    Or,
    /// `unless`
    Unless,
}

impl BinOp {
    /// Whether this is a comparison operator.
    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            Self::Eq | Self::Ne | Self::Gt | Self::Lt | Self::Ge | Self::Le
        )
    }

    /// Whether this is a set operator (`and`, `or`, `unless`).
    pub fn is_set(self) -> bool {
        matches!(self, Self::And | Self::Or | Self::Unless)
    }

    pub(crate) fn precedence(self) -> u8 {
        match self {
            Self::Or => 1,
            Self::And | Self::Unless => 2,
            Self::Eq | Self::Ne | Self::Gt | Self::Lt | Self::Ge | Self::Le => 3,
            Self::Add | Self::Sub => 4,
            Self::Mul | Self::Div | Self::Mod | Self::Atan2 => 5,
            Self::Pow => 6,
        }
    }

    /// The operator's text.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Add => "+",
            Self::Sub => "-",
            Self::Mul => "*",
            Self::Div => "/",
            Self::Mod => "%",
            Self::Pow => "^",
            Self::Atan2 => "atan2",
            Self::Eq => "==",
            Self::Ne => "!=",
            Self::Gt => ">",
            Self::Lt => "<",
            Self::Ge => ">=",
            Self::Le => "<=",
            Self::And => "and",
            Self::Or => "or",
            Self::Unless => "unless",
        }
    }
}

/// Which side of a vector match may have many series per match group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cardinality {
    /// One to one (the default for arithmetic and comparisons).
    OneToOne,
    /// `group_left`
    ManyToOne,
    /// `group_right`
    OneToMany,
    /// Set operators.
    ManyToMany,
}

/// `on`/`ignoring` and `group_left`/`group_right` of a binary operation between vectors.
#[derive(Debug, Clone)]
pub struct VectorMatching {
    /// The match cardinality.
    pub card: Cardinality,
    /// `on(labels)` when true, `ignoring(labels)` when false.
    pub on: bool,
    /// The labels of `on`/`ignoring`.
    pub labels: Vec<String>,
    /// Labels `group_left(...)`/`group_right(...)` copy from the "one" side.
    pub include: Vec<String>,
}

/// An aggregation operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum AggOp {
    Sum,
    Avg,
    Min,
    Max,
    Count,
    Group,
    Stddev,
    Stdvar,
    Topk,
    Bottomk,
    Quantile,
    CountValues,
    Limitk,
    LimitRatio,
}

impl AggOp {
    pub(crate) fn from_name(s: &str) -> Option<Self> {
        Some(match s.to_ascii_lowercase().as_str() {
            "sum" => Self::Sum,
            "avg" => Self::Avg,
            "min" => Self::Min,
            "max" => Self::Max,
            "count" => Self::Count,
            "group" => Self::Group,
            "stddev" => Self::Stddev,
            "stdvar" => Self::Stdvar,
            "topk" => Self::Topk,
            "bottomk" => Self::Bottomk,
            "quantile" => Self::Quantile,
            "count_values" => Self::CountValues,
            "limitk" => Self::Limitk,
            "limit_ratio" => Self::LimitRatio,
            _ => return None,
        })
    }

    /// The operator's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sum => "sum",
            Self::Avg => "avg",
            Self::Min => "min",
            Self::Max => "max",
            Self::Count => "count",
            Self::Group => "group",
            Self::Stddev => "stddev",
            Self::Stdvar => "stdvar",
            Self::Topk => "topk",
            Self::Bottomk => "bottomk",
            Self::Quantile => "quantile",
            Self::CountValues => "count_values",
            Self::Limitk => "limitk",
            Self::LimitRatio => "limit_ratio",
        }
    }

    /// The type of the parameter, if the operator takes one.
    pub(crate) fn param(self) -> Option<ValueType> {
        match self {
            Self::Topk | Self::Bottomk | Self::Quantile | Self::Limitk | Self::LimitRatio => {
                Some(ValueType::Scalar)
            }
            Self::CountValues => Some(ValueType::String),
            _ => None,
        }
    }
}

/// A PromQL expression.
#[derive(Debug, Clone)]
#[allow(missing_docs)]
pub enum Expr {
    /// A number literal.
    Number(f64),
    /// A string literal.
    String(String),
    /// An instant vector selector.
    Selector(VectorSelector),
    /// A range vector selector: `selector[range]`.
    Matrix { vs: VectorSelector, range: Millis },
    /// `expr[range:step] offset d @ t`
    Subquery {
        expr: Box<Expr>,
        range: Millis,
        step: Option<Millis>,
        offset: Millis,
        at: Option<At>,
    },
    /// `( expr )`
    Paren(Box<Expr>),
    /// `-expr` (`+expr` parses to `expr`).
    Neg(Box<Expr>),
    /// A binary operation.
    Binary {
        op: BinOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
        /// Present when both sides are instant vectors.
        matching: Option<VectorMatching>,
        return_bool: bool,
    },
    /// An aggregation.
    Aggregate {
        op: AggOp,
        expr: Box<Expr>,
        param: Option<Box<Expr>>,
        /// `without(...)` when true, `by(...)` when false.
        without: bool,
        grouping: Vec<String>,
    },
    /// A function call.
    Call { func: Func, args: Vec<Expr> },
}

impl Expr {
    /// The expression's type.
    pub fn value_type(&self) -> ValueType {
        match self {
            Expr::Number(_) => ValueType::Scalar,
            Expr::String(_) => ValueType::String,
            Expr::Selector(_) | Expr::Aggregate { .. } => ValueType::Vector,
            Expr::Matrix { .. } | Expr::Subquery { .. } => ValueType::Matrix,
            Expr::Paren(e) | Expr::Neg(e) => e.value_type(),
            Expr::Binary { lhs, rhs, .. } => {
                if lhs.value_type() == ValueType::Scalar && rhs.value_type() == ValueType::Scalar {
                    ValueType::Scalar
                } else {
                    ValueType::Vector
                }
            }
            Expr::Call { func, .. } => func.returns,
        }
    }

    /// Every vector selector in the expression (including those of range selectors).
    pub fn selectors(&self) -> Vec<&VectorSelector> {
        let mut out = Vec::new();
        self.walk(&mut |e| match e {
            Expr::Selector(vs) | Expr::Matrix { vs, .. } => out.push(vs),
            _ => {}
        });
        out
    }

    /// Calls `f` on this expression and every sub-expression, parents first.
    pub fn walk<'a>(&'a self, f: &mut impl FnMut(&'a Expr)) {
        f(self);
        match self {
            Expr::Subquery { expr, .. } | Expr::Paren(expr) | Expr::Neg(expr) => expr.walk(f),
            Expr::Binary { lhs, rhs, .. } => {
                lhs.walk(f);
                rhs.walk(f);
            }
            Expr::Aggregate { expr, param, .. } => {
                if let Some(p) = param {
                    p.walk(f);
                }
                expr.walk(f);
            }
            Expr::Call { args, .. } => args.iter().for_each(|a| a.walk(f)),
            _ => {}
        }
    }
}
