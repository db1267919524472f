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
mod redis;

pub use alerting::{AlertmanagerServer, SmtpSink};
pub use binaries::require;
pub use ports::free_port;
pub use postgres::PostgresServer;
pub use redis::{RedisCluster, RedisServer};
