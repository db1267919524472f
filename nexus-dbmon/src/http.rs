//! The spec's `/api/v1/database/*` routes as an axum router (feature `http`).
//!
//! ```no_run
//! # #![allow(dead_code)]
//! # fn run(pool: sqlx::PgPool) {
//! use nexus_dbmon::{DbMonitor, http::DbRouter};
//! let _app: axum::Router = axum::Router::new()
//!     .nest("/api/v1/database", DbRouter::new(DbMonitor::builder(pool).build()).bearer_token("s3cret").build());
//! # }
//! ```
//!
//! | route | answer |
//! |---|---|
//! | `GET /stats` | [`DatabaseReport`](crate::DatabaseReport) |
//! | `GET /connections` | `{ "server": ConnectionsReport, "pools": [PoolStatus] }` |
//! | `GET /tables` | [`TablesReport`](crate::TablesReport) |
//! | `GET /indexes` | [`IndexesReport`](crate::IndexesReport) |
//! | `GET /slow-queries` | [`StatementsReport`](crate::StatementsReport) |
//! | `POST /optimize` | body [`OptimizeOptions`] (default: dry run) → recommendations and what ran |
//!
//! **Guarded by default**: every route reveals the database's structure or statements, so every
//! route needs the bearer token; without one configured they answer 403 unless the builder says
//! [`allow_unauthenticated`](DbRouter::allow_unauthenticated) (logged at start). Running
//! maintenance (`"dry_run": false`) always needs a configured token and that token in the
//! request, even with `allow_unauthenticated`.
//!
//! Reports are served from a snapshot at most [`snapshot_ttl`](DbRouter::snapshot_ttl) old
//! (5 s): concurrent requests share one query, and the queries run on the monitor's own small
//! pool, so however many clients poll these routes, the application's pool is never touched. Errors: 400/413/415/422 for bad
//! bodies, 401/403 for the token, 503 when the database does not answer — always with a JSON
//! `{"error": …}`.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use serde_json::json;

use crate::advice::AdviceConfig;
use crate::error::DbMonError;
use crate::maintenance::OptimizeOptions;
use crate::monitor::DbMonitor;
use crate::pool::PoolObserver;
use nexus_core::auth::{Access, BearerToken};
use nexus_core::json::error;

/// Largest accepted request body.
pub const MAX_BODY: usize = 16 * 1024;

/// Builder of the database router.
#[must_use]
pub struct DbRouter {
    monitor: DbMonitor,
    pools: Vec<Arc<dyn PoolObserver>>,
    access: Access,
    advice: AdviceConfig,
    ttl: Duration,
}

impl std::fmt::Debug for DbRouter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbRouter")
            .field("pools", &self.pools.len())
            .field("access", &self.access)
            .field("snapshot_ttl", &self.ttl)
            .finish()
    }
}

#[derive(Clone)]
struct AppState {
    monitor: DbMonitor,
    pools: Arc<Vec<Arc<dyn PoolObserver>>>,
    token: Option<BearerToken>,
    advice: AdviceConfig,
    snapshots: Arc<Snapshots>,
}

/// The latest answer of each report route, shared by concurrent requests: the first request
/// after the answer is `ttl` old runs the report; the others wait for it and get the same bytes.
/// Failures are kept as long, so a database outage is not queried once per request either.
struct Snapshots {
    ttl: Duration,
    routes: [tokio::sync::Mutex<Option<(tokio::time::Instant, StatusCode, axum::body::Bytes)>>; 5],
}

#[derive(Clone, Copy)]
enum Report {
    Stats,
    Connections,
    Tables,
    Indexes,
    SlowQueries,
}

impl Snapshots {
    async fn serve<F>(&self, report: Report, run: F) -> Response
    where
        F: std::future::Future<Output = Response>,
    {
        let mut slot = self.routes[report as usize].lock().await;
        if let Some((at, status, body)) = slot.as_ref()
            && at.elapsed() < self.ttl
        {
            return json_bytes(*status, body.clone());
        }
        let response = run.await;
        let status = response.status();
        let Ok(body) = axum::body::to_bytes(response.into_body(), usize::MAX).await else {
            *slot = None;
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "report could not be read",
            );
        };
        *slot = Some((tokio::time::Instant::now(), status, body.clone()));
        json_bytes(status, body)
    }
}

fn json_bytes(status: StatusCode, body: axum::body::Bytes) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

