//! Rollouts between two real HTTP servers on loopback, through a real HTTP client, with the
//! judge driven on a compressed clock: requests flow as fast as the servers answer and each
//! counts for 1/rate of a second, so an hour of rollout takes seconds. Latencies and errors
//! are the servers' own.
#![allow(clippy::unwrap_used)]

use axum::body::Body;
use axum::extract::State;
use axum::routing::get;
use http::{Request, Response, StatusCode};
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use nexus_rollout::{Phase, Rollout, RolloutStatus, Strategy};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tower::{Layer, Service, ServiceExt, service_fn};

/// How an upstream behaves; changeable while it runs.
#[derive(Debug, Default)]
struct Behaviour {
    /// Failures per 10 000 requests.
    errors_bp: AtomicU64,
    /// Latency: uniform within [base, 2 × base] µs.
    base_us: AtomicU64,
    /// Requests that carried the shadow header.
    shadowed: AtomicU64,
}

async fn handler(State(b): State<Arc<Behaviour>>, req: Request<Body>) -> Response<Body> {
    if req.headers().contains_key(nexus_rollout::SHADOW_HEADER) {
        b.shadowed.fetch_add(1, Ordering::Relaxed);
    }
    let base = b.base_us.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_micros(base + fastrand::u64(0..=base))).await;
    let status = if fastrand::u64(0..10_000) < b.errors_bp.load(Ordering::Relaxed) {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    };
    let mut resp = Response::new(Body::from("doc"));
    *resp.status_mut() = status;
    resp
}

/// A real server on a free loopback port.
async fn upstream(errors_percent: f64, base_ms: f64) -> (u16, Arc<Behaviour>) {
    let b = Arc::new(Behaviour::default());
    b.errors_bp
        .store((errors_percent * 100.0) as u64, Ordering::Relaxed);
    b.base_us
        .store((base_ms * 1000.0) as u64, Ordering::Relaxed);
    let app = axum::Router::new()
        .route("/doc/{id}", get(handler))
        .with_state(b.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (port, b)
}

type HttpClient = Client<HttpConnector, Body>;

/// A tower service that forwards to the server on `port`.
fn forward(
    client: HttpClient,
    port: u16,
) -> impl Service<
    Request<Body>,
    Response = Response<hyper::body::Incoming>,
    Error = hyper_util::client::legacy::Error,
    Future = hyper_util::client::legacy::ResponseFuture,
> + Clone
+ Send
+ 'static {
    service_fn(move |mut req: Request<Body>| {
        let uri = format!("http://127.0.0.1:{port}{}", req.uri().path());
        *req.uri_mut() = uri.parse().unwrap();
        client.request(req)
    })
}

struct Run {
    status: RolloutStatus,
    /// Simulated seconds until the end (or the limit).
    seconds: f64,
    /// The step the rollout ended in.
    ended_in_step: usize,
}

/// Drives `rollout` with `rate` simulated requests per second (32 in flight) until it ends or
/// `limit` of simulated time passes; the judge looks every `every`.
async fn drive(
    rollout: &Rollout,
    stable: u16,
    candidate: u16,
    rate: f64,
    every: Duration,
    limit: Duration,
) -> Run {
    let client: HttpClient = Client::builder(hyper_util::rt::TokioExecutor::new())
        .pool_max_idle_per_host(64)
        .build_http();
    let svc = rollout
        .layer(forward(client.clone(), candidate))
        .layer(forward(client, stable));
    let per_look = (rate * every.as_secs_f64()) as usize;
    let t0 = Instant::now();
    let mut t = Duration::ZERO;
    let mut step = 0;
    while t < limit {
        let mut set = tokio::task::JoinSet::new();
        for w in 0..32 {
            let mut svc = svc.clone();
            let n = per_look / 32 + usize::from(w < per_look % 32);
            set.spawn(async move {
                for i in 0..n {
                    let req = Request::get(format!("/doc/{i}"))
                        .header("x-user-id", format!("u{}", fastrand::u32(..)))
                        .body(Body::empty())
                        .unwrap();
                    let resp = svc.ready().await.unwrap().call(req).await.unwrap();
                    // Read the body, as a proxy would.
                    let _ = http_body_util::BodyExt::collect(resp.into_body()).await;
                }
            });
        }
        set.join_all().await;
        t += every;
        rollout.evaluate_at(t0 + t).await;
        let s = rollout.status();
        if !s.phase.is_active() {
            return Run {
                status: s,
                seconds: t.as_secs_f64(),
                ended_in_step: step,
            };
        }
        step = s.step;
    }
    Run {
        status: rollout.status(),
        seconds: t.as_secs_f64(),
        ended_in_step: step,
    }
}

