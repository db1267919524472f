//! Where a fleet keeps the rollout state, so every instance routes alike and any instance can
//! abort: one trait, [`StateStore`], with an in-process [`MemoryStore`] (instances in one
//! process, tests) and [`RedisStore`] (feature `redis`). A change is a compare-and-set on the
//! state's generation: it lands only if nobody changed the state in between.

use crate::{RolloutError, RolloutState};
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::Mutex;

/// Shared rollout state, keyed by rollout name.
#[async_trait]
pub trait StateStore: Send + Sync + std::fmt::Debug + 'static {
    /// `memory`, `redis`, …
    fn kind(&self) -> &'static str;

    /// The shared state of `rollout`, if any.
    async fn load(&self, rollout: &str) -> Result<Option<RolloutState>, RolloutError>;

    /// Stores `next` if the stored generation is `expected` (`None`: nothing stored yet).
    /// Returns whether it was stored.
    async fn compare_and_set(
        &self,
        rollout: &str,
        expected: Option<u64>,
        next: &RolloutState,
    ) -> Result<bool, RolloutError>;
}

/// Rollout states in this process (share one `Arc<MemoryStore>` between instances).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use nexus_rollout::store::{MemoryStore, StateStore};
/// let store = MemoryStore::default();
/// assert!(store.load("docs").await.unwrap().is_none());
/// # });
/// ```
#[derive(Debug, Default)]
pub struct MemoryStore(Mutex<HashMap<String, RolloutState>>);

#[async_trait]
impl StateStore for MemoryStore {
    fn kind(&self) -> &'static str {
        "memory"
    }

    async fn load(&self, rollout: &str) -> Result<Option<RolloutState>, RolloutError> {
        Ok(self
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(rollout)
            .cloned())
    }

    async fn compare_and_set(
        &self,
        rollout: &str,
        expected: Option<u64>,
        next: &RolloutState,
    ) -> Result<bool, RolloutError> {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if map.get(rollout).map(|s| s.generation) != expected {
            return Ok(false);
        }
        map.insert(rollout.to_owned(), next.clone());
        Ok(true)
    }
}

#[cfg(feature = "redis")]
pub use redis_store::RedisStore;

#[cfg(feature = "redis")]
mod redis_store {
    use super::*;
    use redis::aio::{ConnectionManager, ConnectionManagerConfig};
    use std::time::Duration;

    /// Compare-and-set on a hash `{generation, state}`.
    const CAS: &str = r"
local g = redis.call('HGET', KEYS[1], 'generation')
if (g or '') == ARGV[1] then
  redis.call('HSET', KEYS[1], 'generation', ARGV[2], 'state', ARGV[3])
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
  return 1
end
return 0";

    /// The rollout state in Redis (a hash per rollout under `prefix`, default `nexus:rollout:`),
    /// kept for 30 days after the last change. Connections reconnect by themselves; every
    /// command has a timeout (default 1 s).
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), nexus_rollout::RolloutError> {
    /// use nexus_rollout::{Rollout, store::RedisStore};
    /// let store = RedisStore::connect("redis://127.0.0.1:6379").await?;
    /// let rollout = Rollout::builder("documents").store(store).build()?;
    /// # let _ = rollout; Ok(()) }
    /// # let _ = demo;
    /// ```
    #[derive(Clone)]
    pub struct RedisStore {
        conn: ConnectionManager,
        prefix: String,
    }

    impl std::fmt::Debug for RedisStore {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("RedisStore")
                .field("prefix", &self.prefix)
                .finish_non_exhaustive()
        }
    }

    fn err(e: redis::RedisError) -> RolloutError {
        RolloutError::Store(e.to_string())
    }

    impl RedisStore {
        /// Connects to `url` with a 1 s timeout per command.
        pub async fn connect(url: &str) -> Result<Self, RolloutError> {
            Self::connect_with(url, Duration::from_secs(1)).await
        }

        /// Connects with a timeout per command.
        pub async fn connect_with(url: &str, timeout: Duration) -> Result<Self, RolloutError> {
            let client = redis::Client::open(url).map_err(|e| {
                RolloutError::Config(format!(
                    "bad Redis URL {}: {e}",
                    nexus_core::redact::url(url)
                ))
            })?;
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(timeout))
                .set_response_timeout(Some(timeout))
                .set_number_of_retries(1);
            let conn = ConnectionManager::new_with_config(client, config)
                .await
                .map_err(err)?;
            Ok(Self {
                conn,
                prefix: "nexus:rollout:".into(),
            })
        }

        /// The key prefix (default `nexus:rollout:`).
        pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
            self.prefix = prefix.into();
            self
        }

        fn key(&self, rollout: &str) -> String {
            format!("{}{rollout}", self.prefix)
        }
    }

    #[async_trait]
    impl StateStore for RedisStore {
        fn kind(&self) -> &'static str {
            "redis"
        }

        async fn load(&self, rollout: &str) -> Result<Option<RolloutState>, RolloutError> {
            let mut conn = self.conn.clone();
            let raw: Option<Vec<u8>> = redis::cmd("HGET")
                .arg(self.key(rollout))
                .arg("state")
                .query_async(&mut conn)
                .await
                .map_err(err)?;
            raw.map(|bytes| {
                serde_json::from_slice(&bytes).map_err(|e| RolloutError::Corrupt(e.to_string()))
            })
            .transpose()
        }

        async fn compare_and_set(
            &self,
            rollout: &str,
            expected: Option<u64>,
            next: &RolloutState,
        ) -> Result<bool, RolloutError> {
            let json = serde_json::to_string(next)
                .map_err(|e| RolloutError::Store(format!("encoding the state: {e}")))?;
            let mut conn = self.conn.clone();
            let stored: i64 = redis::cmd("EVAL")
                .arg(CAS)
                .arg(1)
                .arg(self.key(rollout))
                .arg(expected.map(|g| g.to_string()).unwrap_or_default())
                .arg(next.generation)
                .arg(json)
                .arg(30u64 * 24 * 3600 * 1000)
                .query_async(&mut conn)
                .await
                .map_err(err)?;
            Ok(stored == 1)
        }
    }
}
