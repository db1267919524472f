//! Snapshots, their bounded history, trends and capacity projection, and the `metrics` export
//! (postgres_exporter's names, so existing dashboards work).
//!
//! ```
//! use nexus_dbmon::History;
//! // A bounded history of snapshot summaries (filled by `DbMonitor::spawn_snapshots`).
//! let history = History::new(96);
//! assert_eq!(history.trends(None).tables.len(), 0);
//! let trends = history.trends(Some(100 << 30)); // project against a 100 GiB limit
//! assert!(trends.tables.is_empty());
//! ```

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::types::Json;

use crate::error::DbMonError;
use crate::monitor::DbMonitor;
use crate::reports::connections::ConnectionsReport;
use crate::reports::database::DatabaseReport;
use crate::reports::statements::StatementsReport;
use crate::reports::tables::TablesReport;

/// The reports taken together at one instant.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Snapshot {
    /// When (Unix seconds).
    pub at: f64,
    /// Database report.
    pub database: DatabaseReport,
    /// Connections report.
    pub connections: ConnectionsReport,
    /// Tables report.
    pub tables: TablesReport,
    /// Slow-query report.
    pub statements: StatementsReport,
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl DbMonitor {
    /// Takes a snapshot (database, connections, tables, statements).
    pub async fn snapshot(&self) -> Result<Snapshot, DbMonError> {
        Ok(Snapshot {
            at: now(),
            database: self.database().await?,
            connections: self.connections().await?,
            tables: self.tables().await?,
            statements: self.statements().await?,
        })
    }

    /// Takes a snapshot every `every` into a history of `keep` points, publishing metrics each
    /// time; stops when the returned handle is dropped. Call it inside a Tokio runtime.
    pub fn spawn_snapshots(&self, every: Duration, keep: usize) -> SnapshotTask {
        self.spawn_snapshots_into(every, History::new(keep), None)
    }

    /// [`spawn_snapshots`](Self::spawn_snapshots) starting from `history` (e.g. from
    /// [`load_history`](Self::load_history)) and also appending each snapshot to `store`.
    pub fn spawn_snapshots_into(
        &self,
        every: Duration,
        history: History,
        store: Option<SnapshotStore>,
    ) -> SnapshotTask {
        let history = Arc::new(Mutex::new(history));
        let (monitor, h) = (self.clone(), history.clone());
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(every.max(Duration::from_millis(10)));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                match monitor.snapshot().await {
                    Ok(s) => {
                        publish_metrics(&s);
                        if let Some(store) = &store
                            && let Err(e) = monitor.persist(&s, store).await
                        {
                            tracing::warn!(error = %e, "snapshot not stored");
                        }
                        h.lock().unwrap_or_else(|e| e.into_inner()).push(&s);
                    }
                    Err(e) => {
                        metrics::gauge!("pg_up").set(0.0);
                        tracing::warn!(error = %e, "database snapshot failed");
                    }
                }
            }
        });
        SnapshotTask { history, task }
    }
}

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

const STORE_CREATE: &str = crate::monitor::marked!(include_str!("sql/store_create.sql"));
const STORE_INSERT: &str = crate::monitor::marked!(include_str!("sql/store_insert.sql"));
const STORE_LOAD: &str = crate::monitor::marked!(include_str!("sql/store_load.sql"));

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

/// A running snapshot task; dropping it stops the task.
#[derive(Debug)]
pub struct SnapshotTask {
    history: Arc<Mutex<History>>,
    task: tokio::task::JoinHandle<()>,
}

impl SnapshotTask {
    /// Trends over the history so far, with an optional database size limit to project against.
    pub fn trends(&self, size_limit_bytes: Option<i64>) -> Trends {
        self.history
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .trends(size_limit_bytes)
    }

    /// Points held.
    pub fn len(&self) -> usize {
        self.history
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .points
            .len()
    }

    /// Whether no snapshot succeeded yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Drop for SnapshotTask {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Point {
    at: f64,
    database_bytes: i64,
    tables: HashMap<String, i64>,
    statements: HashMap<i64, (i64, f64, Option<String>)>,
}

/// A bounded history of snapshot summaries (sizes and statement counters only).
///
/// ```
/// let history = nexus_dbmon::History::new(96);
/// assert!(history.trends(None).database.bytes_per_day.is_none());
/// ```
#[derive(Debug, Clone)]
pub struct History {
    keep: usize,
    points: VecDeque<Point>,
}

/// Growth of something over the history.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Growth {
    /// What (`database` or `schema.table`).
    pub name: String,
    /// Latest size, bytes.
    pub current_bytes: i64,
    /// Least-squares slope, bytes per day (`None` with fewer than two points).
    pub bytes_per_day: Option<f64>,
    /// Days until the size limit at that slope (`None` without a limit or when not growing).
    pub days_until_limit: Option<f64>,
}

