//! A rollout given to the `Monitor`: control behind the monitor's guard, and the gate that ties
//! it to the alert engine (a firing `rollback="true"` alert rolls back; a critical one holds).
#![allow(clippy::unwrap_used)]

use axum::body::Body;
use http_body_util::BodyExt;
use nexus::health::Health;
use nexus::monitor::Monitor;
use nexus::rollout::{Phase, Rollout, judge::Decision};
use tower::ServiceExt;

async fn call(app: &axum::Router, method: &str, path: &str, token: Option<&str>) -> (u16, String) {
    let mut req = http::Request::builder().method(method).uri(path);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let resp = app
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

fn monitor(rollout: Option<&Rollout>, rules: &str) -> Monitor {
    let mut b = Monitor::builder("svc")
        .health(Health::builder().service_id("svc").build())
        .default_rules(false)
        .rules(nexus::alerting::parse_rule_file("test.yml", rules).unwrap())
        .bearer_token("t0ken");
    if let Some(r) = rollout {
        b = b.rollout(r.clone());
    }
    b.build().unwrap()
}

const NO_RULES: &str = "groups: []";

#[tokio::test]
async fn control_sits_behind_the_monitor_guard() {
    let rollout = Rollout::builder("documents").build().unwrap();
    let app = monitor(Some(&rollout), NO_RULES).router();
    let (s, body) = call(&app, "GET", "/api/v1/rollout/documents", None).await;
    assert_eq!(s, 200, "{body}");
    let (s, _) = call(&app, "POST", "/api/v1/rollout/documents/abort", None).await;
    assert_eq!(s, 401);
    assert_eq!(rollout.status().phase, Phase::Progressing);
    let (s, body) = call(
        &app,
        "POST",
        "/api/v1/rollout/documents/abort",
        Some("t0ken"),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(rollout.status().phase, Phase::RolledBack);
    // Without a rollout the routes say so, in JSON.
    let app = monitor(None, NO_RULES).router();
    let (s, body) = call(&app, "GET", "/api/v1/rollout", None).await;
    assert_eq!(s, 404);
    assert!(body.contains("no rollout is configured"), "{body}");
}

#[tokio::test]
async fn a_firing_rollback_alert_rolls_back_and_a_critical_one_holds() {
    let rollout = Rollout::builder("documents")
        .min_samples(1)
        .build()
        .unwrap();
    let m = monitor(
        Some(&rollout),
        r#"
groups:
  - name: t
    rules:
      - alert: DiskFilling
        expr: vector(1)
        labels: { severity: critical }
"#,
    );
    m.engine().evaluate_now().await;
    rollout.evaluate().await;
    let v = rollout.status().verdict.unwrap();
    assert_eq!(v.decision, Decision::Hold);
    assert!(
        v.reasons
            .iter()
            .any(|r| r == "gate alerts: critical alert DiskFilling is firing"),
        "{v:?}"
    );
    let m = monitor(
        Some(&rollout),
        r#"
groups:
  - name: t
    rules:
      - alert: CheckoutBroken
        expr: vector(1)
        labels: { severity: warning, rollback: "true" }
"#,
    );
    m.engine().evaluate_now().await;
    rollout.evaluate().await;
    let s = rollout.status();
    assert_eq!(s.phase, Phase::RolledBack);
    assert!(
        s.events.last().unwrap().reasons[0].contains("alert CheckoutBroken is firing"),
        "{s:?}"
    );
}
