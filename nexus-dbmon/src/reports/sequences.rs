//! Sequences report (`sequences.sql`): how close each column-owned sequence is to its type's max.

use serde::Serialize;
use sqlx::Row;

use crate::error::DbMonError;
use crate::monitor::DbMonitor;

const SQL: &str = crate::monitor::marked!(include_str!("../sql/sequences.sql"));

/// A sequence and the column it feeds.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct SequenceUsage {
    /// Sequence schema.
    pub schema: String,
    /// Sequence name.
    pub name: String,
    /// Owning table's schema.
    pub table_schema: String,
    /// Owning table.
    pub table: String,
    /// Owning column.
    pub column: String,
    /// `smallint`, `integer` or `bigint`.
    pub column_type: String,
    /// Last value handed out (`None` if never used or not readable).
    pub last_value: Option<i64>,
    /// Largest value the column holds.
    pub column_max: i64,
    /// `last_value / column_max` (0 when unknown).
    pub used_ratio: f64,
}

impl DbMonitor {
    /// The sequences report, most used first.
    pub async fn sequences(&self) -> Result<Vec<SequenceUsage>, DbMonError> {
        const R: &str = "sequences";
        let mut tx = self.read_tx(R).await?;
        let rows = sqlx::query(SQL)
            .fetch_all(&mut *tx)
            .await
            .map_err(DbMonError::query(R))?;
        tx.commit().await.map_err(DbMonError::query(R))?;
        let mut out = rows
            .iter()
            .map(|r| {
                let last: Option<i64> = r.try_get("last_value")?;
                let max: i64 = r.try_get("column_max")?;
                Ok(SequenceUsage {
                    schema: r.try_get("schema")?,
                    name: r.try_get("name")?,
                    table_schema: r.try_get("table_schema")?,
                    table: r.try_get("table_name")?,
                    column: r.try_get("column_name")?,
                    column_type: r.try_get("column_type")?,
                    last_value: last,
                    column_max: max,
                    used_ratio: last.map_or(0.0, |l| l.max(0) as f64 / max as f64),
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(DbMonError::query(R))?;
        out.sort_by(|a, b| b.used_ratio.total_cmp(&a.used_ratio));
        Ok(out)
    }
}
