//! The HTTP routes (feature `http`), relative: nest them under `/api/v1/rollout`.
//!
//! | route | guarded | what |
//! |---|---|---|
//! | `GET /` | no | `{"rollouts": [status, …]}` |
//! | `GET /{name}` | no | one rollout's [`RolloutStatus`](crate::RolloutStatus) |
//! | `POST /{name}/promote` | yes | next step now; `{"full": true}`: all traffic, done |
//! | `POST /{name}/pause`, `/resume` | yes | hold or release the weight |
//! | `POST /{name}/abort` | yes | everything back to stable; `{"reason": "…"}` optional |
//! | `POST /{name}/restart` | yes | start again from the first step (after a rollback) |
//!
//! Guarded routes refuse (JSON 403) unless a token is configured or
//! [`allow_unauthenticated`](RolloutRouter::allow_unauthenticated) was chosen.
//!
//! ```
//! use nexus_rollout::{Rollout, RolloutRouter};
//! let rollout = Rollout::builder("documents").build().unwrap();
//! let _app: axum::Router = axum::Router::new()
//!     .nest("/api/v1/rollout", RolloutRouter::new([rollout]).bearer_token("s3cret").build());
//! ```

use crate::{Rollout, RolloutError};
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use http::StatusCode;
use nexus_core::auth::{Access, BearerToken};
use nexus_core::json::error;
use serde::Deserialize;
use std::sync::Arc;

/// Builds the rollout routes.
#[must_use]
#[derive(Debug)]
pub struct RolloutRouter {
    rollouts: Vec<Rollout>,
    access: Access,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ActionBody {
    #[serde(default)]
    full: bool,
    #[serde(default)]
    reason: String,
}

type Rollouts = Arc<Vec<Rollout>>;

impl RolloutRouter {
    /// Routes over these rollouts (names must differ; the first of a name wins).
    pub fn new(rollouts: impl IntoIterator<Item = Rollout>) -> Self {
        Self {
            rollouts: rollouts.into_iter().collect(),
            access: Access::Closed,
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

    /// The router.
    pub fn build(self) -> Router {
        self.access.log_at_start("/api/v1/rollout");
        let guarded = Router::new()
            .route("/{name}/{action}", post(act))
            .route_layer(self.access.layer());
        Router::new()
            .route("/", get(list))
            .route("/{name}", get(one))
            .merge(guarded)
            .layer(DefaultBodyLimit::max(8 * 1024))
            .with_state(Arc::new(self.rollouts))
    }
}

fn find<'a>(rollouts: &'a Rollouts, name: &str) -> Result<&'a Rollout, Box<Response>> {
    rollouts.iter().find(|r| r.name() == name).ok_or_else(|| {
        Box::new(error(
            StatusCode::NOT_FOUND,
            format!(
                "no rollout named {:?}",
                name.chars().take(128).collect::<String>()
            ),
        ))
    })
}

async fn list(State(rollouts): State<Rollouts>) -> Response {
    let all: Vec<_> = rollouts.iter().map(Rollout::status).collect();
    Json(serde_json::json!({ "rollouts": all })).into_response()
}

async fn one(State(rollouts): State<Rollouts>, Path(name): Path<String>) -> Response {
    match find(&rollouts, &name) {
        Ok(r) => Json(r.status()).into_response(),
        Err(e) => *e,
    }
}

async fn act(
    State(rollouts): State<Rollouts>,
    Path((name, action)): Path<(String, String)>,
    body: Result<Json<ActionBody>, JsonRejection>,
) -> Response {
    let rollout = match find(&rollouts, &name) {
        Ok(r) => r,
        Err(e) => return *e,
    };
    let body = match body {
        Ok(Json(b)) => b,
        // No body (or no JSON content type with an empty body) means no options.
        Err(JsonRejection::MissingJsonContentType(_)) => ActionBody::default(),
        Err(r) => return error(r.status(), r.body_text()),
    };
    let result = match action.as_str() {
        "promote" if body.full => rollout.promote_full().await,
        "promote" => rollout.promote().await,
        "pause" => rollout.pause().await,
        "resume" => rollout.resume().await,
        "abort" => rollout.abort(&body.reason).await,
        "restart" => rollout.restart().await,
        _ => {
            return error(
                StatusCode::NOT_FOUND,
                "unknown action: promote, pause, resume, abort or restart",
            );
        }
    };
    match result {
        Ok(status) => Json(status).into_response(),
        Err(e @ RolloutError::Conflict(_)) => error(StatusCode::CONFLICT, e),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e),
    }
}
