//! Forwards alerts to an Alertmanager's `POST /api/v2/alerts` (to scale past one process, or to
//! reuse an existing Alertmanager's routing).

use async_trait::async_trait;

use super::http::{HttpClient, parse_url};
use super::{Notification, Notifier, NotifyError};
use crate::error::Error;
use crate::time::rfc3339;

/// Posts alerts to Alertmanager's v2 API, the way Prometheus does (`endsAt` in the future
/// while firing, so Alertmanager resolves them if we stop sending).
#[derive(Debug, Clone)]
pub struct AlertmanagerNotifier {
    uri: http::Uri,
    client: HttpClient,
}

impl AlertmanagerNotifier {
    /// An Alertmanager at `base_url` (e.g. `http://alertmanager:9093`).
    pub fn new(base_url: &str) -> Result<Self, Error> {
        let url = format!("{}/api/v2/alerts", base_url.trim_end_matches('/'));
        Ok(Self {
            uri: parse_url(&url)?,
            client: super::http::client(),
        })
    }
}

pub(crate) fn payload(n: &Notification) -> serde_json::Value {
    serde_json::Value::Array(
        n.alerts
            .iter()
            .map(|a| {
                let ends_at = a.ends_at.unwrap_or(n.now + 5 * 60_000);
                serde_json::json!({
                    "labels": a.labels,
                    "annotations": a.annotations,
                    "startsAt": rfc3339(a.starts_at),
                    "endsAt": rfc3339(ends_at),
                    "generatorURL": a.generator_url,
                })
            })
            .collect(),
    )
}

#[async_trait]
impl Notifier for AlertmanagerNotifier {
    fn kind(&self) -> &'static str {
        "alertmanager"
    }

    async fn notify(&self, n: &Notification) -> Result<(), NotifyError> {
        let body =
            serde_json::to_vec(&payload(n)).map_err(|e| NotifyError::permanent(e.to_string()))?;
        super::http::post_json(&self.client, &self.uri, body)
            .await
            .map(|_| ())
    }
}
