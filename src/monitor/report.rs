//! The comprehensive health report (`/api/v1/monitoring/report`).

use serde::Serialize;

use super::Monitor;
use super::source::MIN_READS;

/// One SLO: the measured value, its target, and whether it is met.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct SloStatus {
    /// Measured over the health window.
    pub value: f64,
    /// The spec's target.
    pub target: f64,
    /// Met?
    pub met: bool,
}

/// The spec's SLOs.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Slo {
    /// Share of requests without a server error (target 99.9 %).
    pub availability: SloStatus,
    /// p95 latency in seconds (target 2 s).
    pub latency_p95_seconds: SloStatus,
    /// Error ratio (target below 5 %).
    pub error_rate: SloStatus,
}

/// The report: score, SLOs, traffic, caches, database, alerts, recommendations.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Report {
    /// The service.
    pub service: String,
    /// Health score and components, traffic window, probes, resources.
    pub health: nexus_health::HealthReport,
    /// SLO status.
    pub slo: Slo,
    /// Cache statistics, one entry per monitored cache.
    pub caches: Vec<nexus_cache::CacheStats>,
    /// Database summary (`{"configured": false}` without a database monitor).
    pub database: serde_json::Value,
    /// Alerts held by the rules (pending, firing, recently resolved).
    pub alerts: Vec<nexus_alerting::ActiveAlert>,
    /// Alerts in the notification pipeline (with silences, acknowledgements, escalation).
    pub notifications: Vec<nexus_alerting::PipelineAlert>,
    /// What to look at, most important first.
    pub recommendations: Vec<String>,
    /// The rollouts (feature `rollout`).
    #[cfg(feature = "rollout")]
    pub rollouts: Vec<nexus_rollout::RolloutStatus>,
}

fn slo(value: f64, target: f64, met: bool) -> SloStatus {
    SloStatus { value, target, met }
}

pub(super) async fn build(m: &Monitor) -> Report {
    let i = &m.inner;
    let health = i.health.report();
    let t = &health.window.total;
    let availability = if t.requests == 0 {
        1.0
    } else {
        1.0 - t.status_classes[4] as f64 / t.requests as f64
    };
    let slo = Slo {
        availability: slo(availability, 0.999, availability >= 0.999),
        latency_p95_seconds: slo(t.p95, 2.0, t.p95 <= 2.0),
        error_rate: slo(t.error_ratio, 0.05, t.error_ratio <= 0.05),
    };
    let caches: Vec<nexus_cache::CacheStats> = i.caches.iter().map(|(_, s)| s()).collect();
    let mut recommendations: Vec<String> = Vec::new();
    for c in &health.score.components {
        for r in &c.reasons {
            recommendations.push(format!("{}: {r}", c.name));
        }
    }
    for (c, (name, _)) in caches.iter().zip(&i.caches) {
        for tier in &c.tiers {
            if tier.hits + tier.misses >= MIN_READS && tier.hit_ratio < 0.8 {
                recommendations.push(format!(
                    "cache {name}: {} hit ratio {:.1} % is under 80 %; see POST /api/v1/cache/optimize for the capacity and TTL the advisor suggests",
                    tier.tier,
                    tier.hit_ratio * 100.0
                ));
            }
            if tier.circuit_open {
                recommendations.push(format!(
                    "cache {name}: tier {} is failing and being skipped",
                    tier.tier
                ));
            }
        }
    }
    let database = database(m, &mut recommendations).await;
    #[cfg(feature = "rollout")]
    let rollouts: Vec<nexus_rollout::RolloutStatus> = i
        .rollouts
        .iter()
        .map(nexus_rollout::Rollout::status)
        .collect();
    #[cfg(feature = "rollout")]
    recommendations.extend(super::rollout::recommendations(&rollouts));
    let alerts = i.engine.alerts();
    for a in alerts
        .iter()
        .filter(|a| a.state == nexus_alerting::AlertState::Firing)
    {
        recommendations.insert(
            0,
            format!(
                "alert {} firing: {}",
                a.rule,
                a.alert.annotations.get("summary").unwrap_or("")
            ),
        );
    }
    Report {
        service: i.service.clone(),
        health,
        slo,
        caches,
        database,
        alerts,
        notifications: i.pipeline.alerts(),
        recommendations,
        #[cfg(feature = "rollout")]
        rollouts,
    }
}

#[cfg(feature = "dbmon")]
async fn database(m: &Monitor, recs: &mut Vec<String>) -> serde_json::Value {
    let Some(db) = &m.inner.db else {
        return serde_json::json!({ "configured": false });
    };
    let connections = db.connections().await;
    if let Err(e) = &connections {
        // Down: one timeout is enough (each further query would wait its own).
        return serde_json::json!({ "configured": true, "up": false, "error": e.to_string() });
    }
    let advice_config = nexus_dbmon::AdviceConfig::default();
    let (statements, advice) = tokio::join!(db.statements(), db.recommendations(&advice_config));
    if let Ok(a) = &advice {
        for r in a.iter().take(5) {
            recs.push(format!(
                "database: {:?} {} — {}",
                r.kind, r.object, r.benefit
            ));
        }
    }
    serde_json::json!({
        "configured": true,
        "up": connections.is_ok(),
        "error": connections.as_ref().err().map(|e| e.to_string()),
        "connections": connections.as_ref().ok(),
        "slow_queries": statements.as_ref().map(|s| s.slow.len()).ok(),
        "slow_threshold_ms": statements.as_ref().map(|s| s.slow_threshold_ms).ok(),
        "recommendations": advice.as_ref().map(|a| a.len()).ok(),
    })
}

