//! `RedisTier`: one Redis server through a `ConnectionManager`.

#[allow(unused_imports)]
use super::*;

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
