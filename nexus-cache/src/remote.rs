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

impl Settings {
    fn new(ttl: Duration) -> Self {
        Self {
            prefix: "nexus".into(),
            ttl,
            max_ttl: None,
            max_entry_bytes: 16 << 20,
            timeout: Duration::from_secs(1),
        }
    }

    fn validate(&self) -> Result<(), TierError> {
        let ok = !self.prefix.is_empty()
            && self.prefix.len() <= 64
            && self
                .prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b));
        if ok {
            Ok(())
        } else {
            Err(TierError::Other(std::sync::Arc::new(
                std::io::Error::other(format!(
                    "prefix {:?} must be 1-64 characters of [A-Za-z0-9_.-]",
                    self.prefix
                )),
            )))
        }
    }

    fn data_key(&self, key: &str) -> String {
        format!("{}:k:{key}", self.prefix)
    }

    /// The longest an entry stays (and so how long a tag mark must be kept).
    fn max_ttl(&self) -> Duration {
        self.max_ttl.unwrap_or(self.ttl).max(self.ttl)
    }

    /// The invalidation mark of a tag; the empty tag is the mark of `clear`.
    fn mark_key(&self, tag: &str) -> String {
        if tag.is_empty() {
            format!("{}:tt", self.prefix)
        } else {
            format!("{}:tt:{tag}", self.prefix)
        }
    }

    fn mark_cmd(&self, tag: &str, at: u64) -> (String, Cmd) {
        let key = self.mark_key(tag);
        let mut c = redis::cmd("EVAL");
        c.arg(MARK)
            .arg(1)
            .arg(&key)
            .arg(at)
            .arg(self.max_ttl().as_millis().max(1) as u64);
        (key, c)
    }

    /// The distributed single-flight lock of a key.
    fn lock_key(&self, key: &str) -> String {
        format!("{}:l:{key}", self.prefix)
    }

    /// The fleet's hot set: a sorted set of keys by accumulated accesses.
    fn hot_key(&self) -> String {
        format!("{}:hot", self.prefix)
    }

    /// `ZINCRBY` each key, keep the 1 000 hottest, expire in a day.
    fn hot_pipeline(&self, keys: &[(String, u64)]) -> Pipeline {
        let set = self.hot_key();
        let mut pipe = redis::pipe();
        for (k, n) in keys {
            pipe.cmd("ZINCRBY").arg(&set).arg(*n).arg(k).ignore();
        }
        pipe.cmd("ZREMRANGEBYRANK")
            .arg(&set)
            .arg(0)
            .arg(-1001)
            .ignore();
        pipe.cmd("PEXPIRE").arg(&set).arg(86_400_000u64).ignore();
        pipe
    }

    /// `SET lock token NX PX ttl`: replies OK (taken) or nil (held by someone else).
    fn lock_cmd(&self, key: &str, token: &str, ttl: Duration) -> Cmd {
        let mut c = redis::cmd("SET");
        c.arg(self.lock_key(key))
            .arg(token)
            .arg("NX")
            .arg("PX")
            .arg(ttl.as_millis().max(1) as u64);
        c
    }

    fn unlock_cmd(&self, key: &str, token: &str) -> Cmd {
        let mut c = redis::cmd("EVAL");
        c.arg(UNLOCK).arg(1).arg(self.lock_key(key)).arg(token);
        c
    }

    fn hot_read_cmd(&self, n: usize) -> Cmd {
        let mut c = redis::cmd("ZREVRANGE");
        c.arg(self.hot_key()).arg(0).arg(n.max(1) as i64 - 1);
        c
    }
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

/// L2: a single Redis node over a multiplexed, self-reconnecting connection
/// (`redis::aio::ConnectionManager`). Defaults: TTL 1 hour, prefix `nexus`, 16 MiB entries,
/// 1 s timeout.
///
/// ```no_run
/// # #![allow(dead_code)]
/// # async fn run() -> Result<(), nexus_cache::TierError> {
/// let _l2 = nexus_cache::RedisTier::builder("redis://127.0.0.1:6379/").prefix("users").build().await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisTier {
    settings: Settings,
    conn: ConnectionManager,
}

