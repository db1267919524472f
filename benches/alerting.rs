//! nexus-alerting against floors and peers, in the same run.
//!
//! - `alert_eval_tick`: one evaluation tick of 10 000 rules over 100 000 series (each rule
//!   selects 10 series by metric name and an `=` matcher; ~10 % of series pass, so ~10 000
//!   alerts stay firing and have their annotations rendered every tick), next to the *floor*:
//!   a bare loop over precomputed series ids that reads each last sample and compares it.
//! - `alert_pipeline`: `Pipeline::ingest` of alerts as the engine resends them (dedup by
//!   fingerprint → route → group) through a four-route tree, next to the floor of a bare
//!   `HashMap` insert by fingerprint. Then, printed: a real Alertmanager's `POST /api/v2/alerts`
//!   throughput on the same machine, in the same run (HTTP and JSON included, so it is an
//!   upper bound of what Alertmanager adds, not an equal comparison).
//! - memory: RSS growth per firing alert held by the engine and the pipeline (printed).
//! - `anomaly_detector`: samples/s of the default detector (`CombinedDetector`) and of its
//!   magnitude half alone and of `ArtDetector`, on a seasonal series with spikes, next to an EWMA z-score (the
//!   cheapest useful detector); memory per series, also after white noise (printed).
//!
//! `cargo bench --bench alerting`

mod common;
use common::rss_bytes;

use std::collections::HashMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use nexus_alerting::{
    Alert, EvalConfig, Evaluator, Labels, Notification, Notifier, NotifyError, Pipeline, Receiver,
    Route, Rule, Sample,
};

const NAMES: usize = 100;
const GROUPS: usize = 100;
const PER_GROUP: usize = 10;

fn evaluator() -> (Evaluator, Vec<Vec<(usize, f64)>>) {
    let mut cfg = EvalConfig::default();
    cfg.lookback = Duration::from_secs(365 * 86_400);
    let mut ev = Evaluator::new(cfg);
    let mut rng = fastrand::Rng::with_seed(7);
    let mut values = Vec::new();
    for n in 0..NAMES {
        for g in 0..GROUPS {
            let mut sel = Vec::new();
            for i in 0..PER_GROUP {
                let v = rng.f64();
                let labels = Labels::from_pairs([
                    ("group", g.to_string()),
                    ("instance", format!("host-{i}")),
                    ("job", "bench".to_owned()),
                ]);
                ev.push(Sample::new(&format!("metric_{n}"), labels, v, 0));
                sel.push((values.len(), v));
            }
            values.push(sel);
            let rule = Rule::builder(
                &format!("Rule{n}x{g}"),
                &format!("metric_{n}{{group=\"{g}\"}} > 0.9"),
            )
            .annotation("summary", "{{ $labels.instance }} at {{ $value }}")
            .build()
            .expect("rule");
            ev.add_rule("bench", rule);
        }
    }
    (ev, values)
}

fn eval_tick(c: &mut Criterion) {
    let (mut ev, floor_values) = evaluator();
    let mut t = 15_000;
    ev.eval(t); // selects series, creates the alerts
    let mut g = c.benchmark_group("alert_eval_tick");
    g.sample_size(20);
    g.bench_function("nexus_10k_rules_100k_series", |b| {
        b.iter(|| {
            t += 15_000;
            black_box(ev.eval(t).len())
        })
    });
    g.bench_function("floor_bare_loop", |b| {
        b.iter(|| {
            let mut firing = 0usize;
            for rule in &floor_values {
                for &(_, v) in rule {
                    if black_box(v) > 0.9 {
                        firing += 1;
                    }
                }
            }
            black_box(firing)
        })
    });
    g.finish();
    let firing = ev.alerts().len();
    println!(
        "alert_eval_tick: {} rules, {:?} (series, samples), {firing} firing alerts",
        ev.rule_count(),
        ev.size()
    );
}

#[derive(Debug)]
struct Discard;

#[async_trait::async_trait]
impl Notifier for Discard {
    fn kind(&self) -> &'static str {
        "discard"
    }
    async fn notify(&self, _: &Notification) -> Result<(), NotifyError> {
        Ok(())
    }
}

