//! The metrics this crate exports (published by [`Rollout::evaluate`](crate::Rollout::evaluate)
//! through the `metrics` facade; the request path only touches atomics).
//!
//! ```
//! use nexus_rollout::metrics::{ALL, ROLLBACKS};
//! assert_eq!(ROLLBACKS.name, "nexus_rollout_rollbacks_total");
//! assert!(nexus_core::metric::check("nexus_rollout_", ALL).is_ok());
//! ```

use nexus_core::metric::Metric;

/// The candidate's share of traffic.
pub const WEIGHT: Metric = Metric::gauge(
    "nexus_rollout_weight_ratio",
    &["rollout"],
    "Share of requests routed to the candidate (0-1).",
);
/// The current step.
pub const STEP: Metric = Metric::gauge(
    "nexus_rollout_step",
    &["rollout"],
    "Index of the current rollout step (0 = first).",
);
/// The phase as a number.
pub const PHASE: Metric = Metric::gauge(
    "nexus_rollout_phase",
    &["rollout", "phase"],
    "1 for the rollout's current phase (progressing, paused, promoted, rolled_back), 0 for the others.",
);
/// Requests answered, per version.
pub const REQUESTS: Metric = Metric::counter(
    "nexus_rollout_requests_total",
    &["rollout", "version"],
    "Requests answered by each version (stable, candidate; shadow copies count for the candidate).",
);
/// Failed requests, per version.
pub const ERRORS: Metric = Metric::counter(
    "nexus_rollout_errors_total",
    &["rollout", "version"],
    "Requests that failed (5xx or a service error), per version.",
);
/// Automatic or manual rollbacks.
pub const ROLLBACKS: Metric = Metric::counter(
    "nexus_rollout_rollbacks_total",
    &["rollout"],
    "Rollbacks (by the judge, a gate or an operator).",
);
/// Step advances.
pub const PROMOTIONS: Metric = Metric::counter(
    "nexus_rollout_promotions_total",
    &["rollout"],
    "Steps advanced (the last one completes the rollout).",
);
/// Shadow copies whose status differed from stable's.
pub const SHADOW_MISMATCHES: Metric = Metric::counter(
    "nexus_rollout_shadow_mismatches_total",
    &["rollout"],
    "Shadow requests whose candidate status differed from stable's.",
);
/// Failures of the shared state store.
pub const STORE_ERRORS: Metric = Metric::counter(
    "nexus_rollout_store_errors_total",
    &["rollout"],
    "Failed reads or writes of the shared rollout state (the instance keeps its local state).",
);

/// Every metric of this crate.
pub const ALL: &[Metric] = &[
    WEIGHT,
    STEP,
    PHASE,
    REQUESTS,
    ERRORS,
    ROLLBACKS,
    PROMOTIONS,
    SHADOW_MISMATCHES,
    STORE_ERRORS,
];

/// Registers the HELP texts with the installed recorder.
pub fn describe() {
    nexus_core::metric::describe(ALL);
}
