//! `examples/full_stack` started as a process: every `/api/v1/...` route answers with the
//! documented JSON, `/metrics` passes `promtool check metrics`, the demo traffic makes an alert
//! fire and reach a webhook run by the test, then resolve; and with Redis and PostgreSQL
//! configured, the cache tiers and the database section are live.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use http_body_util::Full;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_defaults_routes_metrics_and_an_alert_that_fires_and_resolves() {
    let (hook, hooks) = webhook().await;
    let svc = start(&[("WEBHOOK_URL", hook)], &["--demo-traffic"]).await;
    let c = client();
    let b = &svc.base;

    let h = json(&c, &format!("{b}/api/v1/monitoring/health")).await;
    assert!(
        h["score"]["score"].is_number() && h["window"]["total"].is_object(),
        "{h}"
    );
    let m = json(&c, &format!("{b}/api/v1/monitoring/metrics")).await;
    assert_eq!(m["service"], "documents");
    assert!(
        m["caches"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "documents"),
        "{m}"
    );
    let a = json(&c, &format!("{b}/api/v1/monitoring/alerts")).await;
    assert!(
        a["rules"].is_array() && a["notifications"].is_array() && a["silences"].is_array(),
        "{a}"
    );
    assert_eq!(
        a["rule_errors"],
        serde_json::json!([]),
        "every default rule evaluates"
    );
    assert_eq!(a["receivers"], serde_json::json!(["log", "webhook"]));
    let r = json(&c, &format!("{b}/api/v1/monitoring/report")).await;
    for k in [
        "health",
        "slo",
        "caches",
        "database",
        "alerts",
        "notifications",
        "recommendations",
    ] {
        assert!(!r[k].is_null(), "report lacks {k}: {r}");
    }
    assert_eq!(r["database"]["configured"], false);
    let (s, html, _) = call(
        &c,
        "GET",
        &format!("{b}/api/v1/monitoring/report"),
        None,
        "text/html",
    )
    .await;
    assert!(
        s == 200 && html.contains("<h1>documents — health report</h1>"),
        "{html}"
    );
    let (s, body, _) = call(
        &c,
        "GET",
        &format!("{b}/api/v1/database/stats"),
        None,
        "*/*",
    )
    .await;
    assert_eq!(s, 404, "{body}");
    assert!(body.contains("not configured"));
    let cs = json(&c, &format!("{b}/api/v1/cache/stats")).await;
    assert_eq!(cs["name"], "api");
    let (s, body, _) = call(
        &c,
        "POST",
        &format!("{b}/api/v1/cache/set"),
        Some("{bad"),
        "*/*",
    )
    .await;
    assert_eq!(s, 400, "{body}");
    for p in ["/livez", "/readyz", "/health"] {
        let (s, _, _) = call(&c, "GET", &format!("{b}{p}"), None, "*/*").await;
        assert_eq!(s, 200, "{p}");
    }
    let (s, page, _) = call(&c, "GET", &format!("{b}/dashboard"), None, "text/html").await;
    assert!(
        s == 200 && page.contains(r#"src="/dashboard/uplot.js""#) && !page.contains("://"),
        "no external resources"
    );
    // The vendored chart library: served by the crate; its one URL is its licence banner.
    for (asset, kind) in [("uplot.js", "text/javascript"), ("uplot.css", "text/css")] {
        let (s, body, headers) =
            call(&c, "GET", &format!("{b}/dashboard/{asset}"), None, "*/*").await;
        assert_eq!(s, 200, "{asset}");
        assert!(headers["content-type"].to_str().unwrap().starts_with(kind));
        assert_eq!(
            body.matches("://").count(),
            usize::from(asset == "uplot.js"),
            "{asset}"
        );
    }
    // Correlation: every response carries an x-request-id.
    let (_, _, headers) = call(&c, "GET", &format!("{b}/livez"), None, "*/*").await;
    assert!(headers.contains_key("x-request-id"));

    // The test alert goes end to end to the webhook.
    let (s, body, _) = call(
        &c,
        "POST",
        &format!("{b}/api/v1/monitoring/test-alert"),
        Some(r#"{"receiver":"webhook"}"#),
        "*/*",
    )
    .await;
    assert_eq!(s, 200, "{body}");
    assert!(alert_names(&hooks, "firing").contains(&"TestAlert".to_string()));
    let (s, _, _) = call(
        &c,
        "POST",
        &format!("{b}/api/v1/monitoring/test-alert"),
        Some(r#"{"receiver":"nope"}"#),
        "*/*",
    )
    .await;
    assert_eq!(s, 404);

    // /metrics in Prometheus text format, as promtool checks it.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let (s, text, headers) = call(&c, "GET", &format!("{b}/metrics"), None, "*/*").await;
    assert_eq!(s, 200);
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    assert!(
        text.contains("http_server_request_duration_seconds_bucket"),
        "{text}"
    );
    promtool_check_metrics(&text);
    every_family_is_catalogued(&text);

    // The demo's burst of errors fires HighErrorRate (for: 1m) and it resolves afterwards: the
    // rule reads the service's own /metrics (rate over 2 minutes).
    let deadline = Instant::now() + Duration::from_secs(300);
    while !alert_names(&hooks, "firing").contains(&"HighErrorRate".to_string()) {
        assert!(
            Instant::now() < deadline,
            "HighErrorRate never reached the webhook: {:?}",
            hooks.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let r = json(&c, &format!("{b}/api/v1/monitoring/report")).await;
    assert!(
        r["health"]["score"]["score"].as_f64().unwrap() < 100.0,
        "the score dropped"
    );
    act_on_a_firing_alert(&c, b).await;
    while !alert_names(&hooks, "resolved").contains(&"HighErrorRate".to_string()) {
        assert!(
            Instant::now() < deadline,
            "HighErrorRate never resolved: {:?}",
            hooks.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    the_dashboard_plots_the_history_and_the_alert(&c, b).await;

    // A quiet terminal: the burst of failed requests is a few summary lines, the alert stands out.
    let log = svc.log();
    let summaries = log
        .matches("requests to /documents/{id} failed in the last")
        .count();
    assert!(
        (1..=20).contains(&summaries) && !log.contains("ERROR"),
        "{summaries} summary lines:\n{log}"
    );
    for line in ["WARN FIRING HighErrorRate:", "INFO RESOLVED HighErrorRate:"] {
        assert!(log.contains(line), "no {line:?} in the log:\n{log}");
    }
}

/// What the dashboard's buttons call: acknowledge the firing alert, add a silence; bad input is
/// a 4xx with a JSON message.
async fn act_on_a_firing_alert(c: &Client, b: &str) {
    let a = json(c, &format!("{b}/api/v1/monitoring/alerts")).await;
    let fp = a["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["alert"]["labels"]["alertname"] == "HighErrorRate" && n["status"] == "firing")
        .and_then(|n| n["alert"]["fingerprint"].as_str())
        .unwrap_or_else(|| panic!("no firing HighErrorRate in the pipeline: {a}"))
        .to_owned();
    let url = format!("{b}/api/v1/monitoring/alerts/{fp}/ack");
    let (s, body, _) = call(
        c,
        "POST",
        &url,
        Some(r#"{"minutes":5,"by":"oncall"}"#),
        "*/*",
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let a = json(c, &format!("{b}/api/v1/monitoring/alerts")).await;
    assert!(
        a["notifications"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["alert"]["fingerprint"] == fp.as_str() && n["ack"]["by"] == "oncall"),
        "{a}"
    );
    for (url, body, want) in [
        (
            format!("{b}/api/v1/monitoring/alerts/not-hex/ack"),
            "{}",
            400,
        ),
        (
            format!("{b}/api/v1/monitoring/alerts/0000000000000001/ack"),
            "{}",
            404,
        ),
        (url.clone(), r#"{"minutes":0}"#, 422),
        (url.clone(), "{", 400),
        (
            format!("{b}/api/v1/monitoring/silences"),
            r#"{"matchers":"{alertname=~\".*\"}"}"#,
            422,
        ),
        (
            format!("{b}/api/v1/monitoring/silences"),
            r#"{"matchers":"{"}"#,
            422,
        ),
        (
            format!("{b}/api/v1/monitoring/silences"),
            r#"{"matchers":"{alertname=\"HighLatency\"}","minutes":5}"#,
            201,
        ),
    ] {
        let (s, text, _) = call(c, "POST", &url, Some(body), "*/*").await;
        assert_eq!(s, want, "{url} {body}: {text}");
        let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert!(v.is_object(), "{text}");
    }
    let a = json(c, &format!("{b}/api/v1/monitoring/alerts")).await;
    assert!(
        a["silences"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["silence"]["created_by"] == "dashboard"),
        "{a}"
    );
}

/// Headless Chromium loads `/dashboard` while the demo runs: the series it plotted are the ones
/// `/api/v1/monitoring/history` serves, the alert that fired is on the time axis, and a
/// screenshot is written (`$CARGO_TARGET_TMPDIR/dashboard.png`; also `docs/dashboard.png` with
/// `NEXUS_UPDATE_SCREENSHOT=1`).
async fn the_dashboard_plots_the_history_and_the_alert(c: &Client, b: &str) {
    let out = chromium(&format!("{b}/dashboard"), &["--dump-dom"]);
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        dom.contains("data-loaded=\"true\""),
        "the page did not load:\n{dom}"
    );
    let plotted: Value = serde_json::from_str(&by_id(&dom, "plotted").unwrap()).unwrap();
    let api = json(c, &format!("{b}/api/v1/monitoring/history?range=1h&top=10")).await;
    let (pt, at) = (
        plotted["t"].as_array().unwrap(),
        api["t"].as_array().unwrap(),
    );
    let mut matched = 0;
    for (i, t) in pt.iter().enumerate() {
        let Some(j) = at.iter().position(|x| x == t) else {
            continue;
        };
        matched += 1;
        for k in [
            "score",
            "availability",
            "performance",
            "error_rate",
            "resources",
        ] {
            let (p, a) = (&plotted["score"][k][i], &api["score"][k][j]);
            assert_eq!(p.as_f64(), a.as_f64(), "score.{k} at {t}: {p} vs {a}");
        }
        for (route, series) in plotted["routes"].as_object().unwrap() {
            for k in ["rate", "error_ratio"] {
                let (p, a) = (&series[k][i], &api["routes"][route][k][j]);
                assert_eq!(p.as_f64(), a.as_f64(), "{route} {k} at {t}: {p} vs {a}");
            }
        }
    }
    assert!(
        matched >= 10,
        "only {matched} plotted samples found in the API's history"
    );
    assert!(
        plotted["routes"].get("/documents/{id}").is_some(),
        "the demo's route is plotted: {plotted}"
    );
    assert!(
        dom.contains(r#"class="band firing" data-rule="HighErrorRate""#),
        "the alert that fired is not on the time axis:\n{dom}"
    );
    assert!(
        plotted["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["rule"] == "HighErrorRate" && a["state"] == "firing"),
        "fired: {}",
        plotted["alerts"]
    );

    let shot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dashboard.png");
    let arg = format!("--screenshot={}", shot.display());
    chromium(
        &format!("{b}/dashboard"),
        &[&arg, "--window-size=1400,1900"],
    );
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 20_000,
        "{}",
        shot.display()
    );
    if std::env::var_os("NEXUS_UPDATE_SCREENSHOT").is_some() {
        let docs = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/dashboard.png");
        std::fs::write(&docs, &png).unwrap();
    }
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_and_postgres_the_tiers_and_the_database_section_are_live() {
    let redis = nexus_testkit::RedisServer::start();
    let pg = nexus_testkit::PostgresServer::start();
    let svc = start(
        &[("REDIS_URL", redis.url()), ("DATABASE_URL", pg.url())],
        &[],
    )
    .await;
    let c = client();
    let b = &svc.base;
    let (s, body, _) = call(
        &c,
        "POST",
        &format!("{b}/documents"),
        Some(r#"{"title":"hello","body":"world"}"#),
        "*/*",
    )
    .await;
    assert_eq!(s, 201, "{body}");
    let id = serde_json::from_str::<Value>(&body).unwrap()["id"]
        .as_i64()
        .unwrap();
    for _ in 0..3 {
        let d = json(&c, &format!("{b}/documents/{id}")).await;
        assert_eq!(d["title"], "hello");
    }
    let (s, _, _) = call(&c, "GET", &format!("{b}/documents/424242"), None, "*/*").await;
    assert_eq!(s, 404);
    let docs: Vec<Value> =
        serde_json::from_value(json(&c, &format!("{b}/documents?q=hel")).await).unwrap();
    assert_eq!(docs.len(), 1);
    // One failed request, so the error counter the error-rate rule reads exists.
    let fault = |rate: &'static str| {
        let c = c.clone();
        let url = format!("{b}/admin/faults");
        async move {
            let body = format!(r#"{{"error_rate":{rate}}}"#);
            let (s, body, _) = call(&c, "POST", &url, Some(&body), "*/*").await;
            assert_eq!(s, 200, "{body}");
        }
    };
    fault("1").await;
    let (s, _, _) = call(&c, "GET", &format!("{b}/documents/{id}"), None, "*/*").await;
    assert_eq!(s, 500);
    fault("0").await;
    // One vocabulary: every selector of every default rule matches a series on /metrics (the
    // rules read the process's own /metrics in-process, and Prometheus reads the same names).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, text, _) = call(&c, "GET", &format!("{b}/metrics"), None, "*/*").await;
        let dead = dead_selectors(&text, false);
        if dead.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "default rules read series that are not exported: {dead:?}\n{text}"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let m = json(&c, &format!("{b}/api/v1/monitoring/metrics")).await;
    let docs_cache = m["caches"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "documents")
        .unwrap()
        .clone();
    assert_eq!(
        docs_cache["tiers"].as_array().unwrap().len(),
        2,
        "L1 + Redis: {docs_cache}"
    );
    assert_eq!(docs_cache["backplane"]["connected"], true);
    let stats = json(&c, &format!("{b}/api/v1/database/stats")).await;
    assert!(stats.is_object(), "{stats}");
    // With Redis and PostgreSQL too, /metrics stays clean and catalogued.
    let (s, text, _) = call(&c, "GET", &format!("{b}/metrics"), None, "*/*").await;
    assert_eq!(s, 200);
    promtool_check_metrics(&text);
    every_family_is_catalogued(&text);
    let r = json(&c, &format!("{b}/api/v1/monitoring/report")).await;
    assert_eq!(
        (
            r["database"]["configured"].clone(),
            r["database"]["up"].clone()
        ),
        (Value::Bool(true), Value::Bool(true)),
        "{}",
        r["database"]
    );
    let h = json(&c, &format!("{b}/api/v1/monitoring/health")).await;
    let probes: Vec<&str> = h["probes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert!(
        probes.contains(&"postgres") && probes.contains(&"redis"),
        "{probes:?}"
    );
    // The history samples the database too (its first sample is taken at start).
    let hist = json(&c, &format!("{b}/api/v1/monitoring/history")).await;
    let connections = &hist["database"]["connections"];
    assert!(
        connections
            .as_array()
            .is_some_and(|c| c.iter().any(|v| v.as_f64().is_some_and(|n| n >= 1.0))),
        "{}",
        hist["database"]
    );
    assert!(
        hist["database"]["max_connections"][0]
            .as_f64()
            .is_some_and(|n| n > 1.0),
        "{hist}"
    );
    assert!(hist["slowest_statements"].is_array());
}

#[test]
fn deploy_rules_pass_promtool_check() {
    let out = Command::new(nexus_testkit::require("promtool"))
        .args(["check", "rules"])
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("deploy/prometheus/rules.yml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    for f in ["system-overview", "cache", "database"] {
        let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("deploy/grafana/{f}.json"));
        let d: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        assert!(d["panels"].as_array().is_some_and(|p| !p.is_empty()), "{f}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_renders_the_numbers_of_the_json_api_in_headless_chromium() {
    let svc = start(&[], &[]).await;
    let c = client();
    let b = &svc.base;
    for i in 0..5 {
        call(
            &c,
            "POST",
            &format!("{b}/documents"),
            Some(&format!(r#"{{"title":"d{i}","body":"b"}}"#)),
            "*/*",
        )
        .await;
    }
    for i in 0..40 {
        call(
            &c,
            "GET",
            &format!("{b}/documents/{}", 1 + i % 5),
            None,
            "*/*",
        )
        .await;
    }
    let out = chromium(&format!("{b}/dashboard"), &["--dump-dom"]);
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        dom.contains("data-loaded=\"true\""),
        "the page did not load its data:\n{dom}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = json(&c, &format!("{b}/api/v1/monitoring/report")).await;
    assert_eq!(by_id(&dom, "service").as_deref(), Some("documents"));
    for comp in r["health"]["score"]["components"].as_array().unwrap() {
        let name = comp["name"].as_str().unwrap();
        if name == "resources" {
            continue; // host figures move between the page's read and ours
        }
        let want = format!(
            "{:.1} / {}",
            comp["points"].as_f64().unwrap(),
            comp["weight"].as_f64().unwrap()
        );
        assert_eq!(
            by_id(&dom, &format!("component-{name}")),
            Some(want),
            "{name}"
        );
    }
    let docs = r["caches"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "documents")
        .unwrap();
    let ratio = format!("{:.3}", docs["tiers"][0]["hit_ratio"].as_f64().unwrap());
    assert_eq!(by_id(&dom, "cache-documents-l1"), Some(ratio));
    assert!(
        dom.contains("data-route=\"/documents/{id}\""),
        "the route table lists the read route"
    );
    assert_eq!(by_id(&dom, "database").as_deref(), Some("not configured"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_spans_with_their_request_id_are_exported_over_otlp() {
    // An OTLP/HTTP receiver run by the test: records (path, content type, body) of each POST.
    type Posts = Arc<Mutex<Vec<(String, String, Vec<u8>)>>>;
    let got: Posts = Arc::default();
    async fn traces(
        State(got): State<Posts>,
        uri: http::Uri,
        headers: http::HeaderMap,
        body: Bytes,
    ) -> &'static str {
        let ct = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        got.lock()
            .unwrap()
            .push((uri.path().to_owned(), ct, body.to_vec()));
        ""
    }
    let app = Router::new().fallback(traces).with_state(got.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });

    let svc = start(&[("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)], &[]).await;
    let c = client();
    let req = http::Request::get(format!("{}/livez", svc.base))
        .header("x-request-id", "test-req-4242")
        .body(Full::from(""))
        .unwrap();
    let resp = c.request(req).await.unwrap();
    assert_eq!(
        resp.headers()["x-request-id"],
        "test-req-4242",
        "the id is echoed"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let found = got.lock().unwrap().iter().any(|(path, ct, body)| {
            path == "/v1/traces"
                && ct == "application/x-protobuf"
                && body
                    .windows(b"test-req-4242".len())
                    .any(|w| w == b"test-req-4242")
        });
        if found {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no span with the request id reached the OTLP receiver"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
