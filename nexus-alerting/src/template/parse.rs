//! Template text → nodes: actions, control structures and pipelines.

use super::TemplateError;
use super::funcs::is_func;

#[derive(Debug, Clone)]
pub(crate) enum Node {
    Text(String),
    Action(Pipe),
    If(Vec<(Pipe, Vec<Node>)>, Vec<Node>),
    With(Pipe, Vec<Node>, Vec<Node>),
    Range(Pipe, Vec<Node>, Vec<Node>),
}

/// `$a, $b := cmd | cmd`
#[derive(Debug, Clone)]
pub(crate) struct Pipe {
    /// Variables declared (`:=`) or assigned (`=`).
    pub(crate) vars: Vec<String>,
    pub(crate) declare: bool,
    pub(crate) cmds: Vec<Vec<Arg>>,
}

#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Func(String),
    /// `.` or `.A.B` (fields of dot).
    Dot(Vec<String>),
    /// `$x.A.B` (`$` alone is the data).
    Var(String, Vec<String>),
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Nil,
    /// `(pipeline).A.B`
    Pipe(Box<Pipe>, Vec<String>),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Field(String),
    Var(String),
    Str(String),
    Num(String),
    LParen,
    RParen,
    Pipe,
    Declare,
    Assign,
    Comma,
}

/// Calls `f` with the name of every function the nodes call.
pub(crate) fn visit_funcs(nodes: &[Node], f: &mut impl FnMut(&str)) {
    fn pipe(p: &Pipe, f: &mut impl FnMut(&str)) {
        for c in &p.cmds {
            for a in c {
                match a {
                    Arg::Func(n) => f(n),
                    Arg::Pipe(p, _) => pipe(p, f),
                    _ => {}
                }
            }
        }
    }
    for n in nodes {
        match n {
            Node::Text(_) => {}
            Node::Action(p) => pipe(p, f),
            Node::If(branches, els) => {
                for (p, body) in branches {
                    pipe(p, f);
                    visit_funcs(body, f);
                }
                visit_funcs(els, f);
            }
            Node::With(p, a, b) | Node::Range(p, a, b) => {
                pipe(p, f);
                visit_funcs(a, f);
                visit_funcs(b, f);
            }
        }
    }
}

/// One `{{ … }}` with its offset; or text.
enum Item {
    Text(String),
    Action(Vec<(Tok, usize)>, usize),
}

fn err(offset: usize, message: impl Into<String>) -> TemplateError {
    TemplateError {
        offset,
        message: message.into(),
    }
}

fn split(src: &str) -> Result<Vec<Item>, TemplateError> {
    let bytes = src.as_bytes();
    let mut items = Vec::new();
    let mut text = String::new();
    let mut rest = 0usize;
    while let Some(open) = src[rest..].find("{{").map(|i| i + rest) {
        text.push_str(&src[rest..open]);
        let mut inner_start = open + 2;
        if bytes.get(inner_start) == Some(&b'-')
            && bytes
                .get(inner_start + 1)
                .is_some_and(|c| c.is_ascii_whitespace())
        {
            let t = text.trim_end().len();
            text.truncate(t);
            inner_start += 1;
        }
        // A comment may hold "}}" only at its end.
        let close = if src[inner_start..].trim_start().starts_with("/*") {
            src[inner_start..]
                .find("*/")
                .map(|i| i + inner_start + 2)
                .and_then(|c| {
                    let after = &src[c..];
                    let ws = after.len() - after.trim_start().len();
                    let a = &src[c + ws..];
                    if a.starts_with("}}") {
                        Some(c + ws)
                    } else if a.starts_with("-}}") {
                        Some(c + ws + 1)
                    } else {
                        None
                    }
                })
        } else {
            find_close(src, inner_start)
        }
        .ok_or_else(|| err(open, "unclosed action: missing }}"))?;
        let mut inner_end = close;
        let trim_after = close > inner_start
            && bytes[close - 1] == b'-'
            && bytes
                .get(close.wrapping_sub(2))
                .is_some_and(|c| c.is_ascii_whitespace());
        if trim_after {
            inner_end -= 1;
        }
        if !text.is_empty() {
            items.push(Item::Text(std::mem::take(&mut text)));
        }
        let inner = &src[inner_start..inner_end];
        if !inner.trim_start().starts_with("/*") {
            items.push(Item::Action(lex(inner, inner_start)?, inner_start));
        }
        rest = close + 2;
        if trim_after {
            rest += src[rest..].len() - src[rest..].trim_start().len();
        }
    }
    text.push_str(&src[rest..]);
    if !text.is_empty() {
        items.push(Item::Text(text));
    }
    Ok(items)
}

