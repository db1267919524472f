//! axum routers (feature `http`): `/livez`, `/readyz` (Kubernetes conventions) and `/health`
//! (`application/health+json`, draft-inadarei-api-health-check), mountable anywhere.
//!
//! ```
//! use nexus_health::{Health, endpoints};
//! let health = Health::builder().build();
//! let _app: axum::Router = axum::Router::new().merge(endpoints::router(health));
//! ```
//!
//! - `/livez` never touches a dependency: if the process can answer, it is alive.
//! - `/readyz` answers 200 when every critical probe passed its last (cached) check, 503 otherwise;
//!   `?verbose` lists each check as `[+]name ok` / `[-]name failed: reason`.
//! - `/health` is the detailed document: `status` pass/warn/fail from the score band (HTTP 200,
//!   200, 503), `checks` keyed `component:measurement` with the score, each component, traffic,
//!   every probe and the host resources. With a bearer token configured, requests without it get
//!   the status only.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use crate::health::{Health, HealthReport};
use crate::probe::ProbeStatus;
use crate::score::Status;

/// The media type of the health document.
pub const HEALTH_JSON: &str = "application/health+json";

/// `/livez`, `/readyz` and `/health` over `health`.
pub fn router(health: Health) -> Router {
    Router::new()
        .route("/livez", get(livez))
        .route("/readyz", get(readyz))
        .route("/health", get(health_json))
        .with_state(health)
}

fn verbose(q: &Option<String>) -> bool {
    q.as_deref().is_some_and(|q| {
        q.split('&')
            .any(|p| p == "verbose" || p.starts_with("verbose="))
    })
}

fn text(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

async fn livez(RawQuery(q): RawQuery) -> Response {
    if verbose(&q) {
        text(StatusCode::OK, "[+]ping ok\nlivez check passed\n".into())
    } else {
        text(StatusCode::OK, "ok".into())
    }
}

async fn readyz(State(health): State<Health>, RawQuery(q): RawQuery) -> Response {
    let ready = health.ready();
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    if !verbose(&q) {
        return text(
            code,
            if ready {
                "ok".into()
            } else {
                "not ready".into()
            },
        );
    }
    let mut body = String::new();
    for r in health.probes().results().iter() {
        let tail = if r.critical { "" } else { " (non-critical)" };
        match r.status {
            ProbeStatus::Pass => body.push_str(&format!("[+]{} ok{tail}\n", r.name)),
            _ => body.push_str(&format!(
                "[-]{} {}: {}{tail}\n",
                r.name,
                if r.status == ProbeStatus::Fail {
                    "failed"
                } else {
                    "unknown"
                },
                r.message.as_deref().unwrap_or("")
            )),
        }
    }
    body.push_str(if ready {
        "readyz check passed\n"
    } else {
        "readyz check failed\n"
    });
    text(code, body)
}

async fn health_json(State(health): State<Health>, headers: HeaderMap) -> Response {
    let report = health.report();
    let status = match report.score.status {
        Status::Healthy => "pass",
        Status::Degraded => "warn",
        Status::Unhealthy => "fail",
    };
    let code = if status == "fail" {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let body = if health.authorized(auth) {
        document(&health, &report, status)
    } else {
        json!({ "status": status })
    };
    let mut resp = (code, body.to_string()).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(HEALTH_JSON));
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

fn pass_warn_fail(ok: bool, warn: bool) -> &'static str {
    if ok {
        "pass"
    } else if warn {
        "warn"
    } else {
        "fail"
    }
}

/// The health+json document for `report`.
fn document(health: &Health, report: &HealthReport, status: &str) -> Value {
    let time = &report.time;
    let mut checks: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    let mut check = |key: String, v: Value| {
        checks.entry(key).or_default().push(v);
    };
    check(
        "health:score".into(),
        json!({ "componentType": "system", "observedValue": round(report.score.score), "observedUnit": "points",
                "status": status, "time": time }),
    );
    for c in &report.score.components {
        let s = pass_warn_fail(c.score >= 1.0, c.score > 0.0);
        let mut v = json!({ "componentType": "system", "observedValue": round(c.points), "observedUnit": "points",
                            "status": s, "time": time });
        if !c.reasons.is_empty() {
            v["output"] = json!(c.reasons.join("; "));
        }
        check(format!("{}:score", c.name), v);
    }
    let t = &report.window.total;
    for (m, value, unit) in [
        ("requestRate", t.rate, "requests/s"),
        ("errorRatio", t.error_ratio, "ratio"),
        ("latencyP95", t.p95, "s"),
        ("apdex", t.apdex, "ratio"),
    ] {
        check(
            format!("http:{m}"),
            json!({ "componentType": "component", "observedValue": round(value),
                                              "observedUnit": unit, "status": "pass", "time": time }),
        );
    }
    for p in &report.probes {
        let mut v = json!({
            "componentType": p.component_type,
            "observedValue": round(p.duration_ms),
            "observedUnit": "ms",
            "status": match p.status { ProbeStatus::Pass => "pass", ProbeStatus::Fail if !p.critical => "warn", _ => "fail" },
            "time": p.checked_at.map(nexus_core::time::rfc3339).unwrap_or_else(|| time.clone()),
        });
        if let Some(m) = &p.message {
            v["output"] = json!(m);
        }
        if !p.tags.is_empty() {
            v["tags"] = json!(p.tags);
        }
        check(format!("{}:responseTime", p.name), v);
    }
    for (name, v) in [
        ("cpu", report.resources.cpu),
        ("memory", report.resources.memory),
        ("disk", report.resources.disk),
    ] {
        if let Some(v) = v {
            check(
                format!("{name}:utilization"),
                json!({ "componentType": "system", "observedValue": round(v * 100.0),
                "observedUnit": "percent", "status": if v > 0.85 { "warn" } else { "pass" }, "time": time }),
            );
        }
    }
    check(
        "uptime".into(),
        json!({ "componentType": "system", "observedValue": round(report.uptime_seconds),
                                    "observedUnit": "s", "status": "pass", "time": time }),
    );
    json!({
        "status": status,
        "version": health.version(),
        "serviceId": health.service_id(),
        "description": format!("health of {}", health.service_id()),
        "checks": checks,
    })
}

fn round(v: f64) -> f64 {
    if v.is_finite() {
        (v * 1000.0).round() / 1000.0
    } else {
        0.0
    }
}
