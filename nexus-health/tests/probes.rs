//! Probes against real PostgreSQL and Redis: red when the server stops, green after restart;
//! readiness and the health+json document follow.

#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use nexus_health::{
    FnProbe, Health, PostgresProbe, ProbeSpec, ProbeStatus, Probes, RedisProbe, Resources,
    endpoints,
};
use nexus_testkit::{PostgresServer, RedisServer};
use serde_json::Value;

fn pool(pg: &PostgresServer) -> sqlx::PgPool {
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(Duration::from_secs(1))
        .connect_lazy(&pg.url())
        .unwrap()
}

async fn wait_for(probes: &Probes, name: &str, want: ProbeStatus) {
    for _ in 0..100 {
        let r = probes.check_now().await;
        if r.iter().find(|p| p.name == name).unwrap().status == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{name} never became {want:?}: {:?}", probes.results());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_and_redis_probes_follow_outages_and_readiness_flips() {
    let pg = PostgresServer::start();
    let redis = RedisServer::start();
    let probes = Probes::builder()
        .interval(Duration::ZERO)
        .probe(
            ProbeSpec::new("postgres", PostgresProbe::new(pool(&pg)))
                .timeout(Duration::from_secs(2))
                .tags(["db"]),
        )
        .probe(ProbeSpec::new("redis", RedisProbe::new(&redis.url()).unwrap()).critical(false))
        .build();
    let health = Health::builder()
        .service_id("it")
        .probes(probes.clone())
        .resources(Resources::new(Some(0.1), Some(0.1), Some(0.1)))
        .build();
    let addr = support::serve(endpoints::router(health.clone())).await;
    let client = support::client();
    let url = |p: &str| format!("http://{addr}{p}");

    // Before the first check nothing is known: not ready.
    assert_eq!(support::get(&client, &url("/readyz"), &[]).await.0, 503);
    wait_for(&probes, "postgres", ProbeStatus::Pass).await;
    wait_for(&probes, "redis", ProbeStatus::Pass).await;
    let (code, _, body) = support::get(&client, &url("/readyz?verbose"), &[]).await;
    assert_eq!(code, 200, "{body}");
    assert!(
        body.contains("[+]postgres ok\n") && body.contains("[+]redis ok (non-critical)\n"),
        "{body}"
    );

    // Postgres (critical) down: not ready, unhealthy, and liveness does not care.
    pg.stop();
    wait_for(&probes, "postgres", ProbeStatus::Fail).await;
    let (code, _, body) = support::get(&client, &url("/readyz?verbose"), &[]).await;
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("[-]postgres failed: "), "{body}");
    assert_eq!(support::get(&client, &url("/livez"), &[]).await.0, 200);
    let (code, ct, body) = support::get(&client, &url("/health"), &[]).await;
    assert_eq!((code, ct.as_str()), (503, "application/health+json"));
    let doc: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(doc["status"], "fail");
    assert_eq!(doc["checks"]["postgres:responseTime"][0]["status"], "fail");

    pg.restart();
    wait_for(&probes, "postgres", ProbeStatus::Pass).await;
    assert_eq!(support::get(&client, &url("/readyz"), &[]).await.0, 200);

    // Redis (non-critical) down: still ready, but degraded ("warn").
    redis.stop();
    wait_for(&probes, "redis", ProbeStatus::Fail).await;
    assert_eq!(support::get(&client, &url("/readyz"), &[]).await.0, 200);
    let (code, _, body) = support::get(&client, &url("/health"), &[]).await;
    let doc: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (code, doc["status"].as_str()),
        (200, Some("warn")),
        "{body}"
    );
    assert_eq!(doc["checks"]["redis:responseTime"][0]["status"], "warn");
    redis.restart();
    wait_for(&probes, "redis", ProbeStatus::Pass).await;
    let doc: Value =
        serde_json::from_str(&support::get(&client, &url("/health"), &[]).await.2).unwrap();
    assert_eq!(doc["status"], "pass");
}

/// The document obeys draft-inadarei-api-health-check: required `status` in pass/warn/fail;
/// `checks` keys `component[:measurement]`, each an array of objects whose fields are the draft's.
fn validate_health_json(doc: &Value) {
    let status = doc["status"].as_str().expect("status is a string");
    assert!(["pass", "warn", "fail"].contains(&status), "{status}");
    for field in ["version", "serviceId", "description"] {
        assert!(
            doc.get(field).is_none_or(Value::is_string),
            "{field} must be a string"
        );
    }
    let checks = doc["checks"].as_object().expect("checks is an object");
    assert!(!checks.is_empty());
    let allowed = [
        "componentId",
        "componentType",
        "observedValue",
        "observedUnit",
        "status",
        "affectedEndpoints",
        "time",
        "output",
        "links",
        "tags",
    ];
    for (key, entries) in checks {
        let parts: Vec<&str> = key.split(':').collect();
        assert!(
            parts.len() <= 2 && parts.iter().all(|p| !p.is_empty()),
            "bad key {key}"
        );
        for e in entries.as_array().expect("each check is an array") {
            let obj = e.as_object().expect("check entries are objects");
            for k in obj.keys() {
                assert!(
                    allowed.contains(&k.as_str()),
                    "{key}: field {k} is not in the draft"
                );
            }
            let s = obj["status"].as_str().unwrap();
            assert!(["pass", "warn", "fail"].contains(&s), "{key}: {s}");
            let t = obj["time"].as_str().unwrap();
            assert!(
                t.len() == 24 && t.ends_with('Z') && &t[10..11] == "T",
                "{key}: time {t}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_json_validates_and_hides_details_without_the_token() {
    let probes = Probes::builder()
        .interval(Duration::ZERO)
        .probe(ProbeSpec::new("queue", FnProbe::new(|| async { Ok(()) })))
        .probe(
            ProbeSpec::new(
                "search",
                FnProbe::new(|| async { Err("index missing".to_string()) }),
            )
            .critical(false),
        )
        .build();
    probes.check_now().await;
    let health = Health::builder()
        .service_id("docs")
        .version("7")
        .bearer_token("s3cret")
        .probes(probes)
        .resources(Resources::new(Some(0.2), Some(0.9), Some(0.3)))
        .build();
    let addr = support::serve(endpoints::router(health)).await;
    let client = support::client();
    let url = format!("http://{addr}/health");

    let (code, ct, body) = support::get(&client, &url, &[]).await;
    assert_eq!((code, ct.as_str()), (200, "application/health+json"));
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        serde_json::json!({"status": "warn"})
    );
    let (_, _, body) = support::get(&client, &url, &[("authorization", "Bearer wrong!")]).await;
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        serde_json::json!({"status": "warn"})
    );

    let (code, _, body) = support::get(&client, &url, &[("authorization", "Bearer s3cret")]).await;
    assert_eq!(code, 200);
    let doc: Value = serde_json::from_str(&body).unwrap();
    validate_health_json(&doc);
    assert_eq!(
        (doc["serviceId"].as_str(), doc["version"].as_str()),
        (Some("docs"), Some("7"))
    );
    assert_eq!(
        doc["checks"]["search:responseTime"][0]["output"],
        "index missing"
    );
    assert_eq!(doc["checks"]["memory:utilization"][0]["status"], "warn");
    assert_eq!(doc["checks"]["health:score"][0]["observedUnit"], "points");
    let score = doc["checks"]["health:score"][0]["observedValue"]
        .as_f64()
        .unwrap();
    // Memory at 90 % costs resource points; a failing non-critical probe costs availability.
    assert!(score < 100.0 && score > 50.0, "{score}");
}
