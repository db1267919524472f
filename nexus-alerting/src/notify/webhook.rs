//! Webhook receiver: Alertmanager's webhook JSON, version 4.

use async_trait::async_trait;

use super::http::{HttpClient, SecretUri, parse_url};
use super::{Notification, Notifier, NotifyError, alert_json};
use crate::error::Error;

/// POSTs Alertmanager's webhook payload (version 4) to a URL.
#[derive(Debug, Clone)]
pub struct WebhookNotifier {
    uri: SecretUri,
    client: HttpClient,
    max_alerts: usize,
}

impl WebhookNotifier {
    /// A webhook to `url` (kept secret: such URLs often carry tokens).
    pub fn new(url: &str) -> Result<Self, Error> {
        Ok(Self {
            uri: SecretUri(parse_url(url)?),
            client: super::http::client(),
            max_alerts: 0,
        })
    }

    /// Sends at most `n` alerts, counting the rest in `truncatedAlerts` (0: all).
    #[must_use]
    pub fn max_alerts(mut self, n: usize) -> Self {
        self.max_alerts = n;
        self
    }
}

/// The version-4 payload.
pub(crate) fn payload(n: &Notification, max_alerts: usize) -> serde_json::Value {
    let keep = if max_alerts == 0 {
        n.alerts.len()
    } else {
        max_alerts.min(n.alerts.len())
    };
    serde_json::json!({
        "version": "4",
        "groupKey": n.group_key,
        "truncatedAlerts": n.alerts.len() - keep,
        "status": n.status(),
        "receiver": n.receiver,
        "groupLabels": n.group_labels,
        "commonLabels": n.common_labels(),
        "commonAnnotations": n.common_annotations(),
        "externalURL": n.external_url,
        "alerts": n.alerts[..keep].iter().map(|a| alert_json(n, a)).collect::<Vec<_>>(),
    })
}

#[async_trait]
impl Notifier for WebhookNotifier {
    fn kind(&self) -> &'static str {
        "webhook"
    }

    async fn notify(&self, n: &Notification) -> Result<(), NotifyError> {
        let body = serde_json::to_vec(&payload(n, self.max_alerts))
            .map_err(|e| NotifyError::permanent(e.to_string()))?;
        super::http::post_json(&self.client, &self.uri.0, body)
            .await
            .map(|_| ())
    }
}
