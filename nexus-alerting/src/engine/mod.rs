//! `Engine`: pulls samples, evaluates rules with Prometheus' state machine, hands alerts to a
//! sink (the [`Pipeline`](crate::Pipeline)). `Evaluator` is its synchronous core, also used by
//! the promtool-format test runner.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use foldhash::{HashMap, HashMapExt};

use crate::alert::{ActiveAlert, Alert, AlertState};
use crate::anomaly::{CombinedDetector, Detector};
use crate::labels::{ALERT_NAME, Labels, METRIC_NAME};
use crate::promql::{self, Expr, Hooks, Query, SelectCache, Value};
use crate::rule::{Rule, RuleGroup};
use crate::source::Source;
use crate::store::{self, Sample, Store};
use crate::template::TemplateData;
use crate::time::{Clock, Millis, ms};
use nexus_core::task::TaskHandle;

mod evaluator;

#[allow(unused_imports)]
use evaluator::*;
pub use evaluator::{AlertSink, DetectorFactory, EvalConfig, Evaluator};

struct EngineInner {
    eval: Mutex<Evaluator>,
    sources: Mutex<Vec<Arc<dyn Source>>>,
    sink: Option<Arc<dyn AlertSink>>,
    clock: Clock,
    interval: Duration,
    source_timeout: Duration,
}

/// The rule engine: sources → store → rules → sink, every interval.
///
/// ```
/// use nexus_alerting::{Engine, Labels, Rule};
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let engine = Engine::builder()
///     .rule("app", Rule::builder("HighErrorRate", "error_ratio > 0.05").build().unwrap())
///     .build();
/// engine.observe("error_ratio", Labels::from_pairs([("route", "/docs")]), 0.09);
/// engine.evaluate_now().await;
/// assert_eq!(engine.alerts().len(), 1);
/// let _task = engine.spawn(); // evaluates every 15 s until dropped
/// # }
/// ```
#[derive(Clone)]
pub struct Engine {
    inner: Arc<EngineInner>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("interval", &self.inner.interval)
            .finish_non_exhaustive()
    }
}

/// Builds an [`Engine`].
#[must_use]
#[derive(Default)]
pub struct EngineBuilder {
    cfg: EvalConfig,
    groups: Vec<RuleGroup>,
    sources: Vec<Arc<dyn Source>>,
    sink: Option<Arc<dyn AlertSink>>,
    clock: Option<Clock>,
    source_timeout: Option<Duration>,
    detector: Option<DetectorFactory>,
}

impl std::fmt::Debug for EngineBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineBuilder")
            .field("cfg", &self.cfg)
            .field("groups", &self.groups.len())
            .field("sources", &self.sources)
            .finish_non_exhaustive()
    }
}

impl EngineBuilder {
    /// Evaluation interval (default 15 s).
    pub fn interval(mut self, d: Duration) -> Self {
        self.cfg.interval = d;
        self
    }

    /// Instant-selector lookback (default 5 min).
    pub fn lookback(mut self, d: Duration) -> Self {
        self.cfg.lookback = d;
        self
    }

    /// Prometheus 2's closed windows (`[t - range, t]`, as `promtool` 2.x evaluates) instead
    /// of Prometheus 3's left-open ones (the default).
    pub fn closed_windows(mut self) -> Self {
        self.cfg.closed_windows = true;
        self
    }

    /// External labels (added to every alert, `$externalLabels` in templates).
    pub fn external_labels(mut self, l: Labels) -> Self {
        self.cfg.external_labels = l;
        self
    }

    /// Prefix for alerts' `generator_url`.
    pub fn external_url(mut self, url: &str) -> Self {
        self.cfg.external_url = url.to_owned();
        self
    }

    /// Adds a rule to group `group`.
    pub fn rule(mut self, group: &str, rule: Rule) -> Self {
        match self.groups.iter_mut().find(|g| g.name == group) {
            Some(g) => g.rules.push(rule),
            None => self.groups.push(RuleGroup {
                name: group.to_owned(),
                interval: None,
                rules: vec![rule],
            }),
        }
        self
    }

    /// Adds rule groups (e.g. from [`load_rule_file`](crate::load_rule_file)).
    pub fn groups(mut self, groups: Vec<RuleGroup>) -> Self {
        self.groups.extend(groups);
        self
    }

    /// Adds a source.
    pub fn source(mut self, s: Arc<dyn Source>) -> Self {
        self.sources.push(s);
        self
    }

    /// Where alerts go (the pipeline).
    pub fn sink(mut self, s: Arc<dyn AlertSink>) -> Self {
        self.sink = Some(s);
        self
    }

    /// The clock (tests anchor it).
    pub fn clock(mut self, c: Clock) -> Self {
        self.clock = Some(c);
        self
    }

