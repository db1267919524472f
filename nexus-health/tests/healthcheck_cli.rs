//! The `nexus-healthcheck` binary against real servers: exit 0 when all pass, 1 when one fails,
//! 2 on bad usage.

#![allow(clippy::unwrap_used)]

mod support;

use std::process::Command;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use nexus_testkit::{PostgresServer, RedisServer};

fn healthcheck(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_nexus-healthcheck"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_round_against_real_servers() {
    let pg = PostgresServer::start();
    let redis = RedisServer::start();
    let app = Router::new()
        .route("/readyz", get(|| async { "ok" }))
        .route(
            "/broken",
            get(|| async { (StatusCode::SERVICE_UNAVAILABLE, "down") }),
        );
    let addr = support::serve(app).await;
    let ok_url = format!("http://{addr}/readyz");
    let bad_url = format!("http://{addr}/broken");
    let (pg_url, redis_url) = (pg.url(), redis.url());

    let args = [
        "--url",
        &ok_url,
        "--postgres",
        &pg_url,
        "--redis",
        &redis_url,
        "--timeout",
        "3",
    ];
    let (code, out) = tokio::task::spawn_blocking({
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        move || healthcheck(&args.iter().map(String::as_str).collect::<Vec<_>>())
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{out}");
    assert_eq!(out.matches("[+]").count(), 3, "{out}");

    let bad = bad_url.clone();
    let (code, out) = tokio::task::spawn_blocking(move || healthcheck(&["--url", &bad, "--json"]))
        .await
        .unwrap();
    assert_eq!(code, 1, "{out}");
    let doc: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(doc["status"], "fail");
    assert!(
        doc["checks"][0]["message"]
            .as_str()
            .unwrap()
            .contains("503"),
        "{out}"
    );

    redis.stop();
    let r = redis_url.clone();
    let (code, out) =
        tokio::task::spawn_blocking(move || healthcheck(&["--redis", &r, "--timeout", "1"]))
            .await
            .unwrap();
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("[-] redis#1"), "{out}");

    for bad_args in [
        &[][..],
        &["--url"][..],
        &["--bogus"][..],
        &["--url", "ftp://x/"][..],
        &["--timeout", "-1", "--url", "http://x/"][..],
    ] {
        let (code, out) = healthcheck(bad_args);
        assert_eq!(code, 2, "{bad_args:?}: {out}");
        assert!(out.contains("usage:"), "{out}");
    }
}
