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

#[tokio::test]
async fn head_is_answered_from_the_get_entry() {
    let calls = Arc::new(AtomicUsize::new(0));
    let app = app(calls.clone(), CacheLayer::new(l1()));
    let head = || async {
        let resp = app
            .clone()
            .oneshot(Request::head("/max-age").body(Body::empty()).unwrap())
            .await
            .unwrap();
        let (parts, body) = resp.into_parts();
        (parts, body.collect().await.unwrap().to_bytes())
    };
    // Before any GET: a miss that reaches the handler and stores nothing.
    let (parts, _) = head().await;
    assert_eq!(parts.headers["x-cache"], "MISS");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let (_, body, get_headers) = get_(&app, "/max-age", &[]).await;
    assert_eq!(body, "call 1 ");
    assert_eq!(get_headers["x-cache"], "MISS", "the HEAD stored nothing");
    // After the GET: HEAD from the cache, same headers, no body, no call.
    let (parts, body) = head().await;
    assert_eq!(parts.status, StatusCode::OK);
    assert_eq!(parts.headers["x-cache"], "HIT");
    assert_eq!(parts.headers["etag"], get_headers["etag"]);
    assert!(body.is_empty());
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

/// A body that sends some bytes, then fails.
struct Failing(u8);

impl http_body::Body for Failing {
    type Data = bytes::Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<bytes::Bytes>, Self::Error>>> {
        self.0 += 1;
        std::task::Poll::Ready(Some(match self.0 {
            1 => Ok(http_body::Frame::data(bytes::Bytes::from_static(b"half"))),
            _ => Err(std::io::Error::other("backend went away")),
        }))
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(8)
    }
}

#[tokio::test]
async fn a_failing_body_is_neither_cached_nor_sent_as_a_success() {
    // A plain tower service with its own body type: the layer is generic over bodies.
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let inner = tower::service_fn(move |_req: Request<String>| {
        c.fetch_add(1, Ordering::SeqCst);
        async move {
            let mut resp = http::Response::new(Failing(0));
            resp.headers_mut()
                .insert(header::CACHE_CONTROL, "max-age=60".parse().unwrap());
            Ok::<_, std::convert::Infallible>(resp)
        }
    });
    let svc = tower::Layer::layer(&CacheLayer::new(l1()), inner);
    for round in 1..=2 {
        let resp: http::Response<nexus_cache::layer::CacheBody<Failing>> = svc
            .clone()
            .oneshot(Request::get("/doc").body(String::new()).unwrap())
            .await
            .unwrap();
        let err = resp.into_body().collect().await.unwrap_err();
        assert_eq!(err.to_string(), "backend went away", "round {round}");
        assert_eq!(
            calls.load(Ordering::SeqCst),
            round,
            "never served from the cache"
        );
    }
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
