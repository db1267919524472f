#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![doc(test(attr(deny(warnings))))]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod advisor;
pub mod backplane;
mod cache;
pub mod codec;
mod error;
pub mod expiry;
mod hot;
#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "http")]
pub mod layer;
mod memory;
pub mod metrics;
#[cfg(feature = "redis")]
mod redis_backplane;
#[cfg(feature = "redis")]
mod remote;
pub mod stats;
mod tags;
mod tier;
pub mod weigher;

pub use backplane::Backplane;
pub use cache::{
    CacheValue, DEFAULT_MAX_KEY_LEN, EntryOptions, Loaded, Optimization, TieredCache,
    TieredCacheBuilder, WarmReport,
};
pub use codec::{Codec, Compression, Format};
pub use error::{CacheError, CodecError, TierError};
pub use memory::{MemoryTier, MemoryTierBuilder};
pub use nexus_core::task::TaskHandle;
#[cfg(feature = "redis")]
pub use redis_backplane::RedisBackplane;
#[cfg(feature = "cluster")]
pub use remote::{ClusterTier, ClusterTierBuilder};
#[cfg(feature = "redis")]
pub use remote::{RedisTier, RedisTierBuilder};
pub use stats::{BackplaneStats, CacheStats, Latency, LoaderStats, TierStats};
pub use tier::{Entry, Tier, Value};
