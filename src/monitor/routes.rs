//! The monitor's axum router.

use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use super::{Monitor, report};
use nexus_core::json::error;

pub(super) fn router(m: Monitor) -> Router {
    let mut r = Router::new()
        .route("/api/v1/monitoring/health", get(health))
        .route("/api/v1/monitoring/metrics", get(metrics_json))
        .route("/api/v1/monitoring/alerts", get(alerts))
        .route("/api/v1/monitoring/report", get(report_route))
        .route("/api/v1/monitoring/history", get(history))
        .route("/metrics", get(prometheus))
        .route("/dashboard", get(dashboard))
        .route("/dashboard/uplot.js", get(uplot_js))
        .route("/dashboard/uplot.css", get(uplot_css))
        .with_state(m.clone())
        .merge(nexus_health::endpoints::router(m.inner.health.clone()));
    // What acts: behind the access policy (closed unless a token or the opt-out is set).
    let access = &m.inner.access;
    access.log_at_start("/api/v1/monitoring");
    let actions = Router::new()
        .route("/api/v1/monitoring/test-alert", post(test_alert))
        .route("/api/v1/monitoring/alerts/{fingerprint}/ack", post(ack))
        .route("/api/v1/monitoring/silences", post(silence))
        .route_layer(access.layer());
    r = r.merge(actions.with_state(m.clone()));
    if let Some(cache) = &m.inner.cache_api {
        let cr = nexus_cache::http::CacheRouter::new(cache.clone()).access(access.clone());
        r = r.nest("/api/v1/cache", cr.build());
    }
    #[cfg(feature = "dbmon")]
    let db = m.inner.db.as_ref();
    #[cfg(not(feature = "dbmon"))]
    let db: Option<&()> = None;
    match db {
        #[cfg(feature = "dbmon")]
        Some(db) => {
            let dr = nexus_dbmon::http::DbRouter::new(db.clone()).access(access.clone());
            r = r.nest("/api/v1/database", dr.build());
        }
        _ => {
            r = r.route(
                "/api/v1/database/{*rest}",
                get(no_database).post(no_database),
            )
        }
    }
    #[cfg(feature = "rollout")]
    let rollouts = m.inner.rollouts.clone();
    #[cfg(not(feature = "rollout"))]
    let rollouts: Vec<()> = Vec::new();
    if rollouts.is_empty() {
        r = r
            .route("/api/v1/rollout", get(no_rollout))
            .route("/api/v1/rollout/{*rest}", get(no_rollout).post(no_rollout));
    } else {
        #[cfg(feature = "rollout")]
        {
            let rr = nexus_rollout::RolloutRouter::new(rollouts).access(access.clone());
            r = r.nest("/api/v1/rollout", rr.build());
        }
    }
    if m.inner.cache_api.is_none() {
        r = r.route(
            "/api/v1/cache/{*rest}",
            get(no_cache).post(no_cache).delete(no_cache),
        );
    }
    r
}

async fn no_cache() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "no cache is served over HTTP (MonitorBuilder::cache_api)",
    )
}

async fn no_rollout() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "no rollout is configured (MonitorBuilder::rollout, feature `rollout`)",
    )
}

async fn no_database() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "database monitoring is not configured",
    )
}

async fn health(State(m): State<Monitor>) -> Response {
    Json(m.inner.health.report()).into_response()
}

async fn metrics_json(State(m): State<Monitor>) -> Response {
    let h = m.inner.health.report();
    let caches: Vec<_> = m.inner.caches.iter().map(|(_, s)| s()).collect();
    let alerts = m.inner.engine.alerts();
    let firing = alerts
        .iter()
        .filter(|a| a.state == nexus_alerting::AlertState::Firing)
        .count();
    let pending = alerts
        .iter()
        .filter(|a| a.state == nexus_alerting::AlertState::Pending)
        .count();
    Json(json!({
        "service": m.inner.service,
        "score": h.score.score,
        "window": h.window,
        "resources": h.resources,
        "caches": caches,
        "alerts": { "firing": firing, "pending": pending },
    }))
    .into_response()
}

async fn alerts(State(m): State<Monitor>) -> Response {
    let silences: Vec<_> = m
        .inner
        .pipeline
        .silences()
        .into_iter()
        .map(|(s, state)| json!({ "silence": s, "state": state }))
        .collect();
    let rule_errors: Vec<serde_json::Value> = m
        .inner
        .engine
        .rule_health()
        .into_iter()
        .filter_map(|(group, rule, error)| {
            error.map(|e| json!({ "group": group, "rule": rule, "error": e }))
        })
        .collect();
    Json(json!({
        "rules": m.inner.engine.alerts(),
        "rule_errors": rule_errors,
        "notifications": m.inner.pipeline.alerts(),
        "silences": silences,
        "receivers": m.inner.pipeline.receivers(),
    }))
    .into_response()
}

async fn report_route(
    State(m): State<Monitor>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let r = m.report().await;
    let wants_html = q
        .as_deref()
        .is_some_and(|q| q.split('&').any(|p| p == "format=html"))
        || headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/html"));
    if wants_html {
        Html(report::html(&r)).into_response()
    } else {
        Json(r).into_response()
    }
}

