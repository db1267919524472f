//! Receivers: a [`Notifier`] (webhook, Slack, PagerDuty, email, Alertmanager) wrapped with
//! timeout, retries with exponential backoff and full jitter, `send_resolved`, and metrics.

mod alertmanager;
#[cfg(feature = "email")]
mod email;
mod http;
mod pagerduty;
mod slack;
mod webhook;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;

pub use alertmanager::AlertmanagerNotifier;
#[cfg(feature = "email")]
pub use email::{EmailNotifier, SmtpSecurity};
pub use http::HttpClient;
pub use pagerduty::PagerDutyNotifier;
pub use slack::SlackNotifier;
pub use webhook::WebhookNotifier;

use crate::alert::Alert;
use crate::error::Error;
use crate::labels::Labels;
use crate::time::{Millis, rfc3339};

/// A secret (a URL with a token, a password): shown as `<secret>` in `Debug` and never logged.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps `s`.
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    /// The secret itself (to use it, not to print it).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<secret>")
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Self::new(s)
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Self::new(s)
    }
}

pub(crate) use nexus_core::redact::url as redact_url;

/// `firing` or `resolved`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// At least one alert fires.
    Firing,
    /// Every alert is resolved.
    Resolved,
}

impl Status {
    /// `firing` / `resolved`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Firing => "firing",
            Status::Resolved => "resolved",
        }
    }
}

/// One notification: a group's alerts for one receiver.
#[derive(Debug, Clone)]
pub struct Notification {
    /// The receiver's name.
    pub receiver: String,
    /// The aggregation group's key (route path and group labels).
    pub group_key: String,
    /// The labels the group is grouped by.
    pub group_labels: Labels,
    /// The alerts (firing and, with `send_resolved`, resolved).
    pub alerts: Vec<Alert>,
    /// When it was composed.
    pub now: Millis,
    /// Prefix for links back to this service.
    pub external_url: String,
    /// 0 for the route's receiver; n for the n-th escalation step.
    pub escalation_level: usize,
}

impl Notification {
    /// Firing when any alert fires.
    pub fn status(&self) -> Status {
        if self.alerts.iter().any(|a| !a.is_resolved(self.now)) {
            Status::Firing
        } else {
            Status::Resolved
        }
    }

    /// Firing alerts.
    pub fn firing(&self) -> impl Iterator<Item = &Alert> {
        self.alerts.iter().filter(|a| !a.is_resolved(self.now))
    }

    /// Labels every alert shares.
    pub fn common_labels(&self) -> Labels {
        common(self.alerts.iter().map(|a| &a.labels))
    }

    /// Annotations every alert shares.
    pub fn common_annotations(&self) -> Labels {
        common(self.alerts.iter().map(|a| &a.annotations))
    }

    /// A one-line title, as Alertmanager's default: `[FIRING:2] HighErrorRate (api critical)`.
    pub fn title(&self) -> String {
        let status = self.status();
        let mut t = match status {
            Status::Firing => format!("[FIRING:{}]", self.firing().count()),
            Status::Resolved => "[RESOLVED]".into(),
        };
        let common = self.common_labels();
        if let Some(n) = common.get(crate::labels::ALERT_NAME) {
            t.push(' ');
            t.push_str(n);
        }
        let rest: Vec<&str> = self
            .group_labels
            .iter()
            .filter(|(k, _)| *k != crate::labels::ALERT_NAME)
            .map(|(_, v)| v)
            .collect();
        if !rest.is_empty() {
            t.push_str(&format!(" ({})", rest.join(" ")));
        }
        if self.escalation_level > 0 {
            t.push_str(&format!(" [escalated: level {}]", self.escalation_level));
        }
        t
    }

    /// Alertmanager's `status` of one alert, and its `endsAt` as Alertmanager exposes it
    /// (zero time while firing).
    pub(crate) fn alert_status(&self, a: &Alert) -> (Status, String) {
        if a.is_resolved(self.now) {
            (Status::Resolved, rfc3339(a.ends_at.unwrap_or(self.now)))
        } else {
            (Status::Firing, "0001-01-01T00:00:00Z".into())
        }
    }
}

fn common<'a>(mut sets: impl Iterator<Item = &'a Labels>) -> Labels {
    let Some(first) = sets.next() else {
        return Labels::new();
    };
    let mut c = first.clone();
    for s in sets {
        let keep: Vec<(String, String)> = c
            .iter()
            .filter(|(k, v)| s.get(k) == Some(*v))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        c = Labels::from_pairs(keep);
    }
    c
}

/// A delivery failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyError {
    /// What happened (no secrets).
    pub message: String,
    /// Worth retrying (network error, 5xx, 429) or not (4xx, bad configuration).
    pub retryable: bool,
}

impl std::fmt::Display for NotifyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = if self.retryable {
            "retryable"
        } else {
            "permanent"
        };
        write!(f, "notification failed ({kind}): {}", self.message)
    }
}

impl std::error::Error for NotifyError {}

impl NotifyError {
    /// A retryable failure.
    pub fn retry(m: impl Into<String>) -> Self {
        Self {
            message: m.into(),
            retryable: true,
        }
    }

    /// A permanent failure.
    pub fn permanent(m: impl Into<String>) -> Self {
        Self {
            message: m.into(),
            retryable: false,
        }
    }
}

/// One integration: turns a notification into a request.
#[async_trait]
pub trait Notifier: Send + Sync + fmt::Debug {
    /// `webhook`, `slack`, `pagerduty`, `email`, `alertmanager`…
    fn kind(&self) -> &'static str;
    /// One attempt.
    async fn notify(&self, n: &Notification) -> Result<(), NotifyError>;
}

