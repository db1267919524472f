//! `/api/v1/rollout`: status open, control behind the guard, bad input answered in JSON.
#![allow(clippy::unwrap_used)]

use axum::body::Body;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use nexus_rollout::{Rollout, RolloutRouter};
use serde_json::Value;
use tower::ServiceExt;

async fn call(app: &axum::Router, req: Request<Body>) -> (StatusCode, Value) {
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let json = serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("{status}: not JSON ({e}): {bytes:?}"));
    (status, json)
}

fn post(path: &str, token: Option<&str>, body: &str) -> Request<Body> {
    let mut b = Request::post(format!("/api/v1/rollout{path}"));
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    if !body.is_empty() {
        b = b.header("content-type", "application/json");
    }
    b.body(Body::from(body.to_owned())).unwrap()
}

fn get(path: &str) -> Request<Body> {
    Request::get(format!("/api/v1/rollout{path}"))
        .body(Body::empty())
        .unwrap()
}

fn app(router: RolloutRouter) -> axum::Router {
    axum::Router::new().nest("/api/v1/rollout", router.build())
}

#[tokio::test]
async fn control_is_refused_without_a_configured_token() {
    let r = Rollout::builder("documents").build().unwrap();
    let app = app(RolloutRouter::new([r.clone()]));
    let (s, body) = call(&app, post("/documents/abort", None, "")).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
    assert!(r.status().phase.is_active());
    // Status stays readable.
    let (s, body) = call(&app, get("")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body["rollouts"][0]["name"], "documents");
    assert_eq!(body["rollouts"][0]["weight_percent"], 1.0);
}

#[tokio::test]
async fn control_with_the_token() {
    let r = Rollout::builder("documents").build().unwrap();
    let app = app(RolloutRouter::new([r.clone()]).bearer_token("s3cret"));
    let (s, _) = call(&app, post("/documents/promote", Some("wrong"), "")).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, body) = call(&app, post("/documents/promote", Some("s3cret"), "")).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["weight_percent"], 5.0);
    let (s, body) = call(&app, post("/documents/pause", Some("s3cret"), "")).await;
    assert_eq!(
        (s, body["phase"].as_str()),
        (StatusCode::OK, Some("paused"))
    );
    let (s, body) = call(&app, post("/documents/pause", Some("s3cret"), "")).await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    assert!(body["error"].as_str().unwrap().contains("paused"));
    let (s, _) = call(&app, post("/documents/resume", Some("s3cret"), "")).await;
    assert_eq!(s, StatusCode::OK);
    let (s, body) = call(
        &app,
        post(
            "/documents/abort",
            Some("s3cret"),
            r#"{"reason":"p95 doubled"}"#,
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body["phase"], "rolled_back");
    assert_eq!(body["weight_percent"], 0.0);
    let last = body["events"].as_array().unwrap().last().unwrap().clone();
    assert!(last["reasons"][0].as_str().unwrap().contains("p95 doubled"));
    let (s, body) = call(
        &app,
        post("/documents/promote", Some("s3cret"), r#"{"full":true}"#),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    let (s, body) = call(&app, post("/documents/restart", Some("s3cret"), "")).await;
    assert_eq!(
        (s, body["phase"].as_str()),
        (StatusCode::OK, Some("progressing"))
    );
    let (s, body) = call(
        &app,
        post("/documents/promote", Some("s3cret"), r#"{"full":true}"#),
    )
    .await;
    assert_eq!(
        (s, body["phase"].as_str()),
        (StatusCode::OK, Some("promoted"))
    );
}

#[tokio::test]
async fn bad_input_gets_a_json_4xx() {
    let r = Rollout::builder("documents").build().unwrap();
    let app = app(RolloutRouter::new([r.clone()]).allow_unauthenticated());
    for (req, want) in [
        (
            post("/documents/abort", None, "{not json"),
            StatusCode::BAD_REQUEST,
        ),
        (
            post("/documents/abort", None, r#"{"reason":7}"#),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            post("/documents/abort", None, r#"{"unknown":1}"#),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (post("/documents/explode", None, ""), StatusCode::NOT_FOUND),
        (post("/nope/abort", None, ""), StatusCode::NOT_FOUND),
        (get("/nope"), StatusCode::NOT_FOUND),
        (
            post(
                "/documents/abort",
                None,
                &format!(r#"{{"reason":"{}"}}"#, "x".repeat(20_000)),
            ),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
    ] {
        let what = format!("{} {}", req.method(), req.uri());
        let (s, body) = call(&app, req).await;
        assert_eq!(s, want, "{what}: {body}");
        assert!(body["error"].is_string(), "{what}: {body}");
    }
    assert!(r.status().phase.is_active(), "nothing applied");
}
