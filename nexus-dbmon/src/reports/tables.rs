//! Tables report (`tables.sql`).

use serde::Serialize;
use sqlx::Row;
use sqlx::postgres::PgRow;

use super::Skipped;
use crate::error::DbMonError;
use crate::monitor::DbMonitor;

const SQL: &str = crate::monitor::marked!(include_str!("../sql/tables.sql"));

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
    /// Why there is no bloat estimate (`None` when there is one), e.g. "unknown until analyzed".
    pub bloat_unknown: Option<String>,
    /// Never analyzed (neither ANALYZE nor autoanalyze since statistics began): the planner
    /// guesses, and bloat is unknown.
    pub never_analyzed: bool,
    /// Sequential scans one statement makes on this table: 1, or the participants of a parallel
    /// scan as PostgreSQL plans them for a heap of this size (workers + leader), since each
    /// participant counts a scan in `seq_scans`.
    pub scan_participants: i64,
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

    /// Sequential scans made by statements (not by parallel workers): `seq_scans` ÷
    /// [`scan_participants`](Self::scan_participants), rounded up.
    pub fn statement_seq_scans(&self) -> i64 {
        let p = self.scan_participants.max(1);
        (self.seq_scans + p - 1) / p
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
    /// Tables (`schema.name`) never analyzed: run ANALYZE (bloat and plans are guesses until then).
    pub never_analyzed: Vec<String>,
}

/// Participants of a parallel sequential scan of `pages`, as PostgreSQL's
/// `compute_parallel_worker` plans them: no workers below `min_parallel_table_scan_size`, then one
/// more worker each time the heap triples, at most `max_parallel_workers_per_gather` (a table's
/// `parallel_workers` option overrides), plus the leader when it participates.
pub(crate) fn scan_participants(
    pages: i64,
    option: Option<i32>,
    max_workers: i32,
    min_pages: i64,
    leader: bool,
) -> i64 {
    let workers = match option {
        Some(w) => i64::from(w),
        None if pages < min_pages.max(1) => 0,
        None => {
            let (mut workers, mut threshold) = (1i64, min_pages.max(1));
            while pages >= threshold.saturating_mul(3) && threshold < i64::from(i32::MAX) / 3 {
                workers += 1;
                threshold *= 3;
            }
            workers
        }
    }
    .min(i64::from(max_workers.max(0)));
    if workers == 0 {
        1
    } else {
        workers + i64::from(leader)
    }
}

fn table(r: &PgRow) -> Result<TableStats, sqlx::Error> {
    let (pages, bloat_bytes, bloat_ratio) = super::bloat(r)?;
    let last_analyze: Option<f64> = r.try_get("last_analyze")?;
    let last_autoanalyze: Option<f64> = r.try_get("last_autoanalyze")?;
    let kind: String = r.try_get("kind")?;
    let never_analyzed = last_analyze.is_none() && last_autoanalyze.is_none() && kind != "p";
    let bloat_unknown = match (bloat_ratio, kind.as_str(), never_analyzed) {
        (Some(_), _, _) => None,
        (None, "p", _) => Some("not estimated for a partitioned table: see its partitions".into()),
        (None, _, true) => Some("unknown until analyzed: run ANALYZE".into()),
        (None, _, false) => Some(
            "unknown: some columns have no statistics (added since the last ANALYZE?): run ANALYZE"
                .into(),
        ),
    };
    Ok(TableStats {
        bloat_bytes,
        bloat_ratio,
        bloat_unknown,
        never_analyzed,
        scan_participants: scan_participants(
            pages,
            r.try_get("parallel_workers_option")?,
            r.try_get("max_parallel_workers")?,
            r.try_get("min_parallel_pages")?,
            r.try_get("leader_participates")?,
        ),
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
        last_analyze,
        last_autoanalyze,
        xid_age: r.try_get("xid_age")?,
    })
}

impl DbMonitor {
    /// The tables report. A table locked ACCESS EXCLUSIVE by another session is skipped, not
    /// waited for (if a lock appears between the check and the query, the report is retried once).
    pub async fn tables(&self) -> Result<TablesReport, DbMonError> {
        let (tables, skipped) = self.skipping_locked("tables", SQL, table).await?;
        let never_analyzed = tables
            .iter()
            .filter(|t| t.never_analyzed)
            .map(|t| format!("{}.{}", t.schema, t.name))
            .collect();
        Ok(TablesReport {
            tables,
            skipped,
            never_analyzed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::scan_participants;

    #[test]
    fn participants_follow_compute_parallel_worker() {
        // Defaults: min_parallel_table_scan_size = 1024 pages (8 MB), 2 workers per gather.
        assert_eq!(scan_participants(100, None, 2, 1024, true), 1, "too small");
        assert_eq!(
            scan_participants(1024, None, 2, 1024, true),
            2,
            "one worker + leader"
        );
        assert_eq!(
            scan_participants(3072, None, 2, 1024, true),
            3,
            "tripled: two workers"
        );
        assert_eq!(
            scan_participants(1_000_000, None, 2, 1024, true),
            3,
            "capped"
        );
        assert_eq!(
            scan_participants(1_000_000, None, 8, 1024, false),
            7,
            "no leader"
        );
        assert_eq!(
            scan_participants(10, Some(4), 8, 1024, true),
            5,
            "reloption wins"
        );
        assert_eq!(
            scan_participants(1_000_000, None, 0, 1024, true),
            1,
            "parallelism off"
        );
        assert_eq!(
            scan_participants(i64::MAX, None, 64, 0, true),
            21,
            "no overflow"
        );
    }
}
