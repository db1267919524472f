//! `examples/full_stack --demo-rollout`: a canary of version 2 of `GET /documents/{id}` inside
//! the running service, with its own traffic. A healthy v2 is promoted to 100 %; a faulty one
//! (10 % errors) is rolled back, the `RolloutRolledBack` alert fires, the dashboard shows it,
//! and an operator can restart it over `/api/v1/rollout`.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;

use serde_json::Value;
use std::time::{Duration, Instant};

/// Polls the rollout's status until `done` holds (or panics after `within`).
async fn wait_for(c: &Client, b: &str, within: Duration, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let s = json(c, &format!("{b}/api/v1/rollout/documents")).await;
        if done(&s) {
            return s;
        }
        assert!(Instant::now() < deadline, "rollout stuck: {s}");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_version_2_is_promoted() {
    let svc = start(&[], &["--demo-rollout"]).await;
    let (c, b) = (client(), svc.base.clone());
    let s = wait_for(&c, &b, Duration::from_secs(180), |s| {
        s["phase"] != "progressing"
    })
    .await;
    assert_eq!(s["phase"], "promoted", "{s}\n{}", svc.log());
    assert_eq!(s["weight_percent"], 100.0);
    // Every request now answers from version 2.
    let d = json(&c, &format!("{b}/documents/1")).await;
    assert_eq!(d["version"], 2, "{d}");
    let steps: Vec<u64> = s["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["step"].as_u64().unwrap())
        .collect();
    assert_eq!(steps, [0, 1, 2], "{s}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_faulty_version_2_is_rolled_back_alerted_and_shown() {
    let svc = start(&[], &["--demo-rollout=faulty"]).await;
    let (c, b) = (client(), svc.base.clone());
    let s = wait_for(&c, &b, Duration::from_secs(120), |s| {
        s["phase"] != "progressing"
    })
    .await;
    assert_eq!(s["phase"], "rolled_back", "{s}\n{}", svc.log());
    assert_eq!(s["weight_percent"], 0.0);
    let why = s["verdict"]["reasons"][0].as_str().unwrap_or_default();
    assert!(why.contains("error ratio"), "{s}");
    // Back on version 1 at once.
    let d = json(&c, &format!("{b}/documents/1")).await;
    assert!(d.get("version").is_none(), "{d}");
    // The default rule sees the rollback on the service's own /metrics.
    let (_, text, _) = call(&c, "GET", &format!("{b}/metrics"), None, "*/*").await;
    assert!(
        text.contains("nexus_rollout_rollbacks_total{rollout=\"documents\"} 1"),
        "{text}"
    );
    let dead: Vec<String> = dead_selectors(&text, true)
        .into_iter()
        .filter(|d| d.contains("nexus_rollout_"))
        .collect();
    assert!(dead.is_empty(), "{dead:?}");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let a = json(&c, &format!("{b}/api/v1/monitoring/alerts")).await;
        let firing = a["rules"].as_array().unwrap().iter().any(|r| {
            r["rule"] == "RolloutRolledBack"
                && r["state"] == "firing"
                && r["alert"]["labels"]["rollout"] == "documents"
        });
        if firing {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "RolloutRolledBack not firing: {a}"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    // The report and the dashboard show it.
    let r = json(&c, &format!("{b}/api/v1/monitoring/report")).await;
    assert_eq!(r["rollouts"][0]["phase"], "rolled_back");
    assert!(
        r["recommendations"].as_array().unwrap().iter().any(|x| x
            .as_str()
            .unwrap()
            .contains("rollout documents: rolled back")),
        "{r}"
    );
    let out = chromium(&format!("{b}/dashboard"), &["--dump-dom"]);
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(dom.contains("data-loaded=\"true\""), "{dom}");
    assert_eq!(
        by_id(&dom, "rollout-phase-documents").as_deref(),
        Some("rolled_back")
    );
    assert_eq!(
        by_id(&dom, "rollout-weight-documents").as_deref(),
        Some("0.0 %")
    );
    // An operator starts it again (the example opens control on loopback).
    let url = format!("{b}/api/v1/rollout/documents/restart");
    let (code, body, _) = call(&c, "POST", &url, None, "*/*").await;
    assert_eq!(code, 200, "{body}");
    let s: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (s["phase"].as_str(), s["weight_percent"].as_f64()),
        (Some("progressing"), Some(10.0))
    );
}
