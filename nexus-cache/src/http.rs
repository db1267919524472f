//! The spec's `/api/v1/cache/*` routes as an axum router over a `TieredCache<serde_json::Value>`
//! (feature `http`).
//!
//! ```no_run
//! # #![allow(dead_code)]
//! # fn run(cache: nexus_cache::TieredCache<serde_json::Value>) {
//! use nexus_cache::http::CacheRouter;
//! let _app: axum::Router = axum::Router::new()
//!     .nest("/api/v1/cache", CacheRouter::new(cache).bearer_token("s3cret").build());
//! # }
//! ```
//!
//! | route | body / answer |
//! |---|---|
//! | `POST /set` | `{"key", "value", "ttl_seconds"?, "tags"?}` → `{"stored": true}` |
//! | `GET /get/{key}` | `{"key", "value"}`, 404 when absent |
//! | `DELETE /delete/{key}` | `{"deleted": bool}` |
//! | `POST /invalidate` | `{"tags": [..]}` → `{"invalidated_tags": n}` (one mark per tag) |
//! | `GET /stats` | [`CacheStats`](crate::CacheStats) |
//! | `POST /optimize` | `{"target_hit_ratio"?: 0.9}` → [`Optimization`](crate::Optimization) |
//!
//! **Guarded by default**: the routes that change the cache or reveal its values (`set`, `get`,
//! `delete`, `invalidate`, `optimize`) need the bearer token; without one configured they
//! answer 403 unless the builder says [`allow_unauthenticated`](CacheRouter::allow_unauthenticated)
//! (logged at start). `stats` is open. Errors are JSON `{"error": …}`: 400 bad key or tag, 401
//! token, 403 not configured, 404,
//! 413 body or value too large, 415/422 malformed JSON or fields, 503 when a tier failed (what
//! could be written was).

use std::time::Duration;

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::cache::{EntryOptions, TieredCache};
use crate::error::CacheError;
use nexus_core::auth::{Access, BearerToken};
use nexus_core::json::error;

/// Default largest request body (1 MiB).
pub const MAX_BODY: usize = 1 << 20;

/// Builder of the cache router.
#[must_use]
pub struct CacheRouter {
    cache: TieredCache<Value>,
    access: Access,
    max_body: usize,
}

impl std::fmt::Debug for CacheRouter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CacheRouter")
            .field("cache", &self.cache.name())
            .field("access", &self.access)
            .field("max_body", &self.max_body)
            .finish()
    }
}

