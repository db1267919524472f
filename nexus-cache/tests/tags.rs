//! Tag invalidation by timestamp against a real redis-server: one mark per invalidation, entries
//! older than a mark are misses, marks cached by each instance and kept fresh by the backplane,
//! loads that overlap an invalidation not cached, tags set from inside a loader.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use nexus_cache::{
    CacheError, EntryOptions, Loaded, MemoryTier, RedisBackplane, RedisTier, Tier, TieredCache,
};
use nexus_testkit::{RedisServer, eventually};

async fn l2(redis: &RedisServer, prefix: &str) -> Arc<dyn Tier> {
    Arc::new(
        RedisTier::builder(redis.url())
            .prefix(prefix)
            .build()
            .await
            .unwrap(),
    )
}

/// An instance with an L1 over the shared L2, with or without a backplane.
async fn instance(
    redis: &RedisServer,
    prefix: &str,
    backplane: bool,
    marks_ttl: Duration,
) -> TieredCache<String> {
    let mut b = TieredCache::builder()
        .name(prefix)
        .tier(MemoryTier::builder().build())
        .tier_arc(l2(redis, prefix).await)
        .tag_marks_ttl(marks_ttl)
        .metrics_interval(None);
    if backplane {
        let bp = RedisBackplane::connect(&[redis.url()], "nexus-test:tags")
            .await
            .unwrap();
        b = b.backplane(Arc::new(bp));
    }
    b.build().unwrap()
}

/// An instance without L1: every read goes to Redis and meets the marks.
async fn remote_only(redis: &RedisServer, prefix: &str) -> TieredCache<String> {
    TieredCache::builder()
        .name(prefix)
        .tier_arc(l2(redis, prefix).await)
        .metrics_interval(None)
        .build()
        .unwrap()
}

async fn raw(redis: &RedisServer) -> redis::aio::MultiplexedConnection {
    redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// Calls of one command, from `INFO commandstats`.
async fn calls(conn: &mut redis::aio::MultiplexedConnection, cmd: &str) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(conn)
        .await
        .unwrap();
    let needle = format!("cmdstat_{cmd}:calls=");
    info.lines()
        .find_map(|l| l.strip_prefix(&needle))
        .and_then(|rest| rest.split(',').next())
        .map_or(0, |n| n.parse().unwrap())
}

