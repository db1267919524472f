//! JSON error responses (feature `http`): every Nexus route answers a refusal or a failure with
//! `{"error": "…"}` and the status that says why.
//!
//! ```
//! let r = nexus_core::json::error(http::StatusCode::NOT_FOUND, "no such alert");
//! assert_eq!(r.status(), 404);
//! assert_eq!(r.headers()["content-type"], "application/json");
//! ```

use axum::response::{IntoResponse, Response};

/// `status` with the body `{"error": message}`.
pub fn error(status: http::StatusCode, message: impl std::fmt::Display) -> Response {
    (
        status,
        axum::Json(serde_json::json!({ "error": message.to_string() })),
    )
        .into_response()
}
