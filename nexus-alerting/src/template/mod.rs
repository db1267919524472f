//! Annotation and label templates: Go's `text/template` as Prometheus runs it for alert rules.
//!
//! Supported: text with `{{ }}` actions and `{{-`/`-}}` trimming, comments, pipelines,
//! parenthesised pipelines, variables (`$x := …`, `$x = …`), `if`/`else if`/`else`, `with`,
//! `range` (over query results, maps and lists, with `$i, $e :=`), the data `.Labels`,
//! `.ExternalLabels`, `.ExternalURL`, `.Value` and their variables `$labels`,
//! `$externalLabels`, `$externalURL`, `$value`; Go's functions `and or not len index eq ne lt le
//! gt ge print printf println html js urlquery` and Prometheus' `humanize humanize1024
//! humanizeDuration humanizePercentage humanizeTimestamp title toUpper toLower reReplaceAll
//! match stripPort stripDomain args first label value strvalue sortByLabel safeHtml
//! parseDuration toTime toDuration externalURL pathPrefix query`. `define`, `template` and
//! `block` are rejected when the rule is loaded, with their position.
//!
//! Rendering never panics and is bounded: output stops at 16 KiB, a `printf` precision over 100
//! prints Go's `%!(BADPREC)`, and an error prints as Prometheus prints it
//! (`<error expanding template: …>`).

mod exec;
mod funcs;
mod parse;

use crate::labels::Labels;

/// A parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    nodes: Vec<parse::Node>,
    source: String,
    uses_query: bool,
}

impl PartialEq for Template {
    fn eq(&self, o: &Self) -> bool {
        self.source == o.source
    }
}

/// A function `query` in templates runs: a PromQL expression → (labels, value) per series.
pub type QueryFn<'a> = &'a dyn Fn(&str) -> Result<Vec<(Labels, f64)>, String>;

/// What a template reads.
#[derive(Clone, Copy)]
#[non_exhaustive]
pub struct TemplateData<'a> {
    /// `$labels`
    pub labels: &'a Labels,
    /// `$externalLabels`
    pub external: &'a Labels,
    /// `$value`
    pub value: f64,
    /// `$externalURL`
    pub external_url: &'a str,
    /// What `query` evaluates (none: `query` fails with a message).
    pub query: Option<QueryFn<'a>>,
}

impl std::fmt::Debug for TemplateData<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TemplateData")
            .field("labels", self.labels)
            .field("external", self.external)
            .field("value", &self.value)
            .field("external_url", &self.external_url)
            .finish_non_exhaustive()
    }
}

impl<'a> TemplateData<'a> {
    /// Data with `labels` and `value`, no external labels, URL or query.
    pub fn new(labels: &'a Labels, value: f64) -> Self {
        static EMPTY: std::sync::OnceLock<Labels> = std::sync::OnceLock::new();
        Self {
            labels,
            external: EMPTY.get_or_init(Labels::new),
            value,
            external_url: "",
            query: None,
        }
    }

    /// With `$externalLabels`.
    pub fn external(mut self, labels: &'a Labels) -> Self {
        self.external = labels;
        self
    }

    /// With `$externalURL`.
    pub fn external_url(mut self, url: &'a str) -> Self {
        self.external_url = url;
        self
    }

    /// With the function `query` evaluates.
    pub fn query(mut self, f: QueryFn<'a>) -> Self {
        self.query = Some(f);
        self
    }
}

/// A template error: byte offset in the template text and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    /// Byte offset of the problem in the template text.
    pub offset: usize,
    /// What is wrong and what is supported.
    pub message: String,
}

impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "template error at offset {}: {}",
            self.offset, self.message
        )
    }
}

impl std::error::Error for TemplateError {}

/// Largest rendered annotation or label, in bytes.
pub(crate) const MAX_OUTPUT: usize = 16 * 1024;

impl Template {
    /// Parses `src`.
    ///
    /// ```
    /// use nexus_alerting::{Labels, Template, TemplateData};
    /// let t = Template::parse(
    ///     "{{ $labels.job }} errors at {{ $value | humanizePercentage }}{{ if gt $value 0.5 }} (critical){{ end }}",
    /// ).unwrap();
    /// let labels = Labels::from_pairs([("job", "api")]);
    /// assert_eq!(t.render(&TemplateData::new(&labels, 0.0731)), "api errors at 7.31%");
    /// assert_eq!(
    ///     Template::parse("{{ $labels }}").unwrap().render(&TemplateData::new(&labels, 1.0)),
    ///     "map[job:api]"
    /// );
    /// assert!(Template::parse("{{ template \"x\" }}").is_err());
    /// ```
    pub fn parse(src: &str) -> Result<Self, TemplateError> {
        let nodes = parse::parse(src)?;
        let mut uses_query = false;
        parse::visit_funcs(&nodes, &mut |f| uses_query |= f == "query");
        Ok(Self {
            nodes,
            source: src.to_owned(),
            uses_query,
        })
    }

    /// The template text as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether the template has no actions (renders to itself).
    pub fn is_static(&self) -> bool {
        self.nodes.iter().all(|n| matches!(n, parse::Node::Text(_)))
    }

    /// Whether the template calls `query` (its output may change while labels and value do not).
    pub fn uses_query(&self) -> bool {
        self.uses_query
    }

    /// Renders with `data`. Never fails and never panics: an error renders as Prometheus renders
    /// it (`<error expanding template: …>`) and the output stops at 16 KiB (ending in `…`).
    pub fn render(&self, data: &TemplateData<'_>) -> String {
        exec::render(&self.nodes, data)
    }
}

#[cfg(test)]
mod tests;
