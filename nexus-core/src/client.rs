//! The one HTTP client of the Nexus crates (feature `client`; HTTPS with feature `https`):
//! health probes, alert receivers and the OTLP exporter all send through it. hyper underneath;
//! rustls with ring and Mozilla's roots (plus any private CA you add) for HTTPS.
//!
//! Bounded by default: a whole-exchange timeout (10 s), a cap on the response body read back
//! (1 MiB), and at most 8 idle connections kept per host (none with [`pooled(false)`]).
//! Error messages name a URL by scheme and host only (user info, path and query may hold tokens).
//!
//! ```
//! use nexus_core::client::HttpClient;
//! let client = HttpClient::builder().timeout(std::time::Duration::from_secs(2)).build().unwrap();
//! assert!(HttpClient::check_url("http://127.0.0.1:9/hook").is_ok());
//! assert!(HttpClient::check_url("ftp://example.org/").is_err());
//! # let _ = client;
//! ```
//!
//! [`pooled(false)`]: HttpClientBuilder::pooled

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;

#[cfg(feature = "https")]
type Connector = hyper_rustls::HttpsConnector<HttpConnector>;
#[cfg(not(feature = "https"))]
type Connector = HttpConnector;

/// Why a request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The URL cannot be used (syntax, scheme, or `https` without the feature).
    #[error("bad URL: {0}")]
    Url(String),
    /// The client could not be configured (e.g. an unusable root certificate).
    #[error("HTTP client configuration: {0}")]
    Config(String),
    /// The request could not be built.
    #[error("bad request: {0}")]
    Request(String),
    /// Connecting, TLS or the exchange failed.
    #[error("{0}")]
    Transport(String),
    /// No complete answer within the timeout.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The response body failed or exceeded the cap.
    #[error("response body: {0}")]
    Body(String),
}

/// A cloneable HTTP/1 client; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct HttpClient {
    client: Client<Connector, Full<Bytes>>,
    timeout: Duration,
    max_body: usize,
}

/// Builder for [`HttpClient`].
#[derive(Debug, Clone)]
#[must_use]
pub struct HttpClientBuilder {
    pooled: bool,
    timeout: Duration,
    max_body: usize,
    roots_pem: Option<Vec<u8>>,
}

impl Default for HttpClient {
    fn default() -> Self {
        Self::new()
    }
}

impl HttpClient {
    /// A client with the defaults (pooled, 10 s timeout, 1 MiB bodies, public roots).
    pub fn new() -> Self {
        Self::build_with(&HttpClientBuilder::default(), connector_public())
    }

    /// A builder.
    pub fn builder() -> HttpClientBuilder {
        HttpClientBuilder::default()
    }

    /// Parses `url` and checks this build can reach it (`http`, or `https` with the feature).
    pub fn check_url(url: &str) -> Result<http::Uri, ClientError> {
        let uri: http::Uri = url
            .parse()
            .map_err(|e| ClientError::Url(format!("{}: {e}", redact(url))))?;
        match uri.scheme_str() {
            Some("http") => {}
            #[cfg(feature = "https")]
            Some("https") => {}
            #[cfg(not(feature = "https"))]
            Some("https") => {
                return Err(ClientError::Url(format!(
                    "{}: https needs the `https` feature",
                    redact(url)
                )));
            }
            _ => {
                return Err(ClientError::Url(format!(
                    "{}: must be http(s)",
                    redact(url)
                )));
            }
        }
        if uri.host().is_none() {
            return Err(ClientError::Url(format!("{}: no host", redact(url))));
        }
        Ok(uri)
    }

