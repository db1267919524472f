//! The crate's error type.

/// Everything that can go wrong in `nexus-alerting`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A rule is invalid (expression outside the supported subset, bad template, bad tiers…).
    #[error("rule {rule:?}: {message}")]
    Rule {
        /// The rule's name.
        rule: String,
        /// What is wrong.
        message: String,
    },
    /// A file (rule file, promtool test file) failed to load; `line`/`column` are 1-based.
    #[error("{file}:{line}:{column}: {message}")]
    Load {
        /// The file.
        file: String,
        /// Line of the problem.
        line: usize,
        /// Column of the problem.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// Invalid configuration (routes, receivers, silences, inhibition rules).
    #[error("configuration: {0}")]
    Config(String),
    /// A receiver failed to deliver (after its retries).
    #[error("receiver {receiver:?}: {message}")]
    Notify {
        /// The receiver's name.
        receiver: String,
        /// The last failure.
        message: String,
    },
    /// No receiver with this name.
    #[error("unknown receiver {0:?}")]
    UnknownReceiver(String),
    /// No active alert with this fingerprint.
    #[error("no active alert with fingerprint {0:016x}")]
    UnknownAlert(u64),
    /// No silence with this id.
    #[error("no silence with id {0:?}")]
    UnknownSilence(String),
    /// Reading a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
}
