//! The /api/v1/database routes against real PostgreSQL: JSON answers, bad input as 4xx, the
//! maintenance guard.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use axum::body::Body;
use http_body_util::BodyExt;
use nexus_dbmon::http::DbRouter;
use nexus_dbmon::{DbMonitor, ObservedPgPool};
use nexus_testkit::PostgresServer;
use serde_json::Value;
use tower::ServiceExt;

async fn call(
    app: &axum::Router,
    method: &str,
    path: &str,
    body: &str,
    headers: &[(&str, &str)],
) -> (u16, Value) {
    let mut req = axum::http::Request::builder().method(method).uri(path);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    // The routers under test are configured with the token "tok": send it unless the test
    // sends its own (or "none").
    if !headers.iter().any(|(k, _)| *k == "authorization") {
        req = req.header("authorization", "Bearer tok");
    }
    let resp = app
        .clone()
        .oneshot(req.body(Body::from(body.to_string())).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes)
            .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into())),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_answer_and_guard_maintenance() {
    let pg = PostgresServer::start();
    pg.psql("CREATE EXTENSION pg_stat_statements; CREATE TABLE t (a int) WITH (autovacuum_enabled = false); \
             INSERT INTO t SELECT generate_series(1, 5000); DELETE FROM t;");
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(3)
        .connect(&pg.url())
        .await
        .unwrap();
    let observed = ObservedPgPool::new(pool.clone());
    drop(observed.acquire().await.unwrap());
    let app = axum::Router::new().nest(
        "/api/v1/database",
        DbRouter::new(DbMonitor::builder(pool).build())
            .pool(Arc::new(observed))
            .bearer_token("tok")
            .snapshot_ttl(std::time::Duration::from_millis(100))
            .build(),
    );
    // Every route reveals the database: the token is needed.
    for path in ["/stats", "/tables", "/slow-queries"] {
        let path = format!("/api/v1/database{path}");
        let (code, _) = call(&app, "GET", &path, "", &[("authorization", "none")]).await;
        assert_eq!(code, 401, "{path}");
    }
    let (code, v) = call(&app, "GET", "/api/v1/database/stats", "", &[]).await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["name"], "postgres");
    assert!(v["size_bytes"].as_i64().unwrap() > 0);
    let (code, v) = call(&app, "GET", "/api/v1/database/connections", "", &[]).await;
    assert_eq!(
        (code, v["pools"][0]["kind"].as_str()),
        (200, Some("sqlx")),
        "{v}"
    );
    assert_eq!(v["pools"][0]["acquires"], 1);
    for path in ["tables", "indexes", "slow-queries"] {
        let (code, v) = call(&app, "GET", &format!("/api/v1/database/{path}"), "", &[]).await;
        assert_eq!(code, 200, "{path}: {v}");
    }

    // Dry run by default.
    let (code, v) = call(
        &app,
        "POST",
        "/api/v1/database/optimize",
        "{}",
        &[("content-type", "application/json")],
    )
    .await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["result"]["dry_run"], true);
    // Bad bodies are 4xx with a message.
    let (code, v) = call(
        &app,
        "POST",
        "/api/v1/database/optimize",
        "{not json",
        &[("content-type", "application/json")],
    )
    .await;
    assert_eq!(code, 400, "{v}");
    assert!(v["error"].as_str().unwrap().len() > 5);
    let (code, _) = call(
        &app,
        "POST",
        "/api/v1/database/optimize",
        r#"{"dry_run": "yes"}"#,
        &[("content-type", "application/json")],
    )
    .await;
    assert_eq!(code, 422);
    let (code, _) = call(&app, "POST", "/api/v1/database/optimize", "{}", &[]).await;
    assert_eq!(code, 415, "no content type");
    let big = format!("{{\"kinds\": [{}]}}", vec!["\"vacuum\""; 5000].join(","));
    let (code, _) = call(
        &app,
        "POST",
        "/api/v1/database/optimize",
        &big,
        &[("content-type", "application/json")],
    )
    .await;
    assert_eq!(code, 413);
    let (code, v) = call(
        &app,
        "POST",
        "/api/v1/database/optimize",
        r#"{"timeout_seconds": 0}"#,
        &[("content-type", "application/json")],
    )
    .await;
    assert_eq!(code, 400, "{v}");
    // Running needs the token.
    let run = r#"{"dry_run": false, "kinds": ["vacuum"]}"#;
    let (code, _) = call(
        &app,
        "POST",
        "/api/v1/database/optimize",
        run,
        &[
            ("content-type", "application/json"),
            ("authorization", "Bearer wrong"),
        ],
    )
    .await;
    assert_eq!(code, 401);
    let (code, v) = call(
        &app,
        "POST",
        "/api/v1/database/optimize",
        run,
        &[
            ("content-type", "application/json"),
            ("authorization", "Bearer tok"),
        ],
    )
    .await;
    assert_eq!(code, 200, "{v}");
    assert!(
        v["result"]["actions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["status"]["status"] == "done"),
        "{v}"
    );

    // Postgres down: 503 with a message, not a hang or a panic (once the snapshot has aged).
    pg.stop();
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    let (code, v) = call(&app, "GET", "/api/v1/database/stats", "", &[]).await;
    assert_eq!(code, 503, "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("database report failed"),
        "{v}"
    );
}

