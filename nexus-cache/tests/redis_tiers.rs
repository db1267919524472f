//! nexus-cache against a real redis-server and a real 6-node Redis Cluster.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use nexus_cache::{
    CacheError, ClusterTier, EntryOptions, MemoryTier, RedisTier, Tier, TieredCache, Value,
};
use nexus_testkit::{RedisCluster, RedisServer};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Doc {
    id: u64,
    body: String,
}

fn doc(id: u64) -> Doc {
    Doc {
        id,
        body: format!("document {id}"),
    }
}

async fn l2(redis: &RedisServer, prefix: &str) -> RedisTier {
    RedisTier::builder(redis.url())
        .prefix(prefix)
        .build()
        .await
        .expect("connect to redis")
}

async fn l3(cluster: &RedisCluster, prefix: &str) -> ClusterTier {
    ClusterTier::builder(cluster.urls())
        .prefix(prefix)
        .build()
        .await
        .expect("connect to cluster")
}

fn cache(tiers: Vec<Arc<dyn Tier>>) -> TieredCache<Doc> {
    tiers
        .into_iter()
        .fold(TieredCache::builder().metrics_interval(None), |b, t| {
            b.tier_arc(t)
        })
        .build()
        .expect("build cache")
}

async fn raw(redis: &RedisServer) -> redis::aio::MultiplexedConnection {
    redis::Client::open(redis.url())
        .expect("client")
        .get_multiplexed_async_connection()
        .await
        .expect("raw connection")
}

