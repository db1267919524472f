//! Indexes report (`indexes.sql`).

use serde::Serialize;
use sqlx::Row;
use sqlx::postgres::PgRow;

use super::{Skipped, hit_ratio};
use crate::error::DbMonError;
use crate::monitor::DbMonitor;

const SQL: &str = crate::monitor::marked!(include_str!("../sql/indexes.sql"));

/// One index.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct IndexStats {
    /// Schema.
    pub schema: String,
    /// Table.
    pub table: String,
    /// Index name.
    pub name: String,
    /// `pg_class` oid.
    pub oid: i64,
    /// Size, bytes.
    pub size_bytes: i64,
    /// Index scans since stats reset.
    pub scans: i64,
    /// Buffer hit ratio of the index, 0..=1.
    pub hit_ratio: f64,
    /// UNIQUE.
    pub is_unique: bool,
    /// PRIMARY KEY.
    pub is_primary: bool,
    /// Valid (a failed `CREATE INDEX CONCURRENTLY` leaves an invalid one).
    pub is_valid: bool,
    /// Backs a constraint (primary key, unique, exclusion): never dropped.
    pub backs_constraint: bool,
    /// Access method (`btree`, `gin`, …).
    pub method: String,
    /// Column numbers (`0` = an expression).
    pub columns: Vec<i32>,
    /// Expressions, as SQL.
    pub expressions: String,
    /// Partial-index predicate, as SQL.
    pub predicate: String,
    /// `CREATE INDEX …` definition.
    pub definition: String,
    /// `relpages`.
    pub pages: i64,
    /// Estimated btree bloat, bytes (`None` for other methods, expression keys, or without
    /// statistics).
    pub bloat_bytes: Option<i64>,
    /// Estimated btree bloat as a share of the index, 0..=1.
    pub bloat_ratio: Option<f64>,
}

/// All indexes of user tables, largest first, and those skipped because they were locked.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct IndexesReport {
    /// The indexes.
    pub indexes: Vec<IndexStats>,
    /// Left out.
    pub skipped: Vec<Skipped>,
    /// How long the scan counters have been counting (since the last statistics reset or the
    /// server's start), seconds: unused-index advice needs days of them. `None` without indexes.
    pub stats_age_seconds: Option<f64>,
}

fn index(r: &PgRow) -> Result<(IndexStats, f64), sqlx::Error> {
    let (pages, bloat_bytes, bloat_ratio) = super::bloat(r)?;
    let stats_age: f64 = r.try_get("stats_age_seconds")?;
    let stats = IndexStats {
        bloat_bytes,
        bloat_ratio,
        schema: r.try_get("schema")?,
        table: r.try_get("table_name")?,
        name: r.try_get("name")?,
        oid: r.try_get("oid")?,
        size_bytes: r.try_get("size_bytes")?,
        scans: r.try_get("scans")?,
        hit_ratio: hit_ratio(r.try_get("blocks_hit")?, r.try_get("blocks_read")?),
        is_unique: r.try_get("is_unique")?,
        is_primary: r.try_get("is_primary")?,
        is_valid: r.try_get("is_valid")?,
        backs_constraint: r.try_get("backs_constraint")?,
        method: r.try_get("method")?,
        columns: r.try_get("columns")?,
        expressions: r.try_get("expressions")?,
        predicate: r.try_get("predicate")?,
        definition: r.try_get("definition")?,
        pages,
    };
    Ok((stats, stats_age))
}

impl DbMonitor {
    /// The indexes report (locked relations skipped, as for [`DbMonitor::tables`]).
    pub async fn indexes(&self) -> Result<IndexesReport, DbMonError> {
        let (rows, skipped) = self.skipping_locked("indexes", SQL, index).await?;
        let stats_age_seconds = rows.first().map(|(_, age)| *age);
        Ok(IndexesReport {
            indexes: rows.into_iter().map(|(i, _)| i).collect(),
            skipped,
            stats_age_seconds,
        })
    }
}
