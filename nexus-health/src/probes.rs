//! `Probes`: runs every probe in the background, concurrently, on an interval, and serves cached
//! results, so endpoints hit hard never cause a probe storm.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use futures_util::future::join_all;
use nexus_core::task::TaskHandle;

use crate::probe::{DEFAULT_TIMEOUT, Probe, ProbeResult, ProbeStatus};

/// A probe with its name, timeout, criticality and tags.
///
/// ```
/// use nexus_health::{FnProbe, ProbeSpec};
/// use std::time::Duration;
/// let spec = ProbeSpec::new("disk", FnProbe::new(|| async { Ok(()) }))
///     .critical(false)
///     .timeout(Duration::from_millis(500))
///     .tags(["local"]);
/// assert_eq!(spec.name(), "disk");
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct ProbeSpec {
    name: String,
    probe: Arc<dyn Probe>,
    critical: bool,
    timeout: Duration,
    tags: Vec<String>,
}

impl ProbeSpec {
    /// A critical probe with a 2 s timeout.
    pub fn new(name: impl Into<String>, probe: impl Probe) -> Self {
        Self {
            name: name.into(),
            probe: Arc::new(probe),
            critical: true,
            timeout: DEFAULT_TIMEOUT,
            tags: Vec::new(),
        }
    }

    /// Critical probes decide readiness and make the service unhealthy when failing; others only
    /// degrade it. Default: critical.
    pub fn critical(mut self, critical: bool) -> Self {
        self.critical = critical;
        self
    }

    /// Time after which the check counts as failed.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Tags, reported with the result.
    pub fn tags<I: IntoIterator<Item = S>, S: Into<String>>(mut self, tags: I) -> Self {
        self.tags = tags.into_iter().map(Into::into).collect();
        self
    }

    /// The probe's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn pending(&self) -> ProbeResult {
        ProbeResult {
            name: self.name.clone(),
            status: ProbeStatus::Unknown,
            critical: self.critical,
            tags: self.tags.clone(),
            component_type: self.probe.component_type(),
            duration_ms: 0.0,
            message: Some("not checked yet".into()),
            checked_at: None,
        }
    }

    async fn run(&self) -> ProbeResult {
        let started = quanta::Instant::now();
        let outcome = tokio::time::timeout(self.timeout, self.probe.check()).await;
        let duration_ms = started.elapsed().as_secs_f64() * 1e3;
        let (status, message) = match outcome {
            Ok(Ok(())) => (ProbeStatus::Pass, None),
            Ok(Err(m)) => (ProbeStatus::Fail, Some(m)),
            Err(_) => (
                ProbeStatus::Fail,
                Some(format!("timed out after {:?}", self.timeout)),
            ),
        };
        if status == ProbeStatus::Fail {
            tracing::warn!(probe = %self.name, critical = self.critical, message = message.as_deref(), "probe failed");
        }
        ProbeResult {
            status,
            message,
            duration_ms,
            checked_at: Some(SystemTime::now()),
            ..self.pending()
        }
    }
}

#[derive(Debug)]
struct Inner {
    specs: Vec<ProbeSpec>,
    results: ArcSwap<Vec<ProbeResult>>,
    round: tokio::sync::Mutex<()>,
    every: Duration,
}

/// The set of probes of a service, checked in the background once [spawned](Probes::spawn).
///
/// ```
/// use nexus_health::{FnProbe, ProbeSpec, ProbeStatus, Probes};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let probes = Probes::builder()
///     .probe(ProbeSpec::new("always", FnProbe::new(|| async { Ok(()) })))
///     .build();
/// let results = probes.check_now().await;
/// assert_eq!(results[0].status, ProbeStatus::Pass);
/// assert!(probes.ready());
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Probes {
    inner: Arc<Inner>,
}

/// Builder for [`Probes`].
#[derive(Debug, Default)]
#[must_use]
pub struct ProbesBuilder {
    specs: Vec<ProbeSpec>,
    interval: Option<Duration>,
}

impl ProbesBuilder {
    /// Adds a probe.
    pub fn probe(mut self, spec: ProbeSpec) -> Self {
        self.specs.push(spec);
        self
    }

    /// How often [`Probes::spawn`]'s task runs a round (default 10 s; `Duration::ZERO` for
    /// never, i.e. only on [`Probes::check_now`]).
    pub fn interval(mut self, every: Duration) -> Self {
        self.interval = Some(every);
        self
    }

    /// Builds. It starts nothing: [`Probes::spawn`] starts the rounds.
    pub fn build(self) -> Probes {
        let results = self.specs.iter().map(ProbeSpec::pending).collect();
        let inner = Arc::new(Inner {
            specs: self.specs,
            results: ArcSwap::from_pointee(results),
            round: tokio::sync::Mutex::new(()),
            every: self.interval.unwrap_or(Duration::from_secs(10)),
        });
        Probes { inner }
    }
}

impl Probes {
    /// A builder.
    pub fn builder() -> ProbesBuilder {
        ProbesBuilder::default()
    }

    /// Starts the background rounds (the first at once), one every
    /// [`interval`](ProbesBuilder::interval); stops when the handle is dropped. Call it inside
    /// a Tokio runtime ([`Health::spawn`](crate::Health::spawn) does it for a whole `Health`).
    pub fn spawn(&self) -> TaskHandle {
        TaskHandle::spawn(self.clone().run())
    }

    pub(crate) async fn run(self) {
        let every = self.inner.every;
        if every.is_zero() || self.inner.specs.is_empty() {
            return;
        }
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            self.check_now().await;
        }
    }

    /// No probes at all.
    pub fn none() -> Self {
        Self::builder().build()
    }

    /// The cached results of the last round (no I/O).
    pub fn results(&self) -> Arc<Vec<ProbeResult>> {
        self.inner.results.load_full()
    }

    /// Runs every probe now, concurrently, each under its timeout; caches and returns the results.
    /// Concurrent callers share one round.
    pub async fn check_now(&self) -> Arc<Vec<ProbeResult>> {
        let before = self.inner.results.load_full();
        let _round = self.inner.round.lock().await;
        let cached = self.inner.results.load_full();
        if !Arc::ptr_eq(&before, &cached) {
            return cached; // another caller just finished a round
        }
        let results = Arc::new(join_all(self.inner.specs.iter().map(ProbeSpec::run)).await);
        self.inner.results.store(results.clone());
        results
    }

    /// Ready when every critical probe passed its last check (Kubernetes readiness).
    pub fn ready(&self) -> bool {
        self.results()
            .iter()
            .filter(|r| r.critical)
            .all(|r| r.status == ProbeStatus::Pass)
    }
}
