//! Pool observers against real PostgreSQL: sizes, waits, timeouts and efficiency.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use nexus_dbmon::{ObservedBb8, ObservedPgPool, PoolObserver};
use nexus_testkit::PostgresServer;
use sqlx::Connection;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlx_pool_waits_and_timeouts_are_seen() {
    let pg = PostgresServer::start();
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(Duration::from_secs(1))
        .connect(&pg.url())
        .await
        .unwrap();
    // Open both connections before observing, so the two first acquisitions are idle hand-outs
    // and not connection set-ups (which a loaded CI machine can make slow).
    let (c1, c2) = (pool.acquire().await.unwrap(), pool.acquire().await.unwrap());
    drop((c1, c2));
    let observed = ObservedPgPool::with_slow_acquire(pool, Duration::from_millis(100));
    let a = observed.acquire().await.unwrap();
    let b = observed.acquire().await.unwrap();
    // sqlx returns released connections from a task, so its idle count settles shortly after.
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    let mut s = observed.status();
    while (s.size, s.in_use) != (2, 2) && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
        s = observed.status();
    }
    assert_eq!(
        (s.kind, s.size, s.in_use, s.max),
        ("sqlx", 2, 2, 2),
        "{s:?}"
    );
    assert_eq!(s.utilization, 1.0);
    // Pool exhausted: the third acquisition times out.
    assert!(matches!(
        observed.acquire().await,
        Err(sqlx::Error::PoolTimedOut)
    ));
    // A fourth waits for a release.
    let waiter = {
        let o = observed.clone();
        tokio::spawn(async move { o.acquire().await.map(|_| ()) })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(a);
    waiter.await.unwrap().unwrap();
    drop(b);
    let s = observed.status();
    assert_eq!(
        (s.acquires, s.timeouts, s.slow_acquires),
        (4, 1, 1),
        "{s:?}"
    );
    assert!((s.efficiency - 0.5).abs() < 1e-9, "{s:?}");
    assert!(s.wait.p99_ms >= 256.0, "{s:?}");
}

#[derive(Debug)]
struct PgManager(String);

impl bb8::ManageConnection for PgManager {
    type Connection = sqlx::PgConnection;
    type Error = sqlx::Error;

    async fn connect(&self) -> Result<Self::Connection, Self::Error> {
        sqlx::PgConnection::connect(&self.0).await
    }

    async fn is_valid(&self, conn: &mut Self::Connection) -> Result<(), Self::Error> {
        conn.ping().await
    }

    fn has_broken(&self, _: &mut Self::Connection) -> bool {
        false
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bb8_pool_is_observed_too() {
    let pg = PostgresServer::start();
    let pool = bb8::Pool::builder()
        .max_size(3)
        .connection_timeout(Duration::from_millis(300))
        .build(PgManager(pg.url()))
        .await
        .unwrap();
    let observed = ObservedBb8::new(pool);
    {
        let mut c = observed.get().await.unwrap();
        sqlx::query("SELECT 1").execute(&mut *c).await.unwrap();
        let s = observed.status();
        assert_eq!((s.kind, s.max, s.in_use), ("bb8", 3, 1), "{s:?}");
    }
    let held: Vec<_> = futures_join(&observed).await;
    assert!(matches!(observed.get().await, Err(bb8::RunError::TimedOut)));
    drop(held);
    let s = observed.status();
    assert_eq!((s.acquires, s.timeouts), (5, 1), "{s:?}");
    assert!(s.efficiency < 1.0);
}

async fn futures_join<M: bb8::ManageConnection>(
    o: &ObservedBb8<M>,
) -> Vec<bb8::PooledConnection<'_, M>> {
    let mut v = Vec::new();
    for _ in 0..3 {
        v.push(o.get().await.ok().unwrap());
    }
    v
}
