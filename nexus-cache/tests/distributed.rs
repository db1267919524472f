//! Distributed single flight across two instances sharing a real redis-server: one loader for
//! a key in the whole fleet, and a waiter takes over when the lock holder died.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use nexus_cache::{EntryOptions, MemoryTier, RedisTier, TieredCache};
use nexus_testkit::RedisServer;

async fn instance(redis: &RedisServer) -> TieredCache<String> {
    TieredCache::builder()
        .tier(MemoryTier::builder().build())
        .tier(
            RedisTier::builder(redis.url())
                .prefix("dsf")
                .build()
                .await
                .unwrap(),
        )
        .distributed_single_flight(Duration::from_millis(500))
        .metrics_interval(None)
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_loader_across_instances() {
    let redis = RedisServer::start();
    let (a, b) = (instance(&redis).await, instance(&redis).await);
    let calls = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for i in 0..20 {
        let cache = if i % 2 == 0 { a.clone() } else { b.clone() };
        let calls = calls.clone();
        tasks.push(tokio::spawn(async move {
            let load = move || async move {
                calls.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(200)).await;
                Ok::<_, std::io::Error>("the value".to_string())
            };
            if i % 4 == 1 {
                (*cache.fetch("k", &EntryOptions::new(), load).await.unwrap()).clone()
            } else {
                (*cache.get_or_load("k", load).await.unwrap()).clone()
            }
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), "the value");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1, "one load in the fleet");
    let loads = a.stats().loader.loads + b.stats().loader.loads;
    assert_eq!(loads, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiter_loads_when_the_lock_holder_died() {
    let redis = RedisServer::start();
    let b = instance(&redis).await;
    // A crashed instance's lock: nobody will write the value or release it.
    let mut raw = redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let _: () = redis::cmd("SET")
        .arg("dsf:l:k2")
        .arg("dead-instance")
        .arg("PX")
        .arg(500)
        .query_async(&mut raw)
        .await
        .unwrap();
    let started = Instant::now();
    let v = b
        .get_or_load("k2", || async {
            Ok::<_, std::io::Error>("loaded by B".to_string())
        })
        .await
        .unwrap();
    assert_eq!(*v, "loaded by B");
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "waited for the lock to expire"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    // B released its own lock.
    let held: Option<String> = redis::cmd("GET")
        .arg("dsf:l:k2")
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(held, None);
}
