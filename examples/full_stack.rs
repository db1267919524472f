//! A small documents service using every Nexus crate: axum wrapped in `HealthLayer`, reads
//! through a `TieredCache`, documents in PostgreSQL (or in memory), monitored by `DbMonitor`,
//! alerting through the engine, everything mounted by the `Monitor`.
//!
//! ```text
//! cargo run --release --features full --example full_stack                  # embedded defaults
//! cargo run --release --features full --example full_stack -- --demo-traffic # see an alert fire and resolve
//! cargo run --release --features full --example full_stack -- --demo-rollout # a canary of GET /documents/{id} v2, promoted
//! cargo run --release --features full --example full_stack -- --demo-rollout=faulty # v2 fails 10 %: rolled back
//! REDIS_URL=redis://127.0.0.1:6379/ DATABASE_URL=postgres://… WEBHOOK_URL=http://… BIND=0.0.0.0:8080 \
//!   OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4318 \
//!   cargo run --release --features full --example full_stack
//! ```
//!
//! Routes: `POST /documents {"title","body"}`, `GET /documents/{id}`, `GET /documents?q=word`,
//! `POST /admin/faults {"error_rate": 0.5}` (fault injection for the demo), and the monitor's
//! `/dashboard`, `/api/v1/...`, `/livez`, `/readyz`, `/health`, `/metrics`.
//!
//! The guarded routes (the monitor's `POST`s, cache values, database reports, `/admin/faults`)
//! need `Authorization: Bearer $NEXUS_TOKEN` when `NEXUS_TOKEN` is set; without it they are open
//! only when `BIND` is a loopback address, and closed (403) otherwise.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use nexus::alerting::{Receiver, Route};
use nexus::cache::{ClusterTier, MemoryTier, RedisBackplane, RedisTier, TieredCache};
use nexus::core::auth::Access;
use nexus::health::{Health, PostgresProbe, ProbeSpec, Probes, Recorder, RedisProbe};
use nexus::monitor::Monitor;
use nexus::monitor::serve::{ServeConfig, serve, shutdown_signal};
use nexus::rollout::{Rollout, Strategy};
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Document {
    id: i64,
    title: String,
    body: String,
}

#[derive(Deserialize)]
struct NewDocument {
    title: String,
    body: String,
}

/// Where documents live: PostgreSQL when `DATABASE_URL` is set, else memory.
#[derive(Clone)]
enum Store {
    Memory(Arc<RwLock<BTreeMap<i64, Document>>>, Arc<AtomicU64>),
    Postgres(sqlx::PgPool),
}

impl Store {
    async fn insert(&self, d: NewDocument) -> Result<Document, String> {
        match self {
            Store::Memory(m, next) => {
                let id = next.fetch_add(1, Ordering::SeqCst) as i64 + 1;
                let doc = Document {
                    id,
                    title: d.title,
                    body: d.body,
                };
                m.write()
                    .map_err(|e| e.to_string())?
                    .insert(id, doc.clone());
                Ok(doc)
            }
            Store::Postgres(pool) => sqlx::query_as::<_, (i64,)>(
                "INSERT INTO documents (title, body) VALUES ($1, $2) RETURNING id",
            )
            .bind(&d.title)
            .bind(&d.body)
            .fetch_one(pool)
            .await
            .map(|(id,)| Document {
                id,
                title: d.title,
                body: d.body,
            })
            .map_err(|e| e.to_string()),
        }
    }

