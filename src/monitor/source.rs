//! The alerting source that turns health, cache and database figures into the samples the
//! default rules read (see nexus-alerting's README, "Inputs of the default rules").

use std::sync::Arc;

use async_trait::async_trait;
use nexus_alerting::{Labels, Millis, Sample, Source};
use nexus_cache::CacheStats;
use nexus_health::{Health, ProbeStatus};

pub(crate) type StatsFn = Arc<dyn Fn() -> CacheStats + Send + Sync>;

/// Routes need this many requests in the window before their ratios are sampled (a single
/// failed request is not a 100 % error rate worth paging for).
pub(crate) const MIN_REQUESTS: u64 = 20;
/// Cache tiers need this many reads before their hit ratio is sampled.
pub(crate) const MIN_READS: u64 = 100;

pub(crate) struct MonitorSource {
    pub(crate) health: Health,
    pub(crate) caches: Vec<(String, StatsFn)>,
    #[cfg(feature = "dbmon")]
    pub(crate) db: Option<nexus_dbmon::DbMonitor>,
}

impl std::fmt::Debug for MonitorSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MonitorSource")
            .field("caches", &self.caches.len())
            .finish_non_exhaustive()
    }
}

fn l(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

#[async_trait]
impl Source for MonitorSource {
    fn name(&self) -> &str {
        "nexus-monitor"
    }

    async fn collect(&self, now: Millis) -> Result<Vec<Sample>, String> {
        let mut out = Vec::new();
        let report = self.health.report();
        out.push(Sample::new(
            "nexus_health_score",
            Labels::new(),
            report.score.score,
            now,
        ));
        for r in &report.window.routes {
            if r.requests < MIN_REQUESTS {
                continue;
            }
            let route = l(&[("route", &r.route)]);
            out.push(Sample::new(
                "nexus_http_error_ratio",
                route.clone(),
                r.error_ratio,
                now,
            ));
            out.push(Sample::new(
                "nexus_http_latency_p95_seconds",
                route,
                r.p95,
                now,
            ));
        }
        let res = report.resources;
        for (name, v) in [("cpu", res.cpu), ("memory", res.memory), ("disk", res.disk)] {
            if let Some(v) = v {
                out.push(Sample::new(
                    "nexus_health_resource_usage_ratio",
                    l(&[("resource", name)]),
                    v,
                    now,
                ));
            }
        }
        for p in &report.probes {
            let up = match p.status {
                ProbeStatus::Pass => 1.0,
                ProbeStatus::Fail => 0.0,
                _ => continue,
            };
            out.push(Sample::new(
                "nexus_health_dependency_up",
                l(&[("dependency", &p.name)]),
                up,
                now,
            ));
        }
        for (name, stats) in &self.caches {
            for t in stats().tiers {
                if t.hits + t.misses >= MIN_READS {
                    out.push(Sample::new(
                        "nexus_cache_hit_ratio",
                        l(&[("cache", name), ("tier", t.tier)]),
                        t.hit_ratio,
                        now,
                    ));
                }
            }
        }
        #[cfg(feature = "dbmon")]
        if let Some(db) = &self.db {
            match db.connections().await {
                Ok(c) => {
                    out.push(Sample::new(
                        "nexus_health_dependency_up",
                        l(&[("dependency", "postgres-monitor")]),
                        1.0,
                        now,
                    ));
                    out.push(Sample::new(
                        "nexus_health_resource_usage_ratio",
                        l(&[("resource", "db_connections")]),
                        c.utilization,
                        now,
                    ));
                }
                Err(_) => out.push(Sample::new(
                    "nexus_health_dependency_up",
                    l(&[("dependency", "postgres-monitor")]),
                    0.0,
                    now,
                )),
            }
        }
        Ok(out)
    }
}