#[derive(Clone)]
struct AppState {
    cache: TieredCache<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetBody {
    key: String,
    value: Value,
    ttl_seconds: Option<f64>,
    #[serde(default)]
    tags: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TagsBody {
    tags: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct OptimizeBody {
    target_hit_ratio: Option<f64>,
}

impl CacheRouter {
    /// Routes over `cache`.
    pub fn new(cache: TieredCache<Value>) -> Self {
        Self {
            cache,
            access: Access::Closed,
            max_body: MAX_BODY,
        }
    }

    /// Requires `Authorization: Bearer <token>` on the guarded routes.
    pub fn bearer_token(mut self, token: impl Into<BearerToken>) -> Self {
        self.access = Access::Token(token.into());
        self
    }

    /// Opens the guarded routes to anyone (a trusted network only); logged at start.
    pub fn allow_unauthenticated(mut self) -> Self {
        self.access = Access::Unauthenticated;
        self
    }

    /// The access policy of the guarded routes (default [`Access::Closed`]).
    pub fn access(mut self, access: Access) -> Self {
        self.access = access;
        self
    }

    /// Largest accepted request body (default 1 MiB).
    pub fn max_body(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self
    }

    /// The router (paths relative: nest it under `/api/v1/cache`).
    pub fn build(self) -> Router {
        let state = AppState { cache: self.cache };
        self.access.log_at_start("/api/v1/cache");
        let guarded = Router::new()
            .route("/set", post(set))
            .route("/get/{key}", get(read))
            .route("/delete/{key}", delete(remove))
            .route("/invalidate", post(invalidate))
            .route("/optimize", post(optimize))
            .route_layer(self.access.layer());
        Router::new()
            .route("/stats", get(stats))
            .merge(guarded)
            .layer(DefaultBodyLimit::max(self.max_body))
            .with_state(state)
    }
}

fn cache_error(e: CacheError) -> Response {
    match e {
        CacheError::InvalidKey { .. } | CacheError::InvalidTag { .. } => {
            error(StatusCode::BAD_REQUEST, e)
        }
        CacheError::ValueTooLarge { .. } => error(StatusCode::PAYLOAD_TOO_LARGE, e),
        CacheError::Codec(_) => error(StatusCode::UNPROCESSABLE_ENTITY, e),
        e => {
            tracing::warn!(error = %e, "cache route failed");
            error(StatusCode::SERVICE_UNAVAILABLE, e)
        }
    }
}

fn body<T>(b: Result<Json<T>, JsonRejection>) -> Result<T, Box<Response>> {
    b.map(|Json(v)| v)
        .map_err(|r| Box::new(error(r.status(), r.body_text())))
}

async fn set(State(s): State<AppState>, b: Result<Json<SetBody>, JsonRejection>) -> Response {
    let b = match body(b) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let mut opts = EntryOptions::new().tags(b.tags);
    if let Some(t) = b.ttl_seconds {
        if !(t > 0.0 && t <= 366.0 * 86_400.0) {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "ttl_seconds must be in (0, 31622400]",
            );
        }
        opts = opts.ttl(Duration::from_secs_f64(t));
    }
    match s.cache.set_with(&b.key, b.value, &opts).await {
        Ok(()) => Json(json!({ "stored": true })).into_response(),
        Err(e) => cache_error(e),
    }
}

async fn read(State(s): State<AppState>, Path(key): Path<String>) -> Response {
    match s.cache.get(&key).await {
        Ok(Some(v)) => Json(json!({ "key": key, "value": *v })).into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, format!("no entry for key {key:?}")),
        Err(e) => cache_error(e),
    }
}

async fn remove(State(s): State<AppState>, Path(key): Path<String>) -> Response {
    match s.cache.delete(&key).await {
        Ok(deleted) => Json(json!({ "deleted": deleted })).into_response(),
        Err(e) => cache_error(e),
    }
}

async fn invalidate(
    State(s): State<AppState>,
    b: Result<Json<TagsBody>, JsonRejection>,
) -> Response {
    let b = match body(b) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    if b.tags.is_empty() {
        return error(StatusCode::UNPROCESSABLE_ENTITY, "tags must not be empty");
    }
    let n = b.tags.len();
    match s.cache.invalidate_tags(b.tags).await {
        Ok(()) => Json(json!({ "invalidated_tags": n })).into_response(),
        Err(e) => cache_error(e),
    }
}

async fn stats(State(s): State<AppState>) -> Response {
    Json(s.cache.stats()).into_response()
}

async fn optimize(
    State(s): State<AppState>,
    b: Result<Json<OptimizeBody>, JsonRejection>,
) -> Response {
    let b = match b {
        // No body: the defaults.
        Err(JsonRejection::MissingJsonContentType(_)) => OptimizeBody::default(),
        b => match body(b) {
            Ok(b) => b,
            Err(r) => return *r,
        },
    };
    let target = b.target_hit_ratio.unwrap_or(0.9);
    if !(target > 0.0 && target < 1.0) {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "target_hit_ratio must be in (0, 1)",
        );
    }
    match s.cache.optimize(target) {
        Some(o) => Json(o).into_response(),
        None => error(
            StatusCode::CONFLICT,
            "the cache was built without an advisor (TieredCacheBuilder::advisor)",
        ),
    }
}
