//! A bounded HTTP server for a service's router (the monitor's routes merged in or not): what
//! `axum::serve` leaves to you, with hyper, hyper-util and tower-http.
//!
//! | bound | default | on breach |
//! |---|---|---|
//! | open connections | 1 024 | further connections wait in the listen backlog |
//! | reading a request's headers (also the wait for the next request on an idle keep-alive connection) | 10 s | connection closed |
//! | a request, headers to response | 30 s | `503` JSON |
//! | a request body | 1 MiB | `413` JSON |
//! | drain on shutdown | 30 s | remaining connections dropped |
//!
//! Error responses that carry no JSON (axum's 404/405, the limits above) get a JSON body
//! `{"error": "<reason>"}`. [`shutdown_signal`] resolves on SIGTERM or Ctrl-C; in-flight
//! requests then finish (up to the drain time) while no new connection is accepted.
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! use nexus::monitor::serve::{ServeConfig, serve, shutdown_signal};
//! let app = axum::Router::new().route("/", axum::routing::get(|| async { "hi" }));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! serve(listener, app, ServeConfig::default(), shutdown_signal()).await
//! # }
//! ```

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::response::Response;
use http::{StatusCode, header};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;

/// The server's bounds; see the [module docs](self).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServeConfig {
    /// Most connections open at once.
    pub max_connections: usize,
    /// Time to read a request's headers, and to wait for the next request on a connection.
    pub header_read_timeout: Duration,
    /// Time for a request, from its headers to the response's headers.
    pub request_timeout: Duration,
    /// Largest request body.
    pub max_body: usize,
    /// How long in-flight requests may finish after shutdown starts.
    pub drain_timeout: Duration,
}

impl Default for ServeConfig {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            header_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_body: 1 << 20,
            drain_timeout: Duration::from_secs(30),
        }
    }
}

impl ServeConfig {
    /// Most connections open at once (at least 1).
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = n.max(1);
        self
    }

    /// Time to read a request's headers and to wait on an idle connection.
    pub fn header_read_timeout(mut self, d: Duration) -> Self {
        self.header_read_timeout = d;
        self
    }

    /// Time for a request, headers to response.
    pub fn request_timeout(mut self, d: Duration) -> Self {
        self.request_timeout = d;
        self
    }

    /// Largest request body, bytes.
    pub fn max_body(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self
    }

    /// Drain time on shutdown.
    pub fn drain_timeout(mut self, d: Duration) -> Self {
        self.drain_timeout = d;
        self
    }
}

/// Resolves on SIGTERM (Unix) or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}

/// Serves `app` on `listener` within `cfg`'s bounds until `shutdown` resolves, then drains.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    cfg: ServeConfig,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let app = bounded(app, &cfg);
    let permits = Arc::new(tokio::sync::Semaphore::new(cfg.max_connections));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(cfg.header_read_timeout);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, _) = tokio::select! {
            a = listener.accept() => match a {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors and the like: wait, never spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service = TowerToHyperService::new(app.clone());
        let conn = http.serve_connection(TokioIo::new(stream), service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("all connections drained"),
        () = tokio::time::sleep(cfg.drain_timeout) => {
            tracing::warn!("drain timeout: closing the remaining connections")
        }
    }
    Ok(())
}

/// `app` with the request timeout, the body limit and JSON error bodies.
fn bounded(app: Router, cfg: &ServeConfig) -> Router {
    // The last layer added is the outermost: JSON bodies apply to the limits' answers too.
    app.layer(tower_http::limit::RequestBodyLimitLayer::new(cfg.max_body))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            cfg.request_timeout,
        ))
        .layer(axum::middleware::map_response(json_errors))
}

/// Gives error responses without a JSON body one: `{"error": "<reason>"}`.
async fn json_errors(resp: Response) -> Response {
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") || v.contains("+json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return resp;
    }
    let reason = status
        .canonical_reason()
        .unwrap_or("error")
        .to_ascii_lowercase();
    let (mut parts, _) = resp.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    let body = serde_json::json!({ "error": reason }).to_string();
    parts.headers.insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, Body::from(body))
}
