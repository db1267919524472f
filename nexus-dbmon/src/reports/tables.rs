//! Tables report (`tables.sql`).

use serde::Serialize;
use sqlx::Row;
use sqlx::postgres::PgRow;

use super::Skipped;
use crate::error::DbMonError;
use crate::monitor::DbMonitor;

const SQL: &str = include_str!("../sql/tables.sql");

/// Size and activity of one table.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct TableStats {
    /// Schema.
    pub schema: String,
    /// Table name.
    pub name: String,
    /// `pg_class` oid.
    pub oid: i64,
    /// Heap with its free-space and visibility maps, bytes.
    pub heap_bytes: i64,
    /// All its indexes, bytes.
    pub index_bytes: i64,
    /// TOAST (with its index), bytes.
    pub toast_bytes: i64,
    /// Everything, bytes.
    pub total_bytes: i64,
    /// `relpages`.
    pub pages: i64,
    /// Live tuples (estimate).
    pub live_tuples: i64,
    /// Dead tuples (estimate).
    pub dead_tuples: i64,
    /// Rows changed since the last ANALYZE.
    pub modified_since_analyze: i64,
    /// Sequential scans.
    pub seq_scans: i64,
    /// Tuples read by sequential scans.
    pub seq_tuples_read: i64,
    /// Index scans.
    pub index_scans: i64,
    /// Last manual VACUUM (Unix seconds).
    pub last_vacuum: Option<f64>,
    /// Last autovacuum.
    pub last_autovacuum: Option<f64>,
    /// Last manual ANALYZE.
    pub last_analyze: Option<f64>,
    /// Last autoanalyze.
    pub last_autoanalyze: Option<f64>,
    /// Age of `relfrozenxid`.
    pub xid_age: i64,
    /// Estimated heap bloat, bytes (`None` without statistics: run ANALYZE).
    pub bloat_bytes: Option<i64>,
    /// Estimated heap bloat as a share of the heap, 0..=1.
    pub bloat_ratio: Option<f64>,
}

impl TableStats {
    /// `dead / (live + dead)`.
    pub fn dead_ratio(&self) -> f64 {
        let all = self.live_tuples + self.dead_tuples;
        if all <= 0 {
            0.0
        } else {
            self.dead_tuples as f64 / all as f64
        }
    }

    /// `"schema"."name"`, quoted for SQL.
    pub fn qualified(&self) -> String {
        crate::maintenance::qualified(&self.schema, &self.name)
    }
}

/// All user tables, largest first, and those skipped because they were locked.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct TablesReport {
    /// The tables.
    pub tables: Vec<TableStats>,
    /// Tables left out.
    pub skipped: Vec<Skipped>,
}

fn table(r: &PgRow) -> Result<TableStats, sqlx::Error> {
    let (pages, bloat_bytes, bloat_ratio) = super::bloat(r)?;
    Ok(TableStats {
        bloat_bytes,
        bloat_ratio,
        schema: r.try_get("schema")?,
        name: r.try_get("name")?,
        oid: r.try_get("oid")?,
        heap_bytes: r.try_get("heap_bytes")?,
        index_bytes: r.try_get("index_bytes")?,
        toast_bytes: r.try_get("toast_bytes")?,
        total_bytes: r.try_get("total_bytes")?,
        pages,
        live_tuples: r.try_get("live_tuples")?,
        dead_tuples: r.try_get("dead_tuples")?,
        modified_since_analyze: r.try_get("modified_since_analyze")?,
        seq_scans: r.try_get("seq_scans")?,
        seq_tuples_read: r.try_get("seq_tuples_read")?,
        index_scans: r.try_get("index_scans")?,
        last_vacuum: r.try_get("last_vacuum")?,
        last_autovacuum: r.try_get("last_autovacuum")?,
        last_analyze: r.try_get("last_analyze")?,
        last_autoanalyze: r.try_get("last_autoanalyze")?,
        xid_age: r.try_get("xid_age")?,
    })
}

impl DbMonitor {
    /// The tables report. A table locked ACCESS EXCLUSIVE by another session is skipped, not
    /// waited for (if a lock appears between the check and the query, the report is retried once).
    pub async fn tables(&self) -> Result<TablesReport, DbMonError> {
        let (tables, skipped) = self.skipping_locked("tables", SQL, table).await?;
        Ok(TablesReport { tables, skipped })
    }
}
