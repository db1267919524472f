//! The metrics this crate exports, as constants: names, kinds, labels and HELP texts.
//! [`describe`] registers the HELP texts with the installed recorder.
//!
//! HTTP server figures follow the OpenTelemetry semantic conventions (`http.server.*` as
//! `http_server_*`, labels `http_route`, `http_request_method`,
//! `http_response_status_class`); the rest is `nexus_health_…`.
//!
//! | published by | metrics |
//! |---|---|
//! | [`Recorder::publish_metrics`](crate::Recorder::publish_metrics) | the `http_server_*` ones |
//! | [`Health::publish_metrics`](crate::Health::publish_metrics) | those, plus score, dependencies, resources |
//!
//! ```
//! use nexus_health::metrics::{ALL, SCORE};
//! assert_eq!(SCORE.name, "nexus_health_score");
//! assert!(nexus_core::metric::check("nexus_health_", ALL).is_ok());
//! ```

use nexus_core::metric::Metric;

const ROUTE_METHOD: &[&str] = &["http_route", "http_request_method"];

/// Request duration (OpenTelemetry `http.server.request.duration`).
pub const REQUEST_DURATION: Metric = Metric::histogram(
    "http_server_request_duration_seconds",
    ROUTE_METHOD,
    "Duration of HTTP server requests, by route template and method.",
);
/// Requests finished.
pub const REQUESTS: Metric = Metric::counter(
    "http_server_requests_total",
    ROUTE_METHOD,
    "HTTP requests finished, by route template and method.",
);
/// Requests counted as errors by the error policy.
pub const ERRORS: Metric = Metric::counter(
    "http_server_errors_total",
    ROUTE_METHOD,
    "HTTP requests counted as errors (5xx and failures by default), by route and method.",
);
/// Responses by status class.
pub const RESPONSES: Metric = Metric::counter(
    "http_server_responses_total",
    &[
        "http_route",
        "http_request_method",
        "http_response_status_class",
    ],
    "HTTP responses by route, method and status class (2xx, 4xx, ...).",
);
/// Requests in progress (OpenTelemetry `http.server.active_requests`).
pub const ACTIVE_REQUESTS: Metric = Metric::gauge(
    "http_server_active_requests",
    &["http_route"],
    "HTTP requests in progress, by route template.",
);
/// The 0–100 health score.
pub const SCORE: Metric = Metric::gauge(
    "nexus_health_score",
    &[],
    "The 0-100 health score (availability 40, performance 30, error rate 20, resources 10).",
);
/// 1 when a dependency's last probe passed, 0 when it failed (absent until first checked).
pub const DEPENDENCY_UP: Metric = Metric::gauge(
    "nexus_health_dependency_up",
    &["dependency"],
    "1 when the dependency's last probe passed, 0 when it failed; absent until first checked.",
);
/// Host resource use, 0–1.
pub const RESOURCE_USAGE: Metric = Metric::gauge(
    "nexus_health_resource_usage_ratio",
    &["resource"],
    "Host CPU, memory and disk use, 0-1.",
);

/// Every metric above.
pub const ALL: &[Metric] = &[
    REQUEST_DURATION,
    REQUESTS,
    ERRORS,
    RESPONSES,
    ACTIVE_REQUESTS,
    SCORE,
    DEPENDENCY_UP,
    RESOURCE_USAGE,
];

/// Registers the HELP texts of [`ALL`] with the installed recorder.
pub fn describe() {
    nexus_core::metric::describe(ALL);
}
