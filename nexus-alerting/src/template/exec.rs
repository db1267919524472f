//! Executing parsed templates: values, variables, control structures, bounded output.

use crate::labels::Labels;

use super::parse::{Arg, Node, Pipe};
use super::{MAX_OUTPUT, TemplateData};

/// A template value.
#[derive(Debug, Clone)]
pub(crate) enum V {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    /// A map with string keys, sorted by key (label sets, `args`).
    Map(Vec<(String, V)>),
    List(Vec<V>),
    /// One series of a `query` result: `.Labels`, `.Value`.
    Sample(Labels, f64),
    /// The data (`.` at the top, `$`).
    Data,
}

pub(crate) fn labels_map(l: &Labels) -> V {
    V::Map(
        l.iter()
            .map(|(k, v)| (k.to_owned(), V::Str(v.to_owned())))
            .collect(),
    )
}

impl V {
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            V::Nil => "<nil>",
            V::Bool(_) => "bool",
            V::Int(_) => "int",
            V::Float(_) => "float64",
            V::Str(_) => "string",
            V::Map(_) => "map[string]string",
            V::List(_) => "[]interface {}",
            V::Sample(..) => "template.sample",
            V::Data => "template.data",
        }
    }

    pub(crate) fn truthy(&self) -> bool {
        match self {
            V::Nil => false,
            V::Bool(b) => *b,
            V::Int(i) => *i != 0,
            V::Float(f) => *f != 0.0,
            V::Str(s) => !s.is_empty(),
            V::Map(m) => !m.is_empty(),
            V::List(l) => !l.is_empty(),
            V::Sample(..) | V::Data => true,
        }
    }

    /// Go's `%v`.
    pub(crate) fn text(&self) -> String {
        match self {
            V::Nil => "<no value>".into(),
            V::Bool(b) => b.to_string(),
            V::Int(i) => i.to_string(),
            V::Float(f) => crate::gofmt::go_g(*f, None),
            V::Str(s) => s.clone(),
            V::Map(m) => {
                let inner: Vec<String> =
                    m.iter().map(|(k, v)| format!("{k}:{}", v.text())).collect();
                format!("map[{}]", inner.join(" "))
            }
            V::List(l) => {
                let inner: Vec<String> = l.iter().map(V::text).collect();
                format!("[{}]", inner.join(" "))
            }
            V::Sample(l, v) => format!(
                "{{{} {}}}",
                labels_map(l).text(),
                crate::gofmt::go_g(*v, None)
            ),
            V::Data => "{...}".into(),
        }
    }
}

struct Ctx<'a, 'd> {
    data: &'a TemplateData<'d>,
    vars: Vec<(String, V)>,
    out: String,
    steps: usize,
}

/// Most nodes and commands one rendering runs (a guard against huge `range`s).
const MAX_STEPS: usize = 100_000;

/// Stops execution once the output is full.
const FULL: &str = "\u{0}full";

pub(crate) fn render(nodes: &[Node], data: &TemplateData<'_>) -> String {
    let mut cx = Ctx {
        data,
        vars: vec![
            ("$".into(), V::Data),
            ("$labels".into(), labels_map(data.labels)),
            ("$externalLabels".into(), labels_map(data.external)),
            ("$externalURL".into(), V::Str(data.external_url.to_owned())),
            ("$value".into(), V::Float(data.value)),
        ],
        out: String::new(),
        steps: 0,
    };
    match cx.run(nodes, &V::Data) {
        Ok(()) => cx.out,
        Err(e) if e == FULL => {
            let mut cut = MAX_OUTPUT;
            while !cx.out.is_char_boundary(cut) {
                cut -= 1;
            }
            cx.out.truncate(cut);
            cx.out.push('…');
            cx.out
        }
        Err(e) => format!("<error expanding template: {e}>"),
    }
}

impl Ctx<'_, '_> {
    fn emit(&mut self, s: &str) -> Result<(), String> {
        self.out.push_str(s);
        if self.out.len() > MAX_OUTPUT {
            return Err(FULL.into());
        }
        Ok(())
    }

