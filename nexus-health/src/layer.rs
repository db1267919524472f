//! `HealthLayer` / `HealthService`: RED metrics for any `tower::Service<http::Request<B>>`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use http::{Request, Response, StatusCode};
use tower::{Layer, Service};

use crate::recorder::{Outcome, Recorder, Route, UNMATCHED, method_index};

/// Decides what a response counts as. The default, [`ServerErrorsAsFailures`], counts 5xx as
/// errors and 4xx as client errors; service errors (the `Err` side) are always errors.
pub trait ErrorPolicy: Clone + Send + Sync + 'static {
    /// Classifies a response status.
    fn classify(&self, status: StatusCode) -> Outcome;
}

/// 5xx → error, 4xx → client error, anything else → success.
#[derive(Debug, Clone, Copy, Default)]
pub struct ServerErrorsAsFailures;

impl ErrorPolicy for ServerErrorsAsFailures {
    #[inline]
    fn classify(&self, status: StatusCode) -> Outcome {
        if status.is_server_error() {
            Outcome::Error
        } else if status.is_client_error() {
            Outcome::ClientError
        } else {
            Outcome::Success
        }
    }
}

/// Picks the route label of a request. It must return a *template* (`/users/{id}`), never the raw
/// path of a REST API, or series multiply; `None` counts the request as [`UNMATCHED`].
pub trait RouteExtractor: Clone + Send + Sync + 'static {
    /// The route label of `req`, if it has one.
    fn route<'a, B>(&'a self, req: &'a Request<B>) -> Option<&'a str>;
}

/// axum's [`MatchedPath`](axum::extract::MatchedPath) (feature `http`): the route template the
/// router matched. Apply the layer with `Router::layer` so it runs after routing.
#[cfg(feature = "http")]
#[derive(Debug, Clone, Copy, Default)]
pub struct MatchedPathRoute;

#[cfg(feature = "http")]
impl RouteExtractor for MatchedPathRoute {
    #[inline]
    fn route<'a, B>(&self, req: &'a Request<B>) -> Option<&'a str> {
        req.extensions()
            .get::<axum::extract::MatchedPath>()
            .map(|m| m.as_str())
    }
}

/// The URI path itself, for protocols whose paths are a fixed set (gRPC/tonic: one path per
/// method). Bounded by the recorder's route cap.
#[derive(Debug, Clone, Copy, Default)]
pub struct UriPathRoute;

impl RouteExtractor for UriPathRoute {
    fn route<'a, B>(&'a self, req: &'a Request<B>) -> Option<&'a str> {
        Some(req.uri().path())
    }
}

/// Matches the path against route templates you list (`/users/{id}`, the axum 0.8 / matchit
/// syntax), for a layer applied *outside* the router: no `MatchedPath` there, but also none of
/// the per-route boxing axum adds to every route when a layer is added with `Router::layer`
/// (see `BENCHMARKS.md`), and unmatched paths are counted without a fallback. Keep the list in
/// step with the router.
///
/// ```
/// use nexus_health::{HealthLayer, Recorder, TemplateRoute};
/// let routes = TemplateRoute::new(["/users/{id}", "/health"]).unwrap();
/// let layer = HealthLayer::new(Recorder::default()).route_extractor(routes);
/// # let _ = layer;
/// ```
#[derive(Debug, Clone)]
pub struct TemplateRoute {
    router: Arc<matchit::Router<Arc<str>>>,
}

impl TemplateRoute {
    /// Builds the matcher; an invalid or conflicting template is an error naming it.
    pub fn new<I, S>(templates: I) -> Result<Self, String>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut router = matchit::Router::new();
        for t in templates {
            let t: String = t.into();
            router
                .insert(t.clone(), Arc::<str>::from(t.as_str()))
                .map_err(|e| format!("route template {t:?}: {e}"))?;
        }
        Ok(Self {
            router: Arc::new(router),
        })
    }
}

impl RouteExtractor for TemplateRoute {
    #[inline]
    fn route<'a, B>(&'a self, req: &'a Request<B>) -> Option<&'a str> {
        self.router.at(req.uri().path()).ok().map(|m| &**m.value)
    }
}

/// The default route extractor: axum's [`MatchedPath`](https://docs.rs/axum/latest/axum/extract/struct.MatchedPath.html)
/// with the `http` feature (requests without one are counted as unmatched), the URI path
/// without it (for non-axum services, e.g. tonic). One type either way, so enabling `http`
/// (from any crate in the build) never changes `HealthLayer`'s type.
///
/// ```
/// use nexus_health::{DefaultRoute, HealthLayer, Recorder, ServerErrorsAsFailures};
/// // The same type whatever the features.
/// let layer: HealthLayer<ServerErrorsAsFailures, DefaultRoute> = HealthLayer::new(Recorder::default());
/// # let _ = layer;
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultRoute;