/// How a statement changed between the first and last snapshot.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct StatementTrend {
    /// `queryid`.
    pub queryid: i64,
    /// Text, if known.
    pub query: Option<String>,
    /// Calls in the interval.
    pub calls: i64,
    /// Mean time over the interval, ms.
    pub mean_ms: f64,
    /// Mean time before the interval, ms (`None` if the statement is new).
    pub mean_ms_before: Option<f64>,
}

/// Trends over a [`History`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Trends {
    /// Seconds between first and last point.
    pub span_seconds: f64,
    /// The database.
    pub database: Growth,
    /// Tables, fastest growing first.
    pub tables: Vec<Growth>,
    /// Statements by time spent in the interval, most first.
    pub statements: Vec<StatementTrend>,
}

fn slope_per_day(points: &[(f64, f64)]) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    let n = points.len() as f64;
    let (mx, my) = (
        points.iter().map(|p| p.0).sum::<f64>() / n,
        points.iter().map(|p| p.1).sum::<f64>() / n,
    );
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    if sxx <= 0.0 {
        return None;
    }
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    Some(sxy / sxx * 86_400.0)
}

fn growth(name: String, series: &[(f64, f64)], limit: Option<i64>) -> Growth {
    let current = series.last().map_or(0, |p| p.1 as i64);
    let per_day = slope_per_day(series);
    let days = match (limit, per_day) {
        (Some(l), Some(g)) if g > 0.0 => Some(((l - current).max(0)) as f64 / g),
        _ => None,
    };
    Growth {
        name,
        current_bytes: current,
        bytes_per_day: per_day,
        days_until_limit: days,
    }
}

impl History {
    /// An empty history keeping at most `keep` points (at least 2).
    pub fn new(keep: usize) -> Self {
        Self {
            keep: keep.max(2),
            points: VecDeque::new(),
        }
    }

    /// Adds a snapshot's summary, dropping the oldest beyond `keep`.
    pub fn push(&mut self, s: &Snapshot) {
        let tables = s
            .tables
            .tables
            .iter()
            .map(|t| (format!("{}.{}", t.schema, t.name), t.total_bytes))
            .collect();
        let statements = s
            .statements
            .top_by_total
            .iter()
            .chain(&s.statements.slow)
            .map(|st| (st.queryid, (st.calls, st.total_ms, st.query.clone())))
            .collect();
        self.push_point(Point {
            at: s.at,
            database_bytes: s.database.size_bytes,
            tables,
            statements,
        });
    }

    fn push_point(&mut self, p: Point) {
        self.points.push_back(p);
        while self.points.len() > self.keep {
            self.points.pop_front();
        }
    }

    /// Growth per table and database (least squares over the points), projection against
    /// `size_limit_bytes`, and statement deltas between the first and last point.
    pub fn trends(&self, size_limit_bytes: Option<i64>) -> Trends {
        let (Some(first), Some(last)) = (self.points.front(), self.points.back()) else {
            return Trends {
                span_seconds: 0.0,
                database: growth("database".into(), &[], size_limit_bytes),
                tables: Vec::new(),
                statements: Vec::new(),
            };
        };
        let db: Vec<(f64, f64)> = self
            .points
            .iter()
            .map(|p| (p.at, p.database_bytes as f64))
            .collect();
        let mut tables: Vec<Growth> = last
            .tables
            .keys()
            .map(|name| {
                let series: Vec<(f64, f64)> = self
                    .points
                    .iter()
                    .filter_map(|p| p.tables.get(name).map(|b| (p.at, *b as f64)))
                    .collect();
                growth(name.clone(), &series, None)
            })
            .collect();
        tables.sort_by(|a, b| {
            b.bytes_per_day
                .unwrap_or(0.0)
                .total_cmp(&a.bytes_per_day.unwrap_or(0.0))
        });
        let mut statements: Vec<StatementTrend> = last
            .statements
            .iter()
            .filter_map(|(id, (calls, total, query))| {
                let (c0, t0) = first
                    .statements
                    .get(id)
                    .map_or((0, 0.0), |(c, t, _)| (*c, *t));
                let dc = calls - c0;
                (dc > 0).then(|| StatementTrend {
                    queryid: *id,
                    query: query.clone(),
                    calls: dc,
                    mean_ms: (total - t0) / dc as f64,
                    mean_ms_before: (c0 > 0).then(|| t0 / c0 as f64),
                })
            })
            .collect();
        statements
            .sort_by(|a, b| (b.mean_ms * b.calls as f64).total_cmp(&(a.mean_ms * a.calls as f64)));
        Trends {
            span_seconds: last.at - first.at,
            database: growth("database".into(), &db, size_limit_bytes),
            tables,
            statements,
        }
    }
}