fn tagged(tags: &[&str]) -> EntryOptions {
    EntryOptions::new().tags(tags.iter().copied())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalidating_a_tag_is_one_write_whatever_the_number_of_entries() {
    let redis = RedisServer::start();
    let a = instance(&redis, "bulk", false, Duration::from_secs(10)).await;
    for i in 0..2_000 {
        a.set_with(&format!("k{i}"), format!("v{i}"), &tagged(&["bulk", "x"]))
            .await
            .unwrap();
    }
    let mut conn = raw(&redis).await;
    let (eval, del, unlink, sadd) = (
        calls(&mut conn, "eval").await,
        calls(&mut conn, "del").await,
        calls(&mut conn, "unlink").await,
        calls(&mut conn, "sadd").await,
    );
    assert_eq!(sadd, 0, "a tagged write costs nothing per tag");
    a.invalidate_tags(["bulk"]).await.unwrap();
    assert_eq!(calls(&mut conn, "eval").await - eval, 1, "one mark");
    assert_eq!(calls(&mut conn, "del").await, del, "nothing deleted");
    assert_eq!(calls(&mut conn, "unlink").await, unlink);
    let fresh = remote_only(&redis, "bulk").await;
    for i in (0..2_000).step_by(97) {
        assert!(fresh.get(&format!("k{i}")).await.unwrap().is_none(), "k{i}");
        assert!(
            a.get(&format!("k{i}")).await.unwrap().is_none(),
            "A's L1 k{i}"
        );
    }
    let s = fresh.stats();
    assert_eq!(s.tiers[0].invalidated, 21);
    assert_eq!(s.tiers[0].mark_reads, 1, "marks read once, then known");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_loaded_across_an_invalidation_is_served_but_not_cached() {
    let redis = RedisServer::start();
    let a = Arc::new(instance(&redis, "race", false, Duration::from_secs(10)).await);
    let (started_tx, started_rx) = tokio::sync::oneshot::channel();
    let (go_tx, go_rx) = tokio::sync::oneshot::channel::<()>();
    let loading = {
        let a = a.clone();
        tokio::spawn(async move {
            a.get_or_load_with("user:1", &tagged(&["user:1"]), || async move {
                started_tx.send(()).unwrap();
                go_rx.await.unwrap();
                Ok::<_, std::io::Error>("read before the update".to_owned())
            })
            .await
        })
    };
    started_rx.await.unwrap();
    // The row changes while the loader holds its old copy; the writer invalidates the tag.
    a.invalidate_tags(["user:1"]).await.unwrap();
    go_tx.send(()).unwrap();
    let v = loading.await.unwrap().unwrap();
    assert_eq!(
        *v, "read before the update",
        "the caller gets what was loaded"
    );
    assert!(a.get("user:1").await.unwrap().is_none(), "not in L1");
    let mut conn = raw(&redis).await;
    let stored: Option<Vec<u8>> = redis::cmd("GET")
        .arg("race:k:user:1")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(stored.is_none(), "not written to Redis either");
    // The next load is cached normally.
    a.get_or_load_with("user:1", &tagged(&["user:1"]), || async {
        Ok::<_, std::io::Error>("fresh".to_owned())
    })
    .await
    .unwrap();
    assert_eq!(
        a.get("user:1")
            .await
            .unwrap()
            .as_deref()
            .map(String::as_str),
        Some("fresh")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_set_inside_the_loader_are_invalidated_like_any_other() {
    let redis = RedisServer::start();
    let a = instance(&redis, "adaptive", false, Duration::from_secs(10)).await;
    let opts = tagged(&["users"]);
    let v = a
        .get_or_load_adaptive("user:7", &opts, || async {
            // The team is known only once the row is read.
            Ok::<_, std::io::Error>(
                Loaded::new("Grace".to_owned())
                    .tags(["team:3"])
                    .ttl(Duration::from_secs(30)),
            )
        })
        .await
        .unwrap();
    assert_eq!(*v, "Grace");
    let reader = remote_only(&redis, "adaptive").await;
    assert_eq!(
        reader
            .get("user:7")
            .await
            .unwrap()
            .as_deref()
            .map(String::as_str),
        Some("Grace")
    );
    let entry = l2(&redis, "adaptive")
        .await
        .get("user:7")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        entry.tags.to_vec(),
        ["team:3", "users"],
        "the call's tags and the loader's"
    );
    let left = entry
        .expires_at
        .saturating_sub(nexus_cache::expiry::now_millis());
    assert!(
        (25_000..=30_000).contains(&left),
        "the loader's TTL: {left} ms"
    );
    a.invalidate_tags(["team:3"]).await.unwrap();
    assert!(a.get("user:7").await.unwrap().is_none());
    // (`reader` trusts the mark it read for its `tag_marks_ttl`; a new instance reads it anew.)
    let reader = remote_only(&redis, "adaptive").await;
    assert!(reader.get("user:7").await.unwrap().is_none());

    // A loader that returns a bad tag gets a typed error; nothing is cached.
    let err = a
        .get_or_load_adaptive("user:8", &opts, || async {
            Ok::<_, std::io::Error>(Loaded::new("x".to_owned()).tags([""]))
        })
        .await
        .unwrap_err();
    assert!(matches!(err, CacheError::InvalidTag { .. }), "{err}");
    assert!(reader.get("user:8").await.unwrap().is_none());
    assert!(a.get("user:8").await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_backplane_brings_marks_so_they_are_not_read_again() {
    let redis = RedisServer::start();
    let a = instance(&redis, "fresh", true, Duration::from_secs(60)).await;
    let b = instance(&redis, "fresh", true, Duration::from_secs(60)).await;
    let writer = remote_only(&redis, "fresh").await;
    writer
        .set_with("one", "1".into(), &tagged(&["t"]))
        .await
        .unwrap();
    writer
        .set_with("two", "2".into(), &tagged(&["t"]))
        .await
        .unwrap();
    assert_eq!(
        b.get("one").await.unwrap().as_deref().map(String::as_str),
        Some("1")
    );
    assert_eq!(
        b.stats().tiers[1].mark_reads,
        1,
        "clear mark and tag read together"
    );
    a.invalidate_tags(["t"]).await.unwrap();
    eventually("B drops its L1 copy", || async {
        b.get("one").await.unwrap().is_none()
    })
    .await;
    // "two" is still stored in Redis; B knows the new mark from the message, not from Redis.
    assert!(b.get("two").await.unwrap().is_none());
    let s = b.stats();
    assert_eq!(s.tiers[1].mark_reads, 1, "{:?}", s.tiers[1]);
    assert!(s.tiers[1].invalidated >= 1);
    // Clear travels the same way.
    writer.set("three", "3".into()).await.unwrap();
    assert!(b.get("three").await.unwrap().is_some());
    a.clear().await.unwrap();
    eventually("B sees the clear", || async {
        b.get("three").await.unwrap().is_none()
    })
    .await;
    assert_eq!(b.stats().tiers[1].mark_reads, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_backplane_marks_are_read_again_after_their_ttl() {
    let redis = RedisServer::start();
    let a = remote_only(&redis, "nobp").await;
    let b = TieredCache::<String>::builder()
        .tier_arc(l2(&redis, "nobp").await)
        .tag_marks_ttl(Duration::from_millis(300))
        .metrics_interval(None)
        .build()
        .unwrap();
    a.set_with("k", "v".into(), &tagged(&["t"])).await.unwrap();
    assert!(b.get("k").await.unwrap().is_some());
    a.invalidate_tags(["t"]).await.unwrap();
    let at = Instant::now();
    eventually("B's remote read misses", || async {
        b.get("k").await.unwrap().is_none()
    })
    .await;
    let took = at.elapsed();
    assert!(took <= Duration::from_millis(1_500), "{took:?}");
    // Read again once (two if the clear mark and the tag's expire on either side of a read).
    let reads = b.stats().tiers[0].mark_reads;
    assert!((2..=3).contains(&reads), "{reads}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_marks_and_old_frames_never_serve_stale_data() {
    let redis = RedisServer::start();
    let a = remote_only(&redis, "bad").await;
    a.set_with("k", "v".into(), &tagged(&["t"])).await.unwrap();
    let mut conn = raw(&redis).await;
    let () = redis::cmd("SET")
        .arg("bad:tt:t")
        .arg("not a number")
        .query_async(&mut conn)
        .await
        .unwrap();
    // A corrupt mark reads as "now": what was written before it is stale, nothing panics.
    let b = remote_only(&redis, "bad").await;
    assert!(b.get("k").await.unwrap().is_none());
    // The next invalidation repairs the mark; later writes are hits.
    a.invalidate_tags(["t"]).await.unwrap();
    let mark: u64 = redis::cmd("GET")
        .arg("bad:tt:t")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(mark > 0);
    a.set_with("k", "w".into(), &tagged(&["t"])).await.unwrap();
    assert_eq!(
        remote_only(&redis, "bad")
            .await
            .get("k")
            .await
            .unwrap()
            .as_deref()
            .map(String::as_str),
        Some("w")
    );

    // A version-1 frame (written before creation times existed) reads as created at 0: valid
    // until the next clear, stale after it.
    let codec = nexus_cache::Codec::default();
    let mut v1 = vec![1u8];
    v1.extend_from_slice(&(nexus_cache::expiry::now_millis() + 60_000).to_le_bytes());
    v1.extend_from_slice(&0u16.to_le_bytes());
    v1.extend_from_slice(&codec.encode("old").unwrap());
    let () = redis::cmd("SET")
        .arg("bad:k:old")
        .arg(v1)
        .query_async(&mut conn)
        .await
        .unwrap();
    let c = remote_only(&redis, "bad").await;
    assert_eq!(
        c.get("old").await.unwrap().as_deref().map(String::as_str),
        Some("old")
    );
    c.clear().await.unwrap();
    assert!(
        remote_only(&redis, "bad")
            .await
            .get("old")
            .await
            .unwrap()
            .is_none()
    );
}
