//! Cross-instance L1 consistency through the Redis backplane, with a real redis-server and a
//! real 6-node Redis Cluster: two `TieredCache` instances in one process share Redis and a
//! backplane channel.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use nexus_cache::{
    ClusterTier, EntryOptions, MemoryTier, RedisBackplane, RedisTier, Tier, TieredCache,
};
use nexus_testkit::{RedisCluster, RedisServer, eventually};

async fn instance(
    l2: Arc<dyn Tier>,
    urls: &[String],
    degraded_ttl: Duration,
) -> TieredCache<String> {
    let bp = RedisBackplane::connect(urls, "nexus-test:bp")
        .await
        .unwrap();
    TieredCache::builder()
        .name("docs")
        .tier(MemoryTier::builder().ttl(Duration::from_secs(300)).build())
        .tier_arc(l2)
        .backplane(Arc::new(bp))
        .degraded_l1_ttl(degraded_ttl)
        .metrics_interval(None)
        .build()
        .unwrap()
}

async fn value(c: &TieredCache<String>, key: &str) -> Option<String> {
    c.get(key).await.ok().flatten().map(|v| (*v).clone())
}

async fn load(c: &TieredCache<String>, key: &str, v: &str) -> String {
    let v = v.to_owned();
    (*c.get_or_load(key, || async move { Ok::<_, std::io::Error>(v) })
        .await
        .unwrap())
    .clone()
}

async fn changes_reach_the_other_instance(a: &TieredCache<String>, b: &TieredCache<String>) {
    // B caches v1 in its L1; A writes v2: B stops serving v1.
    assert_eq!(load(b, "k", "v1").await, "v1");
    assert_eq!(value(b, "k").await.as_deref(), Some("v1"));
    a.set("k", "v2".into()).await.unwrap();
    eventually("B sees A's set", || async {
        value(b, "k").await.as_deref() == Some("v2")
    })
    .await;
    // Delete.
    a.delete("k").await.unwrap();
    eventually("B sees A's delete", || async {
        value(b, "k").await.is_none()
    })
    .await;
    // Tags.
    let tagged = EntryOptions::new().tags(["doc:1"]);
    let _ = b
        .get_or_load_with("t", &tagged, || async {
            Ok::<_, std::io::Error>("tagged".to_owned())
        })
        .await
        .unwrap();
    assert!(value(b, "t").await.is_some());
    a.invalidate_tags(["doc:1"]).await.unwrap();
    eventually("B sees A's tag invalidation", || async {
        value(b, "t").await.is_none()
    })
    .await;
    // Clear.
    assert_eq!(load(b, "c", "x").await, "x");
    a.clear().await.unwrap();
    eventually("B sees A's clear", || async {
        value(b, "c").await.is_none()
    })
    .await;
    let bs = b.stats().backplane.unwrap();
    assert!(bs.connected && !bs.degraded && bs.received >= 4, "{bs:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_node_backplane_keeps_l1_consistent_and_ignores_own_messages() {
    let redis = RedisServer::start();
    let urls = vec![redis.url()];
    let l2 = |p: &'static str| {
        let url = redis.url();
        async move {
            Arc::new(RedisTier::builder(url).prefix(p).build().await.unwrap()) as Arc<dyn Tier>
        }
    };
    let a = instance(l2("bp").await, &urls, Duration::from_secs(5)).await;
    let b = instance(l2("bp").await, &urls, Duration::from_secs(5)).await;
    changes_reach_the_other_instance(&a, &b).await;

    // A's own message does not evict A's L1: the value keeps coming from L1.
    a.set("own", "mine".into()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = a.stats().tiers[0].hits;
    assert_eq!(value(&a, "own").await.as_deref(), Some("mine"));
    assert_eq!(a.stats().tiers[0].hits, before + 1, "served from A's L1");
    assert!(a.stats().backplane.unwrap().sent >= 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_outage_caps_l1_ttl_and_reconnection_drops_l1() {
    let redis = RedisServer::start();
    let urls = vec![redis.url()];
    let l2 = Arc::new(
        RedisTier::builder(redis.url())
            .prefix("out")
            .build()
            .await
            .unwrap(),
    ) as Arc<dyn Tier>;
    let b = instance(l2, &urls, Duration::from_millis(300)).await;
    assert_eq!(load(&b, "before", "old").await, "old");

    redis.stop();
    eventually("B notices the backplane is down", || async {
        b.stats().backplane.unwrap().degraded
    })
    .await;
    // Written while degraded: L1 keeps it at most 300 ms (the L2 write fails and is reported).
    assert!(b.set("during", "d".into()).await.is_err());
    assert_eq!(value(&b, "during").await.as_deref(), Some("d"));
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(
        b.get("during").await.map(|v| v.is_none()).unwrap_or(true),
        "expired from L1 after the cap"
    );

    redis.restart();
    eventually("B resubscribes by itself", || async {
        let s = b.stats().backplane.unwrap();
        s.connected && !s.degraded && s.resyncs >= 1
    })
    .await;
    // What B held before the outage was dropped from L1: the read goes to L2 (empty after the
    // restart, which did not persist).
    let l1_misses = b.stats().tiers[0].misses;
    assert!(value(&b, "before").await.is_none());
    assert_eq!(b.stats().tiers[0].misses, l1_misses + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_backplane_keeps_l1_consistent() {
    let cluster = RedisCluster::start();
    let urls = cluster.urls();
    let l3 = || {
        let urls = urls.clone();
        async move {
            Arc::new(
                ClusterTier::builder(urls)
                    .prefix("bpc")
                    .build()
                    .await
                    .unwrap(),
            ) as Arc<dyn Tier>
        }
    };
    let a = instance(l3().await, &urls, Duration::from_secs(5)).await;
    // B subscribes through another node than A: PUBLISH reaches every node's subscribers.
    let mut rotated = urls.clone();
    rotated.rotate_left(3);
    let b = instance(l3().await, &rotated, Duration::from_secs(5)).await;
    changes_reach_the_other_instance(&a, &b).await;
}