fn canary(name: &str) -> Rollout {
    Rollout::builder(name)
        .strategy(Strategy::canary([5.0, 25.0, 50.0, 100.0]).unwrap())
        .analysis_interval(Duration::from_secs(60))
        .sticky_header("x-user-id")
        .build()
        .unwrap()
}

const RATE: f64 = 200.0;
const EVERY: Duration = Duration::from_secs(3);
const LIMIT: Duration = Duration::from_secs(3600);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_candidate_is_promoted_to_all_traffic() {
    // Identical servers: an A/A run on real HTTP. Three of them.
    for run in 0..3 {
        let (stable, _) = upstream(0.5, 2.0).await;
        let (candidate, _) = upstream(0.5, 2.0).await;
        let rollout = canary("healthy");
        let r = drive(&rollout, stable, candidate, RATE, EVERY, LIMIT).await;
        println!(
            "healthy run {run}: {:?} after {:.0} simulated s",
            r.status.phase, r.seconds
        );
        assert_eq!(
            r.status.phase,
            Phase::Promoted,
            "{:?}",
            r.status.events.last()
        );
        assert_eq!(r.status.weight_percent, 100.0);
        let steps: Vec<usize> = r.status.events.iter().map(|e| e.step).collect();
        // 5, 25, 50 % analysed in turn; passing 50 % promotes to 100 %.
        assert_eq!(steps, [0, 1, 2, 3], "every step in turn");
    }
}