impl std::fmt::Debug for RedisTier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisTier")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// Builder for [`RedisTier`].
#[derive(Debug, Clone)]
#[must_use]
pub struct RedisTierBuilder {
    url: String,
    settings: Settings,
}

impl RedisTier {
    /// A builder for the node at `url` (`redis://[:password@]host:port/[db]`).
    pub fn builder(url: impl Into<String>) -> RedisTierBuilder {
        RedisTierBuilder {
            url: url.into(),
            settings: Settings::new(Duration::from_secs(3600)),
        }
    }
}

impl RedisTierBuilder {
    builder_methods!();

    /// Connects (the first connection must succeed; later losses reconnect by themselves).
    pub async fn build(self) -> Result<RedisTier, TierError> {
        self.settings.validate()?;
        let client = redis::Client::open(self.url.as_str())?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.settings.timeout))
            .set_response_timeout(Some(self.settings.timeout))
            .set_number_of_retries(2);
        let conn = ConnectionManager::new_with_config(client, config).await?;
        Ok(RedisTier {
            settings: self.settings,
            conn,
        })
    }
}

/// L3: a Redis Cluster through redis-rs's async cluster client (slot-aware routing, reconnects,
/// topology refresh). Defaults: TTL 24 hours, prefix `nexus`, 16 MiB entries, 1 s timeout.
///
/// ```no_run
/// # #![allow(dead_code)]
/// # async fn run() -> Result<(), nexus_cache::TierError> {
/// let _l3 = nexus_cache::ClusterTier::builder(["redis://127.0.0.1:7000/"]).build().await?;
/// # Ok(()) }
/// ```
#[cfg(feature = "cluster")]
#[derive(Clone)]
pub struct ClusterTier {
    settings: Settings,
    conn: redis::cluster_async::ClusterConnection,
}

#[cfg(feature = "cluster")]
impl std::fmt::Debug for ClusterTier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterTier")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// Builder for [`ClusterTier`].
#[cfg(feature = "cluster")]
#[derive(Debug, Clone)]
#[must_use]
pub struct ClusterTierBuilder {
    urls: Vec<String>,
    settings: Settings,
}

#[cfg(feature = "cluster")]
impl ClusterTier {
    /// A builder from one or more seed node URLs.
    pub fn builder<I, S>(urls: I) -> ClusterTierBuilder
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        ClusterTierBuilder {
            urls: urls.into_iter().map(Into::into).collect(),
            settings: Settings::new(Duration::from_secs(24 * 3600)),
        }
    }
}

#[cfg(feature = "cluster")]
impl ClusterTierBuilder {
    builder_methods!();

    /// Connects to the cluster and loads its slot map.
    pub async fn build(self) -> Result<ClusterTier, TierError> {
        self.settings.validate()?;
        let client = redis::cluster::ClusterClientBuilder::new(self.urls)
            .connection_timeout(self.settings.timeout)
            .response_timeout(self.settings.timeout)
            .retries(2)
            .build()?;
        let conn = client.get_async_connection().await?;
        Ok(ClusterTier {
            settings: self.settings,
            conn,
        })
    }
}

/// The frame a Redis tier stores for an entry.
fn encode_frame(entry: &Entry, value: &[u8]) -> Vec<u8> {
    let tag_bytes: usize = entry.tags.iter().map(|t| t.len() + 2).sum();
    let mut out = Vec::with_capacity(19 + tag_bytes + value.len());
    out.push(FRAME_VERSION);
    out.extend_from_slice(&entry.expires_at.to_le_bytes());
    out.extend_from_slice(&entry.created_at.to_le_bytes());
    out.extend_from_slice(&(entry.tags.len().min(u16::MAX as usize) as u16).to_le_bytes());
    for t in entry.tags.iter().take(u16::MAX as usize) {
        let t = &t.as_bytes()[..t.len().min(u16::MAX as usize)];
        out.extend_from_slice(&(t.len() as u16).to_le_bytes());
        out.extend_from_slice(t);
    }
    out.extend_from_slice(value);
    out
}

