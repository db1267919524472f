//! Warming with bounded concurrency, and hot keys published to a real Redis so a new instance
//! preloads its L1 from the fleet's hot set.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use nexus_cache::{MemoryTier, RedisTier, TieredCache};
use nexus_testkit::RedisServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warm_loads_missing_keys_with_bounded_concurrency() {
    let cache: TieredCache<String> = TieredCache::builder()
        .metrics_interval(None)
        .build()
        .unwrap();
    let (running, peak, calls) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
    );
    let loader = |key: String| {
        let (running, peak, calls) = (running.clone(), peak.clone(), calls.clone());
        async move {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            calls.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(10)).await;
            running.fetch_sub(1, Ordering::SeqCst);
            Ok::<_, std::io::Error>(format!("value of {key}"))
        }
    };
    let keys: Vec<String> = (0..50).map(|i| format!("k{i}")).collect();
    let r = cache.warm(keys.clone(), 4, loader).await;
    assert_eq!(
        (r.keys, r.loaded, r.already_cached, r.failed),
        (50, 50, 0, 0)
    );
    assert!(
        peak.load(Ordering::SeqCst) <= 4,
        "at most 4 loads at once, saw {}",
        peak.load(Ordering::SeqCst)
    );
    let r = cache.warm(keys, 4, loader).await;
    assert_eq!((r.loaded, r.already_cached), (0, 50));
    assert_eq!(calls.load(Ordering::SeqCst), 50);
    let failing = cache
        .warm(vec!["bad".to_string()], 1, |_| async {
            Err::<String, _>(std::io::Error::other("no"))
        })
        .await;
    assert_eq!(failing.failed, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_instance_preloads_the_fleets_hot_keys() {
    let redis = RedisServer::start();
    let make = || async {
        TieredCache::<String>::builder()
            .tier(MemoryTier::builder().build())
            .tier(
                RedisTier::builder(redis.url())
                    .prefix("warm")
                    .build()
                    .await
                    .unwrap(),
            )
            .hot_keys(10, None)
            .metrics_interval(None)
            .build()
            .unwrap()
    };
    let a = make().await;
    let load = |k: String| async move { Ok::<_, std::io::Error>(format!("value of {k}")) };
    for i in 0..300u32 {
        let key = match i % 6 {
            0..=2 => "hot:1".to_owned(),
            3 | 4 => "hot:2".to_owned(),
            _ => format!("cold:{i}"),
        };
        a.get_or_load(&key, || load(key.clone())).await.unwrap();
    }
    let top: Vec<String> = a.hot_keys().into_iter().map(|(k, _)| k).collect();
    assert_eq!(&top[..2], ["hot:1", "hot:2"]);
    assert!(a.publish_hot_keys().await.unwrap() >= 2);

    let b = make().await;
    let calls = Arc::new(AtomicUsize::new(0));
    let counting = |k: String| {
        let calls = calls.clone();
        async move {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok::<_, std::io::Error>(format!("value of {k}"))
        }
    };
    let r = b.preload(2, 4, counting).await.unwrap();
    assert_eq!(r.keys, 2);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        0,
        "the values came from Redis"
    );
    let l1_hits = b.stats().tiers[0].hits;
    assert_eq!(
        b.get("hot:1").await.unwrap().as_deref().map(String::as_str),
        Some("value of hot:1")
    );
    assert_eq!(
        b.stats().tiers[0].hits,
        l1_hits + 1,
        "preloaded into B's L1"
    );
}
