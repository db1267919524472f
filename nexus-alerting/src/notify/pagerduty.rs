//! PagerDuty Events API v2: one incident per alert group, `trigger` while anything fires,
//! `resolve` when all is resolved, with a stable `dedup_key`.

use async_trait::async_trait;

use super::http::{HttpClient, parse_url};
use super::{Notification, Notifier, NotifyError, Secret, Status};
use crate::error::Error;
use crate::rule::Severity;
use crate::time::rfc3339;

const EVENTS_URL: &str = "https://events.pagerduty.com/v2/enqueue";

/// Sends PagerDuty Events v2.
#[derive(Debug, Clone)]
pub struct PagerDutyNotifier {
    routing_key: Secret,
    uri: http::Uri,
    client: HttpClient,
    source: String,
}

impl PagerDutyNotifier {
    /// Events for the service integration with `routing_key` (a secret), sent to PagerDuty.
    pub fn new(routing_key: &str) -> Result<Self, Error> {
        Self::with_url(routing_key, EVENTS_URL)
    }

    /// Events sent to another endpoint (a proxy, or a test receiver).
    pub fn with_url(routing_key: &str, url: &str) -> Result<Self, Error> {
        if routing_key.is_empty() {
            return Err(Error::Config("PagerDuty routing key is empty".into()));
        }
        Ok(Self {
            routing_key: Secret::new(routing_key),
            uri: parse_url(url)?,
            client: super::http::client(),
            source: "nexus".into(),
        })
    }

    /// The `source` field (default `nexus`; e.g. the host name).
    #[must_use]
    pub fn source(mut self, s: &str) -> Self {
        self.source = s.to_owned();
        self
    }
}

/// The stable deduplication key of a group: the same key triggers, updates and resolves one
/// incident, across restarts.
pub(crate) fn dedup_key(group_key: &str) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in group_key.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("nexus-{h:016x}")
}

pub(crate) fn payload(n: &Notification, routing_key: &str, source: &str) -> serde_json::Value {
    let key = dedup_key(&n.group_key);
    if n.status() == Status::Resolved {
        return serde_json::json!({
            "routing_key": routing_key,
            "event_action": "resolve",
            "dedup_key": key,
        });
    }
    let severity = match n.firing().filter_map(|a| a.severity()).max() {
        Some(Severity::Critical) => "critical",
        Some(Severity::Warning) => "warning",
        _ => "info",
    };
    let mut summary = n.title();
    if let Some(s) = n.common_annotations().get("summary") {
        summary = format!("{summary}: {s}");
    }
    // PagerDuty rejects summaries over 1024 characters.
    if summary.chars().count() > 1024 {
        summary = summary.chars().take(1023).collect::<String>() + "…";
    }
    let firing: Vec<serde_json::Value> = n
        .firing()
        .map(|a| serde_json::json!({ "labels": a.labels, "annotations": a.annotations, "startsAt": rfc3339(a.starts_at) }))
        .collect();
    serde_json::json!({
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": key,
        "payload": {
            "summary": summary,
            "source": source,
            "severity": severity,
            "timestamp": rfc3339(n.firing().map(|a| a.starts_at).min().unwrap_or(n.now)),
            "group": n.group_labels.get("alertname").unwrap_or(""),
            "custom_details": {
                "firing": firing,
                "num_firing": n.firing().count(),
                "num_resolved": n.alerts.len() - n.firing().count(),
            },
        },
        "client": "nexus",
        "client_url": n.external_url,
    })
}

#[async_trait]
impl Notifier for PagerDutyNotifier {
    fn kind(&self) -> &'static str {
        "pagerduty"
    }

    async fn notify(&self, n: &Notification) -> Result<(), NotifyError> {
        let body = serde_json::to_vec(&payload(n, self.routing_key.expose(), &self.source))
            .map_err(|e| NotifyError::permanent(e.to_string()))?;
        super::http::post_json(&self.client, &self.uri, body)
            .await
            .map(|_| ())
    }
}