    fn step(&mut self) -> Result<(), String> {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            return Err(format!("template stopped after {MAX_STEPS} steps"));
        }
        Ok(())
    }

    fn run(&mut self, nodes: &[Node], dot: &V) -> Result<(), String> {
        for n in nodes {
            self.step()?;
            match n {
                Node::Text(t) => self.emit(t)?,
                Node::Action(p) => {
                    let v = self.pipe(p, dot)?;
                    if p.vars.is_empty() {
                        let t = v.text();
                        self.emit(&t)?;
                    }
                }
                Node::If(branches, els) => {
                    let mark = self.vars.len();
                    let mut done = false;
                    for (p, body) in branches {
                        if self.pipe(p, dot)?.truthy() {
                            self.run(body, dot)?;
                            done = true;
                            break;
                        }
                    }
                    if !done {
                        self.run(els, dot)?;
                    }
                    self.vars.truncate(mark);
                }
                Node::With(p, body, els) => {
                    let mark = self.vars.len();
                    let v = self.pipe(p, dot)?;
                    if v.truthy() {
                        self.run(body, &v)?;
                    } else {
                        self.run(els, dot)?;
                    }
                    self.vars.truncate(mark);
                }
                Node::Range(p, body, els) => {
                    let mark = self.vars.len();
                    let over = self.pipe_value(p, dot)?;
                    let items: Vec<(V, V)> = match over {
                        V::List(l) => l
                            .into_iter()
                            .enumerate()
                            .map(|(i, v)| (V::Int(i as i64), v))
                            .collect(),
                        V::Map(m) => m.into_iter().map(|(k, v)| (V::Str(k), v)).collect(),
                        V::Nil => Vec::new(),
                        V::Int(n) => (0..n.max(0)).map(|i| (V::Int(i), V::Int(i))).collect(),
                        other => return Err(format!("range can't iterate over {}", other.text())),
                    };
                    if items.is_empty() {
                        self.run(els, dot)?;
                    }
                    for (k, v) in items {
                        let inner = self.vars.len();
                        match p.vars.as_slice() {
                            [e] => self.vars.push((e.clone(), v.clone())),
                            [i, e] => {
                                self.vars.push((i.clone(), k));
                                self.vars.push((e.clone(), v.clone()));
                            }
                            _ => {}
                        }
                        self.run(body, &v)?;
                        self.vars.truncate(inner);
                    }
                    self.vars.truncate(mark);
                }
            }
        }
        Ok(())
    }

    /// A range's pipeline: its value, without binding the loop variables.
    fn pipe_value(&mut self, p: &Pipe, dot: &V) -> Result<V, String> {
        let mut prev = None;
        for c in &p.cmds {
            prev = Some(self.command(c, prev, dot)?);
        }
        Ok(prev.unwrap_or(V::Nil))
    }

    fn pipe(&mut self, p: &Pipe, dot: &V) -> Result<V, String> {
        let v = self.pipe_value(p, dot)?;
        if let Some(name) = p.vars.first() {
            if p.declare {
                self.vars.push((name.clone(), v.clone()));
            } else if let Some(slot) = self.vars.iter_mut().rev().find(|(n, _)| n == name) {
                slot.1 = v.clone();
            } else {
                return Err(format!("undefined variable: {name}"));
            }
        }
        Ok(v)
    }

    fn command(&mut self, c: &[Arg], piped: Option<V>, dot: &V) -> Result<V, String> {
        self.step()?;
        let Some(first) = c.first() else {
            return Ok(V::Nil);
        };
        if let Arg::Func(name) = first {
            let mut args = Vec::with_capacity(c.len());
            for a in &c[1..] {
                args.push(self.arg(a, dot)?);
            }
            if let Some(p) = piped {
                args.push(p);
            }
            return super::funcs::call(name, args, self.data)
                .map_err(|e| format!("error calling {name}: {e}"));
        }
        if c.len() > 1 || piped.is_some() {
            return Err(format!(
                "can't give argument to non-function {}",
                self.arg(first, dot)?.text()
            ));
        }
        self.arg(first, dot)
    }

    fn arg(&mut self, a: &Arg, dot: &V) -> Result<V, String> {
        Ok(match a {
            Arg::Func(name) => super::funcs::call(name, Vec::new(), self.data)
                .map_err(|e| format!("error calling {name}: {e}"))?,
            Arg::Dot(fields) => self.fields(dot.clone(), fields)?,
            Arg::Var(name, fields) => {
                let v = self
                    .vars
                    .iter()
                    .rev()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.clone())
                    .ok_or_else(|| format!("undefined variable: {name}"))?;
                self.fields(v, fields)?
            }
            Arg::Str(s) => V::Str(s.clone()),
            Arg::Int(i) => V::Int(*i),
            Arg::Float(f) => V::Float(*f),
            Arg::Bool(b) => V::Bool(*b),
            Arg::Nil => V::Nil,
            Arg::Pipe(p, fields) => {
                let v = self.pipe(p, dot)?;
                self.fields(v, fields)?
            }
        })
    }

    fn fields(&self, mut v: V, fields: &[String]) -> Result<V, String> {
        for f in fields {
            v = match (&v, f.as_str()) {
                (V::Data, "Labels") => labels_map(self.data.labels),
                (V::Data, "ExternalLabels") => labels_map(self.data.external),
                (V::Data, "ExternalURL") => V::Str(self.data.external_url.to_owned()),
                (V::Data, "Value") => V::Float(self.data.value),
                (V::Sample(l, _), "Labels") => labels_map(l),
                (V::Sample(_, x), "Value") => V::Float(*x),
                // Prometheus runs templates with missingkey=zero: a missing label is empty.
                (V::Map(m), k) => m
                    .iter()
                    .find(|(n, _)| n == k)
                    .map(|(_, v)| v.clone())
                    .unwrap_or(V::Str(String::new())),
                (V::Nil, _) => V::Nil,
                (other, k) => {
                    return Err(format!(
                        "can't evaluate field {k} in type {}",
                        other.type_name()
                    ));
                }
            };
        }
        Ok(v)
    }
}
