//! nexus-cache against its peers, each pair measured in the same group and run.
//!
//! (The L1 alone against raw moka and quick_cache: `benches/l1.rs`.)
//! - `l2_hit`: `TieredCache::get` with only the Redis tier (every read an L2 hit) vs a raw redis-rs
//!   `GET` + postcard decode over the same connection kind (`ConnectionManager`).
//! - `zipf_get_or_load`: 1 M `get_or_load` calls from 64 tasks over a Zipf(0.99) key space of
//!   100 k keys, L1+L2 vs raw moka `get_with`.
//!
//! - `tag_invalidation`: invalidating a tag carried by 1 000 entries in Redis: ours (one timestamp
//!   mark) vs the classic tag-set design with raw redis-rs (`SMEMBERS` the tag's key set, `DEL`
//!   the members and the set), the set rebuilt outside the timing before each run.
//!
//! - backplane staleness (printed): two instances sharing Redis and a `RedisBackplane`; after
//!   `set` returns on A, how long B keeps serving the old value from its L1. The peer is the
//!   same pair without a backplane, where B serves the old value until its L1 TTL ends.
//!
//! `cargo bench --bench cache` (add `-- --quick` for the CI smoke run). A real `redis-server` is
//! started on loopback by `nexus-testkit`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use nexus_cache::{EntryOptions, MemoryTier, RedisBackplane, RedisTier, TieredCache};
use nexus_testkit::RedisServer;
use serde::{Deserialize, Serialize};
use tokio::runtime::Runtime;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Doc {
    id: u64,
    title: String,
    tags: Vec<String>,
}

fn doc(id: u64) -> Doc {
    Doc {
        id,
        title: format!("document number {id}"),
        tags: vec!["a".into(), "b".into()],
    }
}

fn keys(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("key:{i}")).collect()
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// A cache whose only tier is Redis under `prefix`, and a raw redis-rs connection (the peer).
async fn l2_and_raw(
    redis: &RedisServer,
    prefix: &str,
) -> (TieredCache<Doc>, redis::aio::ConnectionManager) {
    let l2 = RedisTier::builder(redis.url())
        .prefix(prefix)
        .build()
        .await
        .expect("l2");
    let ours = TieredCache::builder()
        .tier(l2)
        .metrics_interval(None)
        .build()
        .expect("cache");
    let client = redis::Client::open(redis.url()).expect("client");
    let raw = redis::aio::ConnectionManager::new(client)
        .await
        .expect("raw connection");
    (ours, raw)
}

fn l2_hit(c: &mut Criterion, rt: &Runtime, redis: &RedisServer) {
    let keys = keys(1_000);
    let (ours, mut raw) = rt.block_on(async {
        let (ours, mut raw) = l2_and_raw(redis, "bench").await;
        for (i, k) in keys.iter().enumerate() {
            ours.set(k, doc(i as u64)).await.expect("set");
            let bytes = postcard::to_allocvec(&doc(i as u64)).expect("encode");
            let _: () = redis::cmd("SET")
                .arg(format!("raw:{k}"))
                .arg(bytes)
                .query_async(&mut raw)
                .await
                .expect("set");
        }
        (ours, raw)
    });
    let raw_keys: Vec<String> = keys.iter().map(|k| format!("raw:{k}")).collect();
    let mut g = c.benchmark_group("l2_hit");
    g.throughput(Throughput::Elements(1));
    let mut i = 0usize;
    g.bench_function("raw_redis_get_decode", |b| {
        b.to_async(rt).iter(|| {
            i = (i + 1) % keys.len();
            let k = &raw_keys[i];
            let mut conn = raw.clone();
            async move {
                let bytes: Vec<u8> = redis::cmd("GET")
                    .arg(k)
                    .query_async(&mut conn)
                    .await
                    .expect("get");
                postcard::from_bytes::<Doc>(&bytes).expect("decode")
            }
        })
    });
    g.bench_function("tiered_cache_get", |b| {
        b.to_async(rt).iter(|| {
            i = (i + 1) % keys.len();
            let k = &keys[i];
            let ours = &ours;
            async move { ours.get(k).await.expect("ok").expect("hit") }
        })
    });
    g.finish();
    let _ = &mut raw;
}

/// A Zipf(s) sampler over `n` ranks: precomputed CDF, xorshift uniform, binary search.
fn zipf_trace(n: usize, s: f64, len: usize, seed: u64) -> Vec<u32> {
    let mut cdf = Vec::with_capacity(n);
    let mut total = 0.0;
    for rank in 1..=n {
        total += 1.0 / (rank as f64).powf(s);
        cdf.push(total);
    }
    let mut x = seed;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let u = (x >> 11) as f64 / (1u64 << 53) as f64 * total;
            cdf.partition_point(|&c| c < u).min(n - 1) as u32
        })
        .collect()
}

