//! The production health monitor: the spec's scheduled production check (every 15 minutes by
//! default) as a library task, with a bounded history of reports.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;

use crate::health::{Health, HealthReport};
use crate::probe::{ProbeResult, ProbeStatus};
use crate::probes::{ProbeSpec, Probes};
use crate::score::Status;

/// One round of the production check.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct MonitorReport {
    /// Every critical probe and check passed and the service is not unhealthy.
    pub passed: bool,
    /// The health report, with the service's probes freshly run.
    pub health: HealthReport,
    /// The monitor's own checks (endpoint validation, backup freshness, smoke tests…).
    pub checks: Vec<ProbeResult>,
    /// Why the round failed (empty when it passed).
    pub failures: Vec<String>,
}

type Callback = Arc<dyn Fn(&MonitorReport) + Send + Sync>;

struct Inner {
    health: Health,
    checks: Probes,
    history: Mutex<VecDeque<MonitorReport>>,
    keep: usize,
    callbacks: Vec<Callback>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProductionMonitor")
            .field("checks", &self.checks)
            .field("keep", &self.keep)
            .finish_non_exhaustive()
    }
}

/// Runs the service's probes plus its own checks on a schedule, keeps the last reports, and emits
/// each through callbacks and `tracing`.
///
/// ```
/// use nexus_health::{FnProbe, Health, ProbeSpec, ProductionMonitor};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let monitor = ProductionMonitor::builder(Health::builder().build())
///     .check(ProbeSpec::new("backup-fresh", FnProbe::new(|| async { Ok(()) })))
///     .on_report(|r| println!("production check passed: {}", r.passed))
///     .build();
/// let report = monitor.run_once().await;
/// assert_eq!(report.checks.len(), 1);
/// assert_eq!(monitor.history().len(), 1);
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct ProductionMonitor {
    inner: Arc<Inner>,
}

/// Builder for [`ProductionMonitor`].
#[must_use]
pub struct ProductionMonitorBuilder {
    health: Health,
    checks: Vec<ProbeSpec>,
    keep: usize,
    callbacks: Vec<Callback>,
}

impl std::fmt::Debug for ProductionMonitorBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProductionMonitorBuilder")
            .field("checks", &self.checks)
            .finish_non_exhaustive()
    }
}

impl ProductionMonitorBuilder {
    /// Adds a check of the monitor's own (critical ones fail the round).
    pub fn check(mut self, spec: ProbeSpec) -> Self {
        self.checks.push(spec);
        self
    }

    /// How many reports to keep (default 96: a day at the default schedule).
    pub fn history(mut self, keep: usize) -> Self {
        self.keep = keep.max(1);
        self
    }

    /// Called with every report.
    pub fn on_report(mut self, f: impl Fn(&MonitorReport) + Send + Sync + 'static) -> Self {
        self.callbacks.push(Arc::new(f));
        self
    }

    /// Builds (does not start; see [`ProductionMonitor::spawn`]).
    pub fn build(self) -> ProductionMonitor {
        let checks = self
            .checks
            .into_iter()
            .fold(Probes::builder().interval(Duration::ZERO), |b, c| {
                b.probe(c)
            })
            .build();
        ProductionMonitor {
            inner: Arc::new(Inner {
                health: self.health,
                checks,
                history: Mutex::new(VecDeque::new()),
                keep: self.keep,
                callbacks: self.callbacks,
            }),
        }
    }
}

/// The spec's schedule: every 15 minutes.
pub const DEFAULT_EVERY: Duration = Duration::from_secs(15 * 60);

impl ProductionMonitor {
    /// A builder over `health` (whose probes are run fresh each round).
    pub fn builder(health: Health) -> ProductionMonitorBuilder {
        ProductionMonitorBuilder {
            health,
            checks: Vec::new(),
            keep: 96,
            callbacks: Vec::new(),
        }
    }

    /// Runs one round now: the service's probes, the monitor's checks, the score.
    pub async fn run_once(&self) -> MonitorReport {
        let (_, checks) = tokio::join!(
            self.inner.health.probes().check_now(),
            self.inner.checks.check_now()
        );
        let health = self.inner.health.report();
        let mut failures: Vec<String> = health
            .probes
            .iter()
            .chain(checks.iter())
            .filter(|p| p.critical && p.status != ProbeStatus::Pass)
            .map(|p| {
                format!(
                    "{}: {}",
                    p.name,
                    p.message.as_deref().unwrap_or(p.status.as_str())
                )
            })
            .collect();
        if health.score.status == Status::Unhealthy {
            failures.push(format!(
                "health score {:.1} is unhealthy",
                health.score.score
            ));
        }
        let report = MonitorReport {
            passed: failures.is_empty(),
            health,
            checks: checks.to_vec(),
            failures,
        };
        if report.passed {
            tracing::info!(
                score = report.health.score.score,
                "production health check passed"
            );
        } else {
            tracing::warn!(score = report.health.score.score, failures = ?report.failures, "production health check failed");
        }
        {
            let mut h = self.inner.history.lock().unwrap_or_else(|e| e.into_inner());
            h.push_back(report.clone());
            while h.len() > self.inner.keep {
                h.pop_front();
            }
        }
        for cb in &self.inner.callbacks {
            cb(&report);
        }
        report
    }

    /// The kept reports, oldest first.
    pub fn history(&self) -> Vec<MonitorReport> {
        self.inner
            .history
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .cloned()
            .collect()
    }

    /// Runs a round every `every` (first one immediately) until the returned handle is dropped.
    /// Call it inside a Tokio runtime.
    pub fn spawn(&self, every: Duration) -> nexus_core::task::TaskHandle {
        let me = self.clone();
        nexus_core::task::TaskHandle::spawn(async move {
            let mut tick = tokio::time::interval(every.max(Duration::from_millis(1)));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                me.run_once().await;
            }
        })
    }
}