/// Retry policy of a receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Timeout of one attempt (default 10 s).
    pub timeout: Duration,
    /// First backoff (default 500 ms); doubles each attempt, full jitter.
    pub initial_backoff: Duration,
    /// Backoff ceiling (default 30 s).
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
        }
    }
}

/// A named receiver: one notifier, `send_resolved`, retries.
///
/// ```
/// use nexus_alerting::Receiver;
/// let r = Receiver::webhook("ops", "http://127.0.0.1:9/hook").unwrap().send_resolved(false);
/// assert_eq!(r.name(), "ops");
/// assert!(format!("{r:?}").contains("<secret>")); // the URL may hold a token
/// ```
#[derive(Debug, Clone)]
pub struct Receiver {
    name: String,
    notifier: Arc<dyn Notifier>,
    send_resolved: bool,
    retry: RetryPolicy,
}

impl Receiver {
    /// A receiver using `notifier`; `send_resolved` defaults to true.
    pub fn new(name: &str, notifier: Arc<dyn Notifier>) -> Self {
        Self {
            name: name.to_owned(),
            notifier,
            send_resolved: true,
            retry: RetryPolicy::default(),
        }
    }

    /// A webhook receiver (Alertmanager's webhook JSON, version 4).
    pub fn webhook(name: &str, url: &str) -> Result<Self, Error> {
        Ok(Self::new(name, Arc::new(WebhookNotifier::new(url)?)))
    }

    /// A Slack incoming-webhook receiver.
    pub fn slack(name: &str, webhook_url: &str) -> Result<Self, Error> {
        Ok(Self::new(name, Arc::new(SlackNotifier::new(webhook_url)?)))
    }

    /// A PagerDuty Events v2 receiver.
    pub fn pagerduty(name: &str, routing_key: &str) -> Result<Self, Error> {
        Ok(Self::new(
            name,
            Arc::new(PagerDutyNotifier::new(routing_key)?),
        ))
    }

    /// Forwards alerts to an Alertmanager (`base_url` + `/api/v2/alerts`).
    pub fn alertmanager(name: &str, base_url: &str) -> Result<Self, Error> {
        Ok(Self::new(
            name,
            Arc::new(AlertmanagerNotifier::new(base_url)?),
        ))
    }

    /// Whether resolved alerts are sent (default true).
    #[must_use]
    pub fn send_resolved(mut self, yes: bool) -> Self {
        self.send_resolved = yes;
        self
    }

    /// The retry policy.
    #[must_use]
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// The name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether resolved alerts are sent.
    pub fn sends_resolved(&self) -> bool {
        self.send_resolved
    }

    /// The integration kind.
    pub fn kind(&self) -> &'static str {
        self.notifier.kind()
    }

    /// Delivers `n`, retrying retryable failures with backoff until `deadline` passes
    /// (`None`: keep trying). Resolved alerts are dropped first when `send_resolved` is off;
    /// nothing left means nothing to send (success).
    pub async fn deliver(
        &self,
        mut n: Notification,
        deadline: Option<tokio::time::Instant>,
    ) -> Result<(), Error> {
        if !self.send_resolved {
            let now = n.now;
            n.alerts.retain(|a| !a.is_resolved(now));
        }
        if n.alerts.is_empty() {
            return Ok(());
        }
        let labels = [
            ("receiver", self.name.clone()),
            ("integration", self.kind().to_owned()),
        ];
        metrics::counter!(crate::metrics::NOTIFICATIONS.name, &labels).increment(1);
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            metrics::counter!(crate::metrics::NOTIFICATION_REQUESTS.name, &labels).increment(1);
            let started = std::time::Instant::now();
            let result =
                match tokio::time::timeout(self.retry.timeout, self.notifier.notify(&n)).await {
                    Ok(r) => r,
                    Err(_) => Err(NotifyError::retry(format!(
                        "timed out after {:?}",
                        self.retry.timeout
                    ))),
                };
            metrics::histogram!(crate::metrics::NOTIFICATION_DURATION.name, &labels)
                .record(started.elapsed().as_secs_f64());
            let err = match result {
                Ok(()) => {
                    tracing::debug!(receiver = %self.name, attempt, alerts = n.alerts.len(), "notified");
                    return Ok(());
                }
                Err(e) => e,
            };
            metrics::counter!(crate::metrics::NOTIFICATION_REQUESTS_FAILED.name, &labels)
                .increment(1);
            let backoff = self
                .retry
                .initial_backoff
                .saturating_mul(1u32 << (attempt - 1).min(16))
                .min(self.retry.max_backoff);
            let sleep = backoff.mul_f64(fastrand::f64());
            let out_of_time = deadline.is_some_and(|d| tokio::time::Instant::now() + sleep >= d);
            if !err.retryable || out_of_time {
                tracing::warn!(receiver = %self.name, attempt, error = %err.message, "notification failed");
                metrics::counter!(crate::metrics::NOTIFICATIONS_FAILED.name, &labels).increment(1);
                return Err(Error::Notify {
                    receiver: self.name.clone(),
                    message: format!("{} (after {attempt} attempts)", err.message),
                });
            }
            tracing::info!(receiver = %self.name, attempt, error = %err.message, retry_in = ?sleep, "notification failed, retrying");
            tokio::time::sleep(sleep).await;
        }
    }
}

/// The JSON of one alert as Alertmanager's webhook and API show it.
pub(crate) fn alert_json(n: &Notification, a: &Alert) -> serde_json::Value {
    let (status, ends_at) = n.alert_status(a);
    serde_json::json!({
        "status": status,
        "labels": a.labels,
        "annotations": a.annotations,
        "startsAt": rfc3339(a.starts_at),
        "endsAt": ends_at,
        "generatorURL": a.generator_url,
        "fingerprint": format!("{:016x}", a.fingerprint),
    })
}
