//! Connections report (`connections.sql`): the server side of connection health.

use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::error::DbMonError;
use crate::monitor::DbMonitor;

const SQL: &str = crate::monitor::marked!(include_str!("../sql/connections.sql"));

/// One session blocked by another.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Blocking {
    /// The waiting backend.
    pub blocked_pid: i32,
    /// The backend it waits for.
    pub blocking_pid: i32,
    /// What the waiter runs (truncated).
    pub blocked_query: Option<String>,
    /// How long it has been running, seconds.
    pub blocked_seconds: Option<f64>,
}

/// A query running longer than the threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LongRunning {
    /// Backend pid.
    pub pid: i32,
    /// Role.
    pub user: Option<String>,
    /// `application_name`.
    pub application: Option<String>,
    /// State.
    pub state: Option<String>,
    /// Running time, seconds.
    pub seconds: Option<f64>,
    /// Query (truncated).
    pub query: Option<String>,
}

/// Sessions by state, idle-in-transaction, lock waits, blocking pairs and long-running queries.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ConnectionsReport {
    /// `max_connections`.
    pub max_connections: i32,
    /// All backends, including background workers.
    pub total: i64,
    /// Client backends (this monitor's own excluded).
    pub client: i64,
    /// Running a query.
    pub active: i64,
    /// Idle.
    pub idle: i64,
    /// Idle inside an open transaction (holding locks and snapshots).
    pub idle_in_transaction: i64,
    /// Longest idle-in-transaction, seconds.
    pub oldest_idle_in_transaction_seconds: f64,
    /// Waiting on a lock.
    pub waiting_on_locks: i64,
    /// `total / max_connections`.
    pub utilization: f64,
    /// Who blocks whom.
    pub blocking: Vec<Blocking>,
    /// Queries running longer than the threshold, longest first.
    pub long_running: Vec<LongRunning>,
}

impl DbMonitor {
    /// The connections report.
    pub async fn connections(&self) -> Result<ConnectionsReport, DbMonError> {
        const R: &str = "connections";
        let mut tx = self.read_tx(R).await?;
        let row = sqlx::query(SQL)
            .bind(self.config.long_running.as_secs_f64())
            .bind(self.config.max_query_chars)
            .fetch_one(&mut *tx)
            .await
            .map_err(DbMonError::query(R))?;
        tx.commit().await.map_err(DbMonError::query(R))?;
        let get = |e| DbMonError::query(R)(e);
        let max: i32 = row.try_get("max_connections").map_err(get)?;
        let total: i64 = row.try_get("total").map_err(get)?;
        Ok(ConnectionsReport {
            max_connections: max,
            total,
            client: row.try_get("client").map_err(get)?,
            active: row.try_get("active").map_err(get)?,
            idle: row.try_get("idle").map_err(get)?,
            idle_in_transaction: row.try_get("idle_in_transaction").map_err(get)?,
            oldest_idle_in_transaction_seconds: row
                .try_get("oldest_idle_in_transaction_seconds")
                .map_err(get)?,
            waiting_on_locks: row.try_get("waiting_on_locks").map_err(get)?,
            utilization: if max > 0 {
                total as f64 / f64::from(max)
            } else {
                0.0
            },
            blocking: serde_json::from_str(
                &row.try_get::<String, _>("blocking_json").map_err(get)?,
            )
            .unwrap_or_default(),
            long_running: serde_json::from_str(
                &row.try_get::<String, _>("long_running_json").map_err(get)?,
            )
            .unwrap_or_default(),
        })
    }
}
