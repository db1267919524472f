//! The L1's byte bound holds in real memory: adversarial JSON shapes (arrays of zeros, many
//! small strings, nested maps), about three times the budget written, keep the process's RSS
//! growth within the budget + 20 %. (Before the `DeepSize` weigher, the L1 counted encoded
//! sizes: 80 × 1 MiB of zeros took 1.3 GB with 41 MB accounted.)
#![allow(clippy::unwrap_used)]

use futures_util::FutureExt;
use nexus_cache::{MemoryTier, TieredCache};
use serde_json::{Map, Value, json};

#[path = "../../benches/common/mod.rs"]
mod common;

use common::rss_bytes as rss;

fn zeros(i: usize) -> Value {
    Value::Array(vec![json!(0); 32_768 + i % 7])
}

fn strings(i: usize) -> Value {
    Value::Array(
        (0..20_000)
            .map(|j| json!(format!("s{}", (i + j) % 97)))
            .collect(),
    )
}

fn nested(i: usize) -> Value {
    let mut outer = Map::new();
    for k in 0..1000 {
        let mut inner = Map::new();
        for j in 0..10 {
            inner.insert(format!("f{j}"), json!(i + j));
        }
        outer.insert(format!("k{k}"), Value::Object(inner));
    }
    Value::Object(outer)
}

#[test]
fn rss_stays_within_the_byte_budget() {
    const BUDGET: u64 = 64 << 20;
    let cache: TieredCache<Value> = TieredCache::builder()
        .tier(MemoryTier::builder().max_bytes(BUDGET).build())
        .metrics_interval(None)
        .build()
        .unwrap();
    // Warm the allocator with one of each shape, then measure from there.
    drop([zeros(0), strings(0), nested(0)]);
    let before = rss();
    let mut written = 0u64;
    for i in 0..600 {
        let v = match i % 3 {
            0 => zeros(i),
            1 => strings(i),
            _ => nested(i),
        };
        written += nexus_cache::weigher::Weigher::weigh(&nexus_cache::weigher::DeepSize, &v) as u64;
        cache
            .set(&format!("doc:{i}"), v)
            .now_or_never()
            .unwrap()
            .unwrap();
    }
    let growth = rss().saturating_sub(before);
    let s = cache.stats();
    let stored = s.tiers[0].bytes_stored.unwrap();
    println!(
        "written {:.0} MiB (as weighed), L1 holds {:.1} MiB accounted, RSS grew {:.1} MiB \
         (budget {} MiB), {} evictions",
        written as f64 / 1048576.0,
        stored as f64 / 1048576.0,
        growth as f64 / 1048576.0,
        BUDGET >> 20,
        s.tiers[0].evictions.unwrap_or(0)
    );
    assert!(written > 2 * BUDGET, "the test writes well past the budget");
    assert!(stored <= BUDGET);
    assert!(
        growth <= BUDGET + BUDGET / 5,
        "RSS grew {growth} bytes for a {BUDGET}-byte budget"
    );
}
