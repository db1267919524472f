//! The reports: each a serde struct built from one `.sql` file.

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

/// Ratio helper: `a / (a + b)`, 1 when both are 0 (nothing read, nothing missed).
pub(crate) fn hit_ratio(hit: i64, read: i64) -> f64 {
    if hit + read <= 0 {
        1.0
    } else {
        hit as f64 / (hit + read) as f64
    }
}

use sqlx::{PgConnection, Row};

const LOCKED_SQL: &str = include_str!("../sql/locked.sql");

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
