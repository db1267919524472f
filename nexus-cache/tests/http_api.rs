//! The `/api/v1/cache/*` router: documented JSON, 4xx on bad input, the token guard.
#![allow(clippy::unwrap_used)]

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use nexus_cache::http::CacheRouter;
use nexus_cache::{MemoryTier, TieredCache};
use serde_json::{Value, json};
use tower::ServiceExt;

fn app(advisor: bool, token: Option<&str>) -> axum::Router {
    let mut b = TieredCache::<Value>::builder()
        .tier(MemoryTier::builder().max_entries(1000).build())
        .metrics_interval(None);
    if advisor {
        b = b.advisor(1.0, 10_000);
    }
    let r = CacheRouter::new(b.build().unwrap()).max_body(64 * 1024);
    let r = match token {
        Some(t) => r.bearer_token(t),
        None => r.allow_unauthenticated(),
    };
    axum::Router::new().nest("/api/v1/cache", r.build())
}

async fn call(
    app: &axum::Router,
    method: &str,
    uri: &str,
    body: Option<&str>,
    token: Option<&str>,
) -> (StatusCode, Value) {
    let mut req = Request::builder().method(method).uri(uri);
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let resp = app
        .clone()
        .oneshot(req.body(Body::from(body.unwrap_or("").to_owned())).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn routes_answer_with_the_documented_json() {
    let app = app(true, None);
    let (s, v) = call(
        &app,
        "POST",
        "/api/v1/cache/set",
        Some(r#"{"key":"doc:1","value":{"title":"a"},"ttl_seconds":60,"tags":["docs"]}"#),
        None,
    )
    .await;
    assert_eq!((s, v), (StatusCode::OK, json!({"stored": true})));
    let (s, v) = call(&app, "GET", "/api/v1/cache/get/doc:1", None, None).await;
    assert_eq!(
        (s, v),
        (
            StatusCode::OK,
            json!({"key": "doc:1", "value": {"title": "a"}})
        )
    );
    let (s, v) = call(
        &app,
        "POST",
        "/api/v1/cache/invalidate",
        Some(r#"{"tags":["docs"]}"#),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, _) = call(&app, "GET", "/api/v1/cache/get/doc:1", None, None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    call(
        &app,
        "POST",
        "/api/v1/cache/set",
        Some(r#"{"key":"k","value":1}"#),
        None,
    )
    .await;
    let (s, v) = call(&app, "DELETE", "/api/v1/cache/delete/k", None, None).await;
    assert_eq!((s, v), (StatusCode::OK, json!({"deleted": true})));
    let (s, v) = call(&app, "GET", "/api/v1/cache/stats", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["tiers"][0]["tier"], "l1");
    let (s, v) = call(
        &app,
        "POST",
        "/api/v1/cache/optimize",
        Some(r#"{"target_hit_ratio":0.8}"#),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["advice"]["target_hit_ratio"], 0.8);
    assert_eq!(v["l1_capacity"], 1000);
}

#[tokio::test]
async fn bad_input_is_a_clear_4xx() {
    let app = app(false, None);
    let long = "x".repeat(2000);
    for (method, uri, body, want) in [
        (
            "POST",
            "/api/v1/cache/set".to_owned(),
            Some("{not json".to_owned()),
            StatusCode::BAD_REQUEST,
        ),
        (
            "POST",
            "/api/v1/cache/set".to_owned(),
            Some(r#"{"key":"k"}"#.to_owned()),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "POST",
            "/api/v1/cache/set".to_owned(),
            Some(r#"{"key":"k","value":1,"evil":true}"#.to_owned()),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "POST",
            "/api/v1/cache/set".to_owned(),
            Some(r#"{"key":"k","value":1,"ttl_seconds":-1}"#.to_owned()),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "POST",
            "/api/v1/cache/set".to_owned(),
            Some(format!(r#"{{"key":"{long}","value":1}}"#)),
            StatusCode::BAD_REQUEST,
        ),
        (
            "POST",
            "/api/v1/cache/set".to_owned(),
            Some(format!(
                r#"{{"key":"k","value":"{}"}}"#,
                "v".repeat(100_000)
            )),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (
            "POST",
            "/api/v1/cache/invalidate".to_owned(),
            Some(r#"{"tags":[]}"#.to_owned()),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "GET",
            format!("/api/v1/cache/get/{long}"),
            None,
            StatusCode::BAD_REQUEST,
        ),
        (
            "POST",
            "/api/v1/cache/optimize".to_owned(),
            None,
            StatusCode::CONFLICT,
        ),
        // Found by the `http_bodies` fuzz target: this answered in plain text.
        (
            "POST",
            "/api/v1/cache/optimize".to_owned(),
            Some(r#"{"target_thi_ratio":0.9}"#.to_owned()),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ] {
        let (s, v) = call(&app, method, &uri, body.as_deref(), None).await;
        assert_eq!(s, want, "{method} {} -> {v}", &uri[..uri.len().min(60)]);
        assert!(
            v["error"].is_string(),
            "{method} {}: {v}",
            &uri[..uri.len().min(60)]
        );
    }
}

#[tokio::test]
async fn the_token_guards_changing_routes() {
    let app = app(true, Some("s3cret"));
    let set = Some(r#"{"key":"k","value":1}"#);
    assert_eq!(
        call(&app, "POST", "/api/v1/cache/set", set, None).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(&app, "POST", "/api/v1/cache/set", set, Some("wrong"))
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(&app, "POST", "/api/v1/cache/set", set, Some("s3cret"))
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        call(&app, "DELETE", "/api/v1/cache/delete/k", None, None)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(&app, "GET", "/api/v1/cache/get/k", None, None).await.0,
        StatusCode::UNAUTHORIZED,
        "reading a value reveals it: guarded too"
    );
    assert_eq!(
        call(&app, "GET", "/api/v1/cache/get/k", None, Some("s3cret"))
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        call(&app, "GET", "/api/v1/cache/stats", None, None).await.0,
        StatusCode::OK,
        "stats are open"
    );
}

#[tokio::test]
async fn without_a_token_or_an_opt_out_the_guarded_routes_refuse() {
    let cache = TieredCache::<Value>::builder()
        .metrics_interval(None)
        .build()
        .unwrap();
    let app = axum::Router::new().nest("/api/v1/cache", CacheRouter::new(cache).build());
    for (method, uri, body) in [
        (
            "POST",
            "/api/v1/cache/set",
            Some(r#"{"key":"k","value":1}"#),
        ),
        ("GET", "/api/v1/cache/get/k", None),
        ("DELETE", "/api/v1/cache/delete/k", None),
        (
            "POST",
            "/api/v1/cache/invalidate",
            Some(r#"{"tags":["t"]}"#),
        ),
        ("POST", "/api/v1/cache/optimize", Some("{}")),
    ] {
        let (status, body) = {
            let r = call(&app, method, uri, body, None).await;
            (r.0, r.1)
        };
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {uri}");
        assert!(
            body.to_string().contains("configure a bearer token"),
            "{body}"
        );
    }
    assert_eq!(
        call(&app, "GET", "/api/v1/cache/stats", None, None).await.0,
        StatusCode::OK
    );
}