    async fn get(&self, id: i64) -> Result<Option<Document>, String> {
        match self {
            Store::Memory(m, _) => Ok(m.read().map_err(|e| e.to_string())?.get(&id).cloned()),
            Store::Postgres(pool) => sqlx::query_as::<_, (i64, String, String)>(
                "SELECT id, title, body FROM documents WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(pool)
            .await
            .map(|r| r.map(|(id, title, body)| Document { id, title, body }))
            .map_err(|e| e.to_string()),
        }
    }

    async fn search(&self, q: &str) -> Result<Vec<Document>, String> {
        match self {
            Store::Memory(m, _) => Ok(m
                .read()
                .map_err(|e| e.to_string())?
                .values()
                .filter(|d| d.title.contains(q) || d.body.contains(q))
                .take(50)
                .cloned()
                .collect()),
            Store::Postgres(pool) => sqlx::query_as::<_, (i64, String, String)>(
                "SELECT id, title, body FROM documents WHERE title ILIKE '%' || $1 || '%' OR body ILIKE '%' || $1 || '%' ORDER BY id LIMIT 50",
            )
            .bind(q)
            .fetch_all(pool)
            .await
            .map(|rows| rows.into_iter().map(|(id, title, body)| Document { id, title, body }).collect())
            .map_err(|e| e.to_string()),
        }
    }
}

#[derive(Clone)]
struct App {
    store: Store,
    cache: TieredCache<Document>,
    /// Injected error rate in ‰ (the demo's burst of errors).
    faults: Arc<AtomicU64>,
    requests: Arc<AtomicU64>,
    /// `--demo-rollout=faulty`: version 2 of the read handler fails one request in ten.
    v2_faulty: bool,
}

fn error(code: StatusCode, m: impl std::fmt::Display) -> Response {
    (code, Json(json!({ "error": m.to_string() }))).into_response()
}

async fn create(
    State(a): State<App>,
    body: Result<Json<NewDocument>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Ok(Json(d)) = body else {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "expected {\"title\": string, \"body\": string}",
        );
    };
    if d.title.is_empty() || d.title.len() > 500 || d.body.len() > 100_000 {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "title must be 1-500 bytes, body at most 100 000",
        );
    }
    match a.store.insert(d).await {
        Ok(doc) => (StatusCode::CREATED, Json(doc)).into_response(),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e),
    }
}

async fn read(State(a): State<App>, Path(id): Path<i64>) -> Response {
    let n = a.requests.fetch_add(1, Ordering::Relaxed);
    let faults = a.faults.load(Ordering::Relaxed);
    if faults > 0 && (n * 7919) % 1000 < faults {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "injected fault");
    }
    let store = a.store.clone();
    let key = format!("doc:{id}");
    let loaded = a
        .cache
        .get_or_load(&key, || async move {
            match store.get(id).await {
                Ok(Some(d)) => Ok(d),
                Ok(None) => Err(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "no such document",
                )),
                Err(e) => Err(std::io::Error::other(e)),
            }
        })
        .await;
    match loaded {
        Ok(d) => Json(&*d).into_response(),
        Err(nexus::cache::CacheError::Loader(e)) if e.to_string() == "no such document" => {
            error(StatusCode::NOT_FOUND, format!("no document {id}"))
        }
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e),
    }
}

