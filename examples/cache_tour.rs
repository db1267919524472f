//! A tour of `nexus-cache` on embedded defaults: an L1-only cache (no server needed) serving a
//! skewed workload through `get_or_load`, then its statistics.
//!
//! ```text
//! cargo run --release --example cache_tour
//! REDIS_URL=redis://127.0.0.1:6379/ cargo run --release --example cache_tour   # adds L2
//! REDIS_CLUSTER_URLS=redis://127.0.0.1:7000/,redis://127.0.0.1:7001/ …         # adds L3
//! ```
//! (This example becomes `examples/full_stack` when the other crates land.)

use std::time::{Duration, Instant};

use nexus::cache::{ClusterTier, EntryOptions, MemoryTier, RedisTier, TieredCache};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Document {
    id: u64,
    title: String,
    body: String,
}

/// The "database": slow on purpose, so the cache's effect is visible.
async fn load_document(id: u64) -> Result<Document, std::io::Error> {
    tokio::time::sleep(Duration::from_millis(2)).await;
    Ok(Document {
        id,
        title: format!("Document {id}"),
        body: "lorem ipsum ".repeat(50),
    })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut builder = TieredCache::<Document>::builder()
        .name("documents")
        .tier(MemoryTier::builder().max_bytes(64 << 20).build());
    let mut layout = vec!["L1 memory (64 MiB, 5 min)".to_string()];
    if let Ok(url) = std::env::var("REDIS_URL") {
        builder = builder.tier(RedisTier::builder(&url).prefix("tour").build().await?);
        layout.push(format!("L2 redis {url}"));
    }
    if let Ok(urls) = std::env::var("REDIS_CLUSTER_URLS") {
        let urls: Vec<String> = urls.split(',').map(str::to_owned).collect();
        builder = builder.tier(
            ClusterTier::builder(urls.clone())
                .prefix("tour")
                .build()
                .await?,
        );
        layout.push(format!("L3 cluster {}", urls.join(",")));
    }
    let cache = builder.build()?;
    println!("tiers: {}", layout.join(" → "));

    // 20 000 reads over 2 000 documents, skewed like real traffic (Zipf-ish: id = n² / 2000).
    let started = Instant::now();
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    for _ in 0..20_000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let u = (state % 2_000) as f64 / 2_000.0;
        let id = (u * u * u * 2_000.0) as u64;
        let key = format!("doc:{id}");
        let opts = EntryOptions::new().tags([format!("author:{}", id % 10)]);
        cache
            .get_or_load_with(&key, &opts, || load_document(id))
            .await?;
    }
    let elapsed = started.elapsed();
    cache.invalidate_tags(["author:3"]).await?;
    let stats = cache.stats();
    println!("20 000 reads in {elapsed:.2?}; invalidated tag author:3 (one mark per tier)");
    println!(
        "overall hit ratio {:.1} %, loader ran {} times",
        stats.hit_ratio * 100.0,
        stats.loader.loads
    );
    for t in &stats.tiers {
        println!(
            "  {} {:<7} hits {:>6} misses {:>6} ratio {:>5.1} %  get p50 {:.2} µs p99 {:.2} µs  bytes {}",
            t.tier,
            t.kind,
            t.hits,
            t.misses,
            t.hit_ratio * 100.0,
            t.get_latency.p50_us,
            t.get_latency.p99_us,
            t.bytes_stored.map_or("n/a".into(), |b| b.to_string())
        );
    }
    println!("{}", serde_json::to_string_pretty(&stats)?);
    Ok(())
}