impl RouteExtractor for DefaultRoute {
    #[inline]
    fn route<'a, B>(&'a self, req: &'a Request<B>) -> Option<&'a str> {
        #[cfg(feature = "http")]
        return MatchedPathRoute.route(req);
        #[cfg(not(feature = "http"))]
        return UriPathRoute.route(req);
    }
}

type DefaultExtractor = DefaultRoute;

/// A tower layer recording per-route requests, in-flight, errors and latency into a [`Recorder`].
///
/// The hot path takes no lock and allocates nothing once a route has been seen. Latency is
/// measured until the response head is ready (not while its body streams). A request cancelled
/// before it answered leaves the in-flight gauge and is not counted.
///
/// ```
/// use axum::{Router, routing::get};
/// use nexus_health::{HealthLayer, Recorder};
/// use tower::ServiceExt;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let recorder = Recorder::default();
/// let app: Router = Router::new()
///     .route("/users/{id}", get(|| async { "hi" }))
///     .layer(HealthLayer::new(recorder.clone()));
/// let req = http::Request::get("/users/7").body(axum::body::Body::empty()).unwrap();
/// app.oneshot(req).await.unwrap();
/// assert_eq!(recorder.totals()[0].route, "/users/{id}");
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct HealthLayer<P = ServerErrorsAsFailures, X = DefaultExtractor> {
    recorder: Recorder,
    policy: P,
    extractor: X,
}

impl HealthLayer {
    /// A layer recording into `recorder` with the default policy and route extractor.
    pub fn new(recorder: Recorder) -> Self {
        Self {
            recorder,
            policy: ServerErrorsAsFailures,
            extractor: DefaultExtractor::default(),
        }
    }
}

impl<P, X> HealthLayer<P, X> {
    /// Replaces the error policy.
    pub fn error_policy<P2: ErrorPolicy>(self, policy: P2) -> HealthLayer<P2, X> {
        HealthLayer {
            recorder: self.recorder,
            policy,
            extractor: self.extractor,
        }
    }

    /// Replaces the route extractor.
    pub fn route_extractor<X2: RouteExtractor>(self, extractor: X2) -> HealthLayer<P, X2> {
        HealthLayer {
            recorder: self.recorder,
            policy: self.policy,
            extractor,
        }
    }

    /// The recorder this layer writes to.
    pub fn recorder(&self) -> &Recorder {
        &self.recorder
    }
}

impl<S, P: Clone, X: Clone> Layer<S> for HealthLayer<P, X> {
    type Service = HealthService<S, P, X>;

    fn layer(&self, inner: S) -> Self::Service {
        HealthService {
            inner,
            recorder: self.recorder.clone(),
            policy: self.policy.clone(),
            extractor: self.extractor.clone(),
        }
    }
}

/// The service produced by [`HealthLayer`].
#[derive(Debug, Clone)]
pub struct HealthService<S, P = ServerErrorsAsFailures, X = DefaultExtractor> {
    inner: S,
    recorder: Recorder,
    policy: P,
    extractor: X,
}

impl<S, P, X, B, ResB> Service<Request<B>> for HealthService<S, P, X>
where
    S: Service<Request<B>, Response = Response<ResB>>,
    P: ErrorPolicy,
    X: RouteExtractor,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, P>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, req: Request<B>) -> Self::Future {
        let route = self
            .recorder
            .route(self.extractor.route(&req).unwrap_or(UNMATCHED));
        route.start();
        let pending = Pending {
            route,
            method: method_index(req.method()),
            start: quanta::Instant::now(),
            apdex_t_ns: self.recorder.apdex_t_ns(),
        };
        ResponseFuture {
            inner: self.inner.call(req),
            pending: Some(pending),
            policy: self.policy.clone(),
        }
    }
}

/// A request in progress: recorded when it answers, un-counted from in-flight when dropped.
struct Pending {
    route: Arc<Route>,
    method: usize,
    start: quanta::Instant,
    apdex_t_ns: u64,
}

impl Pending {
    fn finish(self, status: Option<u16>, outcome: Outcome) {
        let ns = self.start.elapsed().as_nanos() as u64;
        self.route
            .record(self.method, status, outcome, ns, self.apdex_t_ns);
        // Drop ends the in-flight count.
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.route.end();
    }
}

pin_project_lite::pin_project! {
    /// Response future of [`HealthService`].
    pub struct ResponseFuture<F, P> {
        #[pin]
        inner: F,
        pending: Option<Pending>,
        policy: P,
    }
}

impl<F, P> std::fmt::Debug for ResponseFuture<F, P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<F, P, ResB, E> Future for ResponseFuture<F, P>
where
    F: Future<Output = Result<Response<ResB>, E>>,
    P: ErrorPolicy,
{
    type Output = Result<Response<ResB>, E>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        if let Some(p) = this.pending.take() {
            match &result {
                Ok(resp) => p.finish(
                    Some(resp.status().as_u16()),
                    this.policy.classify(resp.status()),
                ),
                Err(_) => p.finish(None, Outcome::Error),
            }
        }
        Poll::Ready(result)
    }
}
