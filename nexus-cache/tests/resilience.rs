//! Keeping serving: fail-safe copies, soft and hard loader timeouts and refresh-ahead (tokio's
//! paused clock), the circuit breaker and a Redis outage in the middle of a load (real
//! redis-server).
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use nexus_cache::{CacheError, EntryOptions, MemoryTier, RedisTier, TieredCache};
use nexus_testkit::RedisServer;

fn l1_cache(fail_safe: Duration) -> TieredCache<String> {
    TieredCache::builder()
        .tier(
            MemoryTier::builder()
                .ttl(Duration::from_secs(60))
                .fail_safe(fail_safe)
                .build(),
        )
        .metrics_interval(None)
        .build()
        .unwrap()
}

/// Puts `key` in L1 with a 1 ms TTL and waits (in real time: L1 deadlines use the TSC clock,
/// which tokio's paused clock does not move) until it is expired: a stale copy.
async fn stale(cache: &TieredCache<String>, key: &str, v: &str) {
    cache
        .set_with(
            key,
            v.into(),
            &EntryOptions::new().ttl(Duration::from_millis(1)),
        )
        .await
        .unwrap();
    std::thread::sleep(Duration::from_millis(5));
}

async fn failing() -> Result<String, std::io::Error> {
    Err(std::io::Error::other("database down"))
}

#[tokio::test]
async fn fail_safe_serves_the_stale_copy_when_the_loader_fails() {
    let cache = l1_cache(Duration::from_secs(3600));
    stale(&cache, "k", "old").await;
    assert!(
        cache.get("k").await.unwrap().is_none(),
        "expired: a miss for readers"
    );
    let v = cache.get_or_load("k", failing).await.unwrap();
    assert_eq!(*v, "old");
    assert_eq!(cache.stats().loader.fail_safe_served, 1);
    // Without a fail-safe window the failure reaches the caller.
    let plain = l1_cache(Duration::ZERO);
    stale(&plain, "k", "old").await;
    assert!(matches!(
        plain.get_or_load("k", failing).await,
        Err(CacheError::Loader(_))
    ));
}

#[tokio::test(start_paused = true)]
async fn hard_timeout_gives_up_with_stale_copy_or_error() {
    let cache = l1_cache(Duration::from_secs(3600));
    let hard = EntryOptions::new().hard_timeout(Duration::from_secs(1));
    let slow = || async {
        tokio::time::sleep(Duration::from_secs(10)).await;
        Ok::<_, std::io::Error>("new".to_string())
    };
    let t0 = tokio::time::Instant::now();
    let e = cache
        .get_or_load_with("none", &hard, slow)
        .await
        .unwrap_err();
    assert!(matches!(e, CacheError::LoaderTimeout(d) if d == Duration::from_secs(1)));
    assert_eq!(t0.elapsed(), Duration::from_secs(1));
    stale(&cache, "k", "old").await;
    let t0 = tokio::time::Instant::now();
    assert_eq!(
        *cache.get_or_load_with("k", &hard, slow).await.unwrap(),
        "old"
    );
    assert_eq!(t0.elapsed(), Duration::from_secs(1));
    assert_eq!(cache.stats().loader.hard_timeouts, 2);
}

#[tokio::test(start_paused = true)]
async fn soft_timeout_serves_stale_and_the_load_finishes_in_the_background() {
    let cache = l1_cache(Duration::from_secs(3600));
    stale(&cache, "k", "old").await;
    let opts = EntryOptions::new()
        .soft_timeout(Duration::from_millis(100))
        .hard_timeout(Duration::from_secs(30));
    let t0 = tokio::time::Instant::now();
    let v = cache
        .fetch("k", &opts, || async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok::<_, std::io::Error>("new".to_string())
        })
        .await
        .unwrap();
    assert_eq!(*v, "old");
    assert_eq!(t0.elapsed(), Duration::from_millis(100));
    tokio::time::sleep(Duration::from_secs(5)).await;
    tokio::task::yield_now().await;
    assert_eq!(
        cache.get("k").await.unwrap().as_deref().map(String::as_str),
        Some("new")
    );
    let s = cache.stats().loader;
    assert_eq!((s.soft_timeouts, s.fail_safe_served, s.loads), (1, 1, 1));
}

/// Runs `body` on a current-thread runtime with tokio's clock paused and quanta's clock (which
/// L1 deadlines use) mocked on the same thread: [`Clocks::advance`] moves both, no real waiting.
fn with_paused_clocks<F, Fut>(body: F)
where
    F: FnOnce(Clocks) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let (clock, mock) = quanta::Clock::mock();
    let clocks = Clocks(mock);
    quanta::with_clock(&clock, || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .unwrap()
            .block_on(body(clocks))
    });
}

struct Clocks(Arc<quanta::Mock>);

impl Clocks {
    async fn advance(&self, d: Duration) {
        self.0.increment(d);
        tokio::time::advance(d).await;
    }
}

