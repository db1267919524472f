//! The JSON bodies of the HTTP routers (the cache router's `set`, `invalidate`, `optimize`; the
//! rollout router's actions): whatever the bytes, the answer is a 2xx or a 4xx with a JSON body,
//! never a panic or a 5xx. The first byte picks the route.
#![no_main]

use std::sync::OnceLock;

use axum::body::Body;
use http::Request;
use http_body_util::BodyExt;
use libfuzzer_sys::fuzz_target;
use tower::ServiceExt;

const ROUTES: &[&str] = &[
    "/api/v1/cache/set",
    "/api/v1/cache/invalidate",
    "/api/v1/cache/optimize",
    "/api/v1/rollout/docs/promote",
    "/api/v1/rollout/docs/pause",
    "/api/v1/rollout/docs/resume",
    "/api/v1/rollout/docs/abort",
    "/api/v1/rollout/docs/restart",
];

struct Fixture {
    rt: tokio::runtime::Runtime,
    app: axum::Router,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let app = rt.block_on(async {
            let cache = nexus_cache::TieredCache::<serde_json::Value>::builder()
                .metrics_interval(None)
                .build()
                .expect("cache");
            let rollout = nexus_rollout::Rollout::builder("docs").build().expect("rollout");
            axum::Router::new()
                .nest(
                    "/api/v1/cache",
                    nexus_cache::http::CacheRouter::new(cache)
                        .allow_unauthenticated()
                        .build(),
                )
                .nest(
                    "/api/v1/rollout",
                    nexus_rollout::RolloutRouter::new([rollout])
                        .allow_unauthenticated()
                        .build(),
                )
        });
        Fixture { rt, app }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let f = fixture();
    let path = ROUTES[pick as usize % ROUTES.len()];
    let req = Request::post(path)
        .header("content-type", "application/json")
        .body(Body::from(body.to_vec()))
        .expect("request");
    let (status, bytes) = f.rt.block_on(async {
        let resp = f.app.clone().oneshot(req).await.expect("infallible");
        let status = resp.status();
        let bytes = resp.into_body().collect().await.expect("body").to_bytes();
        (status, bytes)
    });
    assert!(!status.is_server_error(), "{path}: {status} {bytes:?}");
    if !status.is_success() {
        let v: serde_json::Value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("{path}: {status} body is not JSON ({e}): {bytes:?}"));
        assert!(v["error"].is_string(), "{path}: {status} {v}");
    }
});