async fn test_alert(State(m): State<Monitor>, body: Option<Json<serde_json::Value>>) -> Response {
    let wanted = match body.as_ref().map(|Json(v)| v.get("receiver")) {
        None | Some(None) => None,
        Some(Some(serde_json::Value::String(s))) => Some(s.clone()),
        Some(Some(_)) => {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "receiver must be a string",
            );
        }
    };
    let receivers = match wanted {
        Some(r) => {
            if !m.inner.pipeline.receivers().contains(&r) {
                return error(StatusCode::NOT_FOUND, format!("no receiver named {r:?}"));
            }
            vec![r]
        }
        None => m.inner.pipeline.receivers(),
    };
    let mut results = Vec::new();
    let mut all_ok = true;
    for r in receivers {
        let outcome = m
            .inner
            .pipeline
            .test_alert(&r, Duration::from_secs(10))
            .await;
        all_ok &= outcome.is_ok();
        results.push(json!({ "receiver": r, "delivered": outcome.is_ok(), "error": outcome.err().map(|e| e.to_string()) }));
    }
    let code = if all_ok {
        StatusCode::OK
    } else {
        StatusCode::BAD_GATEWAY
    };
    (code, Json(json!({ "results": results }))).into_response()
}

#[derive(serde::Deserialize)]
struct HistoryQuery {
    range: Option<String>,
    top: Option<usize>,
    route: Option<String>,
}

async fn history(
    State(m): State<Monitor>,
    q: Result<axum::extract::Query<HistoryQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(axum::extract::Query(q)) = q else {
        return error(
            StatusCode::BAD_REQUEST,
            "expected ?range=1h|24h&top=N&route=R",
        );
    };
    let day = match q.range.as_deref() {
        None | Some("1h") => false,
        Some("24h") => true,
        Some(_) => return error(StatusCode::BAD_REQUEST, "range must be 1h or 24h"),
    };
    let top = q.top.unwrap_or(10).min(256);
    Json(m.inner.history.json(day, top, q.route.as_deref())).into_response()
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct AckBody {
    by: Option<String>,
    minutes: Option<u64>,
}

/// Acknowledges a firing alert (its pipeline fingerprint, hex) for `minutes` (default 60).
async fn ack(
    State(m): State<Monitor>,
    axum::extract::Path(fingerprint): axum::extract::Path<String>,
    body: Result<Json<AckBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Ok(fp) = u64::from_str_radix(&fingerprint, 16) else {
        return error(StatusCode::BAD_REQUEST, "the fingerprint is 16 hex digits");
    };
    let body = match body {
        Ok(Json(b)) => b,
        Err(r) => return error(r.status(), r.body_text()),
    };
    let minutes = body.minutes.unwrap_or(60);
    if minutes == 0 || minutes > 7 * 24 * 60 {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "minutes must be 1..=10080",
        );
    }
    let by = body.by.unwrap_or_else(|| "dashboard".into());
    let until = m.inner.pipeline.now() + (minutes * 60_000) as i64;
    match m.inner.pipeline.ack(fp, &by, until) {
        Ok(()) => Json(json!({ "acknowledged": fingerprint, "until": until })).into_response(),
        Err(nexus_alerting::Error::UnknownAlert(_)) => error(
            StatusCode::NOT_FOUND,
            "no firing alert with this fingerprint",
        ),
        Err(e) => error(StatusCode::UNPROCESSABLE_ENTITY, e),
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SilenceBody {
    /// `{alertname="X", route="/y"}`.
    matchers: String,
    minutes: Option<u64>,
    created_by: Option<String>,
    comment: Option<String>,
}

/// Adds a silence starting now for `minutes` (default 60).
async fn silence(
    State(m): State<Monitor>,
    body: Result<Json<SilenceBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let body = match body {
        Ok(Json(b)) => b,
        Err(r) => return error(r.status(), r.body_text()),
    };
    let minutes = body.minutes.unwrap_or(60);
    if minutes == 0 || minutes > 30 * 24 * 60 {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "minutes must be 1..=43200",
        );
    }
    let now = m.inner.pipeline.now();
    let silence = nexus_alerting::Silence::new(
        &body.matchers,
        now,
        now + (minutes * 60_000) as i64,
        body.created_by.as_deref().unwrap_or("dashboard"),
        body.comment.as_deref().unwrap_or(""),
    );
    match silence.and_then(|s| m.inner.pipeline.add_silence(s)) {
        Ok(id) => (StatusCode::CREATED, Json(json!({ "id": id }))).into_response(),
        Err(e) => error(StatusCode::UNPROCESSABLE_ENTITY, e),
    }
}

async fn uplot_js() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("assets/uPlot.iife.min.js"),
    )
}

async fn uplot_css() -> Response {
    asset(
        "text/css; charset=utf-8",
        include_str!("assets/uPlot.min.css"),
    )
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        body,
    )
        .into_response()
}

async fn prometheus(State(m): State<Monitor>) -> Response {
    match &m.inner.prometheus {
        Some(h) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            h.render(),
        )
            .into_response(),
        None => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "no Prometheus recorder: call nexus::monitor::install_recorder() in main and pass the handle to MonitorBuilder::prometheus_handle",
        ),
    }
}

async fn dashboard() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        include_str!("dashboard.html"),
    )
        .into_response()
}
