//! `CacheLayer`: a tower middleware caching HTTP responses in a [`TieredCache`], with RFC 9111
//! semantics from the `http-cache-semantics` crate (feature `http`).
//!
//! `GET` and `HEAD` requests are looked up by URI (a `HEAD` is answered from the `GET` entry,
//! headers without the body), then by the values of the headers the stored response `Vary`s
//! on; a fresh entry is answered without calling the inner service (with `Age`), or with
//! `304 Not Modified` when the request's `If-None-Match` matches its `ETag`. A `GET` response is
//! stored when the policy allows it (`Cache-Control` `no-store`/`private`/`max-age`/`s-maxage`,
//! `Expires`, shared-cache rules) and its body is known to be at most the size limit; for the
//! time the policy gives. A body that fails while being read is never stored, and the client
//! receives that failure, not a truncated success.
//!
//! Generic over request and response bodies (any `http_body::Body<Data = Bytes>`): responses
//! come back as [`CacheBody`]. Other methods go straight to the inner service's future, unboxed
//! ([`ResponseFuture`]).
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

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_util::future::BoxFuture;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
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

fn base_key(method: &Method, uri: &http::Uri) -> String {
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

pin_project_lite::pin_project! {
    /// The body of a response from [`CacheService`]: the inner service's own body on a miss that
    /// is not stored, the bytes from the cache on a hit or a stored miss, or the inner body's
    /// error when it failed while being read for storing (so the client sees the failure it
    /// would have seen without the cache, never a truncated or empty success).
    pub struct CacheBody<B: http_body::Body> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project_lite::pin_project! {
    #[project = KindProj]
    enum Kind<B: http_body::Body> {
        Inner { #[pin] body: B },
        Bytes { bytes: Option<Bytes> },
        Failed { error: Option<B::Error> },
    }
}

impl<B: http_body::Body> std::fmt::Debug for CacheBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.kind {
            Kind::Inner { .. } => "inner",
            Kind::Bytes { .. } => "cached bytes",
            Kind::Failed { .. } => "failed",
        };
        f.debug_struct("CacheBody").field("kind", &kind).finish()
    }
}

impl<B: http_body::Body> CacheBody<B> {
    fn inner(body: B) -> Self {
        Self {
            kind: Kind::Inner { body },
        }
    }

    fn bytes(b: Bytes) -> Self {
        Self {
            kind: Kind::Bytes { bytes: Some(b) },
        }
    }

    fn empty() -> Self {
        Self {
            kind: Kind::Bytes { bytes: None },
        }
    }

    fn failed(error: B::Error) -> Self {
        Self {
            kind: Kind::Failed { error: Some(error) },
        }
    }
}

impl<B> http_body::Body for CacheBody<B>
where
    B: http_body::Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, B::Error>>> {
        match self.project().kind.project() {
            KindProj::Inner { body } => body.poll_frame(cx),
            KindProj::Bytes { bytes } => {
                Poll::Ready(bytes.take().map(|b| Ok(http_body::Frame::data(b))))
            }
            KindProj::Failed { error } => Poll::Ready(error.take().map(Err)),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Inner { body } => body.is_end_stream(),
            Kind::Bytes { bytes } => bytes.is_none(),
            Kind::Failed { error } => error.is_none(),
        }
    }

    fn size_hint(&self) -> http_body::SizeHint {
        match &self.kind {
            Kind::Inner { body } => body.size_hint(),
            Kind::Bytes { bytes } => {
                http_body::SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
            Kind::Failed { .. } => http_body::SizeHint::default(),
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of [`CacheService`]: for requests the cache does not handle (methods other
    /// than `GET` and `HEAD`) the inner service's own future, unboxed; a boxed lookup-and-store
    /// otherwise.
    pub struct ResponseFuture<F, B: http_body::Body, E> {
        #[pin]
        state: State<F, B, E>,
    }
}

pin_project_lite::pin_project! {
    #[project = StateProj]
    enum State<F, B: http_body::Body, E> {
        Passthrough { #[pin] fut: F },
        Cached { fut: BoxFuture<'static, Result<Response<CacheBody<B>>, E>> },
    }
}

impl<F, B: http_body::Body, E> std::fmt::Debug for ResponseFuture<F, B, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<F, B, E> Future for ResponseFuture<F, B, E>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: http_body::Body,
{
    type Output = Result<Response<CacheBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Passthrough { fut } => fut
                .poll(cx)
                .map(|r| r.map(|resp| resp.map(CacheBody::inner))),
            StateProj::Cached { fut } => fut.as_mut().poll(cx),
        }
    }
}

impl<S, ReqB, ResB> Service<Request<ReqB>> for CacheService<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ReqB: Send + 'static,
    ResB: http_body::Body<Data = Bytes> + Send + 'static,
    ResB::Error: std::fmt::Display + Send,
{
    type Response = Response<CacheBody<ResB>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResB, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqB>) -> Self::Future {
        // The clone is ready-checked next time; the ready one serves this call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        if !matches!(*req.method(), Method::GET | Method::HEAD) {
            return ResponseFuture {
                state: State::Passthrough {
                    fut: inner.call(req),
                },
            };
        }
        let layer = self.layer.clone();
        let fut = Box::pin(async move {
            // A HEAD is answered from the GET entry (same headers, no body).
            let (req_parts, req_body) = req.into_parts();
            let base = base_key(&Method::GET, &req_parts.uri);
            let now = SystemTime::now();
            if let Some(hit) = lookup(&layer, &base, &req_parts, now).await {
                return Ok(hit);
            }
            // Miss: call through; store what the policy allows (GET only).
            let resp = inner
                .call(Request::from_parts(req_parts.clone(), req_body))
                .await?;
            let opts = CacheOptions {
                shared: layer.shared,
                ..CacheOptions::default()
            };
            let policy = CachePolicy::new_options(&req_parts, &resp, now, opts);
            let ttl = policy.time_to_live(now);
            let size = http_body::Body::size_hint(resp.body()).exact();
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
                let mut resp = resp.map(CacheBody::inner);
                resp.headers_mut()
                    .insert("x-cache", HeaderValue::from_static("MISS"));
                return Ok(resp);
            }
            let (parts, body) = resp.into_parts();
            let bytes = match body.collect().await {
                Ok(c) => c.to_bytes(),
                Err(e) => {
                    // Not stored; the client gets the same failure it would have without us.
                    tracing::debug!(error = %e, "response body failed: not cached");
                    return Ok(Response::from_parts(parts, CacheBody::failed(e)));
                }
            };
            store(
                &layer,
                &base,
                &req_parts.headers,
                &parts.headers,
                policy,
                ttl,
                &bytes,
            )
            .await;
            let mut resp = Response::from_parts(parts, CacheBody::bytes(bytes));
            resp.headers_mut()
                .insert("x-cache", HeaderValue::from_static("MISS"));
            Ok(resp)
        });
        ResponseFuture {
            state: State::Cached { fut },
        }
    }
}

/// A fresh stored response for `req` (the Vary list, then the variant), as a HIT or a 304.
async fn lookup<ResB: http_body::Body>(
    layer: &CacheLayer,
    base: &str,
    req: &http::request::Parts,
    now: SystemTime,
) -> Option<Response<CacheBody<ResB>>> {
    let names = match layer.cache.get(base).await {
        Ok(Some(v)) => match &*v {
            CachedResponse::Vary(n) => n.clone(),
            CachedResponse::Response { .. } => return None,
        },
        _ => return None,
    };
    let key = variant_key(base, &names, &req.headers);
    let hit = layer.cache.get(&key).await.ok()??;
    let CachedResponse::Response { policy, body } = &*hit else {
        return None;
    };
    // The stored request was a GET; RFC 9111 lets a HEAD be answered from it, so the policy
    // judges the HEAD as the GET it stands for.
    let fresh = if req.method == Method::HEAD {
        let mut as_get = req.clone();
        as_get.method = Method::GET;
        policy.before_request(&as_get, now)
    } else {
        policy.before_request(req, now)
    };
    let BeforeRequest::Fresh(parts) = fresh else {
        return None;
    };
    let not_modified = match (
        req.headers.get(header::IF_NONE_MATCH),
        parts.headers.get(header::ETAG),
    ) {
        (Some(inm), Some(etag)) => etag_matches(inm, etag),
        _ => false,
    };
    let mut resp = if not_modified || req.method == Method::HEAD {
        Response::from_parts(parts, CacheBody::empty())
    } else {
        Response::from_parts(parts, CacheBody::bytes(Bytes::from(body.clone())))
    };
    if not_modified {
        *resp.status_mut() = StatusCode::NOT_MODIFIED;
        resp.headers_mut().remove(header::CONTENT_LENGTH);
    }
    resp.headers_mut()
        .insert("x-cache", HeaderValue::from_static("HIT"));
    Some(resp)
}

/// Stores a response and the Vary list of its URI.
async fn store(
    layer: &CacheLayer,
    base: &str,
    req_headers: &HeaderMap,
    resp_headers: &HeaderMap,
    policy: CachePolicy,
    ttl: Duration,
    bytes: &Bytes,
) {
    let names = vary_names(resp_headers);
    let key = variant_key(base, &names, req_headers);
    let stored = CachedResponse::Response {
        policy: Box::new(policy),
        body: bytes.to_vec(),
    };
    let _ = layer
        .cache
        .set_with(
            base,
            CachedResponse::Vary(names),
            &EntryOptions::new().ttl(ttl.max(Duration::from_secs(60))),
        )
        .await;
    if let Err(e) = layer
        .cache
        .set_with(&key, stored, &EntryOptions::new().ttl(ttl))
        .await
    {
        tracing::debug!(error = %e, "response not cached");
    }
}
