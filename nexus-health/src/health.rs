//! `Health`: the recorder, the probes, resource sampling and the score, put together.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use nexus_core::task::TaskHandle;
use serde::Serialize;

use crate::layer::HealthLayer;
use crate::probe::ProbeResult;
use crate::probes::Probes;
use crate::recorder::{Recorder, Window};
use crate::resources::ResourceSampler;
use crate::score::{HealthScore, Resources, ScoreConfig};

/// Resource figures are re-sampled at most this often (a sample reads /proc and the mount table).
const RESOURCE_TTL: Duration = Duration::from_secs(1);

/// Everything a health endpoint or a monitor reports, at one instant.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct HealthReport {
    /// The score and its components.
    pub score: HealthScore,
    /// Traffic over the sliding window.
    pub window: Window,
    /// Latest probe results (cached; no I/O).
    pub probes: Vec<ProbeResult>,
    /// Host resources.
    pub resources: Resources,
    /// Seconds since this `Health` was built.
    pub uptime_seconds: f64,
    /// When the report was made (RFC 3339).
    pub time: String,
}

#[derive(Debug)]
#[cfg_attr(not(feature = "http"), allow(dead_code))] // identity and token serve the endpoints
struct Inner {
    recorder: Recorder,
    probes: Probes,
    config: ScoreConfig,
    sampler: ResourceSampler,
    last_resources: Mutex<Option<(quanta::Instant, Resources)>>,
    fixed_resources: Option<Resources>,
    started: quanta::Instant,
    service_id: String,
    version: String,
    token: Option<nexus_core::auth::BearerToken>,
}

/// A service's health: request figures, probes, resources and the 0–100 score.
///
/// ```
/// use nexus_health::{FnProbe, Health, ProbeSpec, Probes, Resources};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let health = Health::builder()
///     .service_id("documents")
///     .resources(Resources::new(Some(0.2), Some(0.5), Some(0.4))) // fixed, for the example
///     .probes(Probes::builder().probe(ProbeSpec::new("cache", FnProbe::new(|| async { Ok(()) }))).build())
///     .build();
/// health.probes().check_now().await;
/// let report = health.report();
/// assert_eq!(report.score.score, 100.0);
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Health {
    inner: Arc<Inner>,
}

/// Builder for [`Health`].
#[derive(Debug, Default)]
#[must_use]
pub struct HealthBuilder {
    recorder: Option<Recorder>,
    probes: Option<Probes>,
    config: Option<ScoreConfig>,
    resources: Option<Resources>,
    service_id: Option<String>,
    version: Option<String>,
    token: Option<nexus_core::auth::BearerToken>,
}

impl HealthBuilder {
    /// The recorder the `HealthLayer` writes to (default: a new one).
    pub fn recorder(mut self, recorder: Recorder) -> Self {
        self.recorder = Some(recorder);
        self
    }

    /// The probes (default: none).
    pub fn probes(mut self, probes: Probes) -> Self {
        self.probes = Some(probes);
        self
    }

    /// Score weights and targets (default: the spec's).
    pub fn score_config(mut self, config: ScoreConfig) -> Self {
        self.config = Some(config);
        self
    }

    /// Fixed resource figures instead of sampling the host (tests, or figures from cgroups).
    pub fn resources(mut self, resources: Resources) -> Self {
        self.resources = Some(resources);
        self
    }

    /// `serviceId` of the health+json document.
    pub fn service_id(mut self, id: impl Into<String>) -> Self {
        self.service_id = Some(id.into());
        self
    }

    /// `version` of the health+json document.
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = Some(version.into());
        self
    }

    /// When set, the health document's details (checks, score) are shown only to requests with
    /// `Authorization: Bearer <token>`; others get the status alone.
    pub fn bearer_token(mut self, token: impl Into<nexus_core::auth::BearerToken>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Builds.
    pub fn build(self) -> Health {
        Health {
            inner: Arc::new(Inner {
                recorder: self.recorder.unwrap_or_default(),
                probes: self.probes.unwrap_or_else(Probes::none),
                config: self.config.unwrap_or_default(),
                sampler: ResourceSampler::new(),
                last_resources: Mutex::new(None),
                fixed_resources: self.resources,
                started: quanta::Instant::now(),
                service_id: self.service_id.unwrap_or_else(|| "service".into()),
                version: self.version.unwrap_or_else(|| "1".into()),
                token: self.token,
            }),
        }
    }
}

