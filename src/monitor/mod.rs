//! `Monitor`: the spec's monitoring aggregator. It composes a service's [`Health`], its caches'
//! statistics, an optional database monitor and the alert engine and pipeline, and mounts every
//! route under one axum `Router` (feature `monitor`).
//!
//! ```no_run
//! # #![allow(dead_code)]
//! use nexus::monitor::Monitor;
//! use nexus::health::Health;
//! # async fn f(cache: nexus::cache::TieredCache<String>) -> Result<(), Box<dyn std::error::Error>> {
//! let health = Health::builder().service_id("documents").build();
//! let metrics = nexus::monitor::install_recorder()?; // the application's global recorder
//! let monitor = Monitor::builder("documents")
//!     .prometheus_handle(metrics)
//!     .health(health.clone())
//!     .cache("documents", &cache)
//!     .receiver(nexus::alerting::Receiver::webhook("ops", "http://127.0.0.1:9000/hook")?)
//!     .build()?;
//! let _tasks = monitor.spawn();
//! let app: axum::Router = axum::Router::new() /* your routes */ .layer(health.layer()).merge(monitor.router());
//! # let _ = app; Ok(()) }
//! ```
//!
//! | route | answer |
//! |---|---|
//! | `GET /api/v1/monitoring/health` | nexus-health's `HealthReport` |
//! | `GET /api/v1/monitoring/metrics` | per-route traffic, cache statistics, engine figures (JSON) |
//! | `GET /api/v1/monitoring/alerts` | alerts as the rules hold them and as the pipeline holds them, silences, and `rule_errors` (rules whose last evaluation failed: group, rule, error) |
//! | `GET /api/v1/monitoring/report` | the comprehensive report (JSON; HTML with `Accept: text/html` or `?format=html`) |
//! | `POST /api/v1/monitoring/test-alert` | `{"receiver"?}`: a synthetic alert through one receiver (or all) |
//! | `GET /api/v1/monitoring/history` | `?range=1h\|24h&top=N&route=R`: the sampled history the dashboard plots (columns over one time axis, alert spans); see [`history`](self#history) |
//! | `POST /api/v1/monitoring/alerts/{fingerprint}/ack` | `{"minutes"?, "by"?}`: acknowledges a firing alert (stops its escalation) |
//! | `POST /api/v1/monitoring/silences` | `{"matchers": "{alertname=\"X\"}", "minutes"?, "created_by"?, "comment"?}` → `201 {"id"}` |
//! | `/api/v1/cache/*`, `/api/v1/database/*` | the cache and database routers, when configured |
//! | `/api/v1/rollout/*` | the rollouts' status and control (feature `rollout`, [`MonitorBuilder::rollout`]) |
//! | `/livez`, `/readyz`, `/health` | nexus-health's endpoints |
//! | `/metrics` | Prometheus text format (`metrics-exporter-prometheus`) |
//! | `/dashboard` | plots of the last hour or day (uPlot, vendored and served at `/dashboard/uplot.js`; no external resources), the alerts with their spans on the time axis, ack / silence / test-alert buttons |
//!
//! **Guarded by default**: the three `POST` routes, the cache routes that change or reveal values
//! and every database route need the bearer token ([`MonitorBuilder::bearer_token`]); with no
//! token they answer 403 unless the builder says [`MonitorBuilder::allow_unauthenticated`]
//! (logged at start). The `GET` monitoring routes, the health endpoints and `/metrics` are open.
//!
//! # History
//!
//! Every evaluation interval the monitor samples what the dashboard plots into two bounded
//! rings (the last hour at that interval, 60–720 points; the last day at 5 min, 288 points):
//! the health score and its four components, per route requests/s, error ratio and p50/p95/p99
//! (seconds), per cache the hit ratio of each tier since the previous sample and loads/s, the
//! database's connections, TPS and cache hit ratio (and its slowest statements), host CPU, memory
//! and disk; and the spans during which each alert was pending or firing (at most 2 000, a day).
//! `GET /api/v1/monitoring/history` answers:
//!
//! ```json
//! { "range": "1h", "interval_seconds": 15, "t": [1764612000.0, 1764612015.0],
//!   "score": { "score": [97.1, 88.0], "availability": [40.0, 36.2], "performance": [30.0, 30.0],
//!              "error_rate": [20.0, 12.0], "resources": [7.1, 9.8] },
//!   "routes": { "/documents/{id}": { "rate": [18.6, 18.5], "error_ratio": [0.0, 0.3],
//!                                    "p50": [0.00019, 0.0002], "p95": [...], "p99": [...] } },
//!   "caches": { "documents": { "loads_per_second": [0.0, 4.0], "tiers": { "l1": [0.99, null] } } },
//!   "database": null,
//!   "resources": { "cpu": [...], "memory": [...], "disk": [...] },
//!   "alerts": [ { "rule": "HighErrorRate", "fingerprint": "37e46fccf7d97874", "labels": {},
//!                 "state": "firing", "from": 1764612100.0, "to": null } ],
//!   "slowest_statements": [] }
//! ```
//!
//! A value is `null` where a series has no figure at that time (a route not yet seen, a tier
//! without reads since the previous sample, a database that did not answer). `routes` holds the
//! `top` (default 10, at most 256) busiest routes of the newest sample plus `route`.