#[cfg(not(feature = "dbmon"))]
async fn database(_: &Monitor, _: &mut Vec<String>) -> serde_json::Value {
    serde_json::json!({ "configured": false })
}

/// The report as a readable HTML page.
pub(super) fn html(r: &Report) -> String {
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let mut h = String::new();
    h.push_str("<!doctype html><html><head><meta charset=utf-8><title>Health report</title><style>body{font:14px system-ui,sans-serif;margin:2em;max-width:60em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}.bad{color:#b00}.ok{color:#070}</style></head><body>");
    h.push_str(&format!("<h1>{} — health report</h1>", esc(&r.service)));
    h.push_str(&format!(
        "<p>Score <b id=score>{:.1}</b> / 100 ({:?}) — uptime {:.0} s — {}</p>",
        r.health.score.score,
        r.health.score.status,
        r.health.uptime_seconds,
        esc(&r.health.time)
    ));
    h.push_str("<h2>Components</h2><table><tr><th>component</th><th>points</th><th>of</th><th>reasons</th></tr>");
    for c in &r.health.score.components {
        h.push_str(&format!(
            "<tr><td>{}</td><td>{:.1}</td><td>{:.0}</td><td>{}</td></tr>",
            c.name,
            c.points,
            c.weight,
            esc(&c.reasons.join("; "))
        ));
    }
    h.push_str(
        "</table><h2>SLOs</h2><table><tr><th>SLO</th><th>value</th><th>target</th><th></th></tr>",
    );
    for (name, s) in [
        ("availability", &r.slo.availability),
        ("p95 latency (s)", &r.slo.latency_p95_seconds),
        ("error rate", &r.slo.error_rate),
    ] {
        h.push_str(&format!(
            "<tr><td>{name}</td><td>{:.4}</td><td>{}</td><td class={}>{}</td></tr>",
            s.value,
            s.target,
            if s.met { "ok" } else { "bad" },
            if s.met { "met" } else { "missed" }
        ));
    }
    h.push_str("</table><h2>Caches</h2><table><tr><th>cache</th><th>tier</th><th>hit ratio</th><th>hits</th><th>misses</th></tr>");
    for c in &r.caches {
        for t in &c.tiers {
            h.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{:.3}</td><td>{}</td><td>{}</td></tr>",
                esc(&c.name),
                t.tier,
                t.hit_ratio,
                t.hits,
                t.misses
            ));
        }
    }
    h.push_str(&format!(
        "</table><h2>Database</h2><pre>{}</pre>",
        esc(&serde_json::to_string_pretty(&r.database).unwrap_or_default())
    ));
    h.push_str(
        "<h2>Alerts</h2><table><tr><th>rule</th><th>state</th><th>labels</th><th>summary</th></tr>",
    );
    for a in &r.alerts {
        h.push_str(&format!(
            "<tr><td>{}</td><td>{:?}</td><td>{}</td><td>{}</td></tr>",
            esc(&a.rule),
            a.state,
            esc(&a.alert.labels.to_string()),
            esc(a.alert.annotations.get("summary").unwrap_or(""))
        ));
    }
    #[cfg(feature = "rollout")]
    if !r.rollouts.is_empty() {
        h.push_str("</table><h2>Rollouts</h2><table><tr><th>rollout</th><th>phase</th><th>step</th><th>candidate weight</th><th>stable</th><th>candidate</th><th>verdict</th></tr>");
        for ro in &r.rollouts {
            let side = |f: &nexus_rollout::VersionFigures| {
                format!(
                    "{} req, {:.2} % errors, p95 {}",
                    f.requests,
                    f.error_ratio * 100.0,
                    f.p95_ms.map_or("–".into(), |v| format!("{v:.1} ms"))
                )
            };
            let verdict = ro.verdict.as_ref().map_or(String::new(), |v| {
                format!("{:?}: {}", v.decision, v.reasons.join("; "))
            });
            h.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{} of {}</td><td>{} %</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&ro.name),
                ro.phase.as_str(),
                ro.step + 1,
                ro.steps_percent.len(),
                ro.weight_percent,
                side(&ro.stable),
                side(&ro.candidate),
                esc(&verdict)
            ));
        }
    }
    h.push_str("</table><h2>Recommendations</h2><ul>");
    for rec in &r.recommendations {
        h.push_str(&format!("<li>{}</li>", esc(rec)));
    }
    h.push_str("</ul></body></html>");
    h
}
