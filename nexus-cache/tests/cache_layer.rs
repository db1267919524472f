//! `CacheLayer` in front of an axum app: RFC 9111 storage rules, Vary, ETag → 304, the body
//! limit, and a response stored through Redis served by another instance.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use axum::routing::{get, post};
use http_body_util::BodyExt;
use nexus_cache::layer::{CacheLayer, CachedResponse};
use nexus_cache::{MemoryTier, RedisTier, TieredCache};
use tower::ServiceExt;

fn app(calls: Arc<AtomicUsize>, layer: CacheLayer) -> Router {
    let c = move || {
        let calls = calls.clone();
        move |h: HeaderMap| {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            let lang = h
                .get("accept-language")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            async move { (n, lang) }
        }
    };
    let counted = |cc: &'static str, extra: &'static [(&'static str, &'static str)]| {
        let f = c();
        get(move |h: HeaderMap| {
            let fut = f(h);
            async move {
                let (n, lang) = fut.await;
                let mut resp =
                    axum::response::Response::new(Body::from(format!("call {n} {lang}")));
                resp.headers_mut()
                    .insert(header::CACHE_CONTROL, cc.parse().unwrap());
                for (k, v) in extra {
                    resp.headers_mut().insert(*k, v.parse().unwrap());
                }
                resp
            }
        })
    };
    Router::new()
        .route("/max-age", counted("max-age=60", &[("etag", "\"v1\"")]))
        .route("/no-store", counted("no-store", &[]))
        .route("/private", counted("private, max-age=60", &[]))
        .route("/s-maxage-0", counted("max-age=60, s-maxage=0", &[]))
        .route(
            "/vary",
            counted("max-age=60", &[("vary", "Accept-Language")]),
        )
        .route(
            "/expired",
            counted("public", &[("expires", "Thu, 01 Jan 1970 00:00:00 GMT")]),
        )
        .route("/big", counted("max-age=60", &[]))
        .route("/post", post(|| async { "posted" }))
        .layer(layer)
}

fn l1() -> TieredCache<CachedResponse> {
    TieredCache::builder()
        .tier(MemoryTier::builder().build())
        .metrics_interval(None)
        .build()
        .unwrap()
}

async fn get_(
    app: &Router,
    path: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, String, HeaderMap) {
    let mut r = Request::get(path);
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    let resp = app
        .clone()
        .oneshot(r.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let (parts, body) = resp.into_parts();
    (
        parts.status,
        String::from_utf8(body.collect().await.unwrap().to_bytes().to_vec()).unwrap(),
        parts.headers,
    )
}

#[tokio::test]
async fn storage_follows_rfc_9111() {
    let calls = Arc::new(AtomicUsize::new(0));
    let app = app(calls.clone(), CacheLayer::new(l1()).max_body(64));
    let count = || calls.load(Ordering::SeqCst);

    let (s, b1, h) = get_(&app, "/max-age", &[]).await;
    assert_eq!(
        (s, h["x-cache"].to_str().unwrap()),
        (StatusCode::OK, "MISS")
    );
    let (_, b2, h) = get_(&app, "/max-age", &[]).await;
    assert_eq!(
        (b1.as_str(), b2.as_str(), h["x-cache"].to_str().unwrap()),
        ("call 0 ", "call 0 ", "HIT")
    );
    assert!(h.contains_key(header::AGE), "{h:?}");
    assert_eq!(count(), 1);

    // Conditional request on a fresh entry: 304 without a body, from the cache.
    let (s, b, h) = get_(&app, "/max-age", &[("if-none-match", "W/\"v1\"")]).await;
    assert_eq!((s, b.as_str()), (StatusCode::NOT_MODIFIED, ""));
    assert_eq!(h["etag"], "\"v1\"");
    assert_eq!(count(), 1);

    for (path, why) in [
        ("/no-store", "no-store"),
        ("/private", "private in a shared cache"),
        ("/s-maxage-0", "s-maxage=0 in a shared cache"),
        ("/expired", "Expires in the past"),
    ] {
        let before = count();
        get_(&app, path, &[]).await;
        let (_, _, h) = get_(&app, path, &[]).await;
        assert_eq!(
            count(),
            before + 2,
            "{path}: {why} must not be served from the cache"
        );
        assert_eq!(h["x-cache"], "MISS");
    }

    // Vary: one entry per Accept-Language.
    let before = count();
    let (_, en, _) = get_(&app, "/vary", &[("accept-language", "en")]).await;
    let (_, fr, _) = get_(&app, "/vary", &[("accept-language", "fr")]).await;
    let (_, en2, h) = get_(&app, "/vary", &[("accept-language", "en")]).await;
    let (_, fr2, _) = get_(&app, "/vary", &[("accept-language", "fr")]).await;
    assert_eq!(count(), before + 2);
    assert_eq!((en, fr), (en2, fr2));
    assert_eq!(h["x-cache"], "HIT");

    // POST is never cached.
    let resp = app
        .clone()
        .oneshot(Request::post("/post").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn bodies_over_the_limit_pass_through_and_private_caches_keep_private() {
    let calls = Arc::new(AtomicUsize::new(0));
    let limited = app(calls.clone(), CacheLayer::new(l1()).max_body(3));
    get_(&limited, "/big", &[]).await;
    get_(&limited, "/big", &[]).await;
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "a body over max_body is not stored"
    );

    let calls = Arc::new(AtomicUsize::new(0));
    let private = app(calls.clone(), CacheLayer::new(l1()).private());
    get_(&private, "/private", &[]).await;
    let (_, _, h) = get_(&private, "/private", &[]).await;
    assert_eq!(
        (calls.load(Ordering::SeqCst), h["x-cache"].to_str().unwrap()),
        (1, "HIT")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_stored_through_redis_is_served_by_another_instance() {
    let redis = nexus_testkit::RedisServer::start();
    let make = || async {
        TieredCache::<CachedResponse>::builder()
            .tier(MemoryTier::builder().build())
            .tier(
                RedisTier::builder(redis.url())
                    .prefix("http")
                    .build()
                    .await
                    .unwrap(),
            )
            .metrics_interval(None)
            .build()
            .unwrap()
    };
    let calls = Arc::new(AtomicUsize::new(0));
    let a = app(calls.clone(), CacheLayer::new(make().await));
    let b = app(calls.clone(), CacheLayer::new(make().await));
    let (_, body_a, _) = get_(&a, "/max-age", &[]).await;
    let (_, body_b, h) = get_(&b, "/max-age", &[]).await;
    assert_eq!(body_a, body_b);
    assert_eq!(h["x-cache"], "HIT");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}