pub mod describe;
mod history;
mod report;
#[cfg(feature = "rollout")]
mod rollout;
mod routes;
pub mod serve;
mod source;
#[cfg(feature = "otlp")]
pub mod telemetry;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use nexus_alerting::{
    Engine, Notification, Notifier, NotifyError, Pipeline, Receiver, Route, RuleGroup,
};
use nexus_cache::{CacheValue, TieredCache};
use nexus_core::task::TaskHandle;
use nexus_health::Health;

pub use report::{Report, Slo, SloStatus};

/// What can go wrong building a [`Monitor`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MonitorError {
    /// The alerting configuration is invalid.
    #[error(transparent)]
    Alerting(#[from] nexus_alerting::Error),
    /// Something else is missing or wrong.
    #[error("monitor: {0}")]
    Config(String),
}

/// The built-in receiver every monitor has: logs notifications through `tracing`.
#[derive(Debug)]
struct LogNotifier;

#[async_trait]
impl Notifier for LogNotifier {
    fn kind(&self) -> &'static str {
        "log"
    }

    async fn notify(&self, n: &Notification) -> Result<(), NotifyError> {
        for a in &n.alerts {
            let summary = a.annotations.get("summary").unwrap_or("");
            if a.is_resolved(n.now) {
                tracing::info!(alert = a.name(), status = "resolved", labels = %a.labels, "RESOLVED {}: {summary}", a.name());
            } else {
                tracing::warn!(alert = a.name(), status = "firing", labels = %a.labels, "FIRING {}: {summary}", a.name());
            }
        }
        Ok(())
    }
}

type Publish = Arc<dyn Fn() + Send + Sync>;

pub(crate) struct Inner {
    pub(crate) service: String,
    pub(crate) health: Health,
    pub(crate) caches: Vec<(String, source::StatsFn)>,
    /// Each monitored cache's `publish_metrics`.
    pub(crate) publishers: Vec<Publish>,
    pub(crate) cache_api: Option<TieredCache<serde_json::Value>>,
    #[cfg(feature = "dbmon")]
    pub(crate) db: Option<nexus_dbmon::DbMonitor>,
    pub(crate) engine: Engine,
    pub(crate) pipeline: Pipeline,
    pub(crate) prometheus: Option<metrics_exporter_prometheus::PrometheusHandle>,
    pub(crate) access: nexus_core::auth::Access,
    pub(crate) history: history::History,
    interval: Duration,
    #[cfg(feature = "rollout")]
    pub(crate) rollouts: Vec<nexus_rollout::Rollout>,
}

impl Inner {
    /// Whether a database monitor is configured.
    pub(crate) fn has_database(&self) -> bool {
        #[cfg(feature = "dbmon")]
        return self.db.is_some();
        #[cfg(not(feature = "dbmon"))]
        false
    }
}

