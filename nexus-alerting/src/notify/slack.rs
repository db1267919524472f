//! Slack receiver: an incoming-webhook message with one attachment, as Alertmanager's default.

use async_trait::async_trait;

use super::http::{HttpClient, SecretUri, parse_url};
use super::{Notification, Notifier, NotifyError, Status};
use crate::error::Error;
use crate::rule::Severity;

/// POSTs a Slack incoming-webhook message.
#[derive(Debug, Clone)]
pub struct SlackNotifier {
    uri: SecretUri,
    client: HttpClient,
    channel: Option<String>,
    username: Option<String>,
}

impl SlackNotifier {
    /// A Slack incoming webhook (the URL is a secret).
    pub fn new(webhook_url: &str) -> Result<Self, Error> {
        Ok(Self {
            uri: SecretUri(parse_url(webhook_url)?),
            client: super::http::client(),
            channel: None,
            username: None,
        })
    }

    /// Overrides the webhook's channel.
    #[must_use]
    pub fn channel(mut self, c: &str) -> Self {
        self.channel = Some(c.to_owned());
        self
    }

    /// Overrides the webhook's user name.
    #[must_use]
    pub fn username(mut self, u: &str) -> Self {
        self.username = Some(u.to_owned());
        self
    }
}

/// The message: `text` for notifications and fallbacks, one coloured attachment.
pub(crate) fn payload(
    n: &Notification,
    channel: Option<&str>,
    username: Option<&str>,
) -> serde_json::Value {
    let color = match n.status() {
        Status::Resolved => "good",
        Status::Firing => match n.firing().filter_map(|a| a.severity()).max() {
            Some(Severity::Critical) => "danger",
            Some(Severity::Warning) => "warning",
            _ => "#439FE0",
        },
    };
    let mut lines = Vec::new();
    for a in &n.alerts {
        let (status, _) = n.alert_status(a);
        let summary = a
            .annotations
            .get("summary")
            .or_else(|| a.annotations.get("description"))
            .unwrap_or_else(|| a.name());
        let labels: Vec<String> = a.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        lines.push(format!(
            "*{}* {summary}\n`{}`",
            status.as_str(),
            labels.join(" ")
        ));
    }
    let title = n.title();
    let mut msg = serde_json::json!({
        "text": title,
        "attachments": [{
            "color": color,
            "title": title,
            "title_link": n.external_url,
            "text": lines.join("\n"),
            "fallback": title,
            "mrkdwn_in": ["text"],
        }],
    });
    if let Some(c) = channel {
        msg["channel"] = c.into();
    }
    if let Some(u) = username {
        msg["username"] = u.into();
    }
    msg
}

#[async_trait]
impl Notifier for SlackNotifier {
    fn kind(&self) -> &'static str {
        "slack"
    }

    async fn notify(&self, n: &Notification) -> Result<(), NotifyError> {
        let body = serde_json::to_vec(&payload(
            n,
            self.channel.as_deref(),
            self.username.as_deref(),
        ))
        .map_err(|e| NotifyError::permanent(e.to_string()))?;
        super::http::post_json(&self.client, &self.uri.0, body)
            .await
            .map(|_| ())
    }
}