/// Parses a stored frame; anything malformed is [`TierError::Corrupt`], never a panic.
fn decode_frame(frame: Bytes) -> Result<Entry, TierError> {
    let corrupt = |m: &str| TierError::Corrupt(m.to_owned());
    let mut pos = 0usize;
    let take = |pos: &mut usize, n: usize| -> Result<std::ops::Range<usize>, TierError> {
        let end = pos
            .checked_add(n)
            .filter(|&e| e <= frame.len())
            .ok_or_else(|| corrupt("truncated frame"))?;
        let r = *pos..end;
        *pos = end;
        Ok(r)
    };
    let v = take(&mut pos, 1)?;
    let version = frame[v.start];
    if version != 1 && version != FRAME_VERSION {
        return Err(TierError::Corrupt(format!(
            "frame version {version} is neither 1 nor {FRAME_VERSION}"
        )));
    }
    let r = take(&mut pos, 8)?;
    let expires_at = u64::from_le_bytes(frame[r].try_into().map_err(|_| corrupt("bad expiry"))?);
    let created_at = if version == 1 {
        0
    } else {
        let r = take(&mut pos, 8)?;
        u64::from_le_bytes(
            frame[r]
                .try_into()
                .map_err(|_| corrupt("bad creation time"))?,
        )
    };
    let r = take(&mut pos, 2)?;
    let n = u16::from_le_bytes(frame[r].try_into().map_err(|_| corrupt("bad tag count"))?) as usize;
    let mut tags = Vec::with_capacity(n.min(64));
    for _ in 0..n {
        let r = take(&mut pos, 2)?;
        let len = u16::from_le_bytes(frame[r].try_into().map_err(|_| corrupt("bad tag length"))?)
            as usize;
        let r = take(&mut pos, len)?;
        let tag = std::str::from_utf8(&frame[r]).map_err(|_| corrupt("tag is not UTF-8"))?;
        tags.push(tag.to_owned());
    }
    let value = frame.slice(pos..);
    Ok(Entry {
        size: value.len(),
        value: Value::Bytes(value),
        expires_at,
        created_at,
        tags: tags.into(),
    })
}

fn entry_bytes(entry: &Entry) -> Result<&Bytes, TierError> {
    match &entry.value {
        Value::Bytes(b) => Ok(b),
        Value::Object(_) => Err(TierError::Corrupt(
            "a remote tier can only store encoded bytes".into(),
        )),
    }
}

/// The `SET` of an entry, its expiry capped by the tier's `max_ttl`.
fn set_command(s: &Settings, key: &str, entry: &Entry) -> Result<Cmd, TierError> {
    // The limit applies to the value (as every tier's does), so the cache's up-front size check
    // and this one agree and a write is never refused half-way.
    if entry.size > s.max_entry_bytes {
        return Err(TierError::TooLarge {
            size: entry.size,
            limit: s.max_entry_bytes,
        });
    }
    let frame = encode_frame(entry, entry_bytes(entry)?);
    let at = crate::expiry::capped(entry.expires_at, now_millis(), s.max_ttl());
    let mut set = redis::cmd("SET");
    set.arg(s.data_key(key)).arg(frame).arg("PXAT").arg(at);
    Ok(set)
}

