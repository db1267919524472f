//! The monitor's acting routes behind the bearer token (one guard, nexus-core's layer).

#![allow(clippy::unwrap_used)]

use axum::body::Body;
use http_body_util::BodyExt;
use nexus::health::Health;
use nexus::monitor::Monitor;
use tower::ServiceExt;

async fn call(app: &axum::Router, method: &str, path: &str, token: Option<&str>) -> (u16, String) {
    let mut req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json");
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let body = if method == "POST" { "{}" } else { "" };
    let resp = app
        .clone()
        .oneshot(req.body(Body::from(body)).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

#[tokio::test]
async fn acting_routes_need_the_token_reading_routes_do_not() {
    let monitor = Monitor::builder("svc")
        .health(Health::builder().service_id("svc").build())
        .bearer_token("t0ken")
        .build()
        .unwrap();
    let app = monitor.router();
    for path in [
        "/api/v1/monitoring/test-alert",
        "/api/v1/monitoring/alerts/0000000000000001/ack",
        "/api/v1/monitoring/silences",
    ] {
        for token in [None, Some("wrong")] {
            let (s, body) = call(&app, "POST", path, token).await;
            assert_eq!(s, 401, "{path} {token:?}: {body}");
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(v["error"], "a valid bearer token is required");
        }
    }
    let (s, body) = call(&app, "POST", "/api/v1/monitoring/test-alert", Some("t0ken")).await;
    assert_eq!(s, 200, "{body}");
    let (s, _) = call(
        &app,
        "POST",
        "/api/v1/monitoring/alerts/0000000000000001/ack",
        Some("t0ken"),
    )
    .await;
    assert_eq!(s, 404, "past the guard: no such alert");
    let (s, _) = call(&app, "POST", "/api/v1/monitoring/silences", Some("t0ken")).await;
    assert_eq!(s, 422, "past the guard: no matchers");
    for path in [
        "/api/v1/monitoring/history",
        "/api/v1/monitoring/alerts",
        "/dashboard",
    ] {
        let (s, body) = call(&app, "GET", path, None).await;
        assert_eq!(s, 200, "{path}: {body}");
    }
}

#[tokio::test]
async fn without_a_token_acting_routes_refuse_unless_opened_explicitly() {
    let build = |open: bool| {
        let b = Monitor::builder("svc").health(Health::builder().service_id("svc").build());
        let b = if open { b.allow_unauthenticated() } else { b };
        b.build().unwrap().router()
    };
    let closed = build(false);
    for path in [
        "/api/v1/monitoring/test-alert",
        "/api/v1/monitoring/alerts/0000000000000001/ack",
        "/api/v1/monitoring/silences",
    ] {
        let (s, body) = call(&closed, "POST", path, None).await;
        assert_eq!(s, 403, "{path}: {body}");
        assert!(body.contains("configure a bearer token"), "{body}");
    }
    let (s, _) = call(&closed, "GET", "/api/v1/monitoring/alerts", None).await;
    assert_eq!(s, 200, "reading routes stay open");
    let open = build(true);
    let (s, body) = call(&open, "POST", "/api/v1/monitoring/test-alert", None).await;
    assert_eq!(s, 200, "{body}");
}

/// A `MakeWriter` into a shared buffer.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test]
async fn a_token_in_a_query_string_never_reaches_the_logs() {
    let logs = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(logs.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let app = nexus::monitor::with_request_ids(axum::Router::new().route(
        "/fail",
        axum::routing::get(|| async { (http::StatusCode::INTERNAL_SERVER_ERROR, "boom") }),
    ));
    let (s, _) = call(&app, "GET", "/fail?token=S3CRET-IN-QUERY", None).await;
    assert_eq!(s, 500);
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(text.contains("/fail"), "the request is logged: {text}");
    assert!(!text.contains("S3CRET-IN-QUERY"), "{text}");
}
