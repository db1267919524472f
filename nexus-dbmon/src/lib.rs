#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![doc(test(attr(deny(warnings))))]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod advice;
mod error;
#[cfg(feature = "http")]
pub mod http;
mod hypo;
pub mod maintenance;
pub mod metrics;
mod monitor;
mod pool;
mod redact;
pub mod reports;
pub mod trends;

pub use advice::{AdviceConfig, BloatTier, Recommendation, RecommendationKind, Severity};
pub use error::DbMonError;
pub use hypo::{IndexAdvice, IndexSuggestion};
pub use maintenance::{
    ActionResult, ActionStatus, Maintenance, OptimizeOptions, OptimizeReport, quote_ident,
};
pub use monitor::{DbMonitor, DbMonitorBuilder, MonitorConfig, STATEMENT_MARK};
#[cfg(feature = "bb8")]
pub use pool::ObservedBb8;
pub use pool::{AcquireWait, ObservedPgPool, PoolObserver, PoolStatus};
pub use redact::{REDACTED, redact_statement};
pub use reports::Skipped;
pub use reports::connections::ConnectionsReport;
pub use reports::database::DatabaseReport;
pub use reports::indexes::{IndexStats, IndexesReport};
pub use reports::sequences::SequenceUsage;
pub use reports::statements::{Statement, StatementsReport, StatementsStatus};
pub use reports::tables::{TableStats, TablesReport};
pub use trends::{
    Growth, History, Snapshot, SnapshotStore, SnapshotTask, StatementTrend, Trends, publish_metrics,
};

impl DbMonitor {
    /// Every recommendation, from fresh database, tables, indexes and sequences reports.
    pub async fn recommendations(
        &self,
        cfg: &AdviceConfig,
    ) -> Result<Vec<Recommendation>, DbMonError> {
        let database = self.database().await?;
        let tables = self.tables().await?;
        let indexes = self.indexes().await?;
        let sequences = self.sequences().await?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        let input = advice::AdviceInput {
            database: Some(&database),
            tables: &tables.tables,
            indexes: &indexes.indexes,
            sequences: &sequences,
            now,
        };
        let mut recs = advice::advise(&input, cfg);
        let statements = self.statements().await?;
        let candidates: Vec<Statement> = statements
            .slow
            .iter()
            .chain(&statements.top_by_total)
            .cloned()
            .collect();
        if !candidates.is_empty() {
            let verified = self
                .index_suggestions(&candidates, cfg.hypothetical_saving)
                .await?;
            for s in verified.suggestions {
                let object = format!("{}.{}", s.schema, s.table);
                // A verified suggestion replaces the heuristic hint for its table.
                recs.retain(|r| {
                    !(r.kind == RecommendationKind::MissingIndex
                        && r.object == object
                        && r.action.is_none())
                });
                recs.push(Recommendation::new(
                    RecommendationKind::MissingIndex,
                    Severity::Warning,
                    object,
                    format!(
                        "generic plan cost {:.0} → {:.0} (−{:.0} %) with an index on ({}) for: {}",
                        s.cost_before,
                        s.cost_after,
                        s.saving * 100.0,
                        s.columns.join(", "),
                        s.query
                    ),
                    "verified with a hypothetical index (hypopg)".into(),
                    Some(s.action),
                ));
            }
        }
        Ok(recs)
    }
}