/// Parses tag marks read back; a mark that is not a number is corrupt and read as "now" (every
/// entry of the tag written so far is stale) rather than lost.
fn parse_marks(values: Vec<Option<String>>) -> Vec<u64> {
    values
        .into_iter()
        .map(|v| match v {
            None => 0,
            Some(s) => s.trim().parse().unwrap_or_else(|_| {
                tracing::warn!(mark = %s, "corrupt tag mark read as now");
                crate::expiry::now_micros()
            }),
        })
        .collect()
}

fn parse_get(v: Option<Vec<u8>>) -> Result<Option<Entry>, TierError> {
    let Some(bytes) = v else { return Ok(None) };
    let entry = decode_frame(Bytes::from(bytes))?;
    if entry.expires_at <= now_millis() {
        return Ok(None);
    }
    Ok(Some(entry))
}

/// The single-key operations: the same commands on a node and on a cluster (whose connection
/// routes each to its key's slot).
impl Settings {
    async fn get<C: ConnectionLike>(
        &self,
        mut conn: C,
        key: &str,
    ) -> Result<Option<Entry>, TierError> {
        let v: Option<Vec<u8>> = redis::cmd("GET")
            .arg(self.data_key(key))
            .query_async(&mut conn)
            .await?;
        parse_get(v)
    }

    async fn set<C: ConnectionLike>(
        &self,
        mut conn: C,
        key: &str,
        entry: &Entry,
    ) -> Result<(), TierError> {
        set_command(self, key, entry)?
            .query_async::<()>(&mut conn)
            .await?;
        Ok(())
    }

    async fn delete<C: ConnectionLike>(&self, mut conn: C, key: &str) -> Result<bool, TierError> {
        let n: u64 = redis::cmd("DEL")
            .arg(self.data_key(key))
            .query_async(&mut conn)
            .await?;
        Ok(n > 0)
    }

    async fn try_lock<C: ConnectionLike>(
        &self,
        mut conn: C,
        key: &str,
        token: &str,
        ttl: Duration,
    ) -> Result<Option<bool>, TierError> {
        let r: Option<String> = self
            .lock_cmd(key, token, ttl)
            .query_async(&mut conn)
            .await?;
        Ok(Some(r.is_some()))
    }

    async fn unlock<C: ConnectionLike>(
        &self,
        mut conn: C,
        key: &str,
        token: &str,
    ) -> Result<(), TierError> {
        self.unlock_cmd(key, token)
            .query_async::<i64>(&mut conn)
            .await?;
        Ok(())
    }

    /// One key, one slot: on a cluster the connection routes the pipeline there.
    async fn publish_hot<C: ConnectionLike>(
        &self,
        mut conn: C,
        keys: &[(String, u64)],
    ) -> Result<(), TierError> {
        if keys.is_empty() {
            return Ok(());
        }
        self.hot_pipeline(keys).query_async::<()>(&mut conn).await?;
        Ok(())
    }

    async fn hot_keys<C: ConnectionLike>(
        &self,
        mut conn: C,
        n: usize,
    ) -> Result<Vec<String>, TierError> {
        Ok(self.hot_read_cmd(n).query_async(&mut conn).await?)
    }
}