/// 40 clients polling the report routes: the queries run on the monitor's own pool (the
/// application's pool opens no connection for them), at most 2 sessions named `nexus-dbmon`,
/// and concurrent requests share one snapshot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_clients_never_touch_the_application_pool() {
    let pg = PostgresServer::start();
    pg.psql(
        "CREATE EXTENSION pg_stat_statements; CREATE TABLE t AS SELECT generate_series(1, 1000) a;",
    );
    let app_pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(std::time::Duration::from_secs(2))
        .connect_lazy(&pg.url())
        .unwrap();
    let app = axum::Router::new().nest(
        "/api/v1/database",
        DbRouter::new(DbMonitor::builder(app_pool.clone()).build())
            .allow_unauthenticated()
            .build(),
    );
    // Closed by default: with neither a token nor the opt-out, nothing is served.
    let closed = axum::Router::new().nest(
        "/api/v1/database",
        DbRouter::new(DbMonitor::builder(app_pool.clone()).build()).build(),
    );
    let (code, v) = call(
        &closed,
        "GET",
        "/api/v1/database/tables",
        "",
        &[("authorization", "none")],
    )
    .await;
    assert_eq!(code, 403, "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("configure a bearer token"),
        "{v}"
    );
    let clients: Vec<_> = (0..40)
        .map(|i| {
            let app = app.clone();
            tokio::spawn(async move {
                let path = ["tables", "indexes", "stats", "slow-queries"][i % 4];
                for _ in 0..5 {
                    let (code, v) =
                        call(&app, "GET", &format!("/api/v1/database/{path}"), "", &[]).await;
                    assert_eq!(code, 200, "{path}: {v}");
                }
            })
        })
        .collect();
    let mut most = 0;
    for c in clients {
        let sessions: i64 = pg
            .psql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'nexus-dbmon'")
            .trim()
            .parse()
            .unwrap();
        most = most.max(sessions);
        c.await.unwrap();
    }
    assert!((1..=2).contains(&most), "{most} monitor sessions");
    assert_eq!(app_pool.size(), 0, "the application's pool was used");
    // The application's pool still answers at once.
    let one: i32 = sqlx::query_scalar("SELECT 1")
        .fetch_one(&app_pool)
        .await
        .unwrap();
    assert_eq!(one, 1);
    // 50 requests for the tables report within the snapshot's 5 s: one query (two if the
    // requests straddled an expiry).
    let calls: i64 = pg
        .psql("SELECT coalesce(sum(calls), 0) FROM pg_stat_statements WHERE query LIKE '%pg_indexes_size(c.oid)%'")
        .trim()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&calls), "tables report ran {calls} times");
}