/// The monitoring aggregator. Cheap to clone.
#[derive(Clone)]
pub struct Monitor {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Monitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Monitor")
            .field("service", &self.inner.service)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Monitor`].
#[must_use]
pub struct MonitorBuilder {
    service: String,
    health: Option<Health>,
    caches: Vec<(String, source::StatsFn)>,
    publishers: Vec<Publish>,
    cache_api: Option<TieredCache<serde_json::Value>>,
    #[cfg(feature = "dbmon")]
    db: Option<nexus_dbmon::DbMonitor>,
    receivers: Vec<Receiver>,
    route: Option<Route>,
    rules: Vec<RuleGroup>,
    default_rules: bool,
    interval: Duration,
    prometheus: Option<metrics_exporter_prometheus::PrometheusHandle>,
    access: nexus_core::auth::Access,
    #[cfg(feature = "rollout")]
    rollouts: Vec<nexus_rollout::Rollout>,
}

impl std::fmt::Debug for MonitorBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MonitorBuilder")
            .field("service", &self.service)
            .finish_non_exhaustive()
    }
}

/// The monitor's background work (rule evaluation, alert delivery, exporter upkeep); dropping
/// it stops them.
#[derive(Debug)]
pub struct MonitorTasks {
    _engine: TaskHandle,
    _pipeline: TaskHandle,
    _upkeep: TaskHandle,
    _history: TaskHandle,
    _failures: TaskHandle,
    _health: TaskHandle,
    /// Database snapshots, published as `nexus_pg_…` metrics (the rules read them).
    #[cfg(feature = "dbmon")]
    _db: Option<nexus_dbmon::SnapshotTask>,
    /// Each rollout's judge.
    #[cfg(feature = "rollout")]
    _rollouts: Vec<TaskHandle>,
}

impl MonitorBuilder {
    /// The service's health (the `HealthLayer`'s recorder, probes, score). Required.
    pub fn health(mut self, health: Health) -> Self {
        self.health = Some(health);
        self
    }

    /// A cache whose hit ratio per tier is monitored (the `LowCacheHitRatio` rule) and whose
    /// figures [`Monitor::spawn`] publishes every 5 s (no need for the cache's own `spawn`).
    pub fn cache<V: CacheValue>(mut self, name: &str, cache: &TieredCache<V>) -> Self {
        let c = cache.clone();
        self.caches
            .push((name.to_owned(), Arc::new(move || c.stats())));
        let c = cache.clone();
        self.publishers.push(Arc::new(move || c.publish_metrics()));
        self
    }

    /// A JSON cache served under `/api/v1/cache/*` (and monitored).
    pub fn cache_api(mut self, cache: TieredCache<serde_json::Value>) -> Self {
        self = self.cache("api", &cache);
        self.cache_api = Some(cache);
        self
    }

    /// A database monitor: its figures feed the rules and `/api/v1/database/*` is mounted.
    #[cfg(feature = "dbmon")]
    pub fn database(mut self, db: nexus_dbmon::DbMonitor) -> Self {
        self.db = Some(db);
        self
    }

    /// An alert receiver. Every monitor also has `log` (tracing).
    pub fn receiver(mut self, r: Receiver) -> Self {
        self.receivers.push(r);
        self
    }

    /// The alert routing tree (default: every alert to every receiver, grouped by `alertname`,
    /// 10 s group wait, 1 min group interval, 4 h repeat).
    pub fn route(mut self, r: Route) -> Self {
        self.route = Some(r);
        self
    }

    /// More rules besides the spec's defaults.
    pub fn rules(mut self, groups: Vec<RuleGroup>) -> Self {
        self.rules.extend(groups);
        self
    }

    /// Whether the spec's default rules are loaded (default true).
    pub fn default_rules(mut self, yes: bool) -> Self {
        self.default_rules = yes;
        self
    }

    /// Rule evaluation interval (default 15 s).
    pub fn interval(mut self, d: Duration) -> Self {
        self.interval = d;
        self
    }

    /// The Prometheus recorder's handle `/metrics` renders (from [`install_recorder`], or a
    /// `PrometheusBuilder` of your own). Without one, `/metrics` answers 503 saying so. The
    /// monitor never installs a recorder itself: the global recorder is the application's.
    pub fn prometheus_handle(
        mut self,
        handle: metrics_exporter_prometheus::PrometheusHandle,
    ) -> Self {
        self.prometheus = Some(handle);
        self
    }

    /// The bearer token the guarded routes need (the `POST` monitoring routes, the cache
    /// routes that change or reveal values, the database routes).
    pub fn bearer_token(mut self, token: impl Into<nexus_core::auth::BearerToken>) -> Self {
        self.access = nexus_core::auth::Access::Token(token.into());
        self
    }

    /// Opens the guarded routes to anyone: only on a trusted network. Logged at start. Without
    /// this or a token they refuse with 403.
    pub fn allow_unauthenticated(mut self) -> Self {
        self.access = nexus_core::auth::Access::Unauthenticated;
        self
    }

    /// A rollout (feature `rollout`): served at `/api/v1/rollout` (control behind the access
    /// policy), judged by [`Monitor::spawn`] (do not spawn it yourself as well), shown in the
    /// report and the dashboard, and gated
    /// on the alert engine: a firing alert labelled `rollback="true"` or `rollout="<name>"`
    /// rolls it back, any other firing `critical` alert holds it.
    #[cfg(feature = "rollout")]
    pub fn rollout(mut self, rollout: nexus_rollout::Rollout) -> Self {
        self.rollouts.push(rollout);
        self
    }

    /// The access policy of the guarded routes (default [`Access::Closed`](nexus_core::auth::Access::Closed)).
    pub fn access(mut self, access: nexus_core::auth::Access) -> Self {
        self.access = access;
        self
    }

    /// Builds the engine, the pipeline and the exporter.
    pub fn build(self) -> Result<Monitor, MonitorError> {
        let health = self.health.ok_or_else(|| {
            MonitorError::Config("a Health is required (MonitorBuilder::health)".into())
        })?;
        let mut names: Vec<String> = self.receivers.iter().map(|r| r.name().to_owned()).collect();
        if names.iter().any(|n| n == "log") {
            return Err(MonitorError::Config(
                "the receiver name `log` is reserved".into(),
            ));
        }
        let mut pipeline =
            Pipeline::builder().receiver(Receiver::new("log", Arc::new(LogNotifier)));
        for r in self.receivers {
            pipeline = pipeline.receiver(r);
        }
        names.insert(0, "log".into());
        let route = self.route.unwrap_or_else(|| {
            let mut root = Route::to("log")
                .group_by(["alertname"])
                .group_wait(Duration::from_secs(10))
                .group_interval(Duration::from_secs(60))
                .repeat_interval(Duration::from_secs(4 * 3600));
            for n in names.iter().skip(1) {
                root = root.child(Route::to(n).continue_matching(true));
            }
            // The last child without `continue` is not needed: alerts matching no child (none
            // with receivers) go to `log`.
            root
        });
        let pipeline = pipeline.route(route).build()?;
        let mut groups = if self.default_rules {
            nexus_alerting::default_rules()
        } else {
            Vec::new()
        };
        groups.extend(self.rules);
        let mut engine = Engine::builder().interval(self.interval).groups(groups);
        match &self.prometheus {
            Some(handle) => engine = engine.source(source::own_metrics(handle.clone())),
            None => tracing::warn!(
                "no Prometheus recorder: the alert rules read the process's own /metrics, so they see nothing; call nexus::monitor::install_recorder() in main and pass the handle to MonitorBuilder::prometheus_handle"
            ),
        }
        let engine = engine
            .sink(Arc::new(pipeline.clone()))
            .external_labels(nexus_alerting::Labels::from_pairs([(
                "service",
                self.service.clone(),
            )]))
            .build();
        let prometheus = self.prometheus;
        #[cfg(feature = "rollout")]
        for r in &self.rollouts {
            r.add_gate(
                "alerts",
                rollout::alert_gate(engine.clone(), r.name().to_owned()),
            );
        }
        Ok(Monitor {
            inner: Arc::new(Inner {
                service: self.service,
                health,
                caches: self.caches,
                publishers: self.publishers,
                cache_api: self.cache_api,
                #[cfg(feature = "dbmon")]
                db: self.db,
                engine,
                pipeline,
                prometheus,
                access: self.access,
                history: history::History::new(self.interval),
                interval: self.interval,
                #[cfg(feature = "rollout")]
                rollouts: self.rollouts,
            }),
        })
    }
}

/// Logs, every `every`, one line per route that failed requests in that time (counts from the
/// `HealthLayer`'s recorder), instead of one line per failed request: a burst of errors is a
/// few lines, and the alert lines stand out. Each failed request is still logged at DEBUG
/// (`RUST_LOG=debug`) by [`with_request_ids`].
async fn failure_summary(health: Health, every: Duration) {
    let mut before: std::collections::HashMap<String, (u64, u64)> = Default::default();
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        for r in health.recorder().totals() {
            let (requests, errors) = before
                .insert(r.route.clone(), (r.requests, r.errors))
                .unwrap_or((r.requests, r.errors));
            let failed = r.errors.saturating_sub(errors);
            if failed > 0 {
                tracing::warn!(
                    route = %r.route,
                    failed,
                    requests = r.requests.saturating_sub(requests),
                    "{failed} of {} requests to {} failed in the last {} s",
                    r.requests.saturating_sub(requests),
                    r.route,
                    every.as_secs()
                );
            }
        }
    }
}

/// Gives every request an `x-request-id` (kept if the client sent one), echoes it in the
/// response, and opens a `tracing` span carrying it, so a request's logs can be found by id.
/// A failed request is logged at DEBUG (the monitor summarises failures per route at WARN).
pub fn with_request_ids(router: axum::Router) -> axum::Router {
    use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
    use tower_http::trace::{DefaultOnFailure, TraceLayer};
    let trace = TraceLayer::new_for_http()
        .make_span_with(|req: &http::Request<axum::body::Body>| {
            let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("");
            // The path only: a query string may carry a token, and spans reach logs and traces.
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
        })
        .on_failure(DefaultOnFailure::new().level(tracing::Level::DEBUG));
    router
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(trace)
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}

/// Installs the process's global `metrics` recorder, a Prometheus exporter with the duration
/// buckets (powers of two of nanoseconds, 65 µs … 17 s, so the crates' pre-binned histograms
/// export exactly) and HELP texts of every Nexus metric, and returns the handle to pass to
/// [`MonitorBuilder::prometheus_handle`]. Call it once, in `main`: a library never installs a
/// global recorder behind the application's back, so the monitor does not either.
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let handle = nexus::monitor::install_recorder()?;
/// let monitor = nexus::monitor::Monitor::builder("documents")
///     .health(nexus::health::Health::builder().build())
///     .prometheus_handle(handle)
///     .build()?;
/// # let _ = monitor; Ok(()) }
/// ```
pub fn install_recorder() -> Result<metrics_exporter_prometheus::PrometheusHandle, MonitorError> {
    use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
    // The crates pre-bin durations in `nexus_core::histogram` buckets: exporter buckets at
    // bounds of that histogram (powers of two of nanoseconds, ~65 µs … ~17 s) receive every
    // count exactly.
    let bounds = nexus_core::histogram::export_bounds_seconds(60e-6, 20.0);
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &bounds)
        .map_err(|e| MonitorError::Config(format!("Prometheus buckets: {e}")))?
        .install_recorder()
        .map_err(|e| {
            MonitorError::Config(format!("a metrics recorder is already installed: {e}"))
        })?;
    describe::describe_all();
    Ok(handle)
}

impl Monitor {
    /// Starts building a monitor for `service`.
    pub fn builder(service: &str) -> MonitorBuilder {
        MonitorBuilder {
            service: service.to_owned(),
            health: None,
            caches: Vec::new(),
            publishers: Vec::new(),
            cache_api: None,
            #[cfg(feature = "dbmon")]
            db: None,
            receivers: Vec::new(),
            route: None,
            rules: Vec::new(),
            default_rules: true,
            interval: Duration::from_secs(15),
            prometheus: None,
            access: nexus_core::auth::Access::Closed,
            #[cfg(feature = "rollout")]
            rollouts: Vec::new(),
        }
    }

    /// Starts rule evaluation, alert delivery, the history, the health's own tasks
    /// ([`Health::spawn`]: recorder slices, metrics, probe rounds), database snapshots (every
    /// 30 s or the interval if longer, published as `nexus_pg_…` metrics) and the metrics upkeep: every
    /// 5 s the health and cache figures are published through the `metrics` facade (to whatever
    /// recorder the application installed), and the Prometheus handle, if given, is kept up
    /// (so memory stays flat between scrapes). Everything stops when the returned
    /// [`MonitorTasks`] is dropped.
    pub fn spawn(&self) -> MonitorTasks {
        let upkeep = {
            let handle = self.inner.prometheus.clone();
            let publishers = self.inner.publishers.clone();
            TaskHandle::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(5));
                loop {
                    tick.tick().await;
                    for publish in &publishers {
                        publish();
                    }
                    if let Some(h) = &handle {
                        h.run_upkeep();
                    }
                }
            })
        };
        let m = self.clone();
        let history = TaskHandle::spawn(async move {
            let mut tick = tokio::time::interval(m.inner.interval.max(Duration::from_secs(1)));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                m.inner.history.sample(&m).await;
            }
        });
        MonitorTasks {
            _engine: self.inner.engine.spawn(),
            _pipeline: self.inner.pipeline.spawn(),
            _upkeep: upkeep,
            _history: history,
            _failures: TaskHandle::spawn(failure_summary(
                self.inner.health.clone(),
                Duration::from_secs(10),
            )),
            _health: self.inner.health.spawn(),
            #[cfg(feature = "dbmon")]
            _db: self
                .inner
                .db
                .as_ref()
                .map(|db| db.spawn_snapshots(self.inner.interval.max(Duration::from_secs(30)), 96)),
            #[cfg(feature = "rollout")]
            _rollouts: self.inner.rollouts.iter().map(|r| r.spawn()).collect(),
        }
    }

    /// The alert engine (to add sources or rules, or observe samples).
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// The alert pipeline (silences, acknowledgements).
    pub fn pipeline(&self) -> &Pipeline {
        &self.inner.pipeline
    }

    /// The comprehensive report.
    pub async fn report(&self) -> Report {
        report::build(self).await
    }

    /// Every route; see the module docs.
    pub fn router(&self) -> axum::Router {
        routes::router(self.clone())
    }
}