/// A canary from a server with `stable` (error %, base latency ms) to one with `candidate`.
async fn regression(what: &str, stable: (f64, f64), candidate: (f64, f64)) -> Run {
    let (s, _) = upstream(stable.0, stable.1).await;
    let (c, _) = upstream(candidate.0, candidate.1).await;
    let r = drive(&canary("regression"), s, c, RATE, EVERY, LIMIT).await;
    println!(
        "{what} at {RATE} req/s, steps 5/25/50/100 %: {:?} in step {} after {:.0} simulated s: {:?}",
        r.status.phase,
        r.ended_in_step,
        r.seconds,
        r.status.events.last().map(|e| &e.reasons)
    );
    assert_eq!(r.status.phase, Phase::RolledBack);
    assert_eq!(r.status.weight_percent, 0.0);
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_more_points_of_errors_roll_back_at_the_first_step() {
    let r = regression("+5 points of errors", (0.5, 2.0), (5.5, 2.0)).await;
    assert_eq!(r.ended_in_step, 0);
    let reasons = &r.status.events.last().unwrap().reasons;
    assert!(reasons[0].contains("error ratio"), "{reasons:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_percent_slower_rolls_back_at_the_first_step() {
    let r = regression("+50 % latency", (0.5, 2.0), (0.5, 3.0)).await;
    assert_eq!(r.ended_in_step, 0);
    let reasons = &r.status.events.last().unwrap().reasons;
    assert!(reasons.iter().any(|r| r.contains("latency")), "{reasons:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detection_time_of_a_two_point_error_regression() {
    regression(
        "2-point error regression (1 % → 3 %)",
        (1.0, 1.0),
        (3.0, 1.0),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blue_green_prechecks_on_shadow_copies_then_switches_and_switches_back() {
    let (stable, _) = upstream(0.0, 1.0).await;
    let (candidate, cand) = upstream(0.0, 1.0).await;
    let rollout = Rollout::builder("bluegreen")
        .strategy(Strategy::blue_green())
        .analysis_interval(Duration::from_secs(60))
        .build()
        .unwrap();
    assert!(rollout.status().shadow);
    // Pre-check: every answer comes from stable; the candidate sees shadow copies only.
    let client: HttpClient = Client::builder(hyper_util::rt::TokioExecutor::new()).build_http();
    let mut svc = rollout
        .layer(forward(client.clone(), candidate))
        .layer(forward(client, stable));
    let t0 = Instant::now();
    let mut t = Duration::ZERO;
    while rollout.status().step == 0 && t < LIMIT {
        for i in 0..300 {
            let req = Request::get(format!("/doc/{i}"))
                .body(Body::empty())
                .unwrap();
            let resp = svc.ready().await.unwrap().call(req).await.unwrap();
            assert_eq!(resp.status(), StatusCode::OK);
        }
        t += EVERY;
        // Let the shadow copies land before the look.
        tokio::time::sleep(Duration::from_millis(20)).await;
        rollout.evaluate_at(t0 + t).await;
    }
    let s = rollout.status();
    println!("blue-green pre-check: {:?}", s.shadow_copies);
    assert_eq!((s.step, s.weight_percent, s.shadow), (1, 100.0, false));
    assert!(cand.shadowed.load(Ordering::Relaxed) >= 200);
    assert!(s.shadow_copies.compared >= 200 && s.shadow_copies.mismatched == 0);
    // Switched: the candidate answers everything, judged against stable's pre-check figures.
    // It starts failing: the next look with enough samples switches back.
    cand.errors_bp.store(1_000, Ordering::Relaxed);
    let shadowed = cand.shadowed.load(Ordering::Relaxed);
    for _ in 0..4 {
        for i in 0..300 {
            let req = Request::get(format!("/doc/{i}"))
                .body(Body::empty())
                .unwrap();
            svc.ready().await.unwrap().call(req).await.unwrap();
        }
        t += EVERY;
        rollout.evaluate_at(t0 + t).await;
    }
    let s = rollout.status();
    assert_eq!(s.phase, Phase::RolledBack, "{:?}", s.verdict);
    assert_eq!(s.weight_percent, 0.0);
    assert_eq!(
        cand.shadowed.load(Ordering::Relaxed),
        shadowed,
        "no copies once switched"
    );
    let req = Request::get("/doc/1").body(Body::empty()).unwrap();
    let resp = svc.ready().await.unwrap().call(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "back on stable at once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_keep_their_version_as_the_weight_grows() {
    let (stable, _) = upstream(0.0, 0.1).await;
    let (candidate, _) = upstream(0.0, 0.1).await;
    let rollout = canary("sticky");
    let client: HttpClient = Client::builder(hyper_util::rt::TokioExecutor::new()).build_http();
    let counter = Arc::new(AtomicU64::new(0));
    let seen = counter.clone();
    // The candidate marks its answers so the test can tell who answered.
    let cand = forward(client.clone(), candidate).map_response(move |mut r| {
        seen.fetch_add(1, Ordering::Relaxed);
        r.headers_mut()
            .insert("x-version", "candidate".parse().unwrap());
        r
    });
    let stable = forward(client, stable).map_response(|mut r| {
        r.headers_mut()
            .insert("x-version", "stable".parse().unwrap());
        r
    });
    let mut svc = rollout.layer(cand).layer(stable);
    let mut on_candidate: Vec<bool> = Vec::new();
    for step in 0..3 {
        let mut now = Vec::new();
        for u in 0..400 {
            let req = Request::get("/doc/1")
                .header("x-user-id", format!("user-{u}"))
                .body(Body::empty())
                .unwrap();
            let resp = svc.ready().await.unwrap().call(req).await.unwrap();
            now.push(resp.headers()["x-version"] == "candidate");
        }
        let share = now.iter().filter(|&&c| c).count() as f64 / 400.0;
        let expect = [0.05, 0.25, 0.5][step];
        assert!((share - expect).abs() < 0.07, "step {step}: {share}");
        // Nobody on the candidate goes back as the weight grows.
        for (u, (&before, &after)) in on_candidate.iter().zip(&now).enumerate() {
            assert!(!before || after, "user-{u} flipped back at step {step}");
        }
        on_candidate = now;
        rollout.promote().await.unwrap();
    }
    assert!(counter.load(Ordering::Relaxed) > 0);
}
