//! `ClusterTier`: Redis Cluster, every multi-key operation grouped by hash slot.

#[allow(unused_imports)]
use super::*;

/// L3: a Redis Cluster through redis-rs's async cluster client (slot-aware routing, reconnects,
/// topology refresh). Defaults: TTL 24 hours, prefix `nexus`, 16 MiB entries, 1 s timeout.
///
/// ```no_run
/// # #![allow(dead_code)]
/// # async fn run() -> Result<(), nexus_cache::TierError> {
/// let _l3 = nexus_cache::ClusterTier::builder(["redis://127.0.0.1:7000/"]).build().await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ClusterTier {
    settings: Settings,
    conn: redis::cluster_async::ClusterConnection,
}

impl std::fmt::Debug for ClusterTier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterTier")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// Builder for [`ClusterTier`].
#[derive(Debug, Clone)]
#[must_use]
pub struct ClusterTierBuilder {
    urls: Vec<String>,
    settings: Settings,
}

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
