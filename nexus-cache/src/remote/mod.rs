//! The Redis tiers: a single node ([`RedisTier`]) and a Redis Cluster ([`ClusterTier`]).
//!
//! ## Layout in Redis
//! - `{prefix}:k:{key}` — a string: the entry frame `[2][expires_at u64 LE][created_at u64 LE]
//!   [tag count u16 LE]([len u16 LE][tag])*[value]`, written with `SET … PXAT expires_at`, so Redis
//!   expires it itself. Version-1 frames (no creation time) are still read, as created at 0.
//! - `{prefix}:tt:{tag}` — the tag's invalidation mark: microseconds since the Unix epoch, in
//!   decimal, kept for the tier's `max_ttl` (no entry it could concern lives longer).
//!   `{prefix}:tt` is the mark of `clear` (every entry).
//!
//! ## Tags by timestamp
//! Invalidating tags writes their marks: one `EVAL` per tag that never moves a mark backwards. An
//! entry created before the mark of one of its tags, or before the clear mark, is a miss (the
//! cache checks; see `TieredCache::invalidate_tags`). A write costs nothing per tag, an
//! invalidation one small write per tag whatever the number of entries, and a read fetches marks
//! (`MGET`) only when the cache's clock does not already know them.
//!
//! ## Cluster
//! Keys are never combined across hash slots: every pipeline is grouped by slot
//! ([`Slot::for_key`](redis::cluster_routing::Slot::for_key)) and the groups run concurrently, so
//! no command can fail with `CROSSSLOT`. `clear` scans each master.
//!
//! Layout: [`keys`] (key names, entry frames, the commands both tiers send), [`node`]
//! (`RedisTier`), [`cluster`] (`ClusterTier`, slot-grouped pipelines).

#[cfg(feature = "cluster")]
use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
#[cfg(feature = "cluster")]
use futures_util::future::try_join_all;
#[cfg(feature = "cluster")]
use redis::Value as RedisValue;
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::{Cmd, Pipeline};

use crate::error::TierError;
use crate::expiry::now_millis;
use crate::tier::{Entry, Tier, Value};

const FRAME_VERSION: u8 = 2;

/// Sets a tag mark unless it already holds a later one, and keeps it for `ARGV[2]` ms.
const MARK: &str = "local c = tonumber(redis.call('GET', KEYS[1])) or 0 \
if c < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) end return 1";

/// Deletes the lock only if it still holds our token (a late holder never frees another's).
const UNLOCK: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";

/// Settings shared by both Redis tiers.
#[derive(Debug, Clone)]
struct Settings {
    prefix: String,
    ttl: Duration,
    max_ttl: Option<Duration>,
    max_entry_bytes: usize,
    timeout: Duration,
}

macro_rules! builder_methods {
    () => {
        /// Prefix of every Redis key this tier writes (default `nexus`; `[A-Za-z0-9_.-]`, at most
        /// 64). Two caches sharing a Redis must use different prefixes.
        pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
            self.settings.prefix = prefix.into();
            self
        }

        /// Default TTL of entries written without one.
        pub fn ttl(mut self, ttl: Duration) -> Self {
            self.settings.ttl = ttl;
            self
        }

        /// Longest any entry stays, whatever TTL its writer gave (default: the tier TTL). Tag
        /// invalidation marks are kept this long.
        pub fn max_ttl(mut self, max_ttl: Duration) -> Self {
            self.settings.max_ttl = Some(max_ttl);
            self
        }

        /// Largest entry accepted, in bytes (default 16 MiB).
        pub fn max_entry_bytes(mut self, bytes: usize) -> Self {
            self.settings.max_entry_bytes = bytes;
            self
        }

        /// Connection and response timeout of each command (default 1 s).
        pub fn timeout(mut self, timeout: Duration) -> Self {
            self.settings.timeout = timeout;
            self
        }
    };
}

#[cfg(feature = "cluster")]
mod cluster;
mod keys;
mod node;

#[cfg(feature = "cluster")]
pub use cluster::{ClusterTier, ClusterTierBuilder};
use keys::*;
pub use node::{RedisTier, RedisTierBuilder};

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn marks_parse_and_corrupt_ones_read_as_now() {
        let before = crate::expiry::now_micros();
        let m = parse_marks(vec![None, Some("123".into()), Some("not a number".into())]);
        assert_eq!(&m[..2], &[0, 123]);
        assert!(m[2] >= before);
    }

    proptest! {
        #[test]
        fn frame_round_trips(exp in any::<u64>(), tags in proptest::collection::vec(".{0,20}", 0..6),
                             value in proptest::collection::vec(any::<u8>(), 0..300)) {
            let e = Entry { value: Value::Bytes(Bytes::from(value.clone())), expires_at: exp,
                            created_at: exp / 3, tags: tags.clone().into(), size: value.len() };
            let back = decode_frame(Bytes::from(encode_frame(&e, &value))).unwrap();
            prop_assert_eq!(back.expires_at, exp);
            prop_assert_eq!(back.created_at, exp / 3);
            prop_assert_eq!(back.tags.to_vec(), tags);
            match back.value { Value::Bytes(b) => prop_assert_eq!(b.to_vec(), value), _ => prop_assert!(false) }
        }

        #[test]
        fn version_1_frames_read_as_created_at_zero(exp in any::<u64>(), value in proptest::collection::vec(any::<u8>(), 0..50)) {
            let mut v1 = vec![1u8];
            v1.extend_from_slice(&exp.to_le_bytes());
            v1.extend_from_slice(&1u16.to_le_bytes());
            v1.extend_from_slice(&3u16.to_le_bytes());
            v1.extend_from_slice(b"tag");
            v1.extend_from_slice(&value);
            let back = decode_frame(Bytes::from(v1)).unwrap();
            prop_assert_eq!(back.expires_at, exp);
            prop_assert_eq!(back.created_at, 0);
            prop_assert_eq!(back.tags.to_vec(), vec!["tag".to_string()]);
            prop_assert_eq!(back.size, value.len());
        }

        #[test]
        fn garbage_frames_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode_frame(Bytes::from(bytes));
        }
    }
}
