//! The metrics this crate exports, as constants: names, kinds, labels and HELP texts.
//! [`describe`] registers the HELP texts with the installed recorder.
//!
//! ```
//! use nexus_alerting::metrics::{ALL, ALERTS};
//! assert_eq!(ALERTS.name, "nexus_alerting_alerts");
//! assert!(nexus_core::metric::check("nexus_alerting_", ALL).is_ok());
//! ```

use nexus_core::metric::Metric;

const RECEIVER: &[&str] = &["receiver", "integration"];

/// Evaluation rounds.
pub const EVALUATIONS: Metric = Metric::counter(
    "nexus_alerting_rule_evaluations_total",
    &[],
    "Rule evaluation rounds.",
);
/// Evaluation round durations.
pub const EVALUATION_DURATION: Metric = Metric::histogram(
    "nexus_alerting_rule_evaluation_duration_seconds",
    &[],
    "Rule evaluation round duration.",
);
/// Failed source pulls.
pub const SOURCE_ERRORS: Metric = Metric::counter(
    "nexus_alerting_source_errors_total",
    &["source"],
    "Failed or timed-out pulls from alerting sources.",
);
/// Rule evaluations that failed (the rule's alerts are kept as they were; see `rule_health`).
pub const RULE_EVALUATION_FAILURES: Metric = Metric::counter(
    "nexus_alerting_rule_evaluation_failures_total",
    &["rule_group"],
    "Rule evaluations that failed with a query error.",
);
/// Alerts held, by state.
pub const ALERTS: Metric = Metric::gauge(
    "nexus_alerting_alerts",
    &["state"],
    "Alerts held by the rules, by state (pending, firing).",
);
/// Notifications handed to a receiver.
pub const NOTIFICATIONS: Metric = Metric::counter(
    "nexus_alerting_notifications_total",
    RECEIVER,
    "Notifications handed to a receiver.",
);
/// Notifications given up.
pub const NOTIFICATIONS_FAILED: Metric = Metric::counter(
    "nexus_alerting_notifications_failed_total",
    RECEIVER,
    "Notifications given up after retries.",
);
/// Delivery attempts.
pub const NOTIFICATION_REQUESTS: Metric = Metric::counter(
    "nexus_alerting_notification_requests_total",
    RECEIVER,
    "Delivery attempts.",
);
/// Failed delivery attempts.
pub const NOTIFICATION_REQUESTS_FAILED: Metric = Metric::counter(
    "nexus_alerting_notification_requests_failed_total",
    RECEIVER,
    "Failed delivery attempts.",
);
/// Delivery attempt durations.
pub const NOTIFICATION_DURATION: Metric = Metric::histogram(
    "nexus_alerting_notification_duration_seconds",
    RECEIVER,
    "Delivery attempt duration.",
);
/// Escalations.
pub const ESCALATIONS: Metric = Metric::counter(
    "nexus_alerting_escalations_total",
    &["receiver"],
    "Escalation steps to the next receiver.",
);

/// Every metric above.
pub const ALL: &[Metric] = &[
    EVALUATIONS,
    EVALUATION_DURATION,
    SOURCE_ERRORS,
    RULE_EVALUATION_FAILURES,
    ALERTS,
    NOTIFICATIONS,
    NOTIFICATIONS_FAILED,
    NOTIFICATION_REQUESTS,
    NOTIFICATION_REQUESTS_FAILED,
    NOTIFICATION_DURATION,
    ESCALATIONS,
];

/// Registers the HELP texts of [`ALL`] with the installed recorder.
pub fn describe() {
    nexus_core::metric::describe(ALL);
}
