//! Fault suite, Redis part: a real `redis-server` killed and restarted under load (L1 kept across
//! the reconnection: nothing missed, or replayed), and a master
//! of a real 6-node Redis Cluster killed under load. Prints the figures
//! (`cargo test --features full --test redis_faults -- --nocapture`); BENCHMARKS.md keeps them.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nexus::cache::{ClusterTier, MemoryTier, RedisBackplane, RedisTier, TieredCache};
use nexus_testkit::{RedisCluster, RedisServer};

/// One request: when it started (since the load began), how long it took, whether it failed.
type Log = Arc<Mutex<Vec<(Duration, Duration, bool)>>>;

/// `workers` tasks reading 500 keys through `get_or_load` (a 1 ms loader) until `stop`.
fn load(cache: &TieredCache<String>, workers: usize, stop: &Arc<AtomicBool>, log: &Log) {
    let t0 = Instant::now();
    for w in 0..workers {
        let (cache, stop, log) = (cache.clone(), stop.clone(), log.clone());
        tokio::spawn(async move {
            let mut i = w as u64;
            while !stop.load(Ordering::Relaxed) {
                let key = format!("doc:{}", (i * 7919) % 500);
                let started = Instant::now();
                let r = cache
                    .get_or_load(&key, || async {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                        Ok::<_, std::io::Error>("a document body".repeat(8))
                    })
                    .await;
                log.lock()
                    .unwrap()
                    .push((started - t0, started.elapsed(), r.is_err()));
                i += 1;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        });
    }
}

/// A writer changing 50 keys every 5 ms until `stop` (the backplane's traffic); its errors while
/// Redis is down are expected (the L2 write fails) and not counted.
fn write(cache: &TieredCache<String>, stop: &Arc<AtomicBool>) {
    let (cache, stop) = (cache.clone(), stop.clone());
    tokio::spawn(async move {
        let mut i = 0u64;
        while !stop.load(Ordering::Relaxed) {
            let _ = cache.set(&format!("w:{}", i % 50), format!("v{i}")).await;
            i += 1;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
}

/// Requests, errors, p99 and max latency (ms) of the requests started within `[from, to)`.
fn figures(log: &Log, from: Duration, to: Duration) -> (usize, usize, f64, f64) {
    let log = log.lock().unwrap();
    let mut lat: Vec<f64> = log
        .iter()
        .filter(|(at, _, _)| *at >= from && *at < to)
        .map(|(_, d, _)| d.as_secs_f64() * 1e3)
        .collect();
    let errors = log
        .iter()
        .filter(|(at, _, e)| *e && *at >= from && *at < to)
        .count();
    lat.sort_by(f64::total_cmp);
    let p99 = lat.get(lat.len() * 99 / 100).copied().unwrap_or(f64::NAN);
    (
        lat.len(),
        errors,
        p99,
        lat.last().copied().unwrap_or(f64::NAN),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_and_restarted_under_load() {
    let redis = RedisServer::start();
    let make = || async {
        TieredCache::<String>::builder()
            .name("faults")
            .tier(
                MemoryTier::builder()
                    .ttl(Duration::from_secs(1))
                    .fail_safe(Duration::from_secs(600))
                    .build(),
            )
            .tier(
                RedisTier::builder(redis.url())
                    .prefix("faults")
                    .timeout(Duration::from_millis(250))
                    .build()
                    .await
                    .unwrap(),
            )
            .backplane(Arc::new(
                RedisBackplane::connect([redis.url()], "faults:bp")
                    .await
                    .unwrap(),
            ))
            .circuit_breaker(3, Duration::from_millis(500))
            .metrics_interval(None)
            .build()
            .unwrap()
    };
    let (a, b) = (make().await, make().await);
    let (stop, log): (Arc<AtomicBool>, Log) = Default::default();
    let t0 = Instant::now();
    load(&a, 4, &stop, &log);
    load(&b, 4, &stop, &log);
    write(&a, &stop);
    write(&b, &stop);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let l1_before = a.stats().tiers[0].bytes_stored.unwrap_or(0);
    let killed = t0.elapsed();
    redis.stop();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let restarted = t0.elapsed();
    let sets_at_restart = a.stats().tiers[1].sets;
    redis.restart();
    // Recovery: the L2 tier is written again and the backplane is back.
    let recovery = loop {
        let s = a.stats();
        if s.tiers[1].sets > sets_at_restart && s.backplane.as_ref().is_some_and(|bp| bp.connected)
        {
            break t0.elapsed() - restarted;
        }
        assert!(t0.elapsed() - restarted < Duration::from_secs(20), "{s:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let l1_after = a.stats().tiers[0].bytes_stored.unwrap_or(0);
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let end = t0.elapsed();
    // Past the confirmation window (3 heartbeats) after the reconnection.
    let (bp_a, bp_b) = (a.stats().backplane.unwrap(), b.stats().backplane.unwrap());
    assert!(!bp_a.degraded && !bp_b.degraded, "{bp_a:?} {bp_b:?}");
    let (n0, e0, p0, m0) = figures(&log, Duration::ZERO, killed);
    let (n1, e1, p1, m1) = figures(&log, killed, restarted);
    let (n2, e2, p2, m2) = figures(&log, restarted, end);
    println!(
        "fault: Redis killed under load (2 instances × 4 callers, L1 + L2 + backplane, fail-safe):\n  \
         before: {n0} requests, {e0} errors, p99 {p0:.1} ms, max {m0:.1} ms\n  \
         down 3 s: {n1} requests, {e1} errors, p99 {p1:.1} ms, max {m1:.1} ms\n  \
         after restart: {n2} requests, {e2} errors, p99 {p2:.1} ms, max {m2:.1} ms; \
         L2 written and backplane back {:.2} s after the restart\n  \
         L1 bytes before the kill {l1_before}, 0.5 s after the reconnect {l1_after}; \
         backplane: A received {} ({} replayed), B received {} ({} replayed), L1 dropped {} times",
        recovery.as_secs_f64(),
        bp_a.received,
        bp_a.replayed,
        bp_b.received,
        bp_b.replayed,
        bp_a.resyncs + bp_b.resyncs,
    );
    assert_eq!(e0 + e1 + e2, 0, "callers saw errors");
    assert_eq!(bp_a.resyncs + bp_b.resyncs, 0, "L1 kept: {bp_a:?} {bp_b:?}");
    assert!(
        bp_a.retried > 0 && bp_b.retried > 0,
        "changes made during the outage were sent later"
    );
    assert!(bp_a.received > 0 && bp_b.received > 0);
    let s = a.stats();
    assert!(s.tiers[1].errors > 0, "the outage is counted: {s:?}");
    assert!(s.tiers[1].circuit_opened >= 1, "{s:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_master_killed_under_load() {
    let cluster = RedisCluster::start();
    let cache = TieredCache::<String>::builder()
        .name("cluster-faults")
        .tier(
            MemoryTier::builder()
                .ttl(Duration::from_millis(500))
                .fail_safe(Duration::from_secs(600))
                .build(),
        )
        .tier(
            ClusterTier::builder(cluster.urls())
                .prefix("cf")
                .timeout(Duration::from_millis(250))
                .build()
                .await
                .unwrap(),
        )
        .metrics_interval(None)
        .build()
        .unwrap();
    let (stop, log): (Arc<AtomicBool>, Log) = Default::default();
    let t0 = Instant::now();
    load(&cache, 6, &stop, &log);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let master = cluster.master_ports()[0];
    let killed = t0.elapsed();
    let errors_before = cache.stats().tiers[1].errors;
    cluster.stop_node(master);
    // The replica's promotion, as the surviving nodes report it (three masters again).
    let mut promoted = None;
    while t0.elapsed() - killed < Duration::from_secs(15) {
        tokio::time::sleep(Duration::from_millis(250)).await;
        if cluster.master_ports().len() == 3 {
            promoted = Some(t0.elapsed() - killed);
            break;
        }
    }
    // Served again: a full second with the breaker closed, no new tier error and L3 written.
    let mut resumed = None;
    let mut window: Vec<(Instant, u64, u64, bool)> = Vec::new();
    while promoted.is_some() && t0.elapsed() - killed < Duration::from_secs(25) {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let l3 = cache.stats().tiers[1].clone();
        let now = Instant::now();
        window.push((now, l3.errors, l3.sets, l3.circuit_open));
        window.retain(|w| now - w.0 <= Duration::from_secs(1));
        let first = window[0];
        if now - first.0 >= Duration::from_millis(950)
            && window.iter().all(|w| w.1 == first.1 && !w.3)
            && l3.sets > first.2
        {
            resumed = Some(first.0 - t0 - killed);
            break;
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let end = t0.elapsed();
    let (n1, e1, p1, m1) = figures(&log, killed, end);
    let l3 = cache.stats().tiers[1].clone();
    let after = |d: Option<Duration>, limit: &str| {
        d.map_or(format!("not within {limit}"), |d| {
            format!("after {:.2} s", d.as_secs_f64())
        })
    };
    println!(
        "fault: Redis Cluster master killed under load (6 callers, L1 + L3, fail-safe, default breaker): \
         replica promoted {}; L3 served again {}; {} tier errors counted, breaker opened {} times\n  \
         from the kill on: {n1} requests, {e1} caller errors, p99 {p1:.1} ms, max {m1:.1} ms",
        after(promoted, "15 s"),
        after(resumed, "25 s"),
        l3.errors - errors_before,
        l3.circuit_opened,
    );
    assert_eq!(e1, 0, "callers saw errors");
    assert!(
        l3.errors > errors_before,
        "the lost master is counted: {l3:?}"
    );
}
