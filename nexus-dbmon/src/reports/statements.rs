//! Slow-query report from `pg_stat_statements` (`statements*.sql`).
//!
//! Statistics are read with `pg_stat_statements(false)` (no query texts: cheap even with a large
//! text file), with the column names of the installed extension version (1.8 renamed
//! `total_time` → `total_exec_time`); texts are then fetched for the top statements only, cut to a
//! maximum length. A missing extension is a report that says which step is missing, not an error.
//!
//! The monitor's own statements (marked with [`crate::STATEMENT_MARK`]) are left
//! out, and the literals of utility statements are redacted ([`crate::redact_statement`]).

use std::collections::HashMap;

use serde::Serialize;
use sqlx::Row;

use crate::error::DbMonError;
use crate::monitor::DbMonitor;
use crate::redact::redact_statement;

const STATUS_SQL: &str = crate::monitor::marked!(include_str!("../sql/statements_status.sql"));
const SQL_V18: &str = crate::monitor::marked!(include_str!("../sql/statements.sql"));
const SQL_V17: &str = crate::monitor::marked!(include_str!("../sql/statements_v17.sql"));
const TEXTS_SQL: &str = crate::monitor::marked!(include_str!("../sql/statement_texts.sql"));

/// Whether statement statistics can be read, and if not, the step that is missing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
#[non_exhaustive]
pub enum StatementsStatus {
    /// Installed and preloaded.
    Available {
        /// Installed extension version.
        version: String,
    },
    /// The library is not in `shared_preload_libraries`.
    NotPreloaded {
        /// What to do.
        fix: String,
    },
    /// The extension is not created in this database.
    NotInstalled {
        /// What to do.
        fix: String,
    },
}

/// One normalized statement.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Statement {
    /// `queryid`.
    pub queryid: i64,
    /// Normalized text (`$1` for constants), truncated; `None` if not readable.
    pub query: Option<String>,
    /// Executions.
    pub calls: i64,
    /// Rows returned or affected.
    pub rows: i64,
    /// Total execution time, ms.
    pub total_ms: f64,
    /// Mean execution time, ms.
    pub mean_ms: f64,
    /// Slowest execution, ms.
    pub max_ms: f64,
    /// Shared-buffer hit ratio, 0..=1.
    pub cache_hit_ratio: f64,
}

/// Statements the monitor may itself have in a ranking: each ranking asks for this many more,
/// so that leaving them out still leaves `top_n` (the monitor runs about 20 distinct statements).
const OWN_STATEMENTS: i64 = 32;

/// Top statements by total time and by mean time (those above the slow threshold).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct StatementsReport {
    /// Availability of `pg_stat_statements`.
    pub status: StatementsStatus,
    /// Slow threshold on mean time, ms.
    pub slow_threshold_ms: f64,
    /// Most total time first.
    pub top_by_total: Vec<Statement>,
    /// Statements whose mean time is above the threshold, slowest first.
    pub slow: Vec<Statement>,
}

fn version_at_least(v: &str, major: u32, minor: u32) -> bool {
    let mut it = v.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let (a, b) = (it.next().unwrap_or(0), it.next().unwrap_or(0));
    (a, b) >= (major, minor)
}

impl DbMonitor {
    /// The slow-query report.
    pub async fn statements(&self) -> Result<StatementsReport, DbMonError> {
        const R: &str = "slow-queries";
        let err = DbMonError::query(R);
        let threshold_ms = self.config.slow_query.as_secs_f64() * 1e3;
        let mut tx = self.read_tx(R).await?;
        let st = sqlx::query(STATUS_SQL)
            .fetch_one(&mut *tx)
            .await
            .map_err(DbMonError::query(R))?;
        let installed: Option<String> = st
            .try_get("installed_version")
            .map_err(DbMonError::query(R))?;
        let preloaded: bool = st.try_get("preloaded").map_err(DbMonError::query(R))?;
        let status = match (installed, preloaded) {
            (_, false) => StatementsStatus::NotPreloaded {
                fix: "add pg_stat_statements to shared_preload_libraries in postgresql.conf and restart PostgreSQL".into(),
            },
            (None, true) => StatementsStatus::NotInstalled {
                fix: "run CREATE EXTENSION pg_stat_statements in this database".into(),
            },
            (Some(v), true) => StatementsStatus::Available { version: v },
        };
        let StatementsStatus::Available { version } = &status else {
            tx.commit().await.map_err(err)?;
            return Ok(StatementsReport {
                status,
                slow_threshold_ms: threshold_ms,
                top_by_total: vec![],
                slow: vec![],
            });
        };
        let sql = if version_at_least(version, 1, 8) {
            SQL_V18
        } else {
            SQL_V17
        };
        let rows = sqlx::query(sql)
            .bind(self.config.top_n + OWN_STATEMENTS)
            .bind(threshold_ms)
            .fetch_all(&mut *tx)
            .await
            .map_err(DbMonError::query(R))?;
        let mut ids: Vec<i64> = Vec::new();
        let mut ranked: Vec<(String, Statement)> = Vec::with_capacity(rows.len());
        for r in &rows {
            let s = (|| -> Result<(String, Statement), sqlx::Error> {
                let hit: i64 = r.try_get("blocks_hit")?;
                let read: i64 = r.try_get("blocks_read")?;
                Ok((
                    r.try_get("ranked_by")?,
                    Statement {
                        queryid: r.try_get("queryid")?,
                        query: None,
                        calls: r.try_get("calls")?,
                        rows: r.try_get("rows")?,
                        total_ms: r.try_get("total_ms")?,
                        mean_ms: r.try_get::<Option<f64>, _>("mean_ms")?.unwrap_or(0.0),
                        max_ms: r.try_get("max_ms")?,
                        cache_hit_ratio: super::hit_ratio(hit, read),
                    },
                ))
            })()
            .map_err(DbMonError::query(R))?;
            ids.push(s.1.queryid);
            ranked.push(s);
        }
        ids.sort_unstable();
        ids.dedup();
        let texts: HashMap<i64, (String, bool)> = sqlx::query(TEXTS_SQL)
            .bind(&ids)
            .bind(self.config.max_query_chars)
            .bind(crate::monitor::STATEMENT_MARK)
            .fetch_all(&mut *tx)
            .await
            .map_err(DbMonError::query(R))?
            .iter()
            .filter_map(|r| {
                Some((
                    r.try_get::<i64, _>("queryid").ok()?,
                    (
                        r.try_get::<String, _>("query").ok()?,
                        r.try_get::<bool, _>("own").ok()?,
                    ),
                ))
            })
            .collect();
        tx.commit().await.map_err(DbMonError::query(R))?;
        let (mut top_by_total, mut slow) = (Vec::new(), Vec::new());
        let top_n = usize::try_from(self.config.top_n).unwrap_or(usize::MAX);
        for (by, mut s) in ranked {
            match texts.get(&s.queryid) {
                Some((_, true)) => continue, // the monitor's own
                Some((text, false)) => s.query = Some(redact_statement(text).into_owned()),
                None => {}
            }
            let list = if by == "total" {
                &mut top_by_total
            } else {
                &mut slow
            };
            if list.len() < top_n {
                list.push(s);
            }
        }
        Ok(StatementsReport {
            status,
            slow_threshold_ms: threshold_ms,
            top_by_total,
            slow,
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn versions_compare_numerically() {
        assert!(super::version_at_least("1.10", 1, 8));
        assert!(super::version_at_least("1.8", 1, 8));
        assert!(!super::version_at_least("1.7", 1, 8));
        assert!(!super::version_at_least("garbage", 1, 8));
    }
}
