//! The crate's error type.

use std::sync::Arc;

/// Everything a monitor operation can fail with.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum DbMonError {
    /// A report's query failed (connection lost, timeout, privilege).
    #[error("{report} report failed: {source}")]
    Query {
        /// Which report.
        report: &'static str,
        /// The driver's error.
        #[source]
        source: Arc<sqlx::Error>,
    },
    /// Input refused before anything ran.
    #[error("invalid input: {0}")]
    InvalidInput(String),
}

impl DbMonError {
    pub(crate) fn query(report: &'static str) -> impl FnOnce(sqlx::Error) -> DbMonError {
        move |e| DbMonError::Query {
            report,
            source: Arc::new(e),
        }
    }
}