const TASKS: usize = 64;
const OPS: usize = 1_000_000;
const ZIPF_KEYS: usize = 100_000;

fn zipf_get_or_load(c: &mut Criterion, rt: &Runtime, redis: &RedisServer) {
    let keys: Arc<Vec<String>> = Arc::new(keys(ZIPF_KEYS));
    let trace: Arc<Vec<u32>> = Arc::new(zipf_trace(ZIPF_KEYS, 0.99, OPS, 0x9E37_79B9_7F4A_7C15));
    let ours: TieredCache<Doc> = rt.block_on(async {
        let l2 = RedisTier::builder(redis.url())
            .prefix("zipf")
            .build()
            .await
            .expect("l2");
        TieredCache::builder()
            .tier(MemoryTier::builder().build())
            .tier(l2)
            .metrics_interval(None)
            .build()
            .expect("cache")
    });
    let moka: moka::future::Cache<String, Arc<Doc>> =
        moka::future::Cache::builder().max_capacity(1 << 20).build();

    let mut g = c.benchmark_group("zipf_get_or_load");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(20));
    g.throughput(Throughput::Elements(OPS as u64));
    g.bench_function(BenchmarkId::new("raw_moka_get_with", "64_tasks"), |b| {
        b.to_async(rt).iter_custom(|iters| {
            let (keys, trace, moka) = (keys.clone(), trace.clone(), moka.clone());
            async move {
                let start = Instant::now();
                for _ in 0..iters {
                    let tasks: Vec<_> = (0..TASKS)
                        .map(|t| {
                            let (keys, trace, moka) = (keys.clone(), trace.clone(), moka.clone());
                            tokio::spawn(async move {
                                for &k in trace[t * OPS / TASKS..(t + 1) * OPS / TASKS].iter() {
                                    let key = &keys[k as usize];
                                    moka.get_with_by_ref(key.as_str(), async {
                                        Arc::new(doc(u64::from(k)))
                                    })
                                    .await;
                                }
                            })
                        })
                        .collect();
                    for t in tasks {
                        t.await.expect("task");
                    }
                }
                start.elapsed()
            }
        })
    });
    g.bench_function(BenchmarkId::new("tiered_cache_l1_l2", "64_tasks"), |b| {
        b.to_async(rt).iter_custom(|iters| {
            let (keys, trace, ours) = (keys.clone(), trace.clone(), ours.clone());
            async move {
                let start = Instant::now();
                for _ in 0..iters {
                    let tasks: Vec<_> = (0..TASKS)
                        .map(|t| {
                            let (keys, trace, ours) = (keys.clone(), trace.clone(), ours.clone());
                            tokio::spawn(async move {
                                for &k in trace[t * OPS / TASKS..(t + 1) * OPS / TASKS].iter() {
                                    ours.get_or_load(&keys[k as usize], || async move {
                                        Ok::<_, std::io::Error>(doc(u64::from(k)))
                                    })
                                    .await
                                    .expect("load");
                                }
                            })
                        })
                        .collect();
                    for t in tasks {
                        t.await.expect("task");
                    }
                }
                start.elapsed()
            }
        })
    });
    g.finish();
    let s = ours.stats();
    eprintln!(
        "zipf_get_or_load: TieredCache hit ratio {:.3} (L1 {:.3}), loads {}",
        s.hit_ratio, s.tiers[0].hit_ratio, s.loader.loads
    );
}

