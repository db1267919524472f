#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![doc(test(attr(deny(warnings))))]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod health;
#[cfg(feature = "http")]
mod http_probe;
mod layer;
pub mod metrics;
mod monitor;
mod probe;
mod probes;
mod recorder;
mod resources;
mod score;

#[cfg(feature = "http")]
pub mod endpoints;

pub use health::{Health, HealthBuilder, HealthReport};
#[cfg(feature = "http")]
pub use http_probe::HttpProbe;
#[cfg(feature = "http")]
pub use layer::MatchedPathRoute;
pub use layer::{
    DefaultRoute, ErrorPolicy, HealthLayer, HealthService, ResponseFuture, RouteExtractor,
    ServerErrorsAsFailures, TemplateRoute, UriPathRoute,
};
pub use monitor::{DEFAULT_EVERY, MonitorReport, ProductionMonitor, ProductionMonitorBuilder};
pub use nexus_core::task::TaskHandle;
#[cfg(feature = "postgres")]
pub use probe::PostgresProbe;
#[cfg(feature = "redis")]
pub use probe::RedisProbe;
pub use probe::{FnProbe, Probe, ProbeResult, ProbeStatus};
pub use probes::{ProbeSpec, Probes, ProbesBuilder};
pub use recorder::{
    OVERFLOW, Outcome, Recorder, RecorderBuilder, Route, RouteTotals, RouteWindow, UNMATCHED,
    Window,
};
pub use resources::ResourceSampler;
pub use score::{
    Component, HealthScore, Resources, ScoreConfig, ScoreConfigBuilder, ScoreConfigError, Status,
    Weights,
};
