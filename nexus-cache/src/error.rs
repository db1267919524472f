//! The crate's error types.

use std::error::Error as StdError;
use std::sync::Arc;

/// Everything a [`TieredCache`](crate::TieredCache) operation can fail with.
///
/// Cloneable, so that every caller waiting on one single-flight load gets the same error.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum CacheError {
    /// The key is empty or longer than the configured limit.
    #[error("invalid key: {reason}")]
    InvalidKey {
        /// What is wrong with it.
        reason: String,
    },
    /// A tag is empty or longer than the key limit.
    #[error("invalid tag: {reason}")]
    InvalidTag {
        /// What is wrong with it.
        reason: String,
    },
    /// The encoded value is larger than a tier accepts; nothing was written.
    #[error("value of {size} bytes exceeds the {limit}-byte limit of tier {tier}")]
    ValueTooLarge {
        /// The tier that refused it (`l1`, `l2`, …).
        tier: &'static str,
        /// Encoded size.
        size: usize,
        /// The tier's limit.
        limit: usize,
    },
    /// The value could not be encoded or decoded.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// A tier failed (Redis unreachable, timeout, …). Tiers before it were still served.
    #[error("tier {tier} failed: {source}")]
    Tier {
        /// The tier (`l1`, `l2`, …).
        tier: &'static str,
        /// Why.
        #[source]
        source: TierError,
    },
    /// The loader passed to `get_or_load` failed.
    #[error("loader failed: {0}")]
    Loader(Arc<dyn StdError + Send + Sync>),
    /// The loader did not finish within the hard timeout and no stale copy could be served.
    #[error("loader timed out after {0:?}")]
    LoaderTimeout(std::time::Duration),
    /// The cache was configured wrongly.
    #[error("invalid configuration: {0}")]
    Config(String),
}

/// An error from one [`Tier`](crate::Tier).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum TierError {
    /// The Redis client reported an error (connection, timeout, server error).
    #[cfg(feature = "redis")]
    #[error("redis: {0}")]
    Redis(Arc<redis::RedisError>),
    /// Bytes read back do not form a valid entry (foreign writer, truncation, corruption).
    #[error("corrupt entry: {0}")]
    Corrupt(String),
    /// The entry is larger than the tier accepts.
    #[error("entry of {size} bytes exceeds the tier's {limit}-byte limit")]
    TooLarge {
        /// Size of the entry.
        size: usize,
        /// The tier's limit.
        limit: usize,
    },
    /// Any other failure of a user-supplied tier.
    #[error("{0}")]
    Other(Arc<dyn StdError + Send + Sync>),
}

#[cfg(feature = "redis")]
impl From<redis::RedisError> for TierError {
    fn from(e: redis::RedisError) -> Self {
        TierError::Redis(Arc::new(e))
    }
}

/// An encoding or decoding failure of the [`Codec`](crate::Codec).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The value could not be serialized.
    #[error("cannot encode value: {0}")]
    Encode(String),
    /// The bytes are not a value this codec wrote (wrong version, bad checksum, bad payload).
    #[error("cannot decode value: {0}")]
    Decode(String),
}