#[async_trait]
impl Tier for RedisTier {
    fn kind(&self) -> &'static str {
        "redis"
    }

    fn default_ttl(&self) -> Duration {
        self.settings.ttl
    }

    fn max_entry_bytes(&self) -> usize {
        self.settings.max_entry_bytes
    }

    async fn get(&self, key: &str) -> Result<Option<Entry>, TierError> {
        self.settings.get(self.conn.clone(), key).await
    }

    async fn set(&self, key: &str, entry: Entry) -> Result<(), TierError> {
        self.settings.set(self.conn.clone(), key, &entry).await
    }

    async fn delete(&self, key: &str) -> Result<bool, TierError> {
        self.settings.delete(self.conn.clone(), key).await
    }

    async fn mark_tags(&self, tags: &[String], at: u64) -> Result<(), TierError> {
        if tags.is_empty() {
            return Ok(());
        }
        let mut pipe = Pipeline::new();
        for t in tags {
            pipe.add_command(self.settings.mark_cmd(t, at).1).ignore();
        }
        let mut conn = self.conn.clone();
        pipe.query_async::<()>(&mut conn).await?;
        Ok(())
    }

    async fn tag_times(&self, tags: &[String]) -> Result<Option<Vec<u64>>, TierError> {
        if tags.is_empty() {
            return Ok(Some(Vec::new()));
        }
        let keys: Vec<String> = tags.iter().map(|t| self.settings.mark_key(t)).collect();
        let mut conn = self.conn.clone();
        let values: Vec<Option<String>> =
            redis::cmd("MGET").arg(&keys).query_async(&mut conn).await?;
        Ok(Some(parse_marks(values)))
    }

    async fn try_lock(
        &self,
        key: &str,
        token: &str,
        ttl: Duration,
    ) -> Result<Option<bool>, TierError> {
        self.settings
            .try_lock(self.conn.clone(), key, token, ttl)
            .await
    }

    async fn unlock(&self, key: &str, token: &str) -> Result<(), TierError> {
        self.settings.unlock(self.conn.clone(), key, token).await
    }

    async fn publish_hot_keys(&self, keys: &[(String, u64)]) -> Result<(), TierError> {
        self.settings.publish_hot(self.conn.clone(), keys).await
    }

    async fn hot_keys(&self, n: usize) -> Result<Vec<String>, TierError> {
        self.settings.hot_keys(self.conn.clone(), n).await
    }

    async fn clear(&self) -> Result<(), TierError> {
        let mut conn = self.conn.clone();
        let pattern = format!("{}:*", self.settings.prefix);
        let mut cursor: u64 = 0;
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut conn)
                .await?;
            if !keys.is_empty() {
                redis::cmd("UNLINK")
                    .arg(&keys)
                    .query_async::<()>(&mut conn)
                    .await?;
            }
            if next == 0 {
                return Ok(());
            }
            cursor = next;
        }
    }
}

