//! # Nexus
//!
//! One coherent family of crates for a service's performance plumbing, composed in-process:
//!
//! | module | crate | feature |
//! |---|---|---|
//! | [`cache`] | `nexus-cache`: L1 W-TinyLFU → L2 Redis → L3 Redis Cluster | `cache` (default), `redis`, `cluster` |
//! | `dbmon` | `nexus-dbmon`: PostgreSQL reports, advice, guarded maintenance | `dbmon` |
//! | `health` | `nexus-health`: request layer, score, probes, health endpoints | `health` |
//! | `alerting` | `nexus-alerting`: rules, pipeline, notifiers | `alerting` |
//! | `rollout` | `nexus-rollout`: canary and blue-green releases as a tower layer | `rollout` |
//! | `monitor` | the aggregator: all of the above behind one axum router | `monitor` (in `full`) |
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), nexus::cache::CacheError> {
//! let cache: nexus::cache::TieredCache<String> = nexus::cache::TieredCache::builder().build()?;
//! cache.set("k", "v".to_string()).await?;
//! assert_eq!(cache.get("k").await?.as_deref().map(String::as_str), Some("v"));
//! # Ok(()) }
//! ```
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "monitor")]
pub use nexus_core as core;

#[cfg(feature = "cache")]
pub use nexus_cache as cache;

#[cfg(feature = "dbmon")]
pub use nexus_dbmon as dbmon;

#[cfg(feature = "health")]
pub use nexus_health as health;

#[cfg(feature = "alerting")]
pub use nexus_alerting as alerting;

#[cfg(feature = "rollout")]
pub use nexus_rollout as rollout;

#[cfg(feature = "monitor")]
pub mod monitor;
