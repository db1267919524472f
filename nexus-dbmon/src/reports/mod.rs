//! The reports: each a serde struct built from one `.sql` file.
//!
//! ```no_run
//! # #![allow(dead_code)]
//! # async fn run(pool: sqlx::PgPool) -> Result<(), nexus_dbmon::DbMonError> {
//! let monitor = nexus_dbmon::DbMonitor::builder(pool).build();
//! let tables = monitor.tables().await?;
//! for t in tables.tables.iter().take(5) {
//!     println!("{}.{}: {} bytes, bloat {:?}", t.schema, t.name, t.total_bytes, t.bloat_ratio);
//! }
//! println!("never analyzed: {:?}, skipped (locked): {}", tables.never_analyzed, tables.skipped.len());
//! # Ok(()) }
//! ```

pub mod connections;
pub mod database;
pub mod indexes;
pub mod sequences;
pub mod statements;
pub mod tables;

use serde::Serialize;

/// A relation left out of a report because another session holds an ACCESS EXCLUSIVE lock on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Skipped {
    /// `schema.name`.
    pub name: String,
    /// The locking backend.
    pub pid: i32,
    /// Why.
    pub reason: String,
}

/// `(pages, bloat bytes, bloat ratio)` from a row's `pages`, `expected_pages` (NULL when it
/// cannot be estimated) and `block_size`.
pub(crate) fn bloat(r: &PgRow) -> Result<(i64, Option<i64>, Option<f64>), sqlx::Error> {
    let pages: i64 = r.try_get("pages")?;
    let expected: Option<i64> = r.try_get("expected_pages")?;
    let block: i64 = r.try_get("block_size")?;
    let extra = expected.map(|e| (pages - e).max(0));
    let ratio = extra.map(|x| {
        if pages > 0 {
            x as f64 / pages as f64
        } else {
            0.0
        }
    });
    Ok((pages, extra.map(|x| x * block), ratio))
}

/// Ratio helper: `a / (a + b)`, 1 when both are 0 (nothing read, nothing missed).
pub(crate) fn hit_ratio(hit: i64, read: i64) -> f64 {
    if hit + read <= 0 {
        1.0
    } else {
        hit as f64 / (hit + read) as f64
    }
}

use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

use crate::error::DbMonError;
use crate::monitor::{DbMonitor, is_lock_timeout};

const LOCKED_SQL: &str = crate::monitor::marked!(include_str!("../sql/locked.sql"));

/// Relations under another session's ACCESS EXCLUSIVE lock: their oids and their report entries.
pub(crate) async fn locked(
    conn: &mut PgConnection,
) -> Result<(Vec<i64>, Vec<Skipped>), sqlx::Error> {
    let rows = sqlx::query(LOCKED_SQL).fetch_all(conn).await?;
    let mut oids = Vec::with_capacity(rows.len());
    let mut skipped = Vec::with_capacity(rows.len());
    for r in rows {
        oids.push(r.try_get::<i64, _>("oid")?);
        skipped.push(Skipped {
            name: r.try_get("name")?,
            pid: r.try_get("pid")?,
            reason: "ACCESS EXCLUSIVE lock held by another session".into(),
        });
    }
    Ok((oids, skipped))
}

impl DbMonitor {
    /// Runs `sql` (whose `$1` is the oids to leave out) without the relations another session
    /// holds an ACCESS EXCLUSIVE lock on, which are returned as skipped. If such a lock appears
    /// between the check and the query, `lock_timeout` fires and the report is retried once.
    pub(crate) async fn skipping_locked<T>(
        &self,
        report: &'static str,
        sql: &'static str,
        row: fn(&PgRow) -> Result<T, sqlx::Error>,
    ) -> Result<(Vec<T>, Vec<Skipped>), DbMonError> {
        let once = || async {
            let mut tx = self.begin_read().await?;
            let (oids, skipped) = locked(&mut tx).await?;
            let rows = sqlx::query(sql).bind(&oids).fetch_all(&mut *tx).await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>((
                rows.iter().map(row).collect::<Result<Vec<T>, _>>()?,
                skipped,
            ))
        };
        match once().await {
            Err(e) if is_lock_timeout(&e) => once().await,
            other => other,
        }
        .map_err(DbMonError::query(report))
    }
}