/// The `}}` closing an action, skipping quoted strings.
fn find_close(src: &str, from: usize) -> Option<usize> {
    let b = src.as_bytes();
    let mut i = from;
    while i + 1 < b.len() {
        match b[i] {
            q @ (b'"' | b'`' | b'\'') => {
                i += 1;
                while i < b.len() && b[i] != q {
                    if b[i] == b'\\' && q != b'`' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'}' if b[i + 1] == b'}' => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

fn lex(s: &str, base: usize) -> Result<Vec<(Tok, usize)>, TemplateError> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let at = base + i;
        match c {
            c if c.is_ascii_whitespace() => i += 1,
            b'(' => {
                out.push((Tok::LParen, at));
                i += 1;
            }
            b')' => {
                out.push((Tok::RParen, at));
                i += 1;
            }
            b'|' => {
                out.push((Tok::Pipe, at));
                i += 1;
            }
            b',' => {
                out.push((Tok::Comma, at));
                i += 1;
            }
            b':' if b.get(i + 1) == Some(&b'=') => {
                out.push((Tok::Declare, at));
                i += 2;
            }
            b'=' => {
                out.push((Tok::Assign, at));
                i += 1;
            }
            b'"' | b'\'' => {
                let (v, used) = crate::promql::unquote_prefix(&s[i..]).map_err(|m| err(at, m))?;
                out.push((Tok::Str(v), at));
                i += used;
            }
            b'`' => {
                let end = s[i + 1..]
                    .find('`')
                    .ok_or_else(|| err(at, "unterminated raw string"))?;
                out.push((Tok::Str(s[i + 1..i + 1 + end].to_owned()), at));
                i += end + 2;
            }
            b'.' if b.get(i + 1).is_some_and(|c| c.is_ascii_digit()) => {
                let n = 1 + b[i + 1..]
                    .iter()
                    .take_while(|c| c.is_ascii_alphanumeric() || **c == b'.')
                    .count();
                out.push((Tok::Num(s[i..i + n].to_owned()), at));
                i += n;
            }
            b'.' => {
                let n = b[i + 1..].iter().take_while(|c| is_ident(**c)).count();
                out.push((Tok::Field(s[i + 1..i + 1 + n].to_owned()), at));
                i += 1 + n;
            }
            b'$' => {
                let n = b[i + 1..].iter().take_while(|c| is_ident(**c)).count();
                out.push((Tok::Var(s[i..i + 1 + n].to_owned()), at));
                i += 1 + n;
            }
            c if c.is_ascii_digit()
                || ((c == b'-' || c == b'+')
                    && b.get(i + 1)
                        .is_some_and(|d| d.is_ascii_digit() || *d == b'.')) =>
            {
                let n = 1 + b[i + 1..]
                    .iter()
                    .enumerate()
                    .take_while(|(k, c)| {
                        c.is_ascii_alphanumeric()
                            || **c == b'.'
                            || ((**c == b'-' || **c == b'+') && matches!(b[i + k], b'e' | b'E'))
                    })
                    .count();
                out.push((Tok::Num(s[i..i + n].to_owned()), at));
                i += n;
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let n = b[i..].iter().take_while(|c| is_ident(**c)).count();
                out.push((Tok::Ident(s[i..i + n].to_owned()), at));
                i += n;
            }
            _ => {
                let ch = s[i..].chars().next().unwrap_or('?');
                return Err(err(at, format!("unexpected {ch:?} in action")));
            }
        }
    }
    Ok(out)
}

struct P {
    items: std::iter::Peekable<std::vec::IntoIter<Item>>,
}

/// What ended a list of nodes.
enum Stop {
    Eof,
    End(usize),
    Else(Vec<(Tok, usize)>, usize),
}

pub(crate) fn parse(src: &str) -> Result<Vec<Node>, TemplateError> {
    let mut p = P {
        items: split(src)?.into_iter().peekable(),
    };
    let (nodes, end) = p.list(0)?;
    match end {
        Stop::Eof => {
            check_data_fields(&nodes)?;
            Ok(nodes)
        }
        Stop::End(at) => Err(err(at, "unexpected {{end}}")),
        Stop::Else(_, at) => Err(err(at, "unexpected {{else}}")),
    }
}

const MAX_NESTING: usize = 64;

impl P {
    fn list(&mut self, depth: usize) -> Result<(Vec<Node>, Stop), TemplateError> {
        let mut nodes = Vec::new();
        while let Some(item) = self.items.next() {
            let (toks, at) = match item {
                Item::Text(t) => {
                    nodes.push(Node::Text(t));
                    continue;
                }
                Item::Action(toks, at) => (toks, at),
            };
            let Some((first, _)) = toks.first() else {
                return Err(err(at, "missing value for command"));
            };
            let kw = match first {
                Tok::Ident(k) => k.as_str(),
                _ => "",
            };
            match kw {
                "end" => return Ok((nodes, Stop::End(at))),
                "else" => return Ok((nodes, Stop::Else(toks[1..].to_vec(), at))),
                "if" | "with" | "range" => {
                    if depth >= MAX_NESTING {
                        return Err(err(
                            at,
                            format!("control structures nested more than {MAX_NESTING} deep"),
                        ));
                    }
                    let kw = kw.to_owned();
                    let pipe = pipeline(&toks[1..], at, kw == "range")?;
                    nodes.push(self.control(&kw, pipe, at, depth)?);
                }
                "define" | "template" | "block" | "break" | "continue" => {
                    return Err(err(
                        toks[0].1,
                        format!(
                            "{{{{{kw}}}}} is not supported in rule templates (each annotation is one template)"
                        ),
                    ));
                }
                _ => nodes.push(Node::Action(pipeline(&toks, at, false)?)),
            }
        }
        Ok((nodes, Stop::Eof))
    }

    fn control(
        &mut self,
        kw: &str,
        pipe: Pipe,
        at: usize,
        depth: usize,
    ) -> Result<Node, TemplateError> {
        let (body, end) = self.list(depth + 1)?;
        let mut els = Vec::new();
        let mut branches = vec![(pipe, body)];
        let mut end = end;
        loop {
            match end {
                Stop::Eof => {
                    return Err(err(
                        at,
                        format!("unclosed {{{{{kw}}}}}: missing {{{{end}}}}"),
                    ));
                }
                Stop::End(_) => break,
                Stop::Else(rest, eat) => {
                    // `else if …` chains (for `if` and `with`).
                    if let Some((Tok::Ident(k), _)) = rest.first()
                        && (k == "if" || k == "with")
                    {
                        if kw != "if" || k != "if" {
                            // `else with` inside `with`: treat as a nested structure in the else.
                            let p = pipeline(&rest[1..], eat, false)?;
                            let node = self.control(k, p, eat, depth + 1)?;
                            els.push(node);
                            break;
                        }
                        let p = pipeline(&rest[1..], eat, false)?;
                        let (b, e) = self.list(depth + 1)?;
                        branches.push((p, b));
                        end = e;
                        continue;
                    }
                    if !rest.is_empty() {
                        return Err(err(eat, "unexpected tokens after {{else}}"));
                    }
                    let (b, e) = self.list(depth + 1)?;
                    els = b;
                    match e {
                        Stop::End(_) => break,
                        Stop::Eof => {
                            return Err(err(
                                at,
                                format!("unclosed {{{{{kw}}}}}: missing {{{{end}}}}"),
                            ));
                        }
                        Stop::Else(_, a) => return Err(err(a, "{{else}} after {{else}}")),
                    }
                }
            }
        }
        Ok(match kw {
            "if" => Node::If(branches, els),
            "with" => {
                let (p, b) = branches.remove(0);
                Node::With(p, b, els)
            }
            _ => {
                let (p, b) = branches.remove(0);
                Node::Range(p, b, els)
            }
        })
    }
}

/// The fields the data has.
const DATA_FIELDS: [&str; 4] = ["Labels", "ExternalLabels", "ExternalURL", "Value"];

/// Where `.` is the data (outside `with` and `range` bodies), `.X` must be one of its fields:
/// caught at load rather than at every evaluation.
fn check_data_fields(nodes: &[Node]) -> Result<(), TemplateError> {
    fn pipe(p: &Pipe) -> Result<(), TemplateError> {
        for c in &p.cmds {
            for a in c {
                match a {
                    Arg::Dot(f)
                        if f.first()
                            .is_some_and(|f| !DATA_FIELDS.contains(&f.as_str())) =>
                    {
                        return Err(err(
                            0,
                            format!(
                                "can't evaluate field {} of the alert data (it has {})",
                                f[0],
                                DATA_FIELDS.join(", ")
                            ),
                        ));
                    }
                    Arg::Var(v, f)
                        if v == "$"
                            && f.first()
                                .is_some_and(|f| !DATA_FIELDS.contains(&f.as_str())) =>
                    {
                        return Err(err(
                            0,
                            format!("can't evaluate field {} of the alert data", f[0]),
                        ));
                    }
                    Arg::Pipe(p, _) => pipe(p)?,
                    _ => {}
                }
            }
        }
        Ok(())
    }
    for n in nodes {
        match n {
            Node::Text(_) => {}
            Node::Action(p) => pipe(p)?,
            Node::If(branches, els) => {
                for (p, body) in branches {
                    pipe(p)?;
                    check_data_fields(body)?;
                }
                check_data_fields(els)?;
            }
            Node::With(p, _, els) | Node::Range(p, _, els) => {
                pipe(p)?;
                check_data_fields(els)?;
            }
        }
    }
    Ok(())
}

fn pipeline(toks: &[(Tok, usize)], at: usize, range: bool) -> Result<Pipe, TemplateError> {
    let mut vars = Vec::new();
    let mut declare = false;
    let mut rest = toks;
    // `$x :=`, `$x =`, `$i, $e :=` (range).
    let decl_at = toks
        .iter()
        .position(|(t, _)| matches!(t, Tok::Declare | Tok::Assign));
    if let Some(d) = decl_at {
        let names = &toks[..d];
        let ok = match names.len() {
            1 => matches!(names[0].0, Tok::Var(_)),
            3 => {
                range
                    && matches!(
                        (&names[0].0, &names[1].0, &names[2].0),
                        (Tok::Var(_), Tok::Comma, Tok::Var(_))
                    )
            }
            _ => false,
        };
        if ok {
            for (t, _) in names {
                if let Tok::Var(v) = t {
                    vars.push(v.clone());
                }
            }
            declare = toks[d].0 == Tok::Declare;
            rest = &toks[d + 1..];
        }
    }
    let mut pos = 0;
    let p = pipe_tokens(rest, &mut pos, at, false)?;
    if pos != rest.len() {
        return Err(err(rest[pos].1, "unexpected token in pipeline"));
    }
    Ok(Pipe {
        vars,
        declare,
        cmds: p,
    })
}

fn pipe_tokens(
    t: &[(Tok, usize)],
    pos: &mut usize,
    at: usize,
    nested: bool,
) -> Result<Vec<Vec<Arg>>, TemplateError> {
    let mut cmds = Vec::new();
    let mut cmd = Vec::new();
    while *pos < t.len() {
        let (tok, off) = &t[*pos];
        *pos += 1;
        let arg = match tok {
            Tok::Pipe => {
                if cmd.is_empty() {
                    return Err(err(*off, "missing command before |"));
                }
                cmds.push(std::mem::take(&mut cmd));
                continue;
            }
            Tok::RParen if nested => {
                *pos -= 1;
                break;
            }
            Tok::RParen => return Err(err(*off, "unexpected )")),
            Tok::LParen => {
                let inner = pipe_tokens(t, pos, *off, true)?;
                if t.get(*pos).map(|x| &x.0) != Some(&Tok::RParen) {
                    return Err(err(*off, "unclosed ("));
                }
                *pos += 1;
                let mut fields = Vec::new();
                while let Some((Tok::Field(f), _)) = t.get(*pos) {
                    fields.push(f.clone());
                    *pos += 1;
                }
                Arg::Pipe(
                    Box::new(Pipe {
                        vars: Vec::new(),
                        declare: false,
                        cmds: inner,
                    }),
                    fields,
                )
            }
            Tok::Field(f) => {
                let mut fields = if f.is_empty() {
                    Vec::new()
                } else {
                    vec![f.clone()]
                };
                while let Some((Tok::Field(f), _)) = t.get(*pos) {
                    if f.is_empty() {
                        break;
                    }
                    fields.push(f.clone());
                    *pos += 1;
                }
                Arg::Dot(fields)
            }
            Tok::Var(v) => {
                let mut fields = Vec::new();
                while let Some((Tok::Field(f), _)) = t.get(*pos) {
                    fields.push(f.clone());
                    *pos += 1;
                }
                Arg::Var(v.clone(), fields)
            }
            Tok::Str(s) => Arg::Str(s.clone()),
            Tok::Num(n) => number(n).ok_or_else(|| err(*off, format!("bad number {n:?}")))?,
            Tok::Ident(i) => match i.as_str() {
                "true" => Arg::Bool(true),
                "false" => Arg::Bool(false),
                "nil" => Arg::Nil,
                f if is_func(f) => Arg::Func(f.to_owned()),
                f => {
                    return Err(err(
                        *off,
                        format!(
                            "function {f:?} not defined; supported: {}",
                            super::funcs::NAMES.join(" ")
                        ),
                    ));
                }
            },
            Tok::Declare | Tok::Assign | Tok::Comma => {
                return Err(err(*off, "unexpected token in pipeline"));
            }
        };
        cmd.push(arg);
    }
    if cmd.is_empty() {
        return Err(err(
            at,
            if cmds.is_empty() {
                "missing value for command"
            } else {
                "missing command after |"
            },
        ));
    }
    cmds.push(cmd);
    Ok(cmds)
}

fn number(n: &str) -> Option<Arg> {
    let (neg, body) = match n.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, n.strip_prefix('+').unwrap_or(n)),
    };
    let sign = if neg { -1 } else { 1 };
    if let Some(h) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        return i64::from_str_radix(h, 16).ok().map(|v| Arg::Int(sign * v));
    }
    if body.bytes().all(|c| c.is_ascii_digit()) {
        return body.parse::<i64>().ok().map(|v| Arg::Int(sign * v));
    }
    n.parse::<f64>().ok().map(Arg::Float)
}
