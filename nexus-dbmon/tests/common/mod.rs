//! Helpers shared by the integration tests.

#![allow(dead_code, clippy::unwrap_used)]

use std::time::{Duration, Instant};

/// A pool of `n` connections to `url`.
pub async fn pool(url: &str, n: u32) -> sqlx::PgPool {
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(n)
        .connect(url)
        .await
        .unwrap()
}

/// Statistics reach shared memory lazily: polls `f` until `ok` (20 s at most).
pub async fn eventually<T, F, Fut>(what: &str, mut f: F, ok: impl Fn(&T) -> bool) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let v = f().await;
        if ok(&v) || Instant::now() > deadline {
            assert!(ok(&v), "{what} never became true");
            return v;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
