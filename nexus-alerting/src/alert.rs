//! `Alert`: what the engine hands to the pipeline, and what receivers send.

use serde::Serialize;

use crate::labels::Labels;
use crate::rule::Severity;
use crate::time::Millis;

/// The state of an alert in its rule (Prometheus' `alertstate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum AlertState {
    /// The condition holds, `for` has not elapsed yet.
    Pending,
    /// Firing.
    Firing,
    /// Resolved (kept for 15 minutes so the resolution reaches receivers).
    Inactive,
}

/// An alert, firing or resolved.
///
/// ```
/// use nexus_alerting::{Alert, Labels};
/// let a = Alert::new(Labels::from_pairs([("alertname", "Test"), ("severity", "info")]), 1_000);
/// assert!(!a.is_resolved(2_000));
/// assert_eq!(a.fingerprint, a.labels.fingerprint());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    /// Identity: the labels' fingerprint (without `severity` for tiered rules, so a severity
    /// escalation is the same alert).
    #[serde(serialize_with = "hex")]
    pub fingerprint: u64,
    /// Labels: series labels, rule labels, `alertname`.
    pub labels: Labels,
    /// Rendered annotations.
    pub annotations: Labels,
    /// When it started firing.
    pub starts_at: Millis,
    /// When it resolved (or, for a firing alert, when it will be considered resolved if no
    /// update arrives: four evaluation intervals ahead, as Prometheus sends).
    pub ends_at: Option<Millis>,
    /// The expression's value at the last evaluation.
    pub value: f64,
    /// Held open by the flap policy.
    pub flapping: bool,
    /// Where the alert comes from (rule name link).
    pub generator_url: String,
}

fn hex<S: serde::Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&format_args!("{v:016x}"))
}

impl Alert {
    /// A firing alert with `labels`, starting at `starts_at`.
    pub fn new(labels: Labels, starts_at: Millis) -> Self {
        Self {
            fingerprint: labels.fingerprint(),
            labels,
            annotations: Labels::new(),
            starts_at,
            ends_at: None,
            value: 0.0,
            flapping: false,
            generator_url: String::new(),
        }
    }

    /// Resolved at `now`?
    pub fn is_resolved(&self, now: Millis) -> bool {
        self.ends_at.is_some_and(|e| e <= now)
    }

    /// `alertname`.
    pub fn name(&self) -> &str {
        self.labels.get(crate::labels::ALERT_NAME).unwrap_or("")
    }

    /// The `severity` label, parsed.
    pub fn severity(&self) -> Option<Severity> {
        self.labels.get("severity").and_then(Severity::parse)
    }
}

/// An alert as its rule holds it (for APIs: pending ones included).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActiveAlert {
    /// The rule's name.
    pub rule: String,
    /// The rule group.
    pub group: String,
    /// State.
    pub state: AlertState,
    /// The alert.
    pub alert: Alert,
    /// When the condition first held.
    pub active_at: Millis,
}
