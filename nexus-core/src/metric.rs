//! Metric catalogue types: each Nexus crate lists what it exports (name, kind, labels, unit, HELP)
//! as [`Metric`] constants in its own `metrics` module, publishes through those constants, and
//! describes them with [`describe`]. The application composes catalogues; it never re-derives
//! a figure a crate already publishes.
//!
//! **One naming scheme** ([`check`] enforces it): Prometheus naming, `snake_case` with the unit
//! as suffix (`_seconds`, `_bytes`; `_ratio` for 0–1) and `_total` exactly on counters; HTTP server
//! metrics follow the OpenTelemetry semantic conventions (`http_server_*`, labels `http_route`,
//! `http_request_method`); everything else is `nexus_<crate>_…`.
//!
//! ```
//! use nexus_core::metric::{Kind, Metric, check};
//! const HITS: Metric = Metric::counter("nexus_demo_hits_total", &["cache"], "Reads answered.");
//! const BYTES: Metric = Metric::gauge("nexus_demo_bytes", &["cache"], "Bytes held.");
//! assert_eq!(HITS.kind, Kind::Counter);
//! assert!(check("nexus_demo_", &[HITS, BYTES]).is_ok());
//! let wrong = Metric::gauge("nexus_demo_hits_total", &[], "A gauge named like a counter.");
//! assert!(check("nexus_demo_", &[wrong]).is_err());
//! ```

/// What a metric is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up (resets on restart).
    Counter,
    /// Goes up and down.
    Gauge,
    /// A distribution (durations, in seconds).
    Histogram,
}

/// One exported metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metric {
    /// The Prometheus name.
    pub name: &'static str,
    /// Counter, gauge or histogram.
    pub kind: Kind,
    /// The label names it carries.
    pub labels: &'static [&'static str],
    /// The `# HELP` text.
    pub help: &'static str,
}

impl Metric {
    /// A counter.
    pub const fn counter(
        n: &'static str,
        labels: &'static [&'static str],
        help: &'static str,
    ) -> Self {
        Self::of(Kind::Counter, n, labels, help)
    }

    /// A gauge.
    pub const fn gauge(
        n: &'static str,
        labels: &'static [&'static str],
        help: &'static str,
    ) -> Self {
        Self::of(Kind::Gauge, n, labels, help)
    }

    /// A histogram of durations in seconds.
    pub const fn histogram(
        n: &'static str,
        labels: &'static [&'static str],
        help: &'static str,
    ) -> Self {
        Self::of(Kind::Histogram, n, labels, help)
    }

    const fn of(
        kind: Kind,
        name: &'static str,
        labels: &'static [&'static str],
        help: &'static str,
    ) -> Self {
        Self {
            name,
            kind,
            labels,
            help,
        }
    }

    /// The unit its name ends with (`_seconds`, `_bytes`), if any.
    pub fn unit(&self) -> Option<metrics::Unit> {
        let base = self.name.strip_suffix("_total").unwrap_or(self.name);
        if base.ends_with("_seconds") {
            Some(metrics::Unit::Seconds)
        } else if base.ends_with("_bytes") {
            Some(metrics::Unit::Bytes)
        } else {
            None
        }
    }

    /// Registers its HELP text (and unit) with the installed recorder.
    pub fn describe(&self) {
        let (name, help) = (self.name, self.help);
        match (self.kind, self.unit()) {
            (Kind::Counter, Some(u)) => metrics::describe_counter!(name, u, help),
            (Kind::Counter, None) => metrics::describe_counter!(name, help),
            (Kind::Gauge, Some(u)) => metrics::describe_gauge!(name, u, help),
            (Kind::Gauge, None) => metrics::describe_gauge!(name, help),
            (Kind::Histogram, Some(u)) => metrics::describe_histogram!(name, u, help),
            (Kind::Histogram, None) => metrics::describe_histogram!(name, help),
        }
    }
}

/// Describes every metric of a catalogue.
pub fn describe(catalogue: &[Metric]) {
    for m in catalogue {
        m.describe();
    }
}

/// Checks a catalogue against the naming scheme: every name unique, `snake_case`, starting with
/// `prefix` or `http_server_`; `_total` exactly on counters; histograms in `_seconds`; labels
/// `snake_case` and never `le` or `quantile`; HELP text present. Returns every violation.
pub fn check(prefix: &str, catalogue: &[Metric]) -> Result<(), Vec<String>> {
    let snake = |s: &str| {
        !s.is_empty()
            && s.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            && !s.contains("__")
            && !s.ends_with('_')
    };
    let mut errors = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for m in catalogue {
        let n = m.name;
        if !seen.insert(n) {
            errors.push(format!("{n}: listed twice"));
        }
        if !snake(n) {
            errors.push(format!("{n}: not snake_case"));
        }
        if !n.starts_with(prefix) && !n.starts_with("http_server_") {
            errors.push(format!("{n}: should start with {prefix}"));
        }
        match (m.kind, n.ends_with("_total")) {
            (Kind::Counter, false) => errors.push(format!("{n}: a counter ends with _total")),
            (Kind::Gauge | Kind::Histogram, true) => {
                errors.push(format!("{n}: only counters end with _total"))
            }
            _ => {}
        }
        if m.kind == Kind::Histogram && !n.ends_with("_seconds") {
            errors.push(format!("{n}: histograms here measure seconds"));
        }
        for l in m.labels {
            if !snake(l) || matches!(*l, "le" | "quantile") {
                errors.push(format!("{n}: bad label {l:?}"));
            }
        }
        if m.help.trim().is_empty() {
            errors.push(format!("{n}: no HELP text"));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scheme_is_enforced() {
        let ok = [
            Metric::counter("nexus_x_requests_total", &["route"], "h"),
            Metric::histogram("http_server_request_duration_seconds", &["http_route"], "h"),
            Metric::gauge("nexus_x_bytes", &[], "h"),
        ];
        assert_eq!(check("nexus_x_", &ok), Ok(()));
        assert_eq!(ok[2].unit(), Some(metrics::Unit::Bytes));
        let bad = [
            Metric::counter("nexus_x_requests", &[], "h"),
            Metric::gauge("nexus_x_things_total", &[], "h"),
            Metric::histogram("nexus_x_size", &[], "h"),
            Metric::gauge("other_thing", &[], "h"),
            Metric::gauge("nexus_x_Bad", &["le"], ""),
            Metric::gauge("nexus_x_bytes", &[], "h"),
            Metric::gauge("nexus_x_bytes", &[], "h"),
        ];
        let errors = check("nexus_x_", &bad).unwrap_err();
        for want in [
            "nexus_x_requests: a counter ends with _total",
            "nexus_x_things_total: only counters end with _total",
            "nexus_x_size: histograms here measure seconds",
            "other_thing: should start with nexus_x_",
            "nexus_x_Bad: not snake_case",
            "nexus_x_Bad: bad label \"le\"",
            "nexus_x_Bad: no HELP text",
            "nexus_x_bytes: listed twice",
        ] {
            assert!(errors.iter().any(|e| e == want), "{want} not in {errors:?}");
        }
    }
}
