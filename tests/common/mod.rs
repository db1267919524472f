//! The harness the tests of `examples/full_stack` share: start the example as a process,
//! call it, run a webhook receiver and headless Chromium, read its /metrics.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use http_body_util::{BodyExt, Full};
use serde_json::Value;

pub type Client = hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    Full<Bytes>,
>;

pub fn client() -> Client {
    hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http()
}

pub async fn call(
    c: &Client,
    method: &str,
    url: &str,
    body: Option<&str>,
    accept: &str,
) -> (u16, String, http::HeaderMap) {
    let mut req = http::Request::builder()
        .method(method)
        .uri(url)
        .header("accept", accept);
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    let resp = c
        .request(req.body(Full::from(body.unwrap_or("").to_owned())).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        String::from_utf8_lossy(&bytes).into_owned(),
        headers,
    )
}

pub async fn json(c: &Client, url: &str) -> Value {
    let (s, b, _) = call(c, "GET", url, None, "application/json").await;
    assert_eq!(s, 200, "{url}: {b}");
    serde_json::from_str(&b).unwrap_or_else(|e| panic!("{url}: {e}: {b}"))
}

pub struct Service {
    pub child: Child,
    pub base: String,
    /// Where the service's output (its log) goes.
    pub log: tempfile::NamedTempFile,
}

pub fn append(path: &std::path::Path) -> std::fs::File {
    std::fs::OpenOptions::new().append(true).open(path).unwrap()
}

impl Service {
    /// The service's log so far, without colour codes.
    pub fn log(&self) -> String {
        let raw = std::fs::read_to_string(self.log.path()).unwrap_or_default();
        let mut out = String::with_capacity(raw.len());
        let mut chars = raw.chars();
        while let Some(ch) = chars.next() {
            if ch == '\u{1b}' {
                for c in chars.by_ref() {
                    if c == 'm' {
                        break;
                    }
                }
            } else {
                out.push(ch);
            }
        }
        out
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn example() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    let p = dir.join("examples/full_stack");
    assert!(
        p.exists(),
        "{} not built (cargo test builds examples with --features full)",
        p.display()
    );
    p
}

pub async fn start(env: &[(&str, String)], args: &[&str]) -> Service {
    let port = nexus_testkit::free_port();
    let log = tempfile::NamedTempFile::new().unwrap();
    let mut cmd = Command::new(example());
    cmd.env("BIND", format!("127.0.0.1:{port}"))
        .env_remove("RUST_LOG")
        .args(args)
        .stdout(append(log.path()))
        .stderr(append(log.path()));
    for k in [
        "REDIS_URL",
        "REDIS_CLUSTER_URLS",
        "DATABASE_URL",
        "WEBHOOK_URL",
        "NEXUS_TOKEN",
    ] {
        cmd.env_remove(k);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let svc = Service {
        child: cmd.spawn().unwrap(),
        base: format!("http://127.0.0.1:{port}"),
        log,
    };
    let c = client();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ok = c
            .get(format!("{}/livez", svc.base).parse().unwrap())
            .await
            .map(|r| r.status().is_success());
        if ok.unwrap_or(false) {
            return svc;
        }
        assert!(Instant::now() < deadline, "full_stack did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub type Hooks = Arc<Mutex<Vec<Value>>>;

pub async fn record(State(got): State<Hooks>, body: Bytes) -> &'static str {
    got.lock()
        .unwrap()
        .push(serde_json::from_slice(&body).unwrap_or(Value::Null));
    "ok"
}

pub async fn webhook() -> (String, Hooks) {
    let got: Hooks = Arc::default();
    let app = Router::new().fallback(record).with_state(got.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    (url, got)
}

pub fn promtool_check_metrics(text: &str) {
    use std::io::Write;
    let mut child = Command::new(nexus_testkit::require("promtool"))
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool check metrics:\n{report}");
}

/// Every metric family on `/metrics` is in one crate's catalogue, with its kind, and each
/// catalogue follows the naming scheme.
pub fn every_family_is_catalogued(text: &str) {
    use nexus::core::metric::{Kind, check};
    let catalogues = nexus::monitor::describe::catalogues();
    for (prefix, c) in &catalogues {
        if let Err(e) = check(prefix, c) {
            panic!("catalogue {prefix}: {e:?}");
        }
    }
    let mut families = 0;
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("# TYPE ") else {
            continue;
        };
        let (name, kind) = rest.split_once(' ').unwrap();
        families += 1;
        let entry = catalogues
            .iter()
            .flat_map(|(_, c)| c.iter())
            .find(|m| m.name == name)
            .unwrap_or_else(|| panic!("{name} is exported but in no catalogue"));
        let want = match entry.kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        };
        assert_eq!(kind, want, "{name}");
        assert!(
            text.contains(&format!("# HELP {name} ")),
            "{name} has no HELP"
        );
    }
    assert!(families >= 10, "only {families} families:\n{text}");
}

/// The selectors of the default rules that match no series of `text` (a /metrics page); the
/// rollout rules' only when the service runs a rollout.
pub fn dead_selectors(text: &str, with_rollout: bool) -> Vec<String> {
    let series = nexus_alerting::exposition::parse(text, 0).unwrap();
    let mut dead = Vec::new();
    for g in nexus_alerting::default_rules() {
        for r in &g.rules {
            for vs in r.expr().selectors() {
                if !with_rollout
                    && vs
                        .name
                        .as_deref()
                        .is_some_and(|n| n.starts_with("nexus_rollout_"))
                {
                    continue;
                }
                let live = series
                    .iter()
                    .any(|s| vs.matchers.iter().all(|m| m.matches(&s.labels)));
                if !live {
                    dead.push(format!("{}: {:?}", r.name(), vs.name));
                }
            }
        }
    }
    dead
}

pub fn alert_names(hooks: &Hooks, status: &str) -> Vec<String> {
    hooks
        .lock()
        .unwrap()
        .iter()
        .flat_map(|h| h["alerts"].as_array().cloned().unwrap_or_default())
        .filter(|a| a["status"] == status)
        .filter_map(|a| a["labels"]["alertname"].as_str().map(str::to_owned))
        .collect()
}

/// Runs headless Chromium on `url` with `args` (the flags this machine's closed network needs).
pub fn chromium(url: &str, args: &[&str]) -> std::process::Output {
    let profile = tempfile::tempdir().unwrap();
    Command::new(nexus_testkit::require("chromium"))
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=8000",
        ])
        .args(args)
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(url)
        .output()
        .unwrap()
}

/// The text of the element with `id` in a dumped DOM.
pub fn by_id(dom: &str, id: &str) -> Option<String> {
    let at = dom.find(&format!("id=\"{id}\""))?;
    let start = dom[at..].find('>')? + at + 1;
    let end = dom[start..].find('<')? + start;
    Some(dom[start..end].to_owned())
}
