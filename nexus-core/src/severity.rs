//! [`Severity`]: how urgent an alert or a piece of advice is, shared so that an alert raised from
//! database advice and one from a rule sort and route alike.
//!
//! ```
//! use nexus_core::severity::Severity;
//! assert!(Severity::Critical > Severity::Warning);
//! assert_eq!(Severity::parse("PAGE"), Some(Severity::Critical));
//! assert_eq!(Severity::Warning.to_string(), "warning");
//! assert_eq!(serde_json::to_string(&Severity::Info).unwrap(), "\"info\"");
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};

/// How urgent, ordered `Info < Warning < Critical`; written in lower case (`severity` label,
/// JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Severity {
    /// Worth knowing or doing; within the hour.
    Info,
    /// Needs attention soon (within 15 minutes for an alert).
    Warning,
    /// Act now.
    Critical,
}

impl Severity {
    /// The label value: `info`, `warning`, `critical`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }

    /// Parses a label value (case-insensitive; `page`/`error` → critical, `warn` → warning,
    /// `none` → info).
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "critical" | "page" | "error" => Some(Severity::Critical),
            "warning" | "warn" => Some(Severity::Warning),
            "info" | "none" => Some(Severity::Info),
            _ => None,
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
