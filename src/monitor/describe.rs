//! The composed metric catalogue: every crate's own, so `/metrics` carries `# HELP` lines for
//! everything (and passes `promtool check metrics`). The monitor itself exports nothing of its
//! own: each figure is published by the crate that owns it.
//!
//! ```
//! let catalogues = nexus::monitor::describe::catalogues();
//! for (prefix, metrics) in &catalogues {
//!     assert!(nexus::core::metric::check(prefix, metrics).is_ok());
//! }
//! let names = catalogues.iter().flat_map(|(_, m)| m.iter().map(|m| m.name));
//! assert!(names.clone().any(|n| n == "http_server_request_duration_seconds"));
//! assert!(names.clone().any(|n| n == "nexus_cache_hits_total"));
//! ```

use nexus_core::metric::Metric;

/// Every catalogue of the crates this build includes, with the prefix its names use.
pub fn catalogues() -> Vec<(&'static str, &'static [Metric])> {
    let all: Vec<(&'static str, &'static [Metric])> = vec![
        ("nexus_health_", nexus_health::metrics::ALL),
        ("nexus_cache_", nexus_cache::metrics::ALL),
        ("nexus_alerting_", nexus_alerting::metrics::ALL),
    ];
    #[cfg(feature = "dbmon")]
    let all = [all, vec![("nexus_pg_", nexus_dbmon::metrics::ALL)]].concat();
    all
}

/// Registers every catalogue's HELP texts with the installed recorder.
pub(super) fn describe_all() {
    for (_, c) in catalogues() {
        nexus_core::metric::describe(c);
    }
}
