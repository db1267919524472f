//! The L1 tier on its own: byte bound, eviction counting, lazy tag invalidation, TTL.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use nexus_cache::{EntryOptions, MemoryTier, Tier, TieredCache};

#[tokio::test]
async fn memory_is_bounded_by_bytes_and_evictions_are_counted() {
    let l1 = MemoryTier::builder().max_bytes(1 << 20).build();
    let c: TieredCache<Vec<u8>> = TieredCache::builder()
        .tier(l1.clone())
        .metrics_interval(None)
        .build()
        .unwrap();
    for i in 0..1000 {
        c.set(&format!("blob{i}"), vec![7u8; 10 * 1024])
            .await
            .unwrap();
    }
    l1.run_pending_tasks();
    let stored = l1.bytes_stored().unwrap();
    assert!(stored <= 1 << 20, "{stored} bytes held over a 1 MiB bound");
    assert!(
        stored > 512 << 10,
        "the bound is used, not wasted: {stored}"
    );
    let s = c.stats();
    assert!(
        s.tiers[0].evictions.unwrap() > 800,
        "{:?}",
        s.tiers[0].evictions
    );
    assert_eq!(s.tiers[0].bytes_stored, Some(stored));
}

#[tokio::test]
async fn l1_tag_invalidation_and_clear() {
    let c: TieredCache<u32> = TieredCache::builder()
        .metrics_interval(None)
        .build()
        .unwrap();
    c.set_with("a", 1, &EntryOptions::new().tags(["x"]))
        .await
        .unwrap();
    c.set_with("b", 2, &EntryOptions::new().tags(["y", "x"]))
        .await
        .unwrap();
    c.set_with("c", 3, &EntryOptions::new().tags(["y"]))
        .await
        .unwrap();
    c.invalidate_tags(["x"]).await.unwrap();
    assert_eq!(c.get("a").await.unwrap(), None);
    assert_eq!(c.get("b").await.unwrap(), None);
    assert_eq!(c.get("c").await.unwrap().as_deref(), Some(&3));
    // Written after the invalidation: not affected by it.
    c.set_with("a", 10, &EntryOptions::new().tags(["x"]))
        .await
        .unwrap();
    assert_eq!(c.get("a").await.unwrap().as_deref(), Some(&10));
    c.clear().await.unwrap();
    assert_eq!(c.get("c").await.unwrap(), None);
}

#[tokio::test]
async fn l1_ttl_default_explicit_and_max() {
    let l1 = MemoryTier::builder()
        .ttl(Duration::from_millis(300))
        .max_ttl(Duration::from_secs(60))
        .build();
    let c: TieredCache<u32> = TieredCache::builder()
        .tier(l1)
        .metrics_interval(None)
        .build()
        .unwrap();
    c.set("default", 1).await.unwrap();
    c.set_with("long", 2, &EntryOptions::new().ttl(Duration::from_secs(30)))
        .await
        .unwrap();
    c.set_with(
        "short",
        3,
        &EntryOptions::new().ttl(Duration::from_millis(100)),
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        c.get("short").await.unwrap(),
        None,
        "explicit short TTL honoured exactly"
    );
    assert_eq!(c.get("default").await.unwrap().as_deref(), Some(&1));
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(c.get("default").await.unwrap(), None, "tier default TTL");
    assert_eq!(
        c.get("long").await.unwrap().as_deref(),
        Some(&2),
        "explicit TTL up to max_ttl"
    );

    // Without max_ttl, L1 never keeps an entry past its own TTL.
    let capped = MemoryTier::builder()
        .ttl(Duration::from_millis(150))
        .build();
    let c: TieredCache<u32> = TieredCache::builder()
        .tier(capped)
        .metrics_interval(None)
        .build()
        .unwrap();
    c.set_with("long", 2, &EntryOptions::new().ttl(Duration::from_secs(30)))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(c.get("long").await.unwrap(), None);
}

#[tokio::test]
async fn hit_ratio_counts_reads() {
    let c: TieredCache<u32> = TieredCache::builder()
        .metrics_interval(None)
        .build()
        .unwrap();
    c.set("k", 1).await.unwrap();
    for _ in 0..3 {
        c.get("k").await.unwrap();
    }
    c.get("nope").await.unwrap();
    let s = c.stats();
    assert_eq!((s.tiers[0].hits, s.tiers[0].misses), (3, 1));
    assert!((s.hit_ratio - 0.75).abs() < 1e-9);
    // L1 read latency is sampled (1 in 8 per thread); writes are always timed.
    assert!(s.tiers[0].get_latency.count <= 4);
    assert_eq!(s.tiers[0].set_latency.count, 1);
}

#[tokio::test]
async fn a_cancelled_load_leaves_nothing_behind() {
    let c: TieredCache<u32> = TieredCache::builder()
        .metrics_interval(None)
        .build()
        .unwrap();
    let slow = {
        let c = c.clone();
        tokio::spawn(async move {
            c.get_or_load("k", || async {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Ok::<_, std::io::Error>(1)
            })
            .await
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(c.stats().loader.in_flight, 1);
    slow.abort();
    let _ = slow.await;
    assert_eq!(
        c.stats().loader.in_flight,
        0,
        "the cancelled flight was removed"
    );
    let v = c
        .get_or_load("k", || async { Ok::<_, std::io::Error>(2) })
        .await
        .unwrap();
    assert_eq!(*v, 2);
    assert_eq!(c.stats().loader.in_flight, 0);
}