    /// Sends `req` and reads the whole answer (body capped), within the timeout. Any status is
    /// an `Ok` answer: the caller decides what a status means.
    pub async fn send(
        &self,
        req: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, ClientError> {
        let (parts, body) = req.into_parts();
        let req = http::Request::from_parts(parts, Full::new(body));
        let exchange = async {
            let resp = self.client.request(req).await.map_err(|e| {
                let mut msg = e.to_string();
                let mut src = std::error::Error::source(&e);
                while let Some(s) = src {
                    msg.push_str(&format!(": {s}"));
                    src = s.source();
                }
                ClientError::Transport(msg)
            })?;
            let (parts, body) = resp.into_parts();
            let body = Limited::new(body, self.max_body)
                .collect()
                .await
                .map_err(|e| ClientError::Body(e.to_string()))?
                .to_bytes();
            Ok(http::Response::from_parts(parts, body))
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| ClientError::Timeout(self.timeout))?
    }

    fn build_with(b: &HttpClientBuilder, connector: Connector) -> Self {
        let mut client = Client::builder(hyper_util::rt::TokioExecutor::new());
        client.pool_max_idle_per_host(if b.pooled { 8 } else { 0 });
        Self {
            client: client.build(connector),
            timeout: b.timeout,
            max_body: b.max_body,
        }
    }
}

impl Default for HttpClientBuilder {
    fn default() -> Self {
        Self {
            pooled: true,
            timeout: Duration::from_secs(10),
            max_body: 1 << 20,
            roots_pem: None,
        }
    }
}

impl HttpClientBuilder {
    /// Keep idle connections for reuse (default) or open a fresh one each time (probes: a dead
    /// server is seen at once).
    pub fn pooled(mut self, yes: bool) -> Self {
        self.pooled = yes;
        self
    }

    /// Timeout of a whole exchange, connect to last body byte (default 10 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Cap on a response body read back (default 1 MiB); a longer one is an error.
    pub fn max_response_bytes(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self
    }

    /// Also trusts the PEM certificates in `pem` (a private CA or a self-signed server
    /// certificate) besides the public roots. Feature `https`.
    #[cfg(feature = "https")]
    pub fn root_certificates(mut self, pem: &[u8]) -> Self {
        self.roots_pem = Some(pem.to_vec());
        self
    }

    /// Builds the client.
    pub fn build(self) -> Result<HttpClient, ClientError> {
        let connector = match &self.roots_pem {
            None => connector_public(),
            #[cfg(feature = "https")]
            Some(pem) => https::connector(Some(pem))?,
            #[cfg(not(feature = "https"))]
            Some(_) => connector_public(),
        };
        Ok(HttpClient::build_with(&self, connector))
    }
}

use crate::redact::url as redact;

#[cfg(feature = "https")]
fn connector_public() -> Connector {
    https::connector(None).unwrap_or_else(|_| unreachable!("public roots always load"))
}

#[cfg(not(feature = "https"))]
fn connector_public() -> Connector {
    HttpConnector::new()
}

#[cfg(feature = "https")]
mod https {
    use super::{ClientError, Connector, HttpConnector};
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;

    pub(super) fn connector(extra_roots: Option<&[u8]>) -> Result<Connector, ClientError> {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        if let Some(pem) = extra_roots {
            let mut added = 0;
            for cert in CertificateDer::pem_slice_iter(pem) {
                let cert =
                    cert.map_err(|e| ClientError::Config(format!("bad PEM certificate: {e}")))?;
                roots
                    .add(cert)
                    .map_err(|e| ClientError::Config(format!("unusable root certificate: {e}")))?;
                added += 1;
            }
            if added == 0 {
                return Err(ClientError::Config(
                    "no certificate found in the PEM given".into(),
                ));
            }
        }
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ClientError::Config(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        Ok(hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(config)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_and_redacted() {
        assert!(HttpClient::check_url("http://127.0.0.1:8080/x").is_ok());
        for bad in ["", "127.0.0.1:80", "ftp://h/", "http://"] {
            assert!(HttpClient::check_url(bad).is_err(), "{bad}");
        }
        let e = HttpClient::check_url("gopher://user:pw@host/p?token=s3cret").unwrap_err();
        let msg = e.to_string();
        assert!(!msg.contains("pw") && !msg.contains("s3cret"), "{msg}");
    }
}
