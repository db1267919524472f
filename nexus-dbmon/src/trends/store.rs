//! Snapshot summaries kept in a table of the user's choosing, across restarts.

#[allow(unused_imports)]
use super::*;

/// A table of the user's choosing that keeps snapshot summaries across restarts.
///
/// ```
/// let store = nexus_dbmon::SnapshotStore::new("monitoring", "db_snapshots");
/// assert_eq!(store.qualified(), "\"monitoring\".\"db_snapshots\"");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotStore {
    schema: String,
    table: String,
}

impl SnapshotStore {
    /// The table `schema.table` (created if missing; the schema must exist).
    pub fn new(schema: impl Into<String>, table: impl Into<String>) -> Self {
        Self {
            schema: schema.into(),
            table: table.into(),
        }
    }

    /// The quoted, qualified name.
    pub fn qualified(&self) -> String {
        crate::maintenance::qualified(&self.schema, &self.table)
    }

    fn sql(&self, template: &str) -> sqlx::AssertSqlSafe<String> {
        // The only text put into SQL is the identifier, quoted.
        sqlx::AssertSqlSafe(template.replace("{table}", &self.qualified()))
    }
}

pub(super) const STORE_CREATE: &str =
    crate::monitor::marked!(include_str!("../sql/store_create.sql"));

pub(super) const STORE_INSERT: &str =
    crate::monitor::marked!(include_str!("../sql/store_insert.sql"));

pub(super) const STORE_LOAD: &str = crate::monitor::marked!(include_str!("../sql/store_load.sql"));

impl DbMonitor {
    /// Appends a snapshot's summary to `store` (creating the table if needed), under the
    /// monitor's statement and lock timeouts.
    pub async fn persist(
        &self,
        snapshot: &Snapshot,
        store: &SnapshotStore,
    ) -> Result<(), DbMonError> {
        let err = DbMonError::query("snapshot-store");
        let mut h = History::new(1);
        h.push(snapshot);
        let Some(point) = h.points.pop_back() else {
            return Ok(());
        };
        let mut tx = self.own_pool().begin().await.map_err(err)?;
        sqlx::query(crate::monitor::marked!(
            "SELECT set_config('statement_timeout', $1, true), set_config('lock_timeout', $2, true)"
        ))
        .bind(crate::monitor::millis(self.config.statement_timeout))
        .bind(crate::monitor::millis(self.config.lock_timeout))
        .execute(&mut *tx)
        .await
        .map_err(DbMonError::query("snapshot-store"))?;
        sqlx::query(store.sql(STORE_CREATE))
            .execute(&mut *tx)
            .await
            .map_err(DbMonError::query("snapshot-store"))?;
        sqlx::query(store.sql(STORE_INSERT))
            .bind(point.at)
            .bind(Json(&point))
            .execute(&mut *tx)
            .await
            .map_err(DbMonError::query("snapshot-store"))?;
        tx.commit()
            .await
            .map_err(DbMonError::query("snapshot-store"))
    }

    /// The newest `keep` summaries from `store` as a [`History`] (empty if the table is missing).
    pub async fn load_history(
        &self,
        store: &SnapshotStore,
        keep: usize,
    ) -> Result<History, DbMonError> {
        let mut history = History::new(keep);
        let exists: bool = sqlx::query_scalar(crate::monitor::marked!(
            "SELECT to_regclass($1) IS NOT NULL"
        ))
        .bind(store.qualified())
        .fetch_one(self.own_pool())
        .await
        .map_err(DbMonError::query("snapshot-store"))?;
        if !exists {
            return Ok(history);
        }
        let mut tx = self.read_tx("snapshot-store").await?;
        let rows: Vec<Json<Point>> = sqlx::query_scalar(store.sql(STORE_LOAD))
            .bind(i64::try_from(keep).unwrap_or(i64::MAX))
            .fetch_all(&mut *tx)
            .await
            .map_err(DbMonError::query("snapshot-store"))?;
        tx.commit()
            .await
            .map_err(DbMonError::query("snapshot-store"))?;
        for Json(p) in rows {
            history.push_point(p);
        }
        Ok(history)
    }
}
