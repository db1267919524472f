//! The HTTP client the HTTP receivers share (hyper; rustls with the `https` feature).

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;

use super::{NotifyError, redact_url};
use crate::error::Error;

#[cfg(feature = "https")]
type Connector = hyper_rustls::HttpsConnector<HttpConnector>;
#[cfg(not(feature = "https"))]
type Connector = HttpConnector;

/// A pooled HTTP/1 client for receivers.
#[derive(Debug, Clone)]
pub struct HttpClient {
    client: Client<Connector, Full<Bytes>>,
}

impl Default for HttpClient {
    fn default() -> Self {
        Self::new()
    }
}

impl HttpClient {
    /// A client (HTTPS with Mozilla's roots when the `https` feature is on).
    pub fn new() -> Self {
        Self {
            client: Client::builder(hyper_util::rt::TokioExecutor::new()).build(connector()),
        }
    }

    /// `POST url` with a JSON body; 2xx is success, 408/429/5xx and network errors are
    /// retryable, other statuses are not. Returns the response body.
    pub async fn post_json(&self, url: &http::Uri, body: Vec<u8>) -> Result<Bytes, NotifyError> {
        let req = http::Request::post(url.clone())
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(
                http::header::USER_AGENT,
                concat!("nexus-alerting/", env!("CARGO_PKG_VERSION")),
            )
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| NotifyError::permanent(format!("bad request: {e}")))?;
        let where_ = redact_url(&url.to_string());
        let resp = self.client.request(req).await.map_err(|e| {
            let mut msg = format!("POST {where_}: {e}");
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                msg.push_str(&format!(": {s}"));
                src = s.source();
            }
            NotifyError::retry(msg)
        })?;
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
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
    let uri: http::Uri = url
        .parse()
        .map_err(|e| Error::Config(format!("bad receiver URL {}: {e}", redact_url(url))))?;
    match uri.scheme_str() {
        Some("http") => Ok(uri),
        #[cfg(feature = "https")]
        Some("https") => Ok(uri),
        #[cfg(not(feature = "https"))]
        Some("https") => Err(Error::Config(
            "https receiver URLs need nexus-alerting's `https` feature".into(),
        )),
        _ => Err(Error::Config(format!(
            "receiver URL {} must be http(s)",
            redact_url(url)
        ))),
    }
}

#[cfg(feature = "https")]
fn connector() -> Connector {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports rustls' default protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http)
}

#[cfg(not(feature = "https"))]
fn connector() -> Connector {
    HttpConnector::new()
}
