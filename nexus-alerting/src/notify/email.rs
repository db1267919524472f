//! Email receiver over SMTP (lettre): plain, STARTTLS or implicit TLS, optional login.

use async_trait::async_trait;
use lettre::message::{Mailbox, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::{Notification, Notifier, NotifyError, Secret};
use crate::error::Error;
use crate::time::rfc3339;

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SmtpSecurity {
    /// Plain SMTP (a local relay, tests).
    None,
    /// STARTTLS, required.
    StartTls,
    /// Implicit TLS (port 465).
    Tls,
}

/// Sends one email per notification.
#[derive(Clone)]
pub struct EmailNotifier {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    to: Vec<Mailbox>,
    host: String,
}

impl std::fmt::Debug for EmailNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailNotifier")
            .field("host", &self.host)
            .field("from", &self.from.to_string())
            .field(
                "to",
                &self.to.iter().map(ToString::to_string).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl EmailNotifier {
    /// Mail through `host:port` from `from` to `to` (comma-separated addresses allowed).
    pub fn new(
        host: &str,
        port: u16,
        security: SmtpSecurity,
        from: &str,
        to: &[&str],
    ) -> Result<Self, Error> {
        Self::build(host, port, security, from, to, None)
    }

    /// As [`new`](Self::new), logging in with `user` and `password` (a secret).
    pub fn with_login(
        host: &str,
        port: u16,
        security: SmtpSecurity,
        from: &str,
        to: &[&str],
        user: &str,
        password: Secret,
    ) -> Result<Self, Error> {
        Self::build(
            host,
            port,
            security,
            from,
            to,
            Some((user.to_owned(), password)),
        )
    }

    fn build(
        host: &str,
        port: u16,
        security: SmtpSecurity,
        from: &str,
        to: &[&str],
        login: Option<(String, Secret)>,
    ) -> Result<Self, Error> {
        let mbox = |s: &str| {
            s.parse::<Mailbox>()
                .map_err(|e| Error::Config(format!("bad email address {s:?}: {e}")))
        };
        let from = mbox(from)?;
        let to = to.iter().map(|s| mbox(s)).collect::<Result<Vec<_>, _>>()?;
        if to.is_empty() {
            return Err(Error::Config(
                "an email receiver needs at least one recipient".into(),
            ));
        }
        let tls = || {
            TlsParameters::new(host.to_owned())
                .map_err(|e| Error::Config(format!("TLS parameters for {host}: {e}")))
        };
        let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host).port(port);
        b = match security {
            SmtpSecurity::None => b.tls(Tls::None),
            SmtpSecurity::StartTls => b.tls(Tls::Required(tls()?)),
            SmtpSecurity::Tls => b.tls(Tls::Wrapper(tls()?)),
        };
        if let Some((user, pass)) = login {
            b = b.credentials(Credentials::new(user, pass.expose().to_owned()));
        }
        Ok(Self {
            transport: b.build(),
            from,
            to,
            host: host.to_owned(),
        })
    }
}

/// Subject and plain-text body.
pub(crate) fn render(n: &Notification) -> (String, String) {
    let mut body = format!("{}\n\n", n.title());
    for a in &n.alerts {
        let (status, _) = n.alert_status(a);
        body.push_str(&format!("[{}] {}\n", status.as_str(), a.name()));
        for (k, v) in a.annotations.iter() {
            body.push_str(&format!("  {k}: {v}\n"));
        }
        body.push_str("  labels:");
        for (k, v) in a.labels.iter() {
            body.push_str(&format!(" {k}={v}"));
        }
        body.push_str(&format!("\n  since: {}\n\n", rfc3339(a.starts_at)));
    }
    if !n.external_url.is_empty() {
        body.push_str(&format!("{}\n", n.external_url));
    }
    (n.title(), body)
}

#[async_trait]
impl Notifier for EmailNotifier {
    fn kind(&self) -> &'static str {
        "email"
    }

    async fn notify(&self, n: &Notification) -> Result<(), NotifyError> {
        let (subject, body) = render(n);
        let mut m = Message::builder().from(self.from.clone()).subject(subject);
        for t in &self.to {
            m = m.to(t.clone());
        }
        let msg = m
            .header(ContentType::TEXT_PLAIN)
            .body(body)
            .map_err(|e| NotifyError::permanent(format!("cannot build the email: {e}")))?;
        self.transport.send(msg).await.map(|_| ()).map_err(|e| {
            let m = format!("SMTP {}: {e}", self.host);
            if e.is_permanent() {
                NotifyError::permanent(m)
            } else {
                NotifyError::retry(m)
            }
        })
    }
}
