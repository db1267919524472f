//! Snapshots, their bounded history, trends and capacity projection, and the `metrics` export
//! (names in [`crate::metrics`]: `nexus_pg_…`, each HELP naming the postgres_exporter equivalent).
//!
//! Layout: this module holds the snapshot, the history and the trend arithmetic; `task.rs` the
//! snapshot loop, `store.rs` the user's table, `export.rs` the metrics.
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

mod export;
mod store;
mod task;

pub use export::publish_metrics;
pub use store::SnapshotStore;
pub use task::SnapshotTask;

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
