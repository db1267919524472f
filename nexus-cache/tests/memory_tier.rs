//! The L1 tier on its own: byte bound, eviction counting, lazy tag invalidation, TTL.

use std::time::Duration;

use nexus_cache::{EntryOptions, MemoryTier, Tier, TieredCache};

#[tokio::test]
async fn memory_is_bounded_by_bytes_and_evictions_are_counted() {
    let l1 = MemoryTier::builder().max_bytes(1 << 20).build();
    let c: TieredCache<Vec<u8>> =
        TieredCache::builder().tier(l1.clone()).metrics_interval(None).build().unwrap();
    for i in 0..1000 {
        c.set(&format!("blob{i}"), vec![7u8; 10 * 1024]).await.unwrap();
    }
    l1.run_pending_tasks();
    let stored = l1.bytes_stored().unwrap();
    assert!(stored <= 1 << 20, "{stored} bytes held over a 1 MiB bound");
    assert!(stored > 512 << 10, "the bound is used, not wasted: {stored}");
    let s = c.stats();
    assert!(s.tiers[0].evictions.unwrap() > 800, "{:?}", s.tiers[0].evictions);
    assert_eq!(s.tiers[0].bytes_stored, Some(stored));
}

#[tokio::test]
async fn l1_tag_invalidation_and_clear() {
    let c: TieredCache<u32> = TieredCache::builder().metrics_interval(None).build().unwrap();
    c.set_with("a", 1, &EntryOptions::new().tags(["x"])).await.unwrap();
    c.set_with("b", 2, &EntryOptions::new().tags(["y", "x"])).await.unwrap();
    c.set_with("c", 3, &EntryOptions::new().tags(["y"])).await.unwrap();
    c.invalidate_tags(["x"]).await.unwrap();
    assert_eq!(c.get("a").await.unwrap(), None);
    assert_eq!(c.get("b").await.unwrap(), None);
    assert_eq!(c.get("c").await.unwrap().as_deref(), Some(&3));
    // Written after the invalidation: not affected by it.
    c.set_with("a", 10, &EntryOptions::new().tags(["x"])).await.unwrap();
    assert_eq!(c.get("a").await.unwrap().as_deref(), Some(&10));
    c.clear().await.unwrap();
    assert_eq!(c.get("c").await.unwrap(), None);
}

#[tokio::test]
async fn l1_ttl_and_default_ttl() {
    let l1 = MemoryTier::builder().ttl(Duration::from_millis(200)).build();
    let c: TieredCache<u32> = TieredCache::builder().tier(l1).metrics_interval(None).build().unwrap();
    c.set("default", 1).await.unwrap();
    c.set_with("long", 2, &EntryOptions::new().ttl(Duration::from_secs(60))).await.unwrap();
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(c.get("default").await.unwrap(), None);
    assert_eq!(c.get("long").await.unwrap().as_deref(), Some(&2));
}

#[tokio::test]
async fn hit_ratio_counts_reads() {
    let c: TieredCache<u32> = TieredCache::builder().metrics_interval(None).build().unwrap();
    c.set("k", 1).await.unwrap();
    for _ in 0..3 {
        c.get("k").await.unwrap();
    }
    c.get("nope").await.unwrap();
    let s = c.stats();
    assert_eq!((s.tiers[0].hits, s.tiers[0].misses), (3, 1));
    assert!((s.hit_ratio - 0.75).abs() < 1e-9);
    assert_eq!(s.tiers[0].get_latency.count, 4);
}
