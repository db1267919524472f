//! Real servers for Nexus integration tests: a single `redis-server`, a 6-node Redis Cluster and a
//! PostgreSQL 15 cluster with `pg_stat_statements`, each started from binaries on `PATH`, on
//! loopback, on a free port, in its own temporary directory, and torn down on drop.
//!
//! A missing binary is a test failure whose message names the Debian package to install; nothing is
//! ever skipped silently.
//!
//! ```no_run
//! let redis = nexus_testkit::RedisServer::start();
//! println!("{}", redis.url());
//! redis.stop();
//! redis.restart();
//! ```
#![deny(missing_docs)]

mod alerting;
mod binaries;
mod ports;
mod postgres;
mod process;
mod proxy;
mod redis;

pub use alerting::{AlertmanagerServer, SmtpSink};
pub use binaries::require;
pub use ports::free_port;
pub use postgres::{PG18_BIN, PostgresServer};
pub use proxy::TcpProxy;
pub use redis::{RedisCluster, RedisServer};

/// Polls `check` every 5 ms until it holds; panics with `what` after 10 s. For conditions that
/// another task or process makes true (a backplane message, a restarted server).
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    panic!("not within 10 s: {what}");
}