/// Version 2 of `GET /documents/{id}` (the candidate of `--demo-rollout`): the document with
/// its word count.
async fn read_v2(State(a): State<App>, Path(id): Path<i64>) -> Response {
    let n = a.requests.fetch_add(1, Ordering::Relaxed);
    if a.v2_faulty && n % 10 == 0 {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "v2 bug");
    }
    let resp = read(State(a), Path(id)).await;
    if resp.status() != StatusCode::OK {
        return resp;
    }
    let Ok(bytes) = axum::body::to_bytes(resp.into_body(), 1 << 20).await else {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "unreadable document");
    };
    match serde_json::from_slice::<Document>(&bytes) {
        Ok(d) => {
            let words = d.body.split_whitespace().count();
            Json(json!({ "id": d.id, "title": d.title, "body": d.body, "words": words, "version": 2 }))
                .into_response()
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

/// The rollout of `--demo-rollout`: 10 % → 50 % → 100 %, 20 s of analysis per step, users
/// kept on their version by `x-user-id`.
fn demo_rollout() -> Result<Rollout, nexus::rollout::RolloutError> {
    Rollout::builder("documents")
        .revision("v2")
        .strategy(Strategy::canary([10.0, 50.0, 100.0])?)
        .analysis_interval(Duration::from_secs(20))
        .evaluate_every(Duration::from_secs(2))
        .min_samples(100)
        .sticky_header("x-user-id")
        .build()
}

/// Readers at ourselves for `--demo-rollout`: 500 users, 100 reads a second; the rollout's
/// changes are printed.
async fn demo_rollout_traffic(base: String, rollout: Rollout) {
    use http_body_util::{BodyExt, Full};
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<bytes::Bytes>>();
    for i in 0..20 {
        let body = format!(r#"{{"title":"Document {i}","body":"demo body number {i}"}}"#);
        let req = http::Request::post(format!("{base}/documents"))
            .header("content-type", "application/json")
            .body(Full::from(body))
            .expect("request");
        let _ = client.request(req).await;
    }
    println!("demo: reading documents as 500 users while {base}/api/v1/rollout shows the canary");
    let mut last = String::new();
    for i in 0u64.. {
        let req = http::Request::get(format!("{base}/documents/{}", 1 + i % 20))
            .header("x-user-id", format!("user-{}", i % 500))
            .body(Full::default())
            .expect("request");
        if let Ok(resp) = client.request(req).await {
            let _ = resp.into_body().collect().await;
        }
        if i % 100 == 0 {
            let s = rollout.status();
            let now = format!("{} at {} %", s.phase.as_str(), s.weight_percent);
            if now != last {
                let why = s
                    .events
                    .last()
                    .map(|e| e.reasons.join("; "))
                    .unwrap_or_default();
                println!("demo: rollout {now} ({why})");
                last = now;
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[derive(Deserialize)]
struct SearchQuery {
    q: Option<String>,
}

async fn search(State(a): State<App>, Query(q): Query<SearchQuery>) -> Response {
    match a.store.search(q.q.as_deref().unwrap_or("")).await {
        Ok(docs) => Json(docs).into_response(),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e),
    }
}

async fn set_faults(State(a): State<App>, Json(v): Json<serde_json::Value>) -> Response {
    let Some(rate) = v
        .get("error_rate")
        .and_then(|r| r.as_f64())
        .filter(|r| (0.0..=1.0).contains(r))
    else {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "error_rate must be a number in [0, 1]",
        );
    };
    a.faults.store((rate * 1000.0) as u64, Ordering::Relaxed);
    Json(json!({ "error_rate": rate })).into_response()
}

/// Requests at ourselves: normal traffic, a burst of errors, normal again.
async fn demo_traffic(base: String, faults: Arc<AtomicU64>) {
    use http_body_util::{BodyExt, Full};
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<bytes::Bytes>>();
    for i in 0..20 {
        let body = format!(r#"{{"title":"Document {i}","body":"demo body {i}"}}"#);
        let req = http::Request::post(format!("{base}/documents"))
            .header("content-type", "application/json")
            .body(Full::from(body))
            .expect("request");
        let _ = client.request(req).await;
    }
    println!("demo: normal traffic for 15 s, then 30 % errors for 70 s, then normal again");
    let started = tokio::time::Instant::now();
    let mut i: u64 = 0;
    loop {
        let t = started.elapsed().as_secs();
        // HighErrorRate (2-minute window, for 1m) fires about a minute into the burst and
        // resolves about 100 s after it ends, when the burst's share of the window drops
        // below 5 %.
        let rate = if (15..85).contains(&t) { 300 } else { 0 };
        if faults.swap(rate, Ordering::Relaxed) != rate {
            println!("demo: t={t}s error rate now {} %", rate / 10);
        }
        let uri = format!("{base}/documents/{}", 1 + (i * 7) % 20);
        if let Ok(resp) = client.get(uri.parse().expect("uri")).await {
            let _ = resp.into_body().collect().await;
        }
        i += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let otlp = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").ok();
    let _telemetry =
        nexus::monitor::telemetry::init("documents", otlp.as_deref()).map_err(|e| e.to_string())?;
    let traffic_demo = std::env::args().any(|a| a == "--demo-traffic");
    let rollout_mode = std::env::args().find_map(|a| match a.as_str() {
        "--demo-rollout" => Some(false),
        "--demo-rollout=faulty" => Some(true),
        _ => None,
    });
    // Either demo: short windows and intervals, so things happen within a minute or two.
    let demo = traffic_demo || rollout_mode.is_some();
    let bind = std::env::var("BIND").unwrap_or_else(|_| "127.0.0.1:8080".into());
    let mut layout = Vec::new();

    // Cache: L1 always; L2 / L3 / backplane when Redis is configured.
    let mut cache = TieredCache::<Document>::builder()
        .name("documents")
        .tier(
            MemoryTier::builder()
                .max_bytes(64 << 20)
                .fail_safe(Duration::from_secs(3600))
                .build(),
        )
        .hard_timeout(Duration::from_secs(2));
    layout.push("cache L1 (64 MiB, fail-safe 1 h)".to_string());
    let mut probes = Probes::builder();
    if let Ok(url) = std::env::var("REDIS_URL") {
        cache = cache
            .tier(RedisTier::builder(&url).prefix("documents").build().await?)
            .backplane(Arc::new(
                RedisBackplane::connect([url.as_str()], "nexus:documents:bp").await?,
            ));
        probes = probes.probe(ProbeSpec::new("redis", RedisProbe::new(&url)?).critical(false));
        layout.push(format!(
            "cache L2 Redis {} + backplane",
            nexus::core::redact::url(&url)
        ));
    }
    if let Ok(urls) = std::env::var("REDIS_CLUSTER_URLS") {
        let urls: Vec<String> = urls.split(',').map(str::to_owned).collect();
        cache = cache.tier(
            ClusterTier::builder(urls)
                .prefix("documents")
                .build()
                .await?,
        );
        layout.push("cache L3 Redis Cluster".to_string());
    }
    let cache = cache.build()?;

    // Store and database monitor.
    let (store, db) = match std::env::var("DATABASE_URL") {
        Ok(url) => {
            // Bounded waits: during a database outage requests fail fast instead of queueing.
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(10)
                .acquire_timeout(Duration::from_secs(2))
                .connect(&url)
                .await?;
            sqlx::query("CREATE TABLE IF NOT EXISTS documents (id bigserial PRIMARY KEY, title text NOT NULL, body text NOT NULL)")
                .execute(&pool)
                .await?;
            probes = probes.probe(ProbeSpec::new("postgres", PostgresProbe::new(pool.clone())));
            layout.push("documents in PostgreSQL, monitored".to_string());
            (
                Store::Postgres(pool.clone()),
                Some(nexus::dbmon::DbMonitor::builder(pool).build()),
            )
        }
        Err(_) => {
            layout.push("documents in memory; database monitoring not configured".to_string());
            (Store::Memory(Default::default(), Default::default()), None)
        }
    };

    let window = if demo {
        Duration::from_secs(30)
    } else {
        Duration::from_secs(60)
    };
    let health = Health::builder()
        .service_id("documents")
        .version(env!("CARGO_PKG_VERSION"))
        .recorder(
            Recorder::builder()
                .window(window, Duration::from_secs(1))
                .build(),
        )
        .probes(probes.build())
        .build();
    // The application installs the global metrics recorder (a library never does).
    let prometheus = nexus::monitor::install_recorder()?;
    let mut monitor = Monitor::builder("documents")
        .prometheus_handle(prometheus)
        .health(health.clone())
        .cache("documents", &cache)
        .cache_api(
            TieredCache::builder()
                .name("api")
                .advisor(0.1, 100_000)
                .build()?,
        )
        .interval(if demo {
            Duration::from_secs(5)
        } else {
            Duration::from_secs(15)
        });
    if let Some(db) = db {
        monitor = monitor.database(db);
    }
    let rollout = rollout_mode.map(|_| demo_rollout()).transpose()?;
    if let Some(r) = &rollout {
        monitor = monitor.rollout(r.clone());
        layout.push("GET /documents/{id}: canary of v2 (10 → 50 → 100 %)".to_string());
    }
    let mut receivers = vec!["log"];
    if let Ok(url) = std::env::var("WEBHOOK_URL") {
        monitor = monitor.receiver(Receiver::webhook("webhook", &url)?);
        receivers.push("webhook");
    }
    let mut route = Route::to("log")
        .group_by(["alertname"])
        .group_wait(Duration::from_secs(if demo { 5 } else { 30 }))
        .group_interval(Duration::from_secs(if demo { 10 } else { 300 }));
    if receivers.contains(&"webhook") {
        // A matching child takes the alert from its parent: log and webhook are both children.
        route = route
            .child(Route::to("log").continue_matching(true))
            .child(Route::to("webhook"));
    }
    // Who may use the guarded routes (the monitor's POSTs, cache values, database reports,
    // /admin/faults): the token in NEXUS_TOKEN; without one, anyone only when bound to loopback
    // (a demo on this machine); on any other address they stay closed (403).
    let access = match std::env::var("NEXUS_TOKEN") {
        Ok(t) if !t.is_empty() => Access::Token(t.into()),
        _ if is_loopback(&bind) => Access::Unauthenticated,
        _ => Access::Closed,
    };
    monitor = monitor.access(access.clone());
    let monitor = monitor.route(route).build()?;
    let _tasks = monitor.spawn();

    let app_state = App {
        store,
        cache,
        faults: Arc::new(AtomicU64::new(0)),
        requests: Arc::new(AtomicU64::new(0)),
        v2_faulty: rollout_mode == Some(true),
    };
    // GET /documents/{id}: v1 (`read`), or v1 and v2 behind the rollout's layer.
    let read_route = match &rollout {
        Some(r) => get(read).layer(r.layer(get(read_v2).with_state(app_state.clone()))),
        None => get(read),
    };
    let faults = app_state.faults.clone();
    let app = Router::new()
        .route("/documents", post(create).get(search))
        .route("/documents/{id}", read_route)
        .route(
            "/admin/faults",
            post(set_faults).route_layer(access.layer()),
        )
        .with_state(app_state)
        .layer(health.layer())
        .merge(monitor.router());
    let app = nexus::monitor::with_request_ids(app);

    let listener = tokio::net::TcpListener::bind(&bind).await?;
    let addr = listener.local_addr()?;
    let base = format!("http://{addr}");
    println!("nexus full_stack: {}", layout.join("; "));
    println!("  dashboard  {base}/dashboard");
    println!("  report     {base}/api/v1/monitoring/report?format=html");
    println!("  health     {base}/health   ready {base}/readyz   live {base}/livez");
    println!("  metrics    {base}/metrics");
    println!("  alerts     {base}/api/v1/monitoring/alerts");
    println!(
        "  documents  curl -X POST {base}/documents -H 'content-type: application/json' -d '{{\"title\":\"t\",\"body\":\"b\"}}'"
    );
    if traffic_demo {
        tokio::spawn(demo_traffic(base.clone(), faults));
    }
    if let Some(r) = rollout {
        println!("  rollout    {base}/api/v1/rollout");
        tokio::spawn(demo_rollout_traffic(base.clone(), r));
    }
    // Bounded: 1 024 connections, 10 s to send headers (or to idle between requests), 30 s per
    // request, 1 MiB bodies, JSON errors; SIGTERM or Ctrl-C drains in-flight requests.
    serve(listener, app, ServeConfig::default(), shutdown_signal()).await?;
    Ok(())
}

/// Whether `bind` (`host:port`) listens on loopback only.
fn is_loopback(bind: &str) -> bool {
    match bind.parse::<std::net::SocketAddr>() {
        Ok(a) => a.ip().is_loopback(),
        Err(_) => bind.starts_with("localhost:"),
    }
}