fn expiry_of(e: Option<nexus_cache::Entry>) -> u64 {
    e.expect("entry present").expires_at
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn l2_hit_is_promoted_to_l1_with_its_remaining_ttl() {
    let redis = RedisServer::start();
    let shared = Arc::new(l2(&redis, "promo").await);
    let writer = cache(vec![
        Arc::new(MemoryTier::builder().build()),
        shared.clone(),
    ]);
    writer
        .set_with(
            "k",
            doc(1),
            &EntryOptions::new().ttl(Duration::from_secs(30)),
        )
        .await
        .unwrap();
    let l2_expiry = expiry_of(shared.get("k").await.unwrap());

    tokio::time::sleep(Duration::from_millis(300)).await;
    let reader_l1 = MemoryTier::builder().build();
    let reader = cache(vec![Arc::new(reader_l1.clone()), shared.clone()]);
    assert_eq!(*reader.get("k").await.unwrap().unwrap(), doc(1));
    // Promoted with the remaining lifetime: the same absolute expiry, not a fresh 5 minutes.
    assert_eq!(expiry_of(reader_l1.get("k").await.unwrap()), l2_expiry);
    let s = reader.stats();
    assert_eq!(
        (s.tiers[0].misses, s.tiers[1].hits, s.tiers[0].sets),
        (1, 1, 1)
    );
    // Second read is an L1 hit.
    reader.get("k").await.unwrap().unwrap();
    assert_eq!(reader.stats().tiers[0].hits, 1);

    // A tier whose own TTL is shorter caps the promoted entry.
    let short_l1 = MemoryTier::builder().ttl(Duration::from_secs(2)).build();
    let short = cache(vec![Arc::new(short_l1.clone()), shared]);
    short.get("k").await.unwrap().unwrap();
    let capped = expiry_of(short_l1.get("k").await.unwrap());
    assert!(capped < l2_expiry && capped <= nexus_cache::expiry::now_millis() + 2_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_expire_in_every_tier() {
    let redis = RedisServer::start();
    let cluster = RedisCluster::start();
    let l1 = MemoryTier::builder().build();
    let l2 = Arc::new(l2(&redis, "ttl").await);
    let l3 = Arc::new(l3(&cluster, "ttl").await);
    let c = cache(vec![Arc::new(l1.clone()), l2.clone(), l3.clone()]);
    c.set_with(
        "short",
        doc(7),
        &EntryOptions::new().ttl(Duration::from_millis(400)),
    )
    .await
    .unwrap();
    assert!(l1.get("short").await.unwrap().is_some());
    assert!(l2.get("short").await.unwrap().is_some());
    assert!(l3.get("short").await.unwrap().is_some());
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(l1.get("short").await.unwrap().is_none(), "L1 expired");
    assert!(l2.get("short").await.unwrap().is_none(), "L2 expired");
    assert!(l3.get("short").await.unwrap().is_none(), "L3 expired");
    // Redis removed the key itself (PXAT), not just our reader.
    let mut conn = raw(&redis).await;
    let exists: bool = redis::cmd("EXISTS")
        .arg("ttl:k:short")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(!exists);
    assert!(c.get("short").await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_flight_runs_the_loader_once_for_1000_callers() {
    let redis = RedisServer::start();
    let c = cache(vec![
        Arc::new(MemoryTier::builder().build()),
        Arc::new(l2(&redis, "sf").await),
    ]);
    let runs = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let c = c.clone();
            let runs = runs.clone();
            tokio::spawn(async move {
                c.get_or_load("hot", || async move {
                    runs.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    Ok::<_, std::io::Error>(doc(42))
                })
                .await
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(*t.await.unwrap().unwrap(), doc(42));
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1, "the loader ran once");
    let s = c.stats();
    assert_eq!(s.loader.loads, 1);
    assert_eq!(s.tiers[1].sets, 1, "written through to L2 once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loader_errors_reach_every_waiter_and_are_not_cached() {
    let c: TieredCache<Doc> = TieredCache::builder()
        .metrics_interval(None)
        .build()
        .unwrap();
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move {
                c.get_or_load("bad", || async {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    Err::<Doc, _>(std::io::Error::other("database down"))
                })
                .await
            })
        })
        .collect();
    for t in tasks {
        let err = t.await.unwrap().unwrap_err();
        assert!(
            matches!(err, CacheError::Loader(_)) && err.to_string().contains("database down"),
            "{err}"
        );
    }
    assert_eq!(c.stats().loader.errors, 1);
    let v = c
        .get_or_load("bad", || async { Ok::<_, std::io::Error>(doc(1)) })
        .await
        .unwrap();
    assert_eq!(*v, doc(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tag_invalidation_reaches_entries_written_by_another_instance() {
    let redis = RedisServer::start();
    let a = cache(vec![
        Arc::new(MemoryTier::builder().build()),
        Arc::new(l2(&redis, "tags").await),
    ]);
    let b = cache(vec![
        Arc::new(MemoryTier::builder().build()),
        Arc::new(l2(&redis, "tags").await),
    ]);
    let tagged = EntryOptions::new().tags(["team:1"]);
    a.set_with("a1", doc(1), &tagged).await.unwrap();
    b.set_with("b1", doc(2), &tagged).await.unwrap();
    b.set_with("b2", doc(3), &EntryOptions::new().tags(["team:2"]))
        .await
        .unwrap();

    a.invalidate_tags(["team:1"]).await.unwrap();
    assert!(
        a.get("a1").await.unwrap().is_none(),
        "gone from A's L1 and L2"
    );
    // A third instance (fresh L1) sees the shared tier: b1 is gone, b2 untouched.
    let c = cache(vec![
        Arc::new(MemoryTier::builder().build()),
        Arc::new(l2(&redis, "tags").await),
    ]);
    assert!(c.get("b1").await.unwrap().is_none());
    assert!(c.get("a1").await.unwrap().is_none());
    assert_eq!(*c.get("b2").await.unwrap().unwrap(), doc(3));
    // By timestamp: the entries are still stored, the tag has one mark, nothing else was written.
    let mut conn = raw(&redis).await;
    let mut keys: Vec<String> = redis::cmd("KEYS")
        .arg("tags:*")
        .query_async(&mut conn)
        .await
        .unwrap();
    keys.sort();
    assert_eq!(
        keys,
        ["tags:k:a1", "tags:k:b1", "tags:k:b2", "tags:tt:team:1"]
    );
    let mark: u64 = redis::cmd("GET")
        .arg("tags:tt:team:1")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(
        mark > 1_700_000_000_000_000,
        "microseconds since the epoch: {mark}"
    );
    assert_eq!(
        c.stats().tiers[1].invalidated,
        2,
        "b1 and a1 read as outdated"
    );
    // Written after the invalidation: a hit everywhere.
    a.set_with("a1", doc(4), &tagged).await.unwrap();
    assert_eq!(*c.get("a1").await.unwrap().unwrap(), doc(4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tag_invalidation_in_the_cluster_never_crosses_slots() {
    let cluster = RedisCluster::start();
    let l3 = Arc::new(l3(&cluster, "ctags").await);
    let a = cache(vec![Arc::new(MemoryTier::builder().build()), l3.clone()]);
    // Keys and tags deliberately hashing to many slots.
    for i in 0..60 {
        let tags = EntryOptions::new().tags([format!("t{}", i % 3), "all".to_string()]);
        a.set_with(&format!("key-{i}"), doc(i), &tags)
            .await
            .unwrap();
    }
    a.invalidate_tags(["t0", "t1"]).await.unwrap();
    let fresh = cache(vec![l3.clone()]);
    for i in 0..60 {
        let got = fresh.get(&format!("key-{i}")).await.unwrap();
        assert_eq!(got.is_some(), i % 3 == 2, "key-{i}");
    }
    a.invalidate_tags(["all"]).await.unwrap();
    let fresh = cache(vec![l3.clone()]);
    for i in 0..60 {
        assert!(fresh.get(&format!("key-{i}")).await.unwrap().is_none());
    }
    // Loader-set tags and clear on the cluster: marks on their own slots, read per slot.
    let v = a
        .get_or_load_adaptive("adaptive", &EntryOptions::new(), || async {
            Ok::<_, std::io::Error>(nexus_cache::Loaded::new(doc(99)).tags(["t7", "t8"]))
        })
        .await
        .unwrap();
    assert_eq!(*v, doc(99));
    let fresh = cache(vec![l3.clone()]);
    assert_eq!(*fresh.get("adaptive").await.unwrap().unwrap(), doc(99));
    a.invalidate_tags(["t8"]).await.unwrap();
    assert!(
        cache(vec![l3.clone()])
            .get("adaptive")
            .await
            .unwrap()
            .is_none()
    );
    a.set("untagged", doc(5)).await.unwrap();
    a.clear().await.unwrap();
    assert!(
        cache(vec![l3.clone()])
            .get("untagged")
            .await
            .unwrap()
            .is_none()
    );
    a.set("untagged", doc(6)).await.unwrap();
    assert_eq!(
        *cache(vec![l3]).get("untagged").await.unwrap().unwrap(),
        doc(6)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_keys_spread_over_all_three_masters() {
    let cluster = RedisCluster::start();
    let c = cache(vec![Arc::new(l3(&cluster, "spread").await)]);
    for i in 0..300 {
        c.set(&format!("user:{i}"), doc(i)).await.unwrap();
    }
    let masters = cluster.master_ports();
    assert_eq!(masters.len(), 3);
    let sizes: Vec<u64> = masters.iter().map(|&p| cluster.dbsize(p)).collect();
    assert!(sizes.iter().all(|&n| n > 30), "keys per master: {sizes:?}");
    assert_eq!(sizes.iter().sum::<u64>(), 300);
    for i in (0..300).step_by(37) {
        assert_eq!(*c.get(&format!("user:{i}")).await.unwrap().unwrap(), doc(i));
    }
    c.purge().await.unwrap();
    let after: u64 = masters.iter().map(|&p| cluster.dbsize(p)).sum();
    assert_eq!(after, 0, "purge scanned every master");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn l3_hit_is_promoted_to_l2_and_l1() {
    let redis = RedisServer::start();
    let cluster = RedisCluster::start();
    let l1 = MemoryTier::builder().build();
    let l2 = Arc::new(l2(&redis, "three").await);
    let l3 = Arc::new(l3(&cluster, "three").await);
    cache(vec![l3.clone()]).set("deep", doc(9)).await.unwrap();
    let c = cache(vec![Arc::new(l1.clone()), l2.clone(), l3.clone()]);
    assert_eq!(*c.get("deep").await.unwrap().unwrap(), doc(9));
    let deep = expiry_of(l3.get("deep").await.unwrap());
    let in_l2 = expiry_of(l2.get("deep").await.unwrap());
    let in_l1 = expiry_of(l1.get("deep").await.unwrap());
    assert!(in_l2 <= deep && in_l1 <= in_l2, "{in_l1} {in_l2} {deep}");
    let s = c.stats();
    assert_eq!(
        (s.tiers[0].misses, s.tiers[1].misses, s.tiers[2].hits),
        (1, 1, 1)
    );
    assert_eq!((s.tiers[0].sets, s.tiers[1].sets), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_bytes_in_redis_are_a_counted_miss() {
    let redis = RedisServer::start();
    let c = cache(vec![
        Arc::new(MemoryTier::builder().build()),
        Arc::new(l2(&redis, "bad").await),
    ]);
    let mut conn = raw(&redis).await;
    // Not a frame at all; a frame with a future version; a valid frame whose payload is garbage.
    let _: () = redis::cmd("SET")
        .arg("bad:k:junk")
        .arg(b"\xff\x00garbage")
        .query_async(&mut conn)
        .await
        .unwrap();
    let mut future = vec![9u8];
    future.extend_from_slice(&u64::MAX.to_le_bytes());
    let _: () = redis::cmd("SET")
        .arg("bad:k:future")
        .arg(future)
        .query_async(&mut conn)
        .await
        .unwrap();
    let mut payload = vec![1u8];
    payload.extend_from_slice(&u64::MAX.to_le_bytes());
    payload.extend_from_slice(&0u16.to_le_bytes());
    payload.extend_from_slice(b"\x01\x00\x00\x00\x00\x00not postcard");
    let _: () = redis::cmd("SET")
        .arg("bad:k:payload")
        .arg(payload)
        .query_async(&mut conn)
        .await
        .unwrap();

    for key in ["junk", "future", "payload"] {
        assert!(c.get(key).await.unwrap().is_none(), "{key} is a miss");
    }
    let s = c.stats();
    assert_eq!(s.tiers[1].corrupt, 3);
    assert_eq!(s.tiers[1].errors, 0);
    // Removed so they are not decoded again, and the loader can repopulate.
    let left: u64 = redis::cmd("EXISTS")
        .arg("bad:k:junk")
        .arg("bad:k:payload")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(left, 0);
    let v = c
        .get_or_load("junk", || async { Ok::<_, std::io::Error>(doc(5)) })
        .await
        .unwrap();
    assert_eq!(*v, doc(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_outage_keeps_l1_serving_and_recovers() {
    let redis = RedisServer::start();
    let l2 = RedisTier::builder(redis.url())
        .prefix("outage")
        .timeout(Duration::from_millis(300))
        .build()
        .await
        .unwrap();
    let c = cache(vec![Arc::new(MemoryTier::builder().build()), Arc::new(l2)]);
    c.set("warm", doc(1)).await.unwrap();

    redis.stop();
    assert_eq!(
        *c.get("warm").await.unwrap().unwrap(),
        doc(1),
        "L1 keeps serving"
    );
    let err = c.set("new", doc(2)).await.unwrap_err();
    assert!(matches!(err, CacheError::Tier { tier: "l2", .. }), "{err}");
    assert_eq!(
        *c.get("new").await.unwrap().unwrap(),
        doc(2),
        "L1 was written"
    );
    let err = c.get("absent").await.unwrap_err();
    assert!(
        matches!(err, CacheError::Tier { tier: "l2", .. }),
        "an uncertain miss says why: {err}"
    );
    let v = c
        .get_or_load("loaded", || async { Ok::<_, std::io::Error>(doc(3)) })
        .await
        .unwrap();
    assert_eq!(*v, doc(3), "the loader still serves");
    assert!(c.stats().tiers[1].errors >= 3);

    redis.restart();
    let mut ok = false;
    for _ in 0..50 {
        if c.set("after", doc(4)).await.is_ok() {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ok, "the tier reconnected by itself");
    let fresh = cache(vec![Arc::new(
        RedisTier::builder(redis.url())
            .prefix("outage")
            .build()
            .await
            .unwrap(),
    )]);
    assert_eq!(*fresh.get("after").await.unwrap().unwrap(), doc(4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_keys_and_oversized_values_are_refused_whole() {
    let redis = RedisServer::start();
    let l2 = RedisTier::builder(redis.url())
        .prefix("big")
        .max_entry_bytes(1024)
        .build()
        .await
        .unwrap();
    let c = cache(vec![Arc::new(MemoryTier::builder().build()), Arc::new(l2)]);
    assert!(matches!(
        c.get("").await,
        Err(CacheError::InvalidKey { .. })
    ));
    let long = "k".repeat(1025);
    assert!(matches!(
        c.set(&long, doc(1)).await,
        Err(CacheError::InvalidKey { .. })
    ));
    assert!(matches!(
        c.set_with("k", doc(1), &EntryOptions::new().tags([""]))
            .await,
        Err(CacheError::InvalidTag { .. })
    ));
    let big = Doc {
        id: 1,
        body: "x".repeat(5000).chars().map(|_| fastrand_char()).collect(),
    };
    let err = c.set("big", big).await.unwrap_err();
    assert!(
        matches!(
            err,
            CacheError::ValueTooLarge {
                tier: "l2",
                limit: 1024,
                ..
            }
        ),
        "{err}"
    );
    assert!(
        c.get("big").await.unwrap().is_none(),
        "nothing was written half-way (not even L1)"
    );
    // A TTL too long for Redis is clamped, not an error.
    c.set_with("forever", doc(3), &EntryOptions::new().ttl(Duration::MAX))
        .await
        .unwrap();
    assert_eq!(*c.get("forever").await.unwrap().unwrap(), doc(3));
    let ok = "k".repeat(1024);
    c.set(&ok, doc(2)).await.unwrap();
    assert_eq!(*c.get(&ok).await.unwrap().unwrap(), doc(2));
}

/// A character stream that does not compress, so the value stays over the limit after LZ4.
fn fastrand_char() -> char {
    use std::cell::Cell;
    thread_local!(static S: Cell<u64> = const { Cell::new(0x9E37_79B9_7F4A_7C15) });
    S.with(|s| {
        let mut x = s.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.set(x);
        char::from(b'!' + (x % 90) as u8)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clear_removes_only_this_caches_keys() {
    let redis = RedisServer::start();
    let c = cache(vec![
        Arc::new(MemoryTier::builder().build()),
        Arc::new(l2(&redis, "mine").await),
    ]);
    let other = cache(vec![Arc::new(l2(&redis, "theirs").await)]);
    for i in 0..2500 {
        c.set(&format!("k{i}"), doc(i)).await.unwrap();
    }
    other.set("k1", doc(1)).await.unwrap();
    c.clear().await.unwrap();
    assert!(c.get("k1").await.unwrap().is_none());
    let l2_only = cache(vec![Arc::new(l2(&redis, "mine").await)]);
    assert!(
        l2_only.get("k2").await.unwrap().is_none(),
        "older than the clear mark"
    );
    assert_eq!(*other.get("k1").await.unwrap().unwrap(), doc(1));
    let mut conn = raw(&redis).await;
    let n: u64 = redis::cmd("DBSIZE").query_async(&mut conn).await.unwrap();
    assert_eq!(n, 2500 + 1 + 1, "clear wrote one mark and deleted nothing");
    c.set("k3", doc(3)).await.unwrap();
    assert_eq!(*l2_only.get("k3").await.unwrap().unwrap(), doc(3));
    c.purge().await.unwrap();
    let n: u64 = redis::cmd("DBSIZE").query_async(&mut conn).await.unwrap();
    assert_eq!(
        n, 1,
        "purge deleted this cache's keys and mark, not the other's"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_tiers_store_bytes_and_l1_stores_objects() {
    let redis = RedisServer::start();
    let l1 = MemoryTier::builder().build();
    let l2 = Arc::new(l2(&redis, "kinds").await);
    let c = cache(vec![Arc::new(l1.clone()), l2.clone()]);
    c.set("k", doc(3)).await.unwrap();
    assert!(matches!(
        l1.get("k").await.unwrap().unwrap().value,
        Value::Object(_)
    ));
    assert!(matches!(
        l2.get("k").await.unwrap().unwrap().value,
        Value::Bytes(_)
    ));
    assert!(c.delete("k").await.unwrap());
    assert!(!c.delete("k").await.unwrap());
    assert!(l2.get("k").await.unwrap().is_none());
}
