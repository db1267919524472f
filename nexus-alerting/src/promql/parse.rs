//! The PromQL parser: precedence climbing over the lexer's tokens, with Prometheus' type checks.

use crate::labels::METRIC_NAME;
use crate::matcher::{MatchOp, Matcher};

use super::ParseError;
use super::ast::{AggOp, At, BinOp, Cardinality, Expr, ValueType, VectorMatching, VectorSelector};
use super::functions::Func;
use super::lex::{Tok, lex};

/// Deepest nesting accepted (a guard against stack exhaustion on hostile input).
const MAX_DEPTH: usize = 256;

pub(crate) struct Parser<'a> {
    src: &'a str,
    toks: Vec<(Tok, usize)>,
    pos: usize,
    depth: usize,
}

/// Parses a whole expression.
pub(crate) fn parse(src: &str) -> Result<Expr, ParseError> {
    let mut p = Parser {
        src,
        toks: lex(src)?,
        pos: 0,
        depth: 0,
    };
    if p.peek() == &Tok::Eof {
        return Err(p.err_here("no expression found in input"));
    }
    let e = p.expr(0)?;
    if p.peek() != &Tok::Eof {
        return Err(p.unexpected("end of input"));
    }
    Ok(e)
}

fn binop(t: &Tok) -> Option<BinOp> {
    Some(match t {
        Tok::Op("+") => BinOp::Add,
        Tok::Op("-") => BinOp::Sub,
        Tok::Op("*") => BinOp::Mul,
        Tok::Op("/") => BinOp::Div,
        Tok::Op("%") => BinOp::Mod,
        Tok::Op("^") => BinOp::Pow,
        Tok::Op("==") => BinOp::Eq,
        Tok::Op("!=") => BinOp::Ne,
        Tok::Op(">") => BinOp::Gt,
        Tok::Op("<") => BinOp::Lt,
        Tok::Op(">=") => BinOp::Ge,
        Tok::Op("<=") => BinOp::Le,
        Tok::Ident(s) => match s.to_ascii_lowercase().as_str() {
            "and" => BinOp::And,
            "or" => BinOp::Or,
            "unless" => BinOp::Unless,
            "atan2" => BinOp::Atan2,
            _ => return None,
        },
        _ => return None,
    })
}

fn is_kw(t: &Tok, kw: &str) -> bool {
    matches!(t, Tok::Ident(s) if s.eq_ignore_ascii_case(kw))
}

