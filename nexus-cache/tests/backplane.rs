//! Cross-instance L1 consistency through the Redis backplane, with a real redis-server and a
//! real 6-node Redis Cluster: two `TieredCache` instances in one process share Redis and a
//! backplane channel.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use nexus_cache::{
    ClusterTier, EntryOptions, MemoryTier, RedisBackplane, RedisTier, Tier, TieredCache,
};
use nexus_testkit::{RedisCluster, RedisServer, TcpProxy, eventually};

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
async fn redis_outage_caps_l1_ttl_and_keeps_l1_when_nothing_was_missed() {
    let redis = RedisServer::start();
    let urls = vec![redis.url()];
    let l2 = || async {
        Arc::new(
            RedisTier::builder(redis.url())
                .prefix("out")
                .build()
                .await
                .unwrap(),
        ) as Arc<dyn Tier>
    };
    let a = instance(l2().await, &urls, Duration::from_millis(300)).await;
    let b = instance(l2().await, &urls, Duration::from_millis(300)).await;
    assert_eq!(load(&b, "before", "old").await, "old");
    assert_eq!(load(&b, "x", "x-old").await, "x-old");

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
    // A changes `x` during the outage: its message waits and is sent when Redis is back.
    assert!(a.set("x", "x-new".into()).await.is_err());

    redis.restart();
    eventually("B resubscribes and trusts L1 again", || async {
        let s = b.stats().backplane.unwrap();
        s.connected && !s.degraded
    })
    .await;
    eventually("A's change made during the outage reaches B", || async {
        value(&b, "x").await.as_deref() != Some("x-old")
    })
    .await;
    let (sa, sb) = (a.stats().backplane.unwrap(), b.stats().backplane.unwrap());
    assert!(sa.retried >= 1, "{sa:?}");
    assert_eq!(sb.resyncs, 0, "nothing was missed: {sb:?}");
    // What B held before the outage is still in its L1 (Redis, restarted, lost everything).
    let l1_hits = b.stats().tiers[0].hits;
    assert_eq!(value(&b, "before").await.as_deref(), Some("old"));
    assert_eq!(b.stats().tiers[0].hits, l1_hits + 1);
}

/// Cuts B off, waits until B knows, then A sets `k` and its message leaves.
async fn set_while_cut(
    proxy: &TcpProxy,
    a: &TieredCache<String>,
    b: &TieredCache<String>,
    v: &str,
) {
    proxy.cut();
    eventually("B degraded", || async {
        b.stats().backplane.unwrap().degraded
    })
    .await;
    let sent = a.stats().backplane.unwrap().sent;
    a.set("k", v.into()).await.unwrap();
    eventually("A's message sent", || async {
        a.stats().backplane.unwrap().sent > sent
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_instance_drops_l1_only_when_it_missed_messages() {
    let redis = RedisServer::start();
    let proxy = TcpProxy::start(&format!("127.0.0.1:{}", redis.port()));
    let l2 = || async {
        Arc::new(
            RedisTier::builder(redis.url())
                .prefix("part")
                .build()
                .await
                .unwrap(),
        ) as Arc<dyn Tier>
    };
    let a = instance(l2().await, &[redis.url()], Duration::from_secs(5)).await;
    // B's backplane goes through the proxy; its L2 does not.
    let b = instance(
        l2().await,
        &[format!("redis://{}/", proxy.addr())],
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(load(&b, "k", "v1").await, "v1");
    assert_eq!(load(&b, "other", "o").await, "o");
    // Let B hear A once (its heartbeat), so A is a known sender.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    // 1. Cut and healed with nothing sent meanwhile: L1 kept.
    proxy.cut();
    eventually("B degraded", || async {
        b.stats().backplane.unwrap().degraded
    })
    .await;
    proxy.heal();
    eventually("B back", || async {
        let s = b.stats().backplane.unwrap();
        s.connected && !s.degraded
    })
    .await;
    assert_eq!(b.stats().backplane.unwrap().resyncs, 0);
    let l1_hits = b.stats().tiers[0].hits;
    assert_eq!(value(&b, "other").await.as_deref(), Some("o"));
    assert_eq!(b.stats().tiers[0].hits, l1_hits + 1, "served from L1");

    // 2. A writes while B is cut off: the message reaches Redis but not B. A's next heartbeat
    // shows B the gap; B asks, A replays: B evicts `k` and keeps the rest of L1.
    set_while_cut(&proxy, &a, &b, "v2").await;
    proxy.heal();
    eventually("B gets what it missed", || async {
        let s = b.stats().backplane.unwrap();
        s.connected && !s.degraded && s.received >= 1
    })
    .await;
    assert_eq!(value(&b, "k").await.as_deref(), Some("v2"));
    let l1_hits = b.stats().tiers[0].hits;
    assert_eq!(value(&b, "other").await.as_deref(), Some("o"));
    assert_eq!(b.stats().tiers[0].hits, l1_hits + 1, "L1 kept");
    assert_eq!(b.stats().backplane.unwrap().resyncs, 0);

    // 3. A writes while B is cut off, then goes away: nobody can replay it, and B cannot know
    // what A sent last. B drops L1 once it has waited for A.
    set_while_cut(&proxy, &a, &b, "v3").await;
    drop(a);
    proxy.heal();
    eventually("B drops L1", || async {
        let s = b.stats().backplane.unwrap();
        s.connected && !s.degraded && s.resyncs == 1
    })
    .await;
    assert_eq!(value(&b, "k").await.as_deref(), Some("v3"));
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
