//! `CacheLayer`: a tower middleware caching HTTP responses in a [`TieredCache`], with RFC 9111
//! semantics from the `http-cache-semantics` crate (feature `http`).
//!
//! Safe requests (`GET`, `HEAD`) are looked up by method and URI, then by the values of the
//! headers the stored response `Vary`s on; a fresh entry is answered without calling the inner
//! service (with `Age`), or with `304 Not Modified` when the request's `If-None-Match` matches
//! its `ETag`. A response is stored when the policy allows it (`Cache-Control`
//! `no-store`/`private`/`max-age`/`s-maxage`, `Expires`, shared-cache rules) and its body
//! is known to be at most the size limit; for the time the policy gives.
//!
//! ```
//! use axum::{Router, routing::get};
//! use nexus_cache::{TieredCache, layer::{CacheLayer, CachedResponse}};
//! let cache: TieredCache<CachedResponse> = TieredCache::builder().metrics_interval(None).build().unwrap();
//! let app: Router = Router::new()
//!     .route("/docs/{id}", get(|| async { ([("cache-control", "max-age=60")], "a document") }))
//!     .layer(CacheLayer::new(cache));
//! # let _ = app;
//! ```

use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use futures_util::future::BoxFuture;
use http_body_util::BodyExt;
use http_cache_semantics::{BeforeRequest, CacheOptions, CachePolicy};
use serde::{Deserialize, Serialize};
use tower::{Layer, Service};

use crate::cache::{EntryOptions, TieredCache};

/// What the layer stores: a response with its policy, or the list of headers a URI varies on.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum CachedResponse {
    /// The `Vary` header names of the responses of one method and URI.
    Vary(Vec<String>),
    /// One stored response.
    Response {
        /// Its caching policy (request and response headers, time).
        policy: Box<CachePolicy>,
        /// The body.
        body: Vec<u8>,
    },
}

/// The layer; see the module docs.
#[derive(Debug, Clone)]
pub struct CacheLayer {
    cache: TieredCache<CachedResponse>,
    max_body: usize,
    shared: bool,
}

impl CacheLayer {
    /// Caches in `cache`; bodies up to 1 MiB; shared-cache rules (`private` is not stored,
    /// `s-maxage` applies).
    pub fn new(cache: TieredCache<CachedResponse>) -> Self {
        Self {
            cache,
            max_body: 1 << 20,
            shared: true,
        }
    }

    /// Largest body stored (default 1 MiB); larger or unknown-length bodies pass through.
    #[must_use]
    pub fn max_body(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self
    }

    /// Private-cache rules instead (a per-user cache: `private` responses are stored).
    #[must_use]
    pub fn private(mut self) -> Self {
        self.shared = false;
        self
    }
}

