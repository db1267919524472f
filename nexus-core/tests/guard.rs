//! The guard as a tower layer in an axum router.

#![cfg(feature = "http")]
#![allow(clippy::unwrap_used)]

use axum::Router;
use axum::body::Body;
use axum::routing::post;
use http_body_util::BodyExt;
use nexus_core::auth::BearerToken;
use tower::ServiceExt;

#[tokio::test]
async fn requests_without_the_token_get_a_json_401_and_never_reach_the_handler() {
    let app: Router = Router::new()
        .route("/purge", post(|| async { "done" }))
        .route_layer(BearerToken::new("s3cret").layer());
    for (auth, want) in [
        (None, 401),
        (Some("Bearer nope"), 401),
        (Some("s3cret"), 401),
        (Some("Bearer s3cret"), 200),
    ] {
        let mut req = http::Request::post("/purge");
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let resp = app
            .clone()
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.status(), want, "{auth:?}");
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&body);
        if want == 401 {
            let v: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(v["error"], "a valid bearer token is required");
        } else {
            assert_eq!(text, "done");
        }
    }
}
