//! `HttpProbe`: `GET url` expecting a 2xx (feature `http`); HTTPS with feature `https` (rustls
//! with ring, Mozilla's root store, plus any private CA you add). Sent through
//! [`nexus_core::client::HttpClient`], the client every Nexus crate shares.

use async_trait::async_trait;
use nexus_core::client::HttpClient;

use crate::probe::Probe;

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
    client: HttpClient,
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
        let uri = HttpClient::check_url(url).map_err(|e| e.to_string())?;
        let builder = HttpClient::builder()
            .pooled(false)
            // The probe's own timeout (ProbeSpec) is the one that counts; this is a backstop.
            .timeout(std::time::Duration::from_secs(60))
            .max_response_bytes(64 << 10);
        #[cfg(feature = "https")]
        let builder = match extra_roots {
            Some(pem) => builder.root_certificates(pem),
            None => builder,
        };
        #[cfg(not(feature = "https"))]
        let _ = extra_roots;
        let client = builder.build().map_err(|e| e.to_string())?;
        Ok(Self { uri, client })
    }
}

#[async_trait]
impl Probe for HttpProbe {
    async fn check(&self) -> Result<(), String> {
        let req = http::Request::get(self.uri.clone())
            .header(
                http::header::USER_AGENT,
                concat!("nexus-health/", env!("CARGO_PKG_VERSION")),
            )
            .body(bytes::Bytes::new())
            .map_err(|e| e.to_string())?;
        let resp = self
            .client
            .send(req)
            .await
            .map_err(|e| format!("GET {}: {e}", self.uri))?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(format!("GET {} answered {}", self.uri, resp.status()))
        }
    }
}
