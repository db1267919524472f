//! The crate's error type.

/// What can go wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RolloutError {
    /// The configuration is invalid (a message says what to change).
    #[error("invalid rollout configuration: {0}")]
    Config(String),
    /// The action does not apply in the current phase (e.g. promoting a rolled-back rollout).
    #[error("{0}")]
    Conflict(String),
    /// The shared state store failed (Redis unreachable, timed out).
    #[error("rollout state store: {0}")]
    Store(String),
    /// The shared state read back is not a rollout state (corrupt or foreign bytes).
    #[error("rollout state store holds an unreadable state: {0}")]
    Corrupt(String),
}