fn staleness(rt: &Runtime, redis: &RedisServer, quick: bool) {
    let rounds = if quick { 50 } else { 500 };
    let (mut sets, mut tags) = rt.block_on(async {
        let make = || async {
            let bp = RedisBackplane::connect([redis.url()], "bench:bp")
                .await
                .expect("backplane");
            let l2 = RedisTier::builder(redis.url())
                .prefix("stale")
                .build()
                .await
                .expect("l2");
            TieredCache::<Doc>::builder()
                .name("stale")
                .tier(MemoryTier::builder().ttl(Duration::from_secs(300)).build())
                .tier(l2)
                .backplane(Arc::new(bp))
                .metrics_interval(None)
                .build()
                .expect("cache")
        };
        let (a, b) = (make().await, make().await);
        let mut out = Vec::with_capacity(rounds);
        for i in 0..rounds as u64 {
            let key = format!("k{}", i % 10);
            b.set(&key, doc(i)).await.expect("set");
            let _ = b.get(&key).await; // in B's L1
            tokio::time::sleep(Duration::from_millis(2)).await;
            a.set(&key, doc(i + 1_000_000)).await.expect("set");
            let t0 = Instant::now();
            loop {
                if b.get(&key)
                    .await
                    .ok()
                    .flatten()
                    .is_some_and(|d| d.id == i + 1_000_000)
                {
                    break;
                }
                if t0.elapsed() > Duration::from_secs(2) {
                    break;
                }
                tokio::task::yield_now().await;
            }
            out.push(t0.elapsed().as_secs_f64() * 1e3);
        }
        // Tag invalidation: B holds a tagged entry in L1; A invalidates the tag.
        let mut tags = Vec::with_capacity(rounds);
        for i in 0..rounds as u64 {
            let key = format!("t{}", i % 10);
            let opts = EntryOptions::new().tags([format!("tag{}", i % 10)]);
            b.set_with(&key, doc(i), &opts).await.expect("set");
            let _ = b.get(&key).await;
            tokio::time::sleep(Duration::from_millis(2)).await;
            a.invalidate_tags([format!("tag{}", i % 10)])
                .await
                .expect("invalidate");
            let t0 = Instant::now();
            while b.get(&key).await.ok().flatten().is_some()
                && t0.elapsed() < Duration::from_secs(2)
            {
                tokio::task::yield_now().await;
            }
            tags.push(t0.elapsed().as_secs_f64() * 1e3);
        }
        (out, tags)
    });
    for (what, samples) in [("writes", &mut sets), ("tag invalidations", &mut tags)] {
        samples.sort_by(f64::total_cmp);
        let q = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)];
        println!(
            "backplane staleness over {rounds} {what}: p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms (without a backplane: until the L1 TTL, 300 000 ms)",
            q(0.5),
            q(0.99),
            samples[samples.len() - 1]
        );
    }
}

/// Invalidating a tag of 1 000 entries: one timestamp mark vs finding and deleting the entries.
fn tag_invalidation(c: &mut Criterion, rt: &Runtime, redis: &RedisServer) {
    const N: usize = 1_000;
    let (ours, raw) = rt.block_on(async {
        let (ours, raw) = l2_and_raw(redis, "tagbench").await;
        let opts = EntryOptions::new().tags(["big"]);
        for i in 0..N {
            ours.set_with(&format!("e{i}"), doc(i as u64), &opts)
                .await
                .expect("set");
        }
        (ours, raw)
    });
    let value = postcard::to_allocvec(&doc(1)).expect("encode");
    let mut g = c.benchmark_group("tag_invalidation_1000_entries");
    g.bench_function("raw_tag_set_smembers_del", |b| {
        b.to_async(rt).iter_custom(|iters| {
            let mut conn = raw.clone();
            let value = value.clone();
            async move {
                let mut timed = Duration::ZERO;
                for _ in 0..iters {
                    // Rebuild the tag set and its entries (not timed).
                    let mut pipe = redis::pipe();
                    for i in 0..N {
                        pipe.cmd("SET")
                            .arg(format!("raw:e{i}"))
                            .arg(&value)
                            .ignore();
                        pipe.cmd("SADD")
                            .arg("raw:tag:big")
                            .arg(format!("raw:e{i}"))
                            .ignore();
                    }
                    pipe.query_async::<()>(&mut conn).await.expect("fill");
                    let t0 = Instant::now();
                    let members: Vec<String> = redis::cmd("SMEMBERS")
                        .arg("raw:tag:big")
                        .query_async(&mut conn)
                        .await
                        .expect("smembers");
                    let _: () = redis::pipe()
                        .cmd("DEL")
                        .arg(&members)
                        .ignore()
                        .cmd("DEL")
                        .arg("raw:tag:big")
                        .ignore()
                        .query_async(&mut conn)
                        .await
                        .expect("del");
                    timed += t0.elapsed();
                }
                timed
            }
        })
    });
    g.bench_function("tiered_cache_timestamp_mark", |b| {
        b.to_async(rt)
            .iter(|| async { ours.invalidate_tags(["big"]).await.expect("invalidate") })
    });
    g.finish();
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let redis = RedisServer::start();
    let rt = runtime();
    staleness(&rt, &redis, quick);
    let mut c = Criterion::default().configure_from_args();
    l2_hit(&mut c, &rt, &redis);
    tag_invalidation(&mut c, &rt, &redis);
    zipf_get_or_load(&mut c, &rt, &redis);
    c.final_summary();
    drop(redis);
}