#[test]
fn refresh_ahead_reloads_once_in_the_background() {
    with_paused_clocks(|clocks| async move {
        let cache: TieredCache<String> = TieredCache::builder()
            .tier(MemoryTier::builder().ttl(Duration::from_secs(60)).build())
            .refresh_ahead(0.8)
            .metrics_interval(None)
            .build()
            .unwrap();
        let calls = Arc::new(AtomicUsize::new(0));
        let get = |cache: &TieredCache<String>| {
            let calls = calls.clone();
            let cache = cache.clone();
            async move {
                let loader = move || async move {
                    let n = calls.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    Ok::<_, std::io::Error>(format!("v{n}"))
                };
                (*cache
                    .fetch("k", &EntryOptions::new(), loader)
                    .await
                    .unwrap())
                .clone()
            }
        };
        assert_eq!(get(&cache).await, "v0");
        clocks.advance(Duration::from_secs(47)).await; // 78 % of the TTL: no refresh yet
        assert_eq!(get(&cache).await, "v0");
        tokio::task::yield_now().await;
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        clocks.advance(Duration::from_secs(2)).await; // 82 %
        for _ in 0..20 {
            assert_eq!(
                get(&cache).await,
                "v0",
                "the current value is returned at once"
            );
        }
        tokio::task::yield_now().await; // the reload starts
        clocks.advance(Duration::from_secs(2)).await; // the reload (2 s) is done
        for _ in 0..5 {
            tokio::task::yield_now().await; // let the reload task write its value
        }
        assert_eq!(
            calls.load(Ordering::SeqCst),
            2,
            "one background reload for 20 hits"
        );
        assert_eq!(get(&cache).await, "v1");
        assert_eq!(cache.stats().loader.refreshes, 1);
        // The refreshed entry has a whole TTL again: 50 s later it is still fresh.
        clocks.advance(Duration::from_secs(50)).await;
        assert_eq!(get(&cache).await, "v1");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn circuit_breaker_skips_a_dead_redis_and_probes_it_back() {
    let redis = RedisServer::start();
    let cache: TieredCache<String> = TieredCache::builder()
        .tier(MemoryTier::builder().build())
        .tier(
            RedisTier::builder(redis.url())
                .prefix("cb")
                .build()
                .await
                .unwrap(),
        )
        .circuit_breaker(3, Duration::from_millis(300))
        .metrics_interval(None)
        .build()
        .unwrap();
    redis.stop();
    for i in 0..10 {
        let _ = cache.get(&format!("miss{i}")).await;
    }
    let l2 = cache.stats().tiers[1].clone();
    assert!(l2.circuit_open && l2.circuit_opened == 1, "{l2:?}");
    assert_eq!(l2.errors, 3, "after 3 errors Redis is not called any more");
    // Callers see the loader's value, not Redis' error.
    assert_eq!(
        *cache
            .get_or_load("x", || async { Ok::<_, std::io::Error>("loaded".into()) })
            .await
            .unwrap(),
        "loaded"
    );
    redis.restart();
    tokio::time::sleep(Duration::from_millis(350)).await;
    // The probe after the cool-down succeeds and closes the breaker.
    let _ = cache.get("probe").await;
    assert!(!cache.stats().tiers[1].circuit_open);
    cache.set("after", "ok".into()).await.unwrap();
    assert!(cache.stats().tiers[1].sets >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_outage_in_the_middle_of_a_load_gives_callers_no_error_and_recovers() {
    let redis = Arc::new(RedisServer::start());
    let make = || async {
        TieredCache::<String>::builder()
            .tier(
                MemoryTier::builder()
                    .ttl(Duration::from_millis(50))
                    .fail_safe(Duration::from_secs(60))
                    .build(),
            )
            .tier(
                RedisTier::builder(redis.url())
                    .prefix("outage")
                    .build()
                    .await
                    .unwrap(),
            )
            .circuit_breaker(3, Duration::from_millis(200))
            .metrics_interval(None)
            .build()
            .unwrap()
    };
    let instances = [make().await, make().await];
    let errors = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for (n, cache) in instances.iter().enumerate() {
        for t in 0..2 {
            let (cache, errors) = (cache.clone(), errors.clone());
            tasks.push(tokio::spawn(async move {
                for i in 0..300u64 {
                    let key = format!("doc:{}", (i * 7 + t + n as u64) % 50);
                    let k2 = key.clone();
                    let r = cache
                        .get_or_load(&key, || async move {
                            Ok::<_, std::io::Error>(format!("body of {k2}"))
                        })
                        .await;
                    if r.is_err() {
                        errors.fetch_add(1, Ordering::SeqCst);
                    }
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            }));
        }
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    redis.stop();
    tokio::time::sleep(Duration::from_millis(400)).await;
    redis.restart();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(errors.load(Ordering::SeqCst), 0, "no caller saw an error");
    // Recovered without restarting the instances: Redis is written and read again.
    let sets_before = instances[0].stats().tiers[1].sets;
    tokio::time::sleep(Duration::from_millis(250)).await;
    instances[0].set("fresh", "v".into()).await.unwrap();
    assert_eq!(
        instances[1]
            .get("fresh")
            .await
            .unwrap()
            .as_deref()
            .map(String::as_str),
        Some("v")
    );
    assert!(instances[0].stats().tiers[1].sets > sets_before);
}