fn alerts(n: usize) -> Vec<Alert> {
    (0..n)
        .map(|i| {
            let mut a = Alert::new(
                Labels::from_pairs([
                    ("alertname", format!("Alert{}", i % 50)),
                    ("service", format!("svc-{}", i % 20)),
                    (
                        "severity",
                        ["critical", "warning", "info"][i % 3].to_owned(),
                    ),
                    ("instance", format!("host-{i}")),
                ]),
                1_800_000_000_000,
            );
            a.annotations = Labels::from_pairs([("summary", format!("alert {i} summary"))]);
            a.ends_at = Some(1_900_000_000_000);
            a
        })
        .collect()
}

fn pipeline() -> Pipeline {
    let r = |name: &str| Receiver::new(name, std::sync::Arc::new(Discard));
    Pipeline::builder()
        .receiver(r("default"))
        .receiver(r("pager"))
        .receiver(r("team"))
        .route(
            Route::to("default")
                .group_by(["alertname", "service"])
                .child(
                    Route::to("pager")
                        .matchers(r#"severity="critical""#)
                        .expect("m")
                        .continue_matching(true),
                )
                .child(
                    Route::to("team")
                        .matchers(r#"service=~"svc-1.*""#)
                        .expect("m"),
                )
                .child(Route::to("team").matchers(r#"severity="info""#).expect("m")),
        )
        .build()
        .expect("pipeline")
}

fn pipeline_throughput(c: &mut Criterion) {
    let batch = alerts(10_000);
    let p = pipeline();
    p.ingest(batch.clone()); // groups exist: steady state, as when the engine resends
    let mut g = c.benchmark_group("alert_pipeline");
    g.throughput(Throughput::Elements(batch.len() as u64));
    g.sample_size(20);
    g.bench_function("nexus_ingest_dedup_route_group", |b| {
        b.iter_batched(
            || batch.clone(),
            |alerts| p.ingest(alerts),
            criterion::BatchSize::LargeInput,
        )
    });
    let mut floor: HashMap<u64, Alert> = HashMap::new();
    g.bench_function("floor_hashmap_insert", |b| {
        b.iter_batched(
            || batch.clone(),
            |alerts| {
                for a in alerts {
                    floor.insert(a.fingerprint, a);
                }
            },
            criterion::BatchSize::LargeInput,
        )
    });
    g.finish();
}

fn alertmanager_peer(quick: bool) {
    let am = nexus_testkit::AlertmanagerServer::start();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let batches = if quick { 3 } else { 10 };
    let all = alerts(1000);
    let body = serde_json::to_vec(
        &all.iter()
            .map(|a| {
                serde_json::json!({
                    "labels": a.labels, "annotations": a.annotations,
                    "startsAt": "2026-11-27T00:00:00Z", "endsAt": "2027-11-27T00:00:00Z",
                })
            })
            .collect::<Vec<_>>(),
    )
    .expect("json");
    let url = format!("{}/api/v2/alerts", am.url());
    let secs = rt.block_on(async {
        let started = Instant::now();
        for _ in 0..batches {
            post(&url, &body).await;
        }
        started.elapsed().as_secs_f64()
    });
    println!(
        "alert_pipeline peer: Alertmanager POST /api/v2/alerts: {:.0} alerts/s ({} batches of {} over HTTP)",
        (batches * all.len()) as f64 / secs,
        batches,
        all.len()
    );
}

async fn post(url: &str, body: &[u8]) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.trim_start_matches("http://");
    let (host, path) = rest.split_once('/').expect("path");
    let mut s = tokio::net::TcpStream::connect(host).await.expect("connect");
    let head = format!(
        "POST /{path} HTTP/1.0\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.expect("write");
    s.write_all(body).await.expect("write");
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).await.expect("read");
    assert!(
        resp.starts_with(b"HTTP/1.0 200") || resp.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&resp)
    );
}

fn memory(quick: bool) {
    let n = if quick { 20_000 } else { 100_000 };
    let before = rss_bytes();
    let mut cfg = EvalConfig::default();
    cfg.lookback = Duration::from_secs(365 * 86_400);
    let mut ev = Evaluator::new(cfg);
    ev.add_rule(
        "m",
        Rule::builder("Busy", "cpu_usage > 0.5")
            .annotation("summary", "{{ $labels.instance }} busy")
            .build()
            .expect("rule"),
    );
    for i in 0..n {
        let labels = Labels::from_pairs([
            ("instance", format!("host-{i}")),
            ("job", "node".to_owned()),
        ]);
        ev.push(Sample::new("cpu_usage", labels, 0.9, 0));
    }
    let after_series = rss_bytes();
    let fired = ev.eval(0);
    let after_engine = rss_bytes();
    let p = pipeline();
    p.ingest(fired);
    let after_pipeline = rss_bytes();
    println!(
        "alert memory: {n} firing alerts: series store {:.0} B/series, engine {:.0} B/alert, pipeline {:.0} B/alert",
        (after_series - before) as f64 / n as f64,
        after_engine.saturating_sub(after_series) as f64 / n as f64,
        after_pipeline.saturating_sub(after_engine) as f64 / n as f64,
    );
    black_box((ev, p));
}

fn detectors(c: &mut Criterion) {
    use nexus_alerting::anomaly::{
        ArtDetector, CombinedDetector, Detector, EnsembleDetector, EwmaDetector,
    };
    // One series with a daily pattern, noise and a few spikes: 100 000 samples.
    let mut rng = fastrand::Rng::with_seed(11);
    let values: Vec<f64> = (0..100_000)
        .map(|i| {
            let day = (i as f64 / 288.0 * std::f64::consts::TAU).sin() * 10.0;
            let spike = if i % 9_973 == 0 { 60.0 } else { 0.0 };
            50.0 + day + rng.f64() * 2.0 + spike
        })
        .collect();
    // Feeds a series (one sample a minute); the sum of the scores keeps the work observable.
    fn feed(d: &mut dyn Detector, values: &[f64]) -> f64 {
        let mut acc = 0.0;
        for (i, v) in values.iter().enumerate() {
            acc += d.update(i as i64 * 60_000, *v);
        }
        acc
    }
    let mut g = c.benchmark_group("anomaly_detector");
    g.throughput(Throughput::Elements(values.len() as u64));
    g.sample_size(20);
    g.bench_function("nexus_default", |b| {
        b.iter(|| black_box(feed(&mut CombinedDetector::default(), &values)))
    });
    g.bench_function("nexus_ensemble_alone", |b| {
        b.iter(|| black_box(feed(&mut EnsembleDetector::default(), &values)))
    });
    g.bench_function("nexus_art", |b| {
        b.iter(|| black_box(feed(&mut ArtDetector::default(), &values)))
    });
    g.bench_function("peer_ewma_zscore", |b| {
        b.iter(|| black_box(feed(&mut EwmaDetector::new(0.05, 100), &values)))
    });
    g.finish();
    // Memory per series: after the series above, and after a series whose values spread over
    // fifteen orders of magnitude once its range was learned on 3 000 calm samples (the
    // warm-up and learning periods are 25 h each at one sample a minute): the worst case we
    // know, every value new, the transition memory fills to its bound.
    let mut d = EnsembleDetector::default();
    feed(&mut d, &values);
    let mut c = CombinedDetector::default();
    feed(&mut c, &values);
    let noise: Vec<f64> = (0..200_000)
        .map(|i| {
            if i < 3000 {
                rng.f64()
            } else {
                10f64.powf(rng.f64() * 15.0)
            }
        })
        .collect();
    let mut w = CombinedDetector::default();
    feed(&mut w, &noise);
    let mut a = ArtDetector::default();
    feed(&mut a, &values);
    let mut an = ArtDetector::default();
    feed(&mut an, &noise);
    println!(
        "anomaly_detector memory: EnsembleDetector holds {} bytes per series; the default \
         (CombinedDetector) {} bytes after the {} samples above, {} bytes after {} samples \
         spread over fifteen orders of magnitude; ArtDetector {} and {} bytes after the same two",
        d.memory_bytes(),
        c.memory_bytes(),
        values.len(),
        w.memory_bytes(),
        noise.len(),
        a.memory_bytes(),
        an.memory_bytes()
    );
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    // First, while the heap is fresh: RSS growth is only meaningful before other work freed memory.
    memory(quick);
    let mut c = Criterion::default().configure_from_args();
    eval_tick(&mut c);
    pipeline_throughput(&mut c);
    detectors(&mut c);
    c.final_summary();
    alertmanager_peer(quick);
}
