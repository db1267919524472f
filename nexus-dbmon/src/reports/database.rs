//! Database report (`database.sql`).

use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::error::DbMonError;
use crate::monitor::DbMonitor;

const SQL: &str = crate::monitor::marked!(include_str!("../sql/database.sql"));

/// A streaming replica (primary side).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Replica {
    /// Client address, or `local`.
    pub client: String,
    /// `application_name`.
    pub application: Option<String>,
    /// Replication state.
    pub state: Option<String>,
    /// Replay lag, seconds.
    pub replay_lag_seconds: Option<f64>,
    /// WAL not yet replayed, bytes.
    pub lag_bytes: Option<f64>,
}

/// A replication slot nobody is consuming (it retains WAL).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct InactiveSlot {
    /// Slot name.
    pub slot: String,
    /// `physical` or `logical`.
    pub kind: String,
    /// WAL retained because of it, bytes.
    pub retained_bytes: Option<f64>,
}

/// Size, cache efficiency, transaction counters, wraparound age, uptime and replication of the
/// current database. Numbers as numbers, bytes as bytes, times as Unix seconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct DatabaseReport {
    /// Database name.
    pub name: String,
    /// `pg_database_size`, bytes.
    pub size_bytes: i64,
    /// Shared-buffer hit ratio since stats reset, 0..=1.
    pub cache_hit_ratio: f64,
    /// Blocks found in shared buffers.
    pub blocks_hit: i64,
    /// Blocks read from disk (or the OS cache).
    pub blocks_read: i64,
    /// Committed transactions.
    pub commits: i64,
    /// Rolled back transactions.
    pub rollbacks: i64,
    /// Deadlocks detected.
    pub deadlocks: i64,
    /// Temporary files written.
    pub temp_files: i64,
    /// Bytes written to temporary files.
    pub temp_bytes: i64,
    /// When statistics were last reset (Unix seconds), if ever.
    pub stats_reset: Option<f64>,
    /// Server start (Unix seconds).
    pub started_at: f64,
    /// Seconds since server start.
    pub uptime_seconds: f64,
    /// Age of the database's `datfrozenxid`.
    pub database_xid_age: i64,
    /// Oldest `relfrozenxid` age over tables, materialized views and TOAST tables.
    pub oldest_table_xid_age: i64,
    /// `server_version_num`.
    pub server_version_num: i32,
    /// Whether this server is a standby.
    pub in_recovery: bool,
    /// Whether continuous WAL archiving (the database's backup stream) is on (`archive_mode`).
    pub wal_archiving: bool,
    /// WAL segments archived since stats reset (`pg_stat_archiver.archived_count`).
    pub wal_archived: i64,
    /// Failed archiving attempts since stats reset (`pg_stat_archiver.failed_count`).
    pub wal_archive_failures: i64,
    /// When a segment was last archived (Unix seconds), if ever.
    pub wal_last_archived_at: Option<f64>,
    /// Streaming replicas (primary only).
    pub replicas: Vec<Replica>,
    /// Inactive replication slots.
    pub inactive_slots: Vec<InactiveSlot>,
}

impl DbMonitor {
    /// The database report.
    pub async fn database(&self) -> Result<DatabaseReport, DbMonError> {
        const R: &str = "database";
        let mut tx = self.read_tx(R).await?;
        let row = sqlx::query(SQL)
            .fetch_one(&mut *tx)
            .await
            .map_err(DbMonError::query(R))?;
        tx.commit().await.map_err(DbMonError::query(R))?;
        let get = |e| DbMonError::query(R)(e);
        let json = |col: &str| -> Result<String, DbMonError> {
            row.try_get::<String, _>(col).map_err(get)
        };
        let (hit, read): (i64, i64) = (
            row.try_get("blocks_hit").map_err(get)?,
            row.try_get("blocks_read").map_err(get)?,
        );
        Ok(DatabaseReport {
            name: row.try_get("name").map_err(get)?,
            size_bytes: row.try_get("size_bytes").map_err(get)?,
            cache_hit_ratio: super::hit_ratio(hit, read),
            blocks_hit: hit,
            blocks_read: read,
            commits: row.try_get("commits").map_err(get)?,
            rollbacks: row.try_get("rollbacks").map_err(get)?,
            deadlocks: row.try_get("deadlocks").map_err(get)?,
            temp_files: row.try_get("temp_files").map_err(get)?,
            temp_bytes: row.try_get("temp_bytes").map_err(get)?,
            stats_reset: row.try_get("stats_reset").map_err(get)?,
            started_at: row.try_get("started_at").map_err(get)?,
            uptime_seconds: row.try_get("uptime_seconds").map_err(get)?,
            database_xid_age: row.try_get("database_xid_age").map_err(get)?,
            oldest_table_xid_age: row.try_get("oldest_table_xid_age").map_err(get)?,
            server_version_num: row.try_get("server_version_num").map_err(get)?,
            in_recovery: row.try_get("in_recovery").map_err(get)?,
            wal_archiving: row.try_get("wal_archiving").map_err(get)?,
            wal_archived: row.try_get("wal_archived").map_err(get)?,
            wal_archive_failures: row.try_get("wal_archive_failures").map_err(get)?,
            wal_last_archived_at: row.try_get("wal_last_archived_at").map_err(get)?,
            replicas: serde_json::from_str(&json("replicas_json")?).unwrap_or_default(),
            inactive_slots: serde_json::from_str(&json("inactive_slots_json")?).unwrap_or_default(),
        })
    }
}