#[cfg(feature = "cluster")]
mod cluster_impl {
    use super::*;
    use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, Slot, SlotAddr};

    impl ClusterTier {
        /// Runs commands grouped by hash slot: one pipeline per slot, all slots concurrently.
        async fn per_slot(&self, cmds: Vec<(String, Cmd)>) -> Result<Vec<RedisValue>, TierError> {
            let mut groups: HashMap<Slot, Pipeline> = HashMap::new();
            for (key, cmd) in cmds {
                groups
                    .entry(Slot::for_key(&key))
                    .or_default()
                    .add_command(cmd);
            }
            let runs = groups.into_values().map(|pipe| {
                let mut conn = self.conn.clone();
                async move { pipe.query_async::<Vec<RedisValue>>(&mut conn).await }
            });
            Ok(try_join_all(runs).await?.into_iter().flatten().collect())
        }

        /// One slot owned by each master (from `CLUSTER SLOTS`), to route per-node commands by.
        async fn one_slot_per_master(&self) -> Result<Vec<u16>, TierError> {
            let mut conn = self.conn.clone();
            let reply = conn
                .route_command(
                    redis::cmd("CLUSTER").arg("SLOTS").clone(),
                    RoutingInfo::SingleNode(SingleNodeRoutingInfo::RandomPrimary),
                )
                .await?;
            let int = |v: &RedisValue| {
                if let RedisValue::Int(n) = v {
                    u16::try_from(*n).ok()
                } else {
                    None
                }
            };
            let mut by_master: HashMap<String, u16> = HashMap::new();
            if let RedisValue::Array(ranges) = reply {
                for range in ranges {
                    let RedisValue::Array(fields) = range else {
                        continue;
                    };
                    let (Some(start), Some(RedisValue::Array(master))) =
                        (fields.first().and_then(int), fields.get(2))
                    else {
                        continue;
                    };
                    let id = format!("{:?}{:?}", master.first(), master.get(1));
                    by_master.entry(id).or_insert(start);
                }
            }
            if by_master.is_empty() {
                return Err(TierError::Corrupt(
                    "CLUSTER SLOTS returned no slot ranges".into(),
                ));
            }
            Ok(by_master.into_values().collect())
        }
    }

    #[async_trait]
    impl Tier for ClusterTier {
        fn kind(&self) -> &'static str {
            "cluster"
        }

        fn default_ttl(&self) -> Duration {
            self.settings.ttl
        }

        fn max_entry_bytes(&self) -> usize {
            self.settings.max_entry_bytes
        }

        async fn get(&self, key: &str) -> Result<Option<Entry>, TierError> {
            self.settings.get(self.conn.clone(), key).await
        }

        async fn set(&self, key: &str, entry: Entry) -> Result<(), TierError> {
            self.settings.set(self.conn.clone(), key, &entry).await
        }

        async fn delete(&self, key: &str) -> Result<bool, TierError> {
            self.settings.delete(self.conn.clone(), key).await
        }

        async fn mark_tags(&self, tags: &[String], at: u64) -> Result<(), TierError> {
            let cmds = tags.iter().map(|t| self.settings.mark_cmd(t, at)).collect();
            self.per_slot(cmds).await?;
            Ok(())
        }

        async fn tag_times(&self, tags: &[String]) -> Result<Option<Vec<u64>>, TierError> {
            // One GET per mark (marks live on different slots), all at once, answers in tag order.
            let runs = tags.iter().map(|t| {
                let mut conn = self.conn.clone();
                let key = self.settings.mark_key(t);
                async move {
                    redis::cmd("GET")
                        .arg(key)
                        .query_async::<Option<String>>(&mut conn)
                        .await
                }
            });
            Ok(Some(parse_marks(try_join_all(runs).await?)))
        }

        async fn try_lock(
            &self,
            key: &str,
            token: &str,
            ttl: Duration,
        ) -> Result<Option<bool>, TierError> {
            self.settings
                .try_lock(self.conn.clone(), key, token, ttl)
                .await
        }

        async fn unlock(&self, key: &str, token: &str) -> Result<(), TierError> {
            self.settings.unlock(self.conn.clone(), key, token).await
        }

        async fn publish_hot_keys(&self, keys: &[(String, u64)]) -> Result<(), TierError> {
            self.settings.publish_hot(self.conn.clone(), keys).await
        }

        async fn hot_keys(&self, n: usize) -> Result<Vec<String>, TierError> {
            self.settings.hot_keys(self.conn.clone(), n).await
        }

        async fn clear(&self) -> Result<(), TierError> {
            let pattern = format!("{}:*", self.settings.prefix);
            for slot in self.one_slot_per_master().await? {
                let route = SingleNodeRoutingInfo::SpecificNode(Route::new(slot, SlotAddr::Master));
                let mut cursor: u64 = 0;
                loop {
                    let mut conn = self.conn.clone();
                    let reply = conn
                        .route_command(
                            redis::cmd("SCAN")
                                .arg(cursor)
                                .arg("MATCH")
                                .arg(&pattern)
                                .arg("COUNT")
                                .arg(1000)
                                .clone(),
                            RoutingInfo::SingleNode(route.clone()),
                        )
                        .await?;
                    let (next, keys): (u64, Vec<String>) =
                        redis::from_redis_value(reply).map_err(redis::RedisError::from)?;
                    if !keys.is_empty() {
                        let dels = keys
                            .into_iter()
                            .map(|k| {
                                let mut c = redis::cmd("UNLINK");
                                c.arg(&k);
                                (k, c)
                            })
                            .collect();
                        self.per_slot(dels).await?;
                    }
                    if next == 0 {
                        break;
                    }
                    cursor = next;
                }
            }
            Ok(())
        }
    }
}

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
