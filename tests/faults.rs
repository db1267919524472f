//! Fault suite (part of it): real servers stopped and started under the monitor. Prints the
//! figures (`cargo test --features full --test faults -- --nocapture`); BENCHMARKS.md keeps them.
#![cfg(feature = "full")]
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use axum::body::Body;
use http_body_util::BodyExt;
use nexus::dbmon::DbMonitor;
use nexus::health::{Health, PostgresProbe, ProbeSpec, Probes};
use nexus::monitor::Monitor;
use nexus_testkit::PostgresServer;
use tower::ServiceExt;

const DB_ROUTES: [&str; 5] = [
    "/api/v1/database/stats",
    "/api/v1/database/connections",
    "/api/v1/database/tables",
    "/api/v1/database/indexes",
    "/api/v1/database/slow-queries",
];

/// Status, body and how long the answer took.
async fn get(app: &axum::Router, path: &str) -> (u16, String, Duration) {
    let started = Instant::now();
    let resp = app
        .clone()
        .oneshot(http::Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        String::from_utf8_lossy(&body).into_owned(),
        started.elapsed(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stopped_and_started_every_route_answers_and_health_recovers() {
    let pg = PostgresServer::start();
    pg.psql(
        "CREATE EXTENSION pg_stat_statements; CREATE TABLE t (a int); INSERT INTO t VALUES (1);",
    );
    let app_pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(2))
        .connect_lazy(&pg.url())
        .unwrap();
    let health = Health::builder()
        .probes(
            Probes::builder()
                .probe(ProbeSpec::new(
                    "postgres",
                    PostgresProbe::new(app_pool.clone()),
                ))
                .interval(Duration::from_millis(250))
                .build(),
        )
        .build();
    let monitor = Monitor::builder("faults")
        .health(health)
        .database(DbMonitor::builder(app_pool.clone()).build())
        .allow_unauthenticated()
        .build()
        .unwrap();
    let _tasks = monitor.spawn();
    let app = monitor.router();

    let wait_until = |path: &'static str, want: u16, limit: Duration| {
        let app = app.clone();
        async move {
            let started = Instant::now();
            loop {
                let (s, body, _) = get(&app, path).await;
                if s == want {
                    return started.elapsed();
                }
                assert!(
                    started.elapsed() < limit,
                    "{path} still {s} after {limit:?}: {body}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    wait_until("/readyz", 200, Duration::from_secs(10)).await;
    for path in DB_ROUTES {
        let (s, body, _) = get(&app, path).await;
        assert_eq!(s, 200, "{path}: {body}");
    }

    // Down. Past the 5 s snapshot every database route says so, promptly, in JSON.
    pg.stop();
    let down_at = Instant::now();
    let not_ready = wait_until("/readyz", 503, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(5_200).saturating_sub(down_at.elapsed())).await;
    let mut slowest = Duration::ZERO;
    for path in DB_ROUTES
        .iter()
        .chain(&["/health", "/api/v1/monitoring/report"])
    {
        let (s, body, took) = get(&app, path).await;
        slowest = slowest.max(took);
        if path.starts_with("/api/v1/database") {
            assert_eq!(s, 503, "{path}: {body}");
            assert!(body.starts_with("{\"error\""), "{path}: {body}");
        } else {
            assert!(s == 200 || s == 503, "{path}: {s} {body}");
        }
        assert!(took < Duration::from_secs(10), "{path} took {took:?}");
    }
    let (s, body, _) = get(&app, "/api/v1/monitoring/report").await;
    assert_eq!(s, 200, "the report is served during the outage: {body}");
    assert!(
        body.contains("\"up\":false"),
        "and says the database is down: {body}"
    );

    // Up again: everything recovers by itself.
    pg.restart();
    let up_at = Instant::now();
    wait_until("/readyz", 200, Duration::from_secs(30)).await;
    for path in DB_ROUTES {
        wait_until(path, 200, Duration::from_secs(30)).await;
    }
    let recovered = up_at.elapsed();
    println!(
        "fault: PostgreSQL stopped: /readyz 503 after {:.2} s; slowest answer during the outage \
         {:.0} ms; after restart every route 200 within {:.2} s",
        not_ready.as_secs_f64(),
        slowest.as_secs_f64() * 1e3,
        recovered.as_secs_f64()
    );
}
