//! `HttpProbe`: `GET url` expecting a 2xx (feature `http`); HTTPS with feature `https` (rustls
//! with ring, Mozilla's root store, plus any private CA you add).

use async_trait::async_trait;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;

use crate::probe::Probe;

type Body = http_body_util::Empty<bytes::Bytes>;
#[cfg(feature = "https")]
type Connector = hyper_rustls::HttpsConnector<HttpConnector>;
#[cfg(not(feature = "https"))]
type Connector = HttpConnector;

/// `GET url`, passing on a 2xx. A fresh connection each check (no pooling), so a dead server is
/// seen at once.
///
/// ```
/// let probe = nexus_health::HttpProbe::new("http://127.0.0.1:8080/readyz").unwrap();
/// # let _ = probe;
/// assert!(nexus_health::HttpProbe::new("ftp://x/").is_err());
/// ```
#[derive(Debug, Clone)]
pub struct HttpProbe {
    uri: http::Uri,
    client: Client<Connector, Body>,
}

impl HttpProbe {
    /// Probes `url` (`http://…`, or `https://…` with the `https` feature).
    pub fn new(url: &str) -> Result<Self, String> {
        Self::build(url, None)
    }

    /// Probes `url`, also trusting the PEM certificates in `pem` (a private CA or a self-signed
    /// server certificate) besides the public roots. Feature `https`.
    #[cfg(feature = "https")]
    pub fn with_root_certificates(url: &str, pem: &[u8]) -> Result<Self, String> {
        Self::build(url, Some(pem))
    }

    fn build(url: &str, extra_roots: Option<&[u8]>) -> Result<Self, String> {
        let uri: http::Uri = url.parse().map_err(|e| format!("bad URL {url:?}: {e}"))?;
        match uri.scheme_str() {
            Some("http") => {}
            #[cfg(feature = "https")]
            Some("https") => {}
            #[cfg(not(feature = "https"))]
            Some("https") => return Err("https URLs need nexus-health's `https` feature".into()),
            Some(other) => return Err(format!("scheme {other:?} is not supported by HttpProbe")),
            None => return Err(format!("URL {url:?} has no scheme")),
        }
        let client = Client::builder(hyper_util::rt::TokioExecutor::new())
            .pool_max_idle_per_host(0)
            .build(connector(extra_roots)?);
        Ok(Self { uri, client })
    }
}

#[cfg(feature = "https")]
fn connector(extra_roots: Option<&[u8]>) -> Result<Connector, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;

    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(pem) = extra_roots {
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| format!("bad PEM certificate: {e}"))?;
            roots
                .add(cert)
                .map_err(|e| format!("unusable root certificate: {e}"))?;
            added += 1;
        }
        if added == 0 {
            return Err("no certificate found in the PEM given".into());
        }
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS configuration: {e}"))?
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

#[cfg(not(feature = "https"))]
fn connector(_: Option<&[u8]>) -> Result<Connector, String> {
    Ok(HttpConnector::new())
}

#[async_trait]
impl Probe for HttpProbe {
    async fn check(&self) -> Result<(), String> {
        let resp = self.client.get(self.uri.clone()).await.map_err(|e| {
            // hyper's Display is terse; the source chain says which step failed (TLS, connect…).
            let mut msg = format!("GET {}: {e}", self.uri);
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                msg.push_str(&format!(": {s}"));
                src = s.source();
            }
            msg
        })?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(format!("GET {} answered {}", self.uri, resp.status()))
        }
    }
}