impl Health {
    /// A builder.
    pub fn builder() -> HealthBuilder {
        HealthBuilder::default()
    }

    /// The layer that feeds this health's recorder.
    pub fn layer(&self) -> HealthLayer {
        HealthLayer::new(self.inner.recorder.clone())
    }

    /// Starts the background work of this health: the recorder's slice snapshots and metrics
    /// publishing ([`Recorder::spawn`]) and the probe rounds ([`Probes::spawn`]), in one task
    /// that stops when the handle is dropped. Call it once, inside a Tokio runtime, and keep the
    /// handle as long as the service runs; nothing starts behind your back.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let health = nexus_health::Health::builder().build();
    /// let _tasks = health.spawn(); // dropped at the end of main: the loops stop
    /// assert!(health.ready());
    /// # }
    /// ```
    pub fn spawn(&self) -> TaskHandle {
        let me = self.clone();
        TaskHandle::spawn(async move {
            let probes = me.inner.probes.clone().run();
            let recorder = me.inner.recorder.clone().run(Some(me.clone()));
            tokio::join!(recorder, probes);
        })
    }

    /// Publishes everything this health knows through the `metrics` facade (names in
    /// [`crate::metrics`]): the recorder's HTTP figures, the score, each checked dependency
    /// (pass 1, fail 0; not yet checked: absent) and host resource use. [`spawn`](Self::spawn)'s
    /// task calls it every metrics interval.
    pub fn publish_metrics(&self) {
        use crate::metrics as m;
        self.inner.recorder.publish_metrics();
        let report = self.report();
        metrics::gauge!(m::SCORE.name).set(report.score.score);
        let r = report.resources;
        for (name, v) in [("cpu", r.cpu), ("memory", r.memory), ("disk", r.disk)] {
            if let Some(v) = v {
                metrics::gauge!(m::RESOURCE_USAGE.name, "resource" => name).set(v);
            }
        }
        for p in &report.probes {
            let up = match p.status {
                crate::ProbeStatus::Pass => 1.0,
                crate::ProbeStatus::Fail => 0.0,
                crate::ProbeStatus::Unknown => continue,
            };
            metrics::gauge!(m::DEPENDENCY_UP.name, "dependency" => p.name.clone()).set(up);
        }
    }

    /// The request recorder.
    pub fn recorder(&self) -> &Recorder {
        &self.inner.recorder
    }

    /// The probes.
    pub fn probes(&self) -> &Probes {
        &self.inner.probes
    }

    /// Ready when every critical probe passes (no I/O: cached results).
    pub fn ready(&self) -> bool {
        self.inner.probes.ready()
    }

    /// Host resources (sampled at most once a second).
    pub fn resources(&self) -> Resources {
        if let Some(r) = self.inner.fixed_resources {
            return r;
        }
        let mut last = self
            .inner
            .last_resources
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        match *last {
            Some((at, r)) if at.elapsed() < RESOURCE_TTL => r,
            _ => {
                let r = self.inner.sampler.sample();
                *last = Some((quanta::Instant::now(), r));
                r
            }
        }
    }

    /// The report now: window, cached probe results, resources and the score.
    pub fn report(&self) -> HealthReport {
        let window = self.inner.recorder.window();
        let probes = self.inner.probes.results().to_vec();
        let resources = self.resources();
        let score = HealthScore::compute(&window.total, &probes, &resources, &self.inner.config);
        HealthReport {
            score,
            window,
            probes,
            resources,
            uptime_seconds: self.inner.started.elapsed().as_secs_f64(),
            time: nexus_core::time::rfc3339(SystemTime::now()),
        }
    }

    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) fn service_id(&self) -> &str {
        &self.inner.service_id
    }

    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) fn version(&self) -> &str {
        &self.inner.version
    }

    /// Whether `authorization` (the header value) unlocks details.
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) fn authorized(&self, authorization: Option<&str>) -> bool {
        self.inner
            .token
            .as_ref()
            .is_none_or(|t| t.verify(authorization))
    }
}
