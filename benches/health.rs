//! nexus-health's `HealthLayer` against its peers, in the same run.
//!
//! - `health_layer`: one request through an in-process axum router — bare, with a no-op layer
//!   (axum re-boxes every layered route: that cost is axum's, paid by any layer), wrapped in
//!   `HealthLayer`, and wrapped in `axum-prometheus`'s `PrometheusMetricLayer` (the usual choice
//!   today, recording into `metrics-exporter-prometheus`). A layer's overhead is its difference
//!   from the bare router; `HealthLayer`'s own cost is its difference from the no-op layer.
//!   `health_layer_outside_router` wraps the whole router instead, labelling requests with
//!   `TemplateRoute` (no per-route re-boxing).
//! - memory: RSS after 10 k and after 10 M requests through `HealthLayer` with no scrape in between
//!   (printed; with `--quick`, 1 M instead of 10 M).
//!
//! `cargo bench --bench health`

mod common;
use common::rss_bytes;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use criterion::{Criterion, Throughput};
use futures_util::FutureExt;
use http::Request;
use nexus_health::{HealthLayer, Recorder, TemplateRoute};
use tower::{Service, ServiceExt};

fn app() -> Router {
    Router::new()
        .route("/users/{id}", get(|| async { "user" }))
        .route("/health", get(|| async { "ok" }))
        .fallback(|| async { "fallback" })
}

/// One request, polled to completion without an executor (the handler never waits).
fn call<S>(router: &mut S, path: &'static str) -> u16
where
    S: Service<
            Request<Body>,
            Response = axum::response::Response,
            Error = std::convert::Infallible,
        >,
{
    let req = Request::get(path).body(Body::empty()).expect("request");
    let svc = ServiceExt::<Request<Body>>::ready(router)
        .now_or_never()
        .expect("ready")
        .expect("service");
    let fut = svc.call(req);
    fut.now_or_never()
        .expect("handler completes at once")
        .expect("infallible")
        .status()
        .as_u16()
}

fn overhead(c: &mut Criterion) {
    let mut bare = app();
    // A layer that does nothing: axum re-boxes every layered route, and that cost is not ours.
    let mut noop = app().layer(tower::layer::layer_fn(|s| s));
    let recorder = Recorder::builder().build();
    let mut ours = app().layer(HealthLayer::new(recorder.clone()));
    // The same layer around the whole router, labelling by templates: no per-route re-boxing.
    let templates = TemplateRoute::new(["/users/{id}", "/health"]).expect("templates");
    let mut outside = tower::Layer::layer(
        &HealthLayer::new(Recorder::builder().build()).route_extractor(templates),
        app(),
    );
    // axum-prometheus spawns its exporter's upkeep task: it needs a runtime around.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let _enter = rt.enter();
    let (prom_layer, _handle) = axum_prometheus::PrometheusMetricLayer::pair();
    let mut prom = app().layer(prom_layer);

    let mut g = c.benchmark_group("health_layer");
    g.throughput(Throughput::Elements(1));
    g.bench_function("bare_router", |b| b.iter(|| call(&mut bare, "/users/42")));
    g.bench_function("noop_layer", |b| b.iter(|| call(&mut noop, "/users/42")));
    g.bench_function("health_layer", |b| b.iter(|| call(&mut ours, "/users/42")));
    g.bench_function("health_layer_outside_router", |b| {
        b.iter(|| call(&mut outside, "/users/42"))
    });
    g.bench_function("axum_prometheus", |b| {
        b.iter(|| call(&mut prom, "/users/42"))
    });
    g.finish();
    assert!(recorder.totals()[0].requests > 0, "the layer recorded");
}

fn memory(quick: bool) {
    let recorder = Recorder::builder().build();
    let mut router = app().layer(HealthLayer::new(recorder.clone()));
    let paths = ["/users/1", "/health", "/nope/1", "/users/2"];
    let mut n: u64 = 0;
    let mut run = |until: u64| {
        while n < until {
            call(&mut router, paths[(n % 4) as usize]);
            n += 1;
        }
    };
    run(10_000);
    let after_10k = rss_bytes();
    let big = if quick { 1_000_000 } else { 10_000_000 };
    run(big);
    let after_big = rss_bytes();
    let total: u64 = recorder.totals().iter().map(|t| t.requests).sum();
    println!(
        "health_layer memory: RSS after 10k requests {:.2} MiB, after {} requests {:.2} MiB, growth {:+.3} MiB (recorded {total})",
        after_10k as f64 / 1048576.0,
        big,
        after_big as f64 / 1048576.0,
        (after_big as f64 - after_10k as f64) / 1048576.0
    );
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let mut c = Criterion::default().configure_from_args();
    overhead(&mut c);
    c.final_summary();
    memory(quick);
}
