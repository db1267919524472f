//! A fleet of two instances sharing the rollout state through a real `redis-server`: they route
//! alike, either may advance, either's abort wins, and a Redis outage or corrupt bytes leave each
//! instance on its own state until Redis is back.
#![allow(clippy::unwrap_used)]

use nexus_rollout::store::RedisStore;
use nexus_rollout::{Phase, Rollout, RolloutError, Strategy, Version};
use nexus_testkit::RedisServer;
use std::time::Duration;

async fn instance(url: &str, id: &str) -> Rollout {
    Rollout::builder("documents")
        .revision("v2")
        .instance(id)
        .strategy(Strategy::canary([10.0, 50.0, 100.0]).unwrap())
        .store(
            RedisStore::connect_with(url, Duration::from_millis(300))
                .await
                .unwrap(),
        )
        .build()
        .unwrap()
}

fn candidate_share(r: &Rollout) -> f64 {
    (0..10_000)
        .filter(|_| r.pick(None) == Version::Candidate)
        .count() as f64
        / 10_000.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_routes_alike_and_any_instance_can_abort() {
    let redis = RedisServer::start();
    let a = instance(&redis.url(), "a").await;
    let b = instance(&redis.url(), "b").await;
    a.evaluate().await;
    b.evaluate().await;
    let (sa, sb) = (a.status(), b.status());
    assert_eq!(sa.store.kind, "redis");
    assert!(sa.store.healthy && sa.store.synced && sb.store.synced);
    assert_eq!(sa.store.generation, sb.store.generation);

    // A advances; B follows at its next look.
    a.promote().await.unwrap();
    assert_eq!(a.status().weight_percent, 50.0);
    b.evaluate().await;
    let sb = b.status();
    assert_eq!((sb.step, sb.weight_percent), (1, 50.0));
    assert!((candidate_share(&b) - 0.5).abs() < 0.03);
    assert_eq!(sb.events.last().unwrap().by, "a");

    // B aborts: B routes to stable at once, A at its next look.
    b.abort("checkout errors").await.unwrap();
    assert_eq!(candidate_share(&b), 0.0);
    a.evaluate().await;
    let sa = a.status();
    assert_eq!(sa.phase, Phase::RolledBack);
    assert_eq!(candidate_share(&a), 0.0);
    assert!(sa.events.last().unwrap().reasons[0].contains("checkout errors"));

    // Nothing more to do until restarted, from either instance.
    assert!(matches!(a.promote().await, Err(RolloutError::Conflict(_))));
    a.restart().await.unwrap();
    b.evaluate().await;
    assert_eq!(b.status().phase, Phase::Progressing);
    assert_eq!(b.status().weight_percent, 10.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_wins_over_a_concurrent_advance() {
    let redis = RedisServer::start();
    let a = instance(&redis.url(), "a").await;
    let b = instance(&redis.url(), "b").await;
    a.evaluate().await;
    b.evaluate().await;
    // Both start from the same generation: A advances and shares it first...
    a.promote().await.unwrap();
    // ...then B, which has not looked since, rolls back on top of it.
    b.abort("saw errors").await.unwrap();
    a.evaluate().await;
    assert_eq!(a.status().phase, Phase::RolledBack);
    assert_eq!(b.status().phase, Phase::RolledBack);
    assert_eq!(a.status().store.generation, b.status().store.generation);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_keeps_local_state_and_recovers_by_itself() {
    let redis = RedisServer::start();
    let a = instance(&redis.url(), "a").await;
    let b = instance(&redis.url(), "b").await;
    a.evaluate().await;
    b.evaluate().await;
    redis.stop();
    // An operator aborts on A during the outage: A routes to stable at once.
    a.abort("outage drill").await.unwrap();
    assert_eq!(candidate_share(&a), 0.0);
    let sa = a.status();
    assert!(!sa.store.healthy && !sa.store.synced);
    // B keeps routing by what it knew.
    b.evaluate().await;
    assert!(!b.status().store.healthy);
    assert_eq!(b.status().weight_percent, 10.0);
    // Redis returns (empty: nothing persisted). A pushes its change, B adopts it.
    redis.restart();
    for _ in 0..20 {
        a.evaluate().await;
        if a.status().store.synced {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(a.status().store.healthy && a.status().store.synced);
    for _ in 0..20 {
        b.evaluate().await;
        if b.status().phase == Phase::RolledBack {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(b.status().phase, Phase::RolledBack);
    assert!(b.status().store.healthy);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_bytes_in_redis_are_refused_not_adopted() {
    let redis = RedisServer::start();
    let a = instance(&redis.url(), "a").await;
    a.evaluate().await;
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    for bytes in [
        &b"\xff\x00garbage"[..],
        br#"{"generation":99,"phase":"promoted","step":7,"weight_bp":99999}"#,
        br#"{"generation":99,"phase":"promoted","step":7,"weight_bp":10000,"shadow":false,"step_started_ms":0,"reasons":[],"changed_by":"x"}"#,
    ] {
        let _: () = redis::cmd("HSET")
            .arg("nexus:rollout:documents:v2")
            .arg("state")
            .arg(bytes)
            .arg("generation")
            .arg(99)
            .query_async(&mut conn)
            .await
            .unwrap();
        a.evaluate().await;
        let s = a.status();
        assert!(!s.store.healthy, "{bytes:?}");
        assert_eq!((s.phase, s.weight_percent), (Phase::Progressing, 10.0));
    }
}
