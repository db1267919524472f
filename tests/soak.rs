//! Soak: `examples/full_stack` under steady mixed load (reads, searches, misses, random paths,
//! scrapes of `/metrics` and the report) for `NEXUS_SOAK_SECONDS` (default 60 s in CI; the
//! figure in BENCHMARKS.md is a 600 s run), its resident memory sampled every 5 s: after the
//! first fifth (warm-up) it must stay flat. Prints the samples.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Resident memory of `pid`, bytes (Linux `/proc`).
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    kb * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_stays_flat_under_steady_load() {
    let seconds: u64 = std::env::var("NEXUS_SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60)
        .max(20);
    let svc = start(&[], &[]).await;
    let pid = svc.child.id();
    let (c, b) = (client(), svc.base.clone());
    for i in 0..200 {
        let body = format!(r#"{{"title":"doc {i}","body":"the body of document {i}"}}"#);
        let (s, _, _) = call(&c, "POST", &format!("{b}/documents"), Some(&body), "*/*").await;
        assert_eq!(s, 201);
    }
    let (stop, requests, failures): (Arc<AtomicBool>, Arc<AtomicU64>, Arc<AtomicU64>) =
        Default::default();
    let mut workers = Vec::new();
    for w in 0..6u64 {
        let (c, b) = (c.clone(), b.clone());
        let (stop, requests, failures) = (stop.clone(), requests.clone(), failures.clone());
        workers.push(tokio::spawn(async move {
            let mut i = w;
            while !stop.load(Ordering::Relaxed) {
                let url = match i % 20 {
                    0 => format!("{b}/documents?q=body"),
                    1 => format!("{b}/documents/{}", 100_000 + i % 1000), // 404
                    2 => format!("{b}/no/such/path/{i}"),                 // unmatched
                    3 if w == 0 => format!("{b}/metrics"),
                    4 if w == 1 => format!("{b}/api/v1/monitoring/report"),
                    _ => format!("{b}/documents/{}", 1 + i % 200),
                };
                let (s, _, _) = call(&c, "GET", &url, None, "*/*").await;
                requests.fetch_add(1, Ordering::Relaxed);
                if s >= 500 {
                    failures.fetch_add(1, Ordering::Relaxed);
                }
                i += 6;
            }
        }));
    }
    let t0 = Instant::now();
    let mut samples = Vec::new();
    while t0.elapsed() < Duration::from_secs(seconds) {
        tokio::time::sleep(Duration::from_secs(5)).await;
        samples.push((t0.elapsed().as_secs(), rss(pid)));
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.unwrap();
    }
    let n = requests.load(Ordering::Relaxed);
    let mb = |v: u64| v as f64 / (1 << 20) as f64;
    let warm = samples.len() / 5;
    let after_warmup = samples[warm].1;
    let end = samples.last().unwrap().1;
    let peak = samples[warm..].iter().map(|s| s.1).max().unwrap();
    println!(
        "soak: {seconds} s, {n} requests ({:.0}/s), {} 5xx; RSS after warm-up {:.1} MiB, peak {:.1} MiB, end {:.1} MiB (+{:.1} MiB)\n  samples (s, MiB): {}",
        n as f64 / seconds as f64,
        failures.load(Ordering::Relaxed),
        mb(after_warmup),
        mb(peak),
        mb(end),
        mb(end.saturating_sub(after_warmup)),
        samples
            .iter()
            .map(|(t, r)| format!("{t}:{:.1}", mb(*r)))
            .collect::<Vec<_>>()
            .join(" ")
    );
    assert_eq!(failures.load(Ordering::Relaxed), 0, "{}", svc.log());
    // Flat: after warm-up, growth within 16 MiB or 15 % (bounded rings still filling).
    let allowed = (after_warmup * 15 / 100).max(16 << 20);
    assert!(
        peak.saturating_sub(after_warmup) <= allowed,
        "RSS grew {:.1} MiB after warm-up",
        mb(peak - after_warmup)
    );
}
