//! How the HTTP receivers post: JSON through [`nexus_core::client::HttpClient`] (the client every
//! Nexus crate shares; HTTPS with the `https` feature), with statuses sorted into retryable and
//! permanent failures.

use bytes::Bytes;
pub use nexus_core::client::HttpClient;

use super::{NotifyError, redact_url};
use crate::error::Error;

/// The client receivers use: pooled, 10 s per exchange (the receiver's own timeout and retry
/// policy wrap it), responses capped at 1 MiB.
pub(crate) fn client() -> HttpClient {
    HttpClient::new()
}

/// `POST url` with a JSON body; 2xx is success, 408/429/5xx and network errors are retryable,
/// other statuses are not. Returns the response body.
pub(crate) async fn post_json(
    client: &HttpClient,
    url: &http::Uri,
    body: Vec<u8>,
) -> Result<Bytes, NotifyError> {
    let req = http::Request::post(url.clone())
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(
            http::header::USER_AGENT,
            concat!("nexus-alerting/", env!("CARGO_PKG_VERSION")),
        )
        .body(Bytes::from(body))
        .map_err(|e| NotifyError::permanent(format!("bad request: {e}")))?;
    let where_ = redact_url(&url.to_string());
    let resp = client
        .send(req)
        .await
        .map_err(|e| NotifyError::retry(format!("POST {where_}: {e}")))?;
    let status = resp.status();
    let body = resp.into_body();
    if status.is_success() {
        return Ok(body);
    }
    let snippet: String = String::from_utf8_lossy(&body).chars().take(200).collect();
    let msg = format!("POST {where_} answered {status}: {snippet}");
    if status.is_server_error()
        || status == http::StatusCode::TOO_MANY_REQUESTS
        || status == http::StatusCode::REQUEST_TIMEOUT
    {
        Err(NotifyError::retry(msg))
    } else {
        Err(NotifyError::permanent(msg))
    }
}

/// A URL that may carry a token: `<secret>` in `Debug`.
#[derive(Clone)]
pub(crate) struct SecretUri(pub(crate) http::Uri);

impl std::fmt::Debug for SecretUri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<secret>")
    }
}

/// Parses a receiver URL, checking the scheme is usable.
pub(crate) fn parse_url(url: &str) -> Result<http::Uri, Error> {
    HttpClient::check_url(url).map_err(|e| Error::Config(format!("receiver {e}")))
}