impl DbRouter {
    /// Routes over `monitor`.
    pub fn new(monitor: DbMonitor) -> Self {
        Self {
            monitor,
            pools: Vec::new(),
            access: Access::Closed,
            advice: AdviceConfig::default(),
            ttl: Duration::from_secs(5),
        }
    }

    /// How old a served report may be (default 5 s; zero queries on every request, still one
    /// at a time per route).
    pub fn snapshot_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Adds a client-side pool to `/connections`.
    pub fn pool(mut self, observer: Arc<dyn PoolObserver>) -> Self {
        self.pools.push(observer);
        self
    }

    /// The token every route needs; it also unlocks `POST /optimize` with `"dry_run": false`.
    pub fn bearer_token(mut self, token: impl Into<BearerToken>) -> Self {
        self.access = Access::Token(token.into());
        self
    }

    /// Opens the report routes to anyone (a trusted network only); logged at start. Running
    /// maintenance still needs a token.
    pub fn allow_unauthenticated(mut self) -> Self {
        self.access = Access::Unauthenticated;
        self
    }

    /// The access policy (default [`Access::Closed`]).
    pub fn access(mut self, access: Access) -> Self {
        self.access = access;
        self
    }

    /// Advice thresholds for `/optimize`.
    pub fn advice(mut self, cfg: AdviceConfig) -> Self {
        self.advice = cfg;
        self
    }

    /// The router (paths relative: nest it where you like).
    pub fn build(self) -> Router {
        let state = AppState {
            monitor: self.monitor,
            pools: Arc::new(self.pools),
            token: match &self.access {
                Access::Token(t) => Some(t.clone()),
                _ => None,
            },
            advice: self.advice,
            snapshots: Arc::new(Snapshots {
                ttl: self.ttl,
                routes: Default::default(),
            }),
        };
        self.access.log_at_start("/api/v1/database");
        Router::new()
            .route("/stats", get(stats))
            .route("/connections", get(connections))
            .route("/tables", get(tables))
            .route("/indexes", get(indexes))
            .route("/slow-queries", get(slow_queries))
            .route("/optimize", post(optimize))
            .route_layer(self.access.layer())
            .layer(DefaultBodyLimit::max(MAX_BODY))
            .with_state(state)
    }
}

fn answer<T: Serialize>(r: Result<T, DbMonError>) -> Response {
    match r {
        Ok(v) => Json(v).into_response(),
        Err(e @ DbMonError::InvalidInput(_)) => error(StatusCode::BAD_REQUEST, e),
        Err(e) => {
            tracing::warn!(error = %e, "database report failed");
            error(StatusCode::SERVICE_UNAVAILABLE, e)
        }
    }
}

async fn stats(State(s): State<AppState>) -> Response {
    let run = async { answer(s.monitor.database().await) };
    s.snapshots.serve(Report::Stats, run).await
}

async fn connections(State(s): State<AppState>) -> Response {
    let run = async {
        let pools: Vec<_> = s.pools.iter().map(|p| p.status()).collect();
        answer(
            s.monitor
                .connections()
                .await
                .map(|server| json!({ "server": server, "pools": pools })),
        )
    };
    s.snapshots.serve(Report::Connections, run).await
}

async fn tables(State(s): State<AppState>) -> Response {
    let run = async { answer(s.monitor.tables().await) };
    s.snapshots.serve(Report::Tables, run).await
}

async fn indexes(State(s): State<AppState>) -> Response {
    let run = async { answer(s.monitor.indexes().await) };
    s.snapshots.serve(Report::Indexes, run).await
}

async fn slow_queries(State(s): State<AppState>) -> Response {
    let run = async { answer(s.monitor.statements().await) };
    s.snapshots.serve(Report::SlowQueries, run).await
}

async fn optimize(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<OptimizeOptions>, JsonRejection>,
) -> Response {
    let opts = match body {
        Ok(Json(o)) => o,
        Err(rejection) => return error(rejection.status(), rejection.body_text()),
    };
    if !opts.dry_run {
        let Some(token) = &s.token else {
            return error(
                StatusCode::FORBIDDEN,
                "maintenance over HTTP is disabled: configure a bearer token",
            );
        };
        let ok = token.verify_headers(&headers);
        if !ok {
            return error(
                StatusCode::UNAUTHORIZED,
                "a valid bearer token is required to run maintenance",
            );
        }
    }
    let recs = match s.monitor.recommendations(&s.advice).await {
        Ok(r) => r,
        Err(e) => return answer::<()>(Err(e)),
    };
    answer(
        s.monitor
            .optimize(&recs, &opts)
            .await
            .map(|result| json!({ "recommendations": recs, "result": result })),
    )
}
