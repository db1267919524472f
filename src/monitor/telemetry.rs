//! Logs and traces (feature `otlp`): `tracing` to stderr, and, when an endpoint is configured,
//! every span (with the request id `with_request_ids` puts on it) exported over OTLP/HTTP
//! (protobuf) to `{endpoint}/v1/traces`, batched on the Tokio runtime.
//!
//! ```no_run
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! // OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4318
//! let endpoint = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").ok();
//! let _telemetry = nexus::monitor::telemetry::init("documents", endpoint.as_deref())?;
//! # Ok(()) }
//! ```

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Keeps the exporter alive; dropping it flushes the spans not sent yet.
#[derive(Debug)]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(p) = self.provider.take() {
            let _ = p.shutdown();
        }
    }
}

/// Installs the global `tracing` subscriber: logs to stderr at the levels `RUST_LOG` asks for
/// (default `info`: per-request failures are summarised per route, alerts stand out;
/// `RUST_LOG=debug` logs every failed request too), plus OTLP trace export when
/// `otlp_endpoint` is given. Needs a Tokio runtime when exporting.
pub fn init(
    service: &str,
    otlp_endpoint: Option<&str>,
) -> Result<Telemetry, Box<dyn std::error::Error + Send + Sync>> {
    let fmt = tracing_subscriber::fmt::layer().with_target(false);
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let Some(endpoint) = otlp_endpoint else {
        tracing_subscriber::registry()
            .with(filter)
            .with(fmt)
            .try_init()?;
        return Ok(Telemetry { provider: None });
    };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(format!("{}/v1/traces", endpoint.trim_end_matches('/')))
        .with_http_client(OtlpClient(nexus_core::client::HttpClient::new()))
        .build()?;
    let processor =
        opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor::builder(
            exporter,
            opentelemetry_sdk::runtime::Tokio,
        )
        .build();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(processor)
        .with_resource(
            opentelemetry_sdk::Resource::builder()
                .with_service_name(service.to_owned())
                .build(),
        )
        .build();
    let tracer = provider.tracer("nexus");
    tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .with(tracing_opentelemetry::layer().with_tracer(tracer))
        .try_init()?;
    Ok(Telemetry {
        provider: Some(provider),
    })
}

/// The OTLP exporter sends through the HTTP client every Nexus crate shares.
#[derive(Debug)]
struct OtlpClient(nexus_core::client::HttpClient);

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for OtlpClient {
    async fn send_bytes(
        &self,
        request: http::Request<bytes::Bytes>,
    ) -> Result<http::Response<bytes::Bytes>, opentelemetry_http::HttpError> {
        Ok(self.0.send(request).await?)
    }
}