    /// The detector `anomaly(...)` uses per series (default: the frozen `CombinedDetector`).
    pub fn detector(mut self, make: DetectorFactory) -> Self {
        self.detector = Some(make);
        self
    }

    /// How long a source may take before its samples are skipped for this round (default 5 s).
    pub fn source_timeout(mut self, d: Duration) -> Self {
        self.source_timeout = Some(d);
        self
    }

    /// Builds the engine (not running: call [`Engine::spawn`]).
    pub fn build(self) -> Engine {
        let interval = self.cfg.interval;
        let mut ev = Evaluator::new(self.cfg);
        ev.set_rules(self.groups);
        if let Some(d) = self.detector {
            ev.set_detector_factory(d);
        }
        Engine {
            inner: Arc::new(EngineInner {
                eval: Mutex::new(ev),
                sources: Mutex::new(self.sources),
                sink: self.sink,
                clock: self.clock.unwrap_or_default(),
                interval,
                source_timeout: self.source_timeout.unwrap_or(Duration::from_secs(5)),
            }),
        }
    }
}

impl Engine {
    /// Starts building.
    pub fn builder() -> EngineBuilder {
        EngineBuilder::default()
    }

    fn eval_lock(&self) -> MutexGuard<'_, Evaluator> {
        self.inner.eval.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Now, on the engine's clock.
    pub fn now(&self) -> Millis {
        self.inner.clock.now()
    }

    /// Records a sample of `name` with `labels` at the current time (push-style source).
    pub fn observe(&self, name: &str, labels: Labels, value: f64) {
        let now = self.now();
        self.eval_lock().push(Sample::new(name, labels, value, now));
    }

    /// Records a sample with its own timestamp.
    pub fn observe_sample(&self, s: Sample) {
        self.eval_lock().push(s);
    }

    /// Adds a source.
    pub fn add_source(&self, s: Arc<dyn Source>) {
        self.inner
            .sources
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(s);
    }

    /// Replaces the rules; alerts of unchanged rules survive.
    pub fn set_rules(&self, groups: Vec<RuleGroup>) {
        self.eval_lock().set_rules(groups);
    }

    /// Pulls every source, evaluates, sends to the sink. Returns the alerts sent.
    pub async fn evaluate_now(&self) -> Vec<Alert> {
        let now = self.now();
        let sources: Vec<Arc<dyn Source>> = self
            .inner
            .sources
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let timeout = self.inner.source_timeout;
        let results = futures_util::future::join_all(sources.iter().map(|s| async move {
            match tokio::time::timeout(timeout, s.collect(now)).await {
                Ok(Ok(v)) => Some(v),
                Ok(Err(e)) => {
                    tracing::warn!(source = s.name(), error = %e, "source failed");
                    metrics::counter!(crate::metrics::SOURCE_ERRORS.name, "source" => s.name().to_owned()).increment(1);
                    None
                }
                Err(_) => {
                    tracing::warn!(source = s.name(), "source timed out");
                    metrics::counter!(crate::metrics::SOURCE_ERRORS.name, "source" => s.name().to_owned()).increment(1);
                    None
                }
            }
        }))
        .await;
        let started = std::time::Instant::now();
        let alerts = {
            let mut ev = self.eval_lock();
            for samples in results.into_iter().flatten() {
                ev.push_all(samples);
            }
            let alerts = ev.eval(now);
            ev.compact(now);
            let held = ev.alerts();
            let pending = held
                .iter()
                .filter(|a| a.state == AlertState::Pending)
                .count();
            let firing = held
                .iter()
                .filter(|a| a.state == AlertState::Firing)
                .count();
            metrics::gauge!(crate::metrics::ALERTS.name, "state" => "pending").set(pending as f64);
            metrics::gauge!(crate::metrics::ALERTS.name, "state" => "firing").set(firing as f64);
            alerts
        };
        metrics::histogram!(crate::metrics::EVALUATION_DURATION.name)
            .record(started.elapsed().as_secs_f64());
        metrics::counter!(crate::metrics::EVALUATIONS.name).increment(1);
        if let Some(sink) = &self.inner.sink {
            sink.send(alerts.clone());
        }
        alerts
    }

    /// Alerts held by the rules (pending, firing, resolved in the last 15 minutes).
    pub fn alerts(&self) -> Vec<ActiveAlert> {
        self.eval_lock().alerts()
    }

    /// Each rule's health: (group, rule, the last evaluation's error if it failed).
    pub fn rule_health(&self) -> Vec<(String, String, Option<String>)> {
        self.eval_lock().rule_health()
    }

    /// Runs [`evaluate_now`](Self::evaluate_now) every interval until the returned handle is
    /// dropped. Call it inside a Tokio runtime.
    pub fn spawn(&self) -> TaskHandle {
        let me = self.clone();
        TaskHandle::spawn(async move {
            let mut tick = tokio::time::interval(me.inner.interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                me.evaluate_now().await;
            }
        })
    }
}
