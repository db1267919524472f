//! nexus-rollout's `RolloutLayer` against the bare service, in the same run.
//!
//! - `rollout_layer`: one request (built outside the timing) through a tower service that
//!   answers at once — bare, and
//!   wrapped in the rollout layer routing at random by a weight (5 %), routing by a sticky header
//!   (hash of `x-user-id`), and with everything on stable (before a rollout starts). The
//!   layer's overhead is the difference from `bare`: a weight read, a random draw or a hash, two
//!   clock reads, an `Arc` clone and three relaxed atomic adds.
//! - `rollout_layer_threads`: bare and weighted with both cores serving at once (the counters
//!   are striped per thread, so cores do not contend on them).
//!
//! `cargo bench --bench rollout`

use criterion::{BatchSize, Criterion, Throughput};
use futures_util::FutureExt;
use http::{Request, Response};
use nexus_rollout::{Rollout, Strategy};
use std::convert::Infallible;
use std::hint::black_box;
use tower::{Layer, Service, ServiceExt, service_fn};

type Req = Request<String>;

fn answer(_: Req) -> std::future::Ready<Result<Response<&'static str>, Infallible>> {
    std::future::ready(Ok(Response::new("ok")))
}

/// One request, polled to completion without an executor (the service never waits).
fn call<S>(svc: &mut S, req: Req) -> u16
where
    S: Service<Req, Response = Response<&'static str>, Error = Infallible>,
{
    let svc = ServiceExt::<Req>::ready(svc)
        .now_or_never()
        .expect("ready")
        .expect("service");
    svc.call(req)
        .now_or_never()
        .expect("completes at once")
        .expect("infallible")
        .status()
        .as_u16()
}

fn rollout(name: &str, sticky: bool) -> Rollout {
    let b = Rollout::builder(name).strategy(Strategy::canary([5.0, 100.0]).expect("steps"));
    let b = if sticky {
        b.sticky_header("x-user-id")
    } else {
        b
    };
    b.build().expect("rollout")
}

fn request(user: Option<&str>) -> Req {
    let mut b = Request::get("/documents/1");
    if let Some(u) = user {
        b = b.header("x-user-id", u);
    }
    b.body(String::new()).expect("request")
}

fn overhead(c: &mut Criterion) {
    let mut g = c.benchmark_group("rollout_layer");
    g.throughput(Throughput::Elements(1));
    let mut bare = service_fn(answer);
    g.bench_function("bare", |b| {
        b.iter_batched(
            || request(None),
            |r| black_box(call(&mut bare, r)),
            BatchSize::SmallInput,
        )
    });
    let weighted = rollout("weighted", false);
    let mut svc = weighted.layer(service_fn(answer)).layer(service_fn(answer));
    g.bench_function("weighted_5_percent", |b| {
        b.iter_batched(
            || request(None),
            |r| black_box(call(&mut svc, r)),
            BatchSize::SmallInput,
        )
    });
    let bare_user = service_fn(answer);
    let mut bare_user = bare_user;
    g.bench_function("bare_with_header", |b| {
        b.iter_batched(
            || request(Some("user-12345")),
            |r| black_box(call(&mut bare_user, r)),
            BatchSize::SmallInput,
        )
    });
    let sticky = rollout("sticky", true);
    let mut svc = sticky.layer(service_fn(answer)).layer(service_fn(answer));
    g.bench_function("sticky_header", |b| {
        b.iter_batched(
            || request(Some("user-12345")),
            |r| black_box(call(&mut svc, r)),
            BatchSize::SmallInput,
        )
    });
    let idle = rollout("idle", false);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(idle.abort("benchmark: all on stable"))
        .expect("abort");
    let mut svc = idle.layer(service_fn(answer)).layer(service_fn(answer));
    g.bench_function("all_on_stable", |b| {
        b.iter_batched(
            || request(None),
            |r| black_box(call(&mut svc, r)),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

/// `iters` requests on each of two threads at once, each thread with its own service (as
/// each connection of a server has its own clone).
fn on_threads<S>(make: impl Fn() -> S + Sync, iters: u64) -> std::time::Duration
where
    S: Service<Req, Response = Response<&'static str>, Error = Infallible>,
{
    let start = std::time::Instant::now();
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                let mut svc = make();
                for _ in 0..iters {
                    black_box(call(&mut svc, request(None)));
                }
            });
        }
    });
    start.elapsed()
}

fn threads(c: &mut Criterion) {
    let mut g = c.benchmark_group("rollout_layer_threads");
    g.throughput(Throughput::Elements(2));
    g.bench_function("bare", |b| {
        b.iter_custom(|iters| on_threads(|| service_fn(answer), iters))
    });
    let r = rollout("threads", false);
    let layer = r.layer(service_fn(answer));
    g.bench_function("weighted_5_percent", |b| {
        b.iter_custom(|iters| on_threads(|| layer.layer(service_fn(answer)), iters))
    });
    g.finish();
}

criterion::criterion_group!(benches, overhead, threads);
criterion::criterion_main!(benches);
