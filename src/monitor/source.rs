//! The alert engine's input: the process's own `/metrics`, rendered in memory at every
//! evaluation, so the rules read the names and labels a Prometheus scraping `/metrics` reads
//! (one vocabulary, one rule file: `nexus-alerting/rules/default.yml`).

use std::sync::Arc;

use nexus_alerting::Source;
use nexus_alerting::exposition::ExpositionSource;
use nexus_cache::CacheStats;

pub(crate) type StatsFn = Arc<dyn Fn() -> CacheStats + Send + Sync>;

/// Cache tiers need this many reads before the report calls their hit ratio low (the rule has
/// the same minimum, over its window).
pub(crate) const MIN_READS: u64 = 100;

/// The engine's source over the Prometheus recorder's handle.
pub(crate) fn own_metrics(
    handle: metrics_exporter_prometheus::PrometheusHandle,
) -> Arc<dyn Source> {
    Arc::new(ExpositionSource::new("own-metrics", move || {
        Ok(handle.render())
    }))
}