/// Publishes a snapshot through the `metrics` facade under postgres_exporter's names
/// (`pg_up`, `pg_database_size_bytes`, `pg_stat_database_*`, `pg_stat_activity_count`,
/// `pg_settings_max_connections`, `pg_stat_user_tables_*`, `pg_stat_statements_*`), plus
/// `nexus_pg_*` for what postgres_exporter has no name for.
pub fn publish_metrics(s: &Snapshot) {
    let d = &s.database;
    let db = d.name.clone();
    metrics::gauge!("pg_up").set(1.0);
    metrics::gauge!("pg_database_size_bytes", "datname" => db.clone()).set(d.size_bytes as f64);
    metrics::gauge!("pg_postmaster_start_time_seconds").set(d.started_at);
    for (name, v) in [
        ("pg_stat_database_blks_hit", d.blocks_hit),
        ("pg_stat_database_blks_read", d.blocks_read),
        ("pg_stat_database_xact_commit", d.commits),
        ("pg_stat_database_xact_rollback", d.rollbacks),
        ("pg_stat_database_deadlocks", d.deadlocks),
        ("pg_stat_database_temp_files", d.temp_files),
        ("pg_stat_database_temp_bytes", d.temp_bytes),
    ] {
        metrics::counter!(name, "datname" => db.clone()).absolute(v.max(0) as u64);
    }
    metrics::gauge!("nexus_pg_xid_age", "datname" => db.clone()).set(d.oldest_table_xid_age as f64);
    let c = &s.connections;
    metrics::gauge!("pg_settings_max_connections").set(f64::from(c.max_connections));
    for (state, n) in [
        ("active", c.active),
        ("idle", c.idle),
        ("idle in transaction", c.idle_in_transaction),
    ] {
        metrics::gauge!("pg_stat_activity_count", "datname" => db.clone(), "state" => state)
            .set(n as f64);
    }
    metrics::gauge!("nexus_pg_waiting_on_locks", "datname" => db.clone())
        .set(c.waiting_on_locks as f64);
    for t in &s.tables.tables {
        let labels = [
            ("datname", db.clone()),
            ("schemaname", t.schema.clone()),
            ("relname", t.name.clone()),
        ];
        metrics::gauge!("pg_stat_user_tables_n_live_tup", &labels).set(t.live_tuples as f64);
        metrics::gauge!("pg_stat_user_tables_n_dead_tup", &labels).set(t.dead_tuples as f64);
        metrics::counter!("pg_stat_user_tables_seq_scan", &labels)
            .absolute(t.seq_scans.max(0) as u64);
        metrics::counter!("pg_stat_user_tables_idx_scan", &labels)
            .absolute(t.index_scans.max(0) as u64);
        metrics::gauge!("nexus_pg_table_size_bytes", &labels).set(t.total_bytes as f64);
        if let Some(b) = t.bloat_bytes {
            metrics::gauge!("nexus_pg_table_bloat_bytes", &labels).set(b as f64);
        }
    }
    for st in s.statements.top_by_total.iter().chain(&s.statements.slow) {
        let labels = [("datname", db.clone()), ("queryid", st.queryid.to_string())];
        metrics::counter!("pg_stat_statements_calls_total", &labels)
            .absolute(st.calls.max(0) as u64);
        metrics::counter!("pg_stat_statements_rows_total", &labels).absolute(st.rows.max(0) as u64);
        metrics::gauge!("pg_stat_statements_seconds_total", &labels).set(st.total_ms / 1e3);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(at: f64, db: i64, t: i64, calls: i64, total: f64) -> Point {
        Point {
            at,
            database_bytes: db,
            tables: [("public.t".to_string(), t)].into(),
            statements: [(7, (calls, total, Some("SELECT $1".to_string())))].into(),
        }
    }

    #[test]
    fn linear_growth_and_projection() {
        let mut h = History::new(10);
        for day in 0..5 {
            let at = f64::from(day) * 86_400.0;
            h.push_point(point(
                at,
                1_000_000 + i64::from(day) * 100_000,
                500 + i64::from(day) * 10,
                10 * i64::from(day),
                50.0 * f64::from(day),
            ));
        }
        let t = h.trends(Some(2_000_000));
        assert!((t.database.bytes_per_day.unwrap() - 100_000.0).abs() < 1e-6);
        assert_eq!(t.database.current_bytes, 1_400_000);
        assert!((t.database.days_until_limit.unwrap() - 6.0).abs() < 1e-9);
        assert!((t.tables[0].bytes_per_day.unwrap() - 10.0).abs() < 1e-9);
        let s = &t.statements[0];
        assert_eq!((s.calls, s.mean_ms), (40, 5.0));
        assert_eq!(s.mean_ms_before, None);
        assert_eq!(t.span_seconds, 4.0 * 86_400.0);
    }

    #[test]
    fn history_is_bounded_and_shrinking_never_projects() {
        let mut h = History::new(3);
        for i in 0..10 {
            h.push_point(point(f64::from(i), 1000 - i64::from(i), 1, 1, 1.0));
        }
        assert_eq!(h.points.len(), 3);
        let t = h.trends(Some(10_000));
        assert!(t.database.bytes_per_day.unwrap() < 0.0);
        assert_eq!(t.database.days_until_limit, None);
    }
}