impl<S> Layer<S> for CacheLayer {
    type Service = CacheService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CacheService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service [`CacheLayer`] wraps around another.
#[derive(Debug, Clone)]
pub struct CacheService<S> {
    inner: S,
    layer: CacheLayer,
}

fn base_key(method: &Method, uri: &axum::http::Uri) -> String {
    format!("http:{method} {uri}")
}

fn variant_key(base: &str, names: &[String], headers: &HeaderMap) -> String {
    // Never equal to the base key, which holds the Vary list.
    let mut k = format!("{base}\n#");
    for n in names {
        k.push('\n');
        k.push_str(n);
        k.push('=');
        for v in headers.get_all(n.as_str()) {
            k.push_str(&String::from_utf8_lossy(v.as_bytes()));
            k.push(',');
        }
    }
    k
}

fn vary_names(headers: &HeaderMap) -> Vec<String> {
    let mut names: Vec<String> = headers
        .get_all(header::VARY)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect();
    names.sort();
    names.dedup();
    names
}

fn etag_matches(if_none_match: &HeaderValue, etag: &HeaderValue) -> bool {
    let strip = |s: &str| s.trim().trim_start_matches("W/").to_owned();
    let Ok(etag) = etag.to_str() else {
        return false;
    };
    let etag = strip(etag);
    if_none_match
        .to_str()
        .map(|l| l.split(',').any(|t| t.trim() == "*" || strip(t) == etag))
        .unwrap_or(false)
}

impl<S> Service<Request<Body>> for CacheService<S>
where
    S: Service<Request<Body>, Response = Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Response<Body>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        // The clone is ready-checked next time; the ready one serves this call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let layer = self.layer.clone();
        Box::pin(async move {
            if !matches!(*req.method(), Method::GET | Method::HEAD) {
                return inner.call(req).await;
            }
            let base = base_key(req.method(), req.uri());
            let now = SystemTime::now();
            // 1. Look up: the Vary list, then the variant.
            let names = match layer.cache.get(&base).await {
                Ok(Some(v)) => match &*v {
                    CachedResponse::Vary(n) => Some(n.clone()),
                    CachedResponse::Response { .. } => None,
                },
                _ => None,
            };
            if let Some(names) = &names {
                let key = variant_key(&base, names, req.headers());
                if let Ok(Some(hit)) = layer.cache.get(&key).await
                    && let CachedResponse::Response { policy, body } = &*hit
                    && let BeforeRequest::Fresh(parts) = policy.before_request(&req, now)
                {
                    let not_modified = match (
                        req.headers().get(header::IF_NONE_MATCH),
                        parts.headers.get(header::ETAG),
                    ) {
                        (Some(inm), Some(etag)) => etag_matches(inm, etag),
                        _ => false,
                    };
                    let mut resp = if not_modified || req.method() == Method::HEAD {
                        Response::from_parts(parts, Body::empty())
                    } else {
                        Response::from_parts(parts, Body::from(body.clone()))
                    };
                    if not_modified {
                        *resp.status_mut() = StatusCode::NOT_MODIFIED;
                        resp.headers_mut().remove(header::CONTENT_LENGTH);
                    }
                    resp.headers_mut()
                        .insert("x-cache", HeaderValue::from_static("HIT"));
                    return Ok(resp);
                }
            }
            // 2. Miss: call through, store what the policy allows.
            let (req_parts, req_body) = req.into_parts();
            let resp = inner
                .call(Request::from_parts(req_parts.clone(), req_body))
                .await?;
            let opts = CacheOptions {
                shared: layer.shared,
                ..CacheOptions::default()
            };
            let policy = CachePolicy::new_options(&req_parts, &resp, now, opts);
            let ttl = policy.time_to_live(now);
            let size = axum::body::HttpBody::size_hint(resp.body()).exact();
            let storable = policy.is_storable()
                && ttl > Duration::ZERO
                && req_parts.method == Method::GET
                && size.is_some_and(|n| n as usize <= layer.max_body)
                && !resp
                    .headers()
                    .get_all(header::VARY)
                    .iter()
                    .any(|v| v.as_bytes().trim_ascii() == b"*");
            if !storable {
                let mut resp = resp;
                resp.headers_mut()
                    .insert("x-cache", HeaderValue::from_static("MISS"));
                return Ok(resp);
            }
            let (parts, body) = resp.into_parts();
            let bytes = match body.collect().await {
                Ok(c) => c.to_bytes(),
                Err(e) => {
                    tracing::warn!(error = %e, "response body failed while caching it");
                    return Ok(Response::from_parts(parts, Body::empty()));
                }
            };
            let names = vary_names(&parts.headers);
            let key = variant_key(&base, &names, &req_parts.headers);
            let entry = EntryOptions::new().ttl(ttl);
            let stored = CachedResponse::Response {
                policy: Box::new(policy),
                body: bytes.to_vec(),
            };
            let _ = layer
                .cache
                .set_with(
                    &base,
                    CachedResponse::Vary(names),
                    &EntryOptions::new().ttl(ttl.max(Duration::from_secs(60))),
                )
                .await;
            if let Err(e) = layer.cache.set_with(&key, stored, &entry).await {
                tracing::debug!(error = %e, "response not cached");
            }
            let mut resp = Response::from_parts(parts, Body::from(bytes));
            resp.headers_mut()
                .insert("x-cache", HeaderValue::from_static("MISS"));
            Ok(resp)
        })
    }
}
