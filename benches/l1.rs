//! nexus-cache's L1 against raw moka and quick_cache, each pair in the same group and run.
//!
//! - `l1_hit`: `TieredCache::get` on an L1 hit vs raw `moka::sync::Cache::get` and
//!   `quick_cache::sync::Cache::get` over the same 10 000 keys (single thread).
//! - `l1_hit_2_threads`: the same, both cores reading at once (time per read).
//! - `l1_miss`: a miss that loads and inserts, on a stream of new keys into a full cache of
//!   10 000 entries: `get_or_load` with an immediate loader vs raw moka `get` + `insert` (and
//!   quick_cache's `get` + `insert`).
//! - bytes per entry (printed): RSS growth for 200 000 entries of a `u64` under 16-byte keys,
//!   minus the keys' and values' own bytes, for the three.
//!
//! `cargo bench --bench l1` (add `-- --quick` for the CI smoke run).

#[path = "common/mod.rs"]
mod common;

use std::sync::Arc;

use criterion::{Criterion, Throughput};
use futures_util::FutureExt;
use nexus_cache::{MemoryTier, TieredCache};

const KEYS: usize = 10_000;

fn keys(n: usize, prefix: &str) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}:{i:011}")).collect()
}

fn ours(max_entries: Option<u64>) -> TieredCache<u64> {
    let tier = match max_entries {
        Some(n) => MemoryTier::builder().max_entries(n),
        None => MemoryTier::builder(),
    };
    TieredCache::builder()
        .tier(tier.build())
        .metrics_interval(None)
        .build()
        .expect("cache")
}

fn get(c: &TieredCache<u64>, k: &str) -> Option<Arc<u64>> {
    c.get(k).now_or_never().expect("ready").expect("ok")
}

fn l1_hit(c: &mut Criterion) {
    let keys = keys(KEYS, "key");
    let cache = ours(None);
    let moka: moka::sync::Cache<String, Arc<u64>> = moka::sync::Cache::new(1 << 20);
    let quick: quick_cache::sync::Cache<String, Arc<u64>> = quick_cache::sync::Cache::new(1 << 20);
    for (i, k) in keys.iter().enumerate() {
        let v = i as u64;
        cache.set(k, v).now_or_never().expect("ready").expect("set");
        moka.insert(k.clone(), Arc::new(v));
        quick.insert(k.clone(), Arc::new(v));
    }
    moka.run_pending_tasks();
    let mut g = c.benchmark_group("l1_hit");
    g.throughput(Throughput::Elements(1));
    let mut i = 0usize;
    g.bench_function("raw_moka_get", |b| {
        b.iter(|| {
            i = (i + 1) % KEYS;
            moka.get(&keys[i]).expect("hit")
        })
    });
    g.bench_function("quick_cache_get", |b| {
        b.iter(|| {
            i = (i + 1) % KEYS;
            quick.get(&keys[i]).expect("hit")
        })
    });
    g.bench_function("tiered_cache_get", |b| {
        b.iter(|| {
            i = (i + 1) % KEYS;
            get(&cache, &keys[i]).expect("hit")
        })
    });
    g.finish();

    // Both cores at once: each iteration is one read on each of two threads.
    let mut g = c.benchmark_group("l1_hit_2_threads");
    g.throughput(Throughput::Elements(2));
    let both = |read: &(dyn Fn(usize) + Sync), iters: u64| {
        let start = std::time::Instant::now();
        std::thread::scope(|s| {
            for t in 0..2 {
                s.spawn(move || {
                    for n in 0..iters as usize {
                        read((n * 7 + t * 5003) % KEYS);
                    }
                });
            }
        });
        start.elapsed()
    };
    g.bench_function("raw_moka_get", |b| {
        b.iter_custom(|iters| both(&|i| drop(moka.get(&keys[i]).expect("hit")), iters))
    });
    g.bench_function("quick_cache_get", |b| {
        b.iter_custom(|iters| both(&|i| drop(quick.get(&keys[i]).expect("hit")), iters))
    });
    g.bench_function("tiered_cache_get", |b| {
        b.iter_custom(|iters| both(&|i| drop(get(&cache, &keys[i]).expect("hit")), iters))
    });
    g.finish();
}

fn l1_miss(c: &mut Criterion) {
    // A long stream of keys never seen before, into full caches of 10 000 entries.
    let fresh = keys(2_000_000, "new");
    let cache = ours(Some(KEYS as u64));
    let moka: moka::sync::Cache<String, Arc<u64>> = moka::sync::Cache::new(KEYS as u64);
    let quick: quick_cache::sync::Cache<String, Arc<u64>> = quick_cache::sync::Cache::new(KEYS);
    let mut g = c.benchmark_group("l1_miss");
    g.throughput(Throughput::Elements(1));
    let mut i = 0usize;
    g.bench_function("raw_moka_get_insert", |b| {
        b.iter(|| {
            i = (i + 1) % fresh.len();
            let k = &fresh[i];
            if moka.get(k).is_none() {
                moka.insert(k.clone(), Arc::new(i as u64));
            }
        })
    });
    g.bench_function("quick_cache_get_insert", |b| {
        b.iter(|| {
            i = (i + 1) % fresh.len();
            let k = &fresh[i];
            if quick.get(k).is_none() {
                quick.insert(k.clone(), Arc::new(i as u64));
            }
        })
    });
    g.bench_function("tiered_cache_get_or_load", |b| {
        b.iter(|| {
            i = (i + 1) % fresh.len();
            let v = i as u64;
            cache
                .get_or_load(&fresh[i], || async move { Ok::<_, std::io::Error>(v) })
                .now_or_never()
                .expect("ready")
                .expect("ok")
        })
    });
    g.finish();
}

/// RSS growth per entry beyond the key's and value's own bytes, for `n` entries.
fn overhead(n: usize, fill: impl FnOnce(&[String])) -> f64 {
    let keys = keys(n, "mem");
    let payload = keys.iter().map(|k| k.len() + 8).sum::<usize>() as f64;
    let before = common::rss_bytes();
    fill(&keys);
    (common::rss_bytes().saturating_sub(before) as f64 - payload) / n as f64
}

fn bytes_per_entry() {
    const N: usize = 200_000;
    let ours = overhead(N, |keys| {
        let c = ours(Some(N as u64 * 2));
        for (i, k) in keys.iter().enumerate() {
            c.set(k, i as u64)
                .now_or_never()
                .expect("ready")
                .expect("set");
        }
        std::mem::forget(c);
    });
    let moka = overhead(N, |keys| {
        let c: moka::sync::Cache<String, Arc<u64>> = moka::sync::Cache::new(N as u64 * 2);
        for (i, k) in keys.iter().enumerate() {
            c.insert(k.clone(), Arc::new(i as u64));
        }
        c.run_pending_tasks();
        std::mem::forget(c);
    });
    let quick = overhead(N, |keys| {
        let c: quick_cache::sync::Cache<String, Arc<u64>> = quick_cache::sync::Cache::new(N * 2);
        for (i, k) in keys.iter().enumerate() {
            c.insert(k.clone(), Arc::new(i as u64));
        }
        std::mem::forget(c);
    });
    println!(
        "bytes of overhead per entry ({N} entries, 15-byte keys, Arc<u64> values, RSS): \
         nexus L1 {ours:.0}, moka {moka:.0}, quick_cache {quick:.0}"
    );
}

fn main() {
    bytes_per_entry();
    let mut c = Criterion::default().configure_from_args();
    l1_hit(&mut c);
    l1_miss(&mut c);
    c.final_summary();
}