impl Parser<'_> {
    fn peek(&self) -> &Tok {
        &self.toks[self.pos].0
    }

    fn offset(&self) -> usize {
        self.toks[self.pos].1
    }

    fn next(&mut self) -> Tok {
        let t = self.toks[self.pos].0.clone();
        if self.pos < self.toks.len() - 1 {
            self.pos += 1;
        }
        t
    }

    fn err_at(&self, at: usize, msg: impl Into<String>) -> ParseError {
        ParseError::at(self.src, at, msg.into())
    }

    fn err_here(&self, msg: impl Into<String>) -> ParseError {
        self.err_at(self.offset(), msg)
    }

    fn unexpected(&self, wanted: &str) -> ParseError {
        self.err_here(format!(
            "unexpected {}, expected {wanted}",
            self.peek().describe()
        ))
    }

    fn expect(&mut self, t: Tok, wanted: &str) -> Result<(), ParseError> {
        if *self.peek() == t {
            self.next();
            Ok(())
        } else {
            Err(self.unexpected(wanted))
        }
    }

    fn expr(&mut self, min_prec: u8) -> Result<Expr, ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err_here(format!("expression nested more than {MAX_DEPTH} deep")));
        }
        let mut lhs = self.unary()?;
        while let Some(op) = binop(self.peek()) {
            let prec = op.precedence();
            if prec < min_prec {
                break;
            }
            let at = self.offset();
            self.next();
            let (return_bool, matching) = self.bin_modifiers(op)?;
            let rhs = self.expr(if op == BinOp::Pow { prec } else { prec + 1 })?;
            lhs = self.binary(at, op, lhs, rhs, return_bool, matching)?;
        }
        self.depth -= 1;
        Ok(lhs)
    }

    fn unary(&mut self) -> Result<Expr, ParseError> {
        let neg = match self.peek() {
            Tok::Op("-") => true,
            Tok::Op("+") => false,
            _ => return self.postfix(),
        };
        let at = self.offset();
        self.next();
        let e = self.expr(BinOp::Pow.precedence())?;
        match e.value_type() {
            ValueType::Scalar | ValueType::Vector => {}
            t => {
                return Err(self.err_at(
                    at,
                    format!("unary expression only allowed on expressions of type scalar or instant vector, got {t}"),
                ));
            }
        }
        Ok(match (neg, e) {
            (true, Expr::Number(n)) => Expr::Number(-n),
            (true, e) => Expr::Neg(Box::new(e)),
            (false, e) => e,
        })
    }

    fn bin_modifiers(&mut self, op: BinOp) -> Result<(bool, Option<VectorMatching>), ParseError> {
        let mut return_bool = false;
        if is_kw(self.peek(), "bool") {
            if !op.is_comparison() {
                return Err(self.err_here("bool modifier can only be used on comparison operators"));
            }
            self.next();
            return_bool = true;
        }
        let mut m = None;
        if is_kw(self.peek(), "on") || is_kw(self.peek(), "ignoring") {
            let on = is_kw(self.peek(), "on");
            self.next();
            let labels = self.label_list()?;
            m = Some(VectorMatching {
                card: Cardinality::OneToOne,
                on,
                labels,
                include: Vec::new(),
            });
        }
        if is_kw(self.peek(), "group_left") || is_kw(self.peek(), "group_right") {
            let at = self.offset();
            let left = is_kw(self.peek(), "group_left");
            self.next();
            if op.is_set() {
                return Err(self.err_at(
                    at,
                    format!("no grouping allowed for \"{}\" operation", op.as_str()),
                ));
            }
            let include = if *self.peek() == Tok::LParen {
                self.label_list()?
            } else {
                Vec::new()
            };
            let vm = m.get_or_insert(VectorMatching {
                card: Cardinality::OneToOne,
                on: false,
                labels: Vec::new(),
                include: Vec::new(),
            });
            vm.card = if left {
                Cardinality::ManyToOne
            } else {
                Cardinality::OneToMany
            };
            if vm.on
                && let Some(l) = include.iter().find(|l| vm.labels.contains(l))
            {
                return Err(self.err_at(
                    at,
                    format!("label \"{l}\" must not occur in ON and GROUP clause at once"),
                ));
            }
            vm.include = include;
        }
        Ok((return_bool, m))
    }

    fn binary(
        &self,
        at: usize,
        op: BinOp,
        lhs: Expr,
        rhs: Expr,
        return_bool: bool,
        matching: Option<VectorMatching>,
    ) -> Result<Expr, ParseError> {
        let (lt, rt) = (lhs.value_type(), rhs.value_type());
        let ok = |t| matches!(t, ValueType::Scalar | ValueType::Vector);
        if !ok(lt) || !ok(rt) {
            return Err(self.err_at(
                at,
                "binary expression must contain only scalar and instant vector types",
            ));
        }
        let both_vectors = lt == ValueType::Vector && rt == ValueType::Vector;
        if op.is_set() && !both_vectors {
            return Err(self.err_at(
                at,
                format!(
                    "set operator \"{}\" not allowed in binary scalar expression",
                    op.as_str()
                ),
            ));
        }
        if op.is_comparison() && !return_bool && lt == ValueType::Scalar && rt == ValueType::Scalar
        {
            return Err(self.err_at(at, "comparisons between scalars must use BOOL modifier"));
        }
        if matching.is_some() && !both_vectors {
            return Err(self.err_at(at, "vector matching only allowed between instant vectors"));
        }
        let matching = if both_vectors {
            let mut m = matching.unwrap_or(VectorMatching {
                card: Cardinality::OneToOne,
                on: false,
                labels: Vec::new(),
                include: Vec::new(),
            });
            if op.is_set() {
                m.card = Cardinality::ManyToMany;
            }
            Some(m)
        } else {
            None
        };
        Ok(Expr::Binary {
            op,
            lhs: Box::new(lhs),
            rhs: Box::new(rhs),
            matching,
            return_bool,
        })
    }

    /// `( label, ... )`; labels may be keywords or quoted strings.
    fn label_list(&mut self) -> Result<Vec<String>, ParseError> {
        self.expect(Tok::LParen, "\"(\"")?;
        let mut out = Vec::new();
        loop {
            match self.next() {
                Tok::RParen => break,
                Tok::Ident(s) if !s.contains(':') => out.push(s),
                Tok::Str(s) => out.push(s),
                _ => {
                    self.pos -= 1;
                    return Err(self.unexpected("label name or \")\" in grouping"));
                }
            }
            match self.next() {
                Tok::Comma => {}
                Tok::RParen => break,
                _ => {
                    self.pos -= 1;
                    return Err(self.unexpected("\",\" or \")\" in grouping"));
                }
            }
        }
        Ok(out)
    }

    fn postfix(&mut self) -> Result<Expr, ParseError> {
        let mut e = self.primary()?;
        loop {
            let at = self.offset();
            match self.peek() {
                Tok::LBracket => e = self.range_or_subquery(e)?,
                t if is_kw(t, "offset") => {
                    self.next();
                    let neg = self.sign();
                    let d = self.duration()?;
                    set_offset(&mut e, if neg { -d } else { d }).map_err(|m| self.err_at(at, m))?;
                }
                Tok::At => {
                    self.next();
                    let a = self.at_value()?;
                    set_at(&mut e, a).map_err(|m| self.err_at(at, m))?;
                }
                _ => return Ok(e),
            }
        }
    }

    /// Consumes an optional `+` or `-`: whether it was `-`.
    fn sign(&mut self) -> bool {
        match self.peek() {
            Tok::Op(op @ ("-" | "+")) => {
                let neg = *op == "-";
                self.next();
                neg
            }
            _ => false,
        }
    }

    fn at_value(&mut self) -> Result<At, ParseError> {
        let at = self.offset();
        let neg = self.sign();
        match self.next() {
            Tok::Number(n) if n.is_finite() => {
                let ms = (if neg { -n } else { n }) * 1000.0;
                if ms.abs() > i64::MAX as f64 / 2.0 {
                    return Err(self.err_at(at, "timestamp out of bounds for @ modifier"));
                }
                Ok(At::Time(ms.round() as i64))
            }
            Tok::Number(_) => Err(self.err_at(at, "timestamp out of bounds for @ modifier")),
            Tok::Duration(d) => Ok(At::Time(if neg { -d } else { d })),
            Tok::Ident(s) if !neg && (s == "start" || s == "end") => {
                self.expect(Tok::LParen, "\"(\"")?;
                self.expect(Tok::RParen, "\")\"")?;
                Ok(if s == "start" { At::Start } else { At::End })
            }
            _ => {
                self.pos -= 1;
                Err(self.unexpected("timestamp, start() or end() after @"))
            }
        }
    }

    /// A duration (`5m`) or a number of seconds.
    fn duration(&mut self) -> Result<i64, ParseError> {
        let at = self.offset();
        match self.next() {
            Tok::Duration(d) => Ok(d),
            Tok::Number(n) if n.is_finite() && n >= 0.0 && n * 1000.0 < i64::MAX as f64 / 2.0 => {
                Ok((n * 1000.0).round() as i64)
            }
            Tok::Number(_) => Err(self.err_at(at, "duration out of range")),
            _ => {
                self.pos -= 1;
                Err(self.unexpected("duration"))
            }
        }
    }

    fn range_or_subquery(&mut self, e: Expr) -> Result<Expr, ParseError> {
        let open = self.offset();
        self.next();
        let range = self.duration()?;
        if *self.peek() == Tok::Colon {
            self.next();
            let step = if *self.peek() == Tok::RBracket {
                None
            } else {
                Some(self.duration()?)
            };
            self.expect(Tok::RBracket, "\"]\"")?;
            if e.value_type() != ValueType::Vector {
                return Err(self.err_at(
                    open,
                    format!(
                        "subquery is only allowed on instant vector, got {} instead",
                        e.value_type()
                    ),
                ));
            }
            if range == 0 || step == Some(0) {
                return Err(self.err_at(open, "subquery range and step must be positive"));
            }
            return Ok(Expr::Subquery {
                expr: Box::new(e),
                range,
                step,
                offset: 0,
                at: None,
            });
        }
        self.expect(Tok::RBracket, "\"]\" or \":\"")?;
        match e {
            Expr::Selector(vs) => {
                if vs.offset != 0 || vs.at.is_some() {
                    return Err(self.err_at(open, "no offset or @ modifiers allowed before range"));
                }
                if range <= 0 {
                    return Err(self.err_at(open, "range must be positive"));
                }
                Ok(Expr::Matrix { vs, range })
            }
            _ => Err(self.err_at(open, "ranges only allowed for vector selectors")),
        }
    }

    fn primary(&mut self) -> Result<Expr, ParseError> {
        let at = self.offset();
        match self.next() {
            Tok::Number(n) => Ok(Expr::Number(n)),
            Tok::Duration(d) => Ok(Expr::Number(d as f64 / 1000.0)),
            Tok::Str(s) => Ok(Expr::String(s)),
            Tok::LParen => {
                let e = self.expr(0)?;
                self.expect(Tok::RParen, "\")\"")?;
                Ok(Expr::Paren(Box::new(e)))
            }
            Tok::LBrace => {
                self.pos -= 1;
                self.selector(None, at)
            }
            Tok::Ident(name) => {
                let next = self.peek().clone();
                if let Some(op) = AggOp::from_name(&name)
                    && (next == Tok::LParen || is_kw(&next, "by") || is_kw(&next, "without"))
                {
                    return self.aggregate(op, at);
                }
                if next == Tok::LParen {
                    let Some(func) = Func::lookup(&name) else {
                        return Err(self.err_at(at, format!("unknown function with name {name:?}")));
                    };
                    return self.call(func, at);
                }
                let lower = name.to_ascii_lowercase();
                if lower == "inf" {
                    return Ok(Expr::Number(f64::INFINITY));
                }
                if lower == "nan" {
                    return Ok(Expr::Number(f64::NAN));
                }
                if binop(&Tok::Ident(name.clone())).is_some() || lower == "bool" {
                    self.pos -= 1;
                    return Err(self.unexpected("an expression"));
                }
                self.selector(Some(name), at)
            }
            _ => {
                self.pos -= 1;
                Err(self.unexpected("an expression"))
            }
        }
    }

    fn selector(&mut self, name: Option<String>, at: usize) -> Result<Expr, ParseError> {
        let mut matchers = Vec::new();
        let mut name = name;
        if let Some(n) = &name {
            matchers.push(
                Matcher::promql(METRIC_NAME, MatchOp::Equal, n).map_err(|m| self.err_at(at, m))?,
            );
        }
        if *self.peek() == Tok::LBrace {
            self.next();
            loop {
                let mat = self.offset();
                let label = match self.next() {
                    Tok::RBrace => break,
                    Tok::Ident(s) => s,
                    Tok::Str(s) => {
                        if matches!(self.peek(), Tok::Comma | Tok::RBrace) {
                            // Prometheus 3: a lone quoted string is the metric name.
                            if name.is_some() {
                                return Err(self.err_at(
                                    mat,
                                    format!(
                                        "metric name must not be set twice: {:?} or {s:?}",
                                        name.unwrap_or_default()
                                    ),
                                ));
                            }
                            matchers.push(
                                Matcher::promql(METRIC_NAME, MatchOp::Equal, &s)
                                    .map_err(|m| self.err_at(mat, m))?,
                            );
                            name = Some(s);
                            if *self.peek() == Tok::Comma {
                                self.next();
                            }
                            continue;
                        }
                        s
                    }
                    _ => {
                        self.pos -= 1;
                        return Err(self.unexpected("label matching: identifier or \"}\""));
                    }
                };
                let op = match self.next() {
                    Tok::Assign => MatchOp::Equal,
                    Tok::Op("!=") => MatchOp::NotEqual,
                    Tok::EqlRegex => MatchOp::Regex,
                    Tok::NeqRegex => MatchOp::NotRegex,
                    _ => {
                        self.pos -= 1;
                        return Err(self.unexpected("label matching operator (=, !=, =~ or !~)"));
                    }
                };
                let value = match self.next() {
                    Tok::Str(s) => s,
                    _ => {
                        self.pos -= 1;
                        return Err(self.unexpected("string in label matching"));
                    }
                };
                if label == METRIC_NAME && name.is_some() {
                    return Err(self.err_at(
                        mat,
                        format!(
                            "metric name must not be set twice: {:?} or {value:?}",
                            name.unwrap_or_default()
                        ),
                    ));
                }
                matchers
                    .push(Matcher::promql(&label, op, &value).map_err(|m| self.err_at(mat, m))?);
                match self.next() {
                    Tok::Comma => {}
                    Tok::RBrace => break,
                    _ => {
                        self.pos -= 1;
                        return Err(self.unexpected("\",\" or \"}\" in label matching"));
                    }
                }
            }
        }
        if matchers.iter().all(|m| m.matches_value("")) {
            return Err(self.err_at(
                at,
                "vector selector must contain at least one non-empty matcher",
            ));
        }
        Ok(Expr::Selector(VectorSelector {
            name,
            matchers,
            offset: 0,
            at: None,
        }))
    }

    /// Comma-separated expressions up to the closing parenthesis (a trailing comma is allowed).
    fn args(&mut self) -> Result<Vec<Expr>, ParseError> {
        let mut args = Vec::new();
        while *self.peek() != Tok::RParen {
            args.push(self.expr(0)?);
            if *self.peek() != Tok::Comma {
                break;
            }
            self.next();
        }
        self.expect(Tok::RParen, "\",\" or \")\"")?;
        Ok(args)
    }

    fn aggregate(&mut self, op: AggOp, at: usize) -> Result<Expr, ParseError> {
        let mut grouping = None;
        let grouping_kw = |p: &Self| {
            if is_kw(p.peek(), "by") {
                Some(false)
            } else if is_kw(p.peek(), "without") {
                Some(true)
            } else {
                None
            }
        };
        if let Some(without) = grouping_kw(self) {
            self.next();
            grouping = Some((without, self.label_list()?));
        }
        self.expect(Tok::LParen, "\"(\"")?;
        let mut args = self.args()?;
        if grouping.is_none()
            && let Some(without) = grouping_kw(self)
        {
            self.next();
            grouping = Some((without, self.label_list()?));
        }
        let want = if op.param().is_some() { 2 } else { 1 };
        if args.len() != want {
            return Err(self.err_at(
                at,
                format!(
                    "wrong number of arguments for aggregate expression provided, expected {want}, got {}",
                    args.len()
                ),
            ));
        }
        let expr = args.pop().unwrap_or(Expr::Number(0.0));
        if expr.value_type() != ValueType::Vector {
            return Err(self.err_at(
                at,
                format!(
                    "expected type instant vector in aggregation expression, got {}",
                    expr.value_type()
                ),
            ));
        }
        let param = args.pop();
        if let (Some(p), Some(t)) = (&param, op.param())
            && p.value_type() != t
        {
            return Err(self.err_at(
                at,
                format!(
                    "expected type {t} in aggregation parameter, got {}",
                    p.value_type()
                ),
            ));
        }
        let (without, grouping) = grouping.unwrap_or((false, Vec::new()));
        Ok(Expr::Aggregate {
            op,
            expr: Box::new(expr),
            param: param.map(Box::new),
            without,
            grouping,
        })
    }

    fn call(&mut self, func: Func, at: usize) -> Result<Expr, ParseError> {
        self.expect(Tok::LParen, "\"(\"")?;
        let args = self.args()?;
        let n = args.len();
        let fixed = func.args.len();
        match func.variadic {
            0 if n != fixed => {
                return Err(self.err_at(
                    at,
                    format!(
                        "expected {fixed} argument(s) in call to {:?}, got {n}",
                        func.name
                    ),
                ));
            }
            v if v > 0 && (n < fixed - v as usize || n > fixed) => {
                return Err(self.err_at(
                    at,
                    format!(
                        "expected {} to {fixed} argument(s) in call to {:?}, got {n}",
                        fixed - v as usize,
                        func.name
                    ),
                ));
            }
            v if v < 0 && n + 1 < fixed => {
                return Err(self.err_at(
                    at,
                    format!(
                        "expected at least {} argument(s) in call to {:?}, got {n}",
                        fixed - 1,
                        func.name
                    ),
                ));
            }
            _ => {}
        }
        if func.name == "anomaly" && !matches!(args.first(), Some(Expr::Selector(_))) {
            return Err(self.err_at(at, "anomaly() takes an instant vector selector, e.g. anomaly(latency_seconds{route=\"/a\"})"));
        }
        for (i, a) in args.iter().enumerate() {
            let want = func.args[i.min(fixed - 1)];
            if a.value_type() != want {
                return Err(self.err_at(
                    at,
                    format!(
                        "expected type {want} in call to function {:?}, got {}",
                        func.name,
                        a.value_type()
                    ),
                ));
            }
        }
        Ok(Expr::Call { func, args })
    }
}

fn set_offset(e: &mut Expr, d: i64) -> Result<(), String> {
    let slot = match e {
        Expr::Selector(vs) | Expr::Matrix { vs, .. } => &mut vs.offset,
        Expr::Subquery { offset, .. } => offset,
        _ => {
            return Err(
                "offset modifier must be preceded by an instant vector selector or range vector selector or a subquery".into(),
            );
        }
    };
    if *slot != 0 {
        return Err("offset may not be set multiple times".into());
    }
    *slot = d;
    Ok(())
}

fn set_at(e: &mut Expr, a: At) -> Result<(), String> {
    let slot = match e {
        Expr::Selector(vs) | Expr::Matrix { vs, .. } => &mut vs.at,
        Expr::Subquery { at, .. } => at,
        _ => {
            return Err(
                "@ modifier must be preceded by an instant vector selector or range vector selector or a subquery".into(),
            );
        }
    };
    if slot.is_some() {
        return Err("@ <timestamp> may not be set multiple times".into());
    }
    *slot = Some(a);
    Ok(())
}
