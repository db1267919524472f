//! The 0–100 health score: a pure function of a window, probe results and resource figures.
//!
//! | component | weight | full marks | zero |
//! |---|---|---|---|
//! | availability | 40 | every probe passes and every request succeeds | nothing passes |
//! | performance | 30 | p95 ≤ target (2 s) and Apdex 1 | p95 ≫ target, Apdex 0 |
//! | error rate | 20 | no errors | error ratio ≥ target (5 %) |
//! | resource usage | 10 | CPU, memory and disk ≤ target (85 %) | any at 100 % |
//!
//! Availability is half the probe pass ratio and half the request success ratio (whichever exists
//! when only one does). Performance is half `min(1, target / p95)` and half Apdex. Status bands:
//! **unhealthy** below 50 or when a critical probe fails; **degraded** below 80 or when a
//! non-critical probe fails; **healthy** otherwise. Every deduction carries its reason.

use std::time::Duration;

use serde::Serialize;

use crate::probe::{ProbeResult, ProbeStatus};
use crate::recorder::RouteWindow;

/// Component weights, in points; they must sum to 100.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Weights {
    /// Availability (spec: 40).
    pub availability: f64,
    /// Performance (spec: 30).
    pub performance: f64,
    /// Error rate (spec: 20).
    pub error_rate: f64,
    /// Resource usage (spec: 10).
    pub resources: f64,
}

/// Targets and weights of the score. Defaults are the spec's.
///
/// ```
/// use nexus_health::ScoreConfig;
/// use std::time::Duration;
/// let cfg = ScoreConfig::builder().latency_target(Duration::from_millis(500)).build().unwrap();
/// assert_eq!(cfg.weights().availability, 40.0);
/// assert!(ScoreConfig::builder().weights(50.0, 30.0, 20.0, 10.0).build().is_err());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreConfig {
    weights: Weights,
    latency_target: Duration,
    error_target: f64,
    resource_target: f64,
    healthy_at: f64,
    degraded_at: f64,
}

/// Builder for [`ScoreConfig`].
#[derive(Debug, Clone)]
#[must_use]
pub struct ScoreConfigBuilder(ScoreConfig);

impl Default for ScoreConfig {
    fn default() -> Self {
        Self {
            weights: Weights {
                availability: 40.0,
                performance: 30.0,
                error_rate: 20.0,
                resources: 10.0,
            },
            latency_target: Duration::from_secs(2),
            error_target: 0.05,
            resource_target: 0.85,
            healthy_at: 80.0,
            degraded_at: 50.0,
        }
    }
}

/// A configuration that cannot produce a meaningful score.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid score configuration: {0}")]
pub struct ScoreConfigError(String);

impl ScoreConfig {
    /// A builder starting from the spec's defaults.
    pub fn builder() -> ScoreConfigBuilder {
        ScoreConfigBuilder(Self::default())
    }

    /// The weights.
    pub fn weights(&self) -> Weights {
        self.weights
    }
}

impl ScoreConfigBuilder {
    /// Sets the four weights (must be non-negative and sum to 100).
    pub fn weights(
        mut self,
        availability: f64,
        performance: f64,
        error_rate: f64,
        resources: f64,
    ) -> Self {
        self.0.weights = Weights {
            availability,
            performance,
            error_rate,
            resources,
        };
        self
    }

    /// p95 latency target (default 2 s).
    pub fn latency_target(mut self, t: Duration) -> Self {
        self.0.latency_target = t;
        self
    }

    /// Error ratio at which the error component reaches zero (default 0.05).
    pub fn error_target(mut self, ratio: f64) -> Self {
        self.0.error_target = ratio;
        self
    }

    /// Resource usage above which the resource component drops (default 0.85).
    pub fn resource_target(mut self, ratio: f64) -> Self {
        self.0.resource_target = ratio;
        self
    }

    /// Score bands: healthy at or above `healthy`, degraded at or above `degraded` (80, 50).
    pub fn bands(mut self, healthy: f64, degraded: f64) -> Self {
        self.0.healthy_at = healthy;
        self.0.degraded_at = degraded;
        self
    }

    /// Validates and builds.
    pub fn build(self) -> Result<ScoreConfig, ScoreConfigError> {
        let c = self.0;
        let w = c.weights;
        let all = [w.availability, w.performance, w.error_rate, w.resources];
        if all.iter().any(|x| !x.is_finite() || *x < 0.0) {
            return Err(ScoreConfigError(
                "weights must be finite and non-negative".into(),
            ));
        }
        let sum: f64 = all.iter().sum();
        if (sum - 100.0).abs() > 1e-9 {
            return Err(ScoreConfigError(format!("weights sum to {sum}, not 100")));
        }
        if c.latency_target.is_zero() {
            return Err(ScoreConfigError("latency target must be positive".into()));
        }
        let error_ok = c.error_target > 0.0 && c.error_target <= 1.0;
        let resource_ok = c.resource_target > 0.0 && c.resource_target < 1.0;
        if !(error_ok && resource_ok) {
            return Err(ScoreConfigError(
                "error target must be in (0, 1], resource target in (0, 1)".into(),
            ));
        }
        if !(0.0..=100.0).contains(&c.degraded_at)
            || c.degraded_at > c.healthy_at
            || c.healthy_at > 100.0
        {
            return Err(ScoreConfigError(
                "bands must satisfy 0 ≤ degraded ≤ healthy ≤ 100".into(),
            ));
        }
        Ok(c)
    }
}

/// CPU, memory and disk usage as fractions in 0..=1 (`None` when unknown).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Resources {
    /// Host CPU usage.
    pub cpu: Option<f64>,
    /// Host memory usage.
    pub memory: Option<f64>,
    /// Usage of the disk holding the working directory.
    pub disk: Option<f64>,
}

impl Resources {
    /// Figures given directly (e.g. from cgroup limits).
    pub fn new(cpu: Option<f64>, memory: Option<f64>, disk: Option<f64>) -> Self {
        Self { cpu, memory, disk }
    }
}

/// Health band.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Status {
    /// All good.
    Healthy,
    /// Serving, with a problem worth a look.
    Degraded,
    /// Not serving properly.
    Unhealthy,
}

/// One scored component.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Component {
    /// `availability`, `performance`, `error_rate` or `resources`.
    pub name: &'static str,
    /// Its weight in points.
    pub weight: f64,
    /// Its score in 0..=1.
    pub score: f64,
    /// Points earned: `weight × score`.
    pub points: f64,
    /// Why points were deducted (empty at full marks).
    pub reasons: Vec<String>,
}

/// The health score with its components.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct HealthScore {
    /// 0..=100.
    pub score: f64,
    /// Band.
    pub status: Status,
    /// The four components.
    pub components: Vec<Component>,
}

impl HealthScore {
    /// Scores `traffic` (the service total of a window), `probes` and `resources` under `cfg`.
    ///
    /// ```
    /// use nexus_health::{HealthScore, Recorder, Resources, ScoreConfig, Status};
    /// let w = Recorder::default().window();
    /// let s = HealthScore::compute(&w.total, &[], &Resources::default(), &ScoreConfig::default());
    /// assert_eq!((s.score, s.status), (100.0, Status::Healthy));
    /// ```
    pub fn compute(
        traffic: &RouteWindow,
        probes: &[ProbeResult],
        resources: &Resources,
        cfg: &ScoreConfig,
    ) -> Self {
        let w = cfg.weights;
        let components = vec![
            availability(traffic, probes, w.availability),
            performance(traffic, cfg, w.performance),
            error_rate(traffic, cfg, w.error_rate),
            resource_usage(resources, cfg, w.resources),
        ];
        let score = components
            .iter()
            .map(|c| c.points)
            .sum::<f64>()
            .clamp(0.0, 100.0);
        let failing = |critical: bool| {
            probes
                .iter()
                .any(|p| p.critical == critical && p.status != ProbeStatus::Pass)
        };
        let status = if failing(true) || score < cfg.degraded_at {
            Status::Unhealthy
        } else if failing(false) || score < cfg.healthy_at {
            Status::Degraded
        } else {
            Status::Healthy
        };
        Self {
            score,
            status,
            components,
        }
    }
}

fn component(name: &'static str, weight: f64, score: f64, reasons: Vec<String>) -> Component {
    let score = if score.is_finite() {
        score.clamp(0.0, 1.0)
    } else {
        0.0
    };
    Component {
        name,
        weight,
        score,
        points: weight * score,
        reasons,
    }
}

fn availability(t: &RouteWindow, probes: &[ProbeResult], weight: f64) -> Component {
    let mut reasons = Vec::new();
    let probe_ratio = (!probes.is_empty()).then(|| {
        let passing = probes
            .iter()
            .filter(|p| p.status == ProbeStatus::Pass)
            .count();
        for p in probes.iter().filter(|p| p.status != ProbeStatus::Pass) {
            reasons.push(format!(
                "probe {} {}: {}",
                p.name,
                p.status.as_str(),
                p.message.as_deref().unwrap_or("")
            ));
        }
        passing as f64 / probes.len() as f64
    });
    let success = (t.requests > 0).then_some(1.0 - t.error_ratio);
    if let Some(s) = success.filter(|s| *s < 1.0) {
        reasons.push(format!("{:.2} % of requests failed", (1.0 - s) * 100.0));
    }
    let score = match (probe_ratio, success) {
        (Some(p), Some(s)) => (p + s) / 2.0,
        (Some(p), None) => p,
        (None, Some(s)) => s,
        (None, None) => 1.0,
    };
    component("availability", weight, score, reasons)
}

fn performance(t: &RouteWindow, cfg: &ScoreConfig, weight: f64) -> Component {
    if t.requests == 0 {
        return component("performance", weight, 1.0, Vec::new());
    }
    let target = cfg.latency_target.as_secs_f64();
    let mut reasons = Vec::new();
    let latency = if t.p95 <= target { 1.0 } else { target / t.p95 };
    if latency < 1.0 {
        reasons.push(format!(
            "p95 {:.3} s above the {:.3} s target",
            t.p95, target
        ));
    }
    if t.apdex < 1.0 {
        reasons.push(format!("Apdex {:.3}", t.apdex));
    }
    component(
        "performance",
        weight,
        (latency + t.apdex.clamp(0.0, 1.0)) / 2.0,
        reasons,
    )
}

fn error_rate(t: &RouteWindow, cfg: &ScoreConfig, weight: f64) -> Component {
    let e = t.error_ratio.clamp(0.0, 1.0);
    let mut reasons = Vec::new();
    if e > 0.0 {
        reasons.push(format!(
            "error rate {:.2} % (zero points at {:.2} %)",
            e * 100.0,
            cfg.error_target * 100.0
        ));
    }
    component("error_rate", weight, 1.0 - e / cfg.error_target, reasons)
}

fn resource_usage(r: &Resources, cfg: &ScoreConfig, weight: f64) -> Component {
    let target = cfg.resource_target;
    let mut worst: f64 = 0.0;
    let mut reasons = Vec::new();
    for (name, v) in [("cpu", r.cpu), ("memory", r.memory), ("disk", r.disk)] {
        if let Some(v) = v {
            let v = if v.is_finite() {
                v.clamp(0.0, 1.0)
            } else {
                1.0
            };
            if v > target {
                reasons.push(format!(
                    "{name} {:.1} % above {:.0} %",
                    v * 100.0,
                    target * 100.0
                ));
            }
            worst = worst.max(v);
        }
    }
    let score = if worst <= target {
        1.0
    } else {
        (1.0 - worst) / (1.0 - target)
    };
    component("resources", weight, score, reasons)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::ProbeStatus;
    use proptest::prelude::*;

    fn traffic(requests: u64, errors: u64, p95: f64, apdex: f64) -> RouteWindow {
        let mut w = crate::recorder::Window::empty().total;
        w.requests = requests;
        w.errors = errors.min(requests);
        w.error_ratio = if requests == 0 {
            0.0
        } else {
            w.errors as f64 / requests as f64
        };
        w.p95 = p95;
        w.apdex = apdex;
        w
    }

    fn probe(critical: bool, pass: bool) -> ProbeResult {
        ProbeResult::synthetic(
            "p",
            critical,
            if pass {
                ProbeStatus::Pass
            } else {
                ProbeStatus::Fail
            },
        )
    }

    #[test]
    fn the_spec_example_bands() {
        let cfg = ScoreConfig::default();
        let r = Resources::default();
        let ok = HealthScore::compute(&traffic(1000, 0, 0.1, 1.0), &[probe(true, true)], &r, &cfg);
        assert_eq!((ok.score, ok.status), (100.0, Status::Healthy));
        // 10 % errors: error component 0, availability loses 5 %·20, Apdex loses.
        let bad = HealthScore::compute(
            &traffic(1000, 100, 0.1, 0.9),
            &[probe(true, true)],
            &r,
            &cfg,
        );
        assert!(
            bad.score < 80.0 && bad.status == Status::Degraded,
            "{bad:?}"
        );
        assert!(bad.components[2].reasons[0].contains("10.00 %"));
        let down =
            HealthScore::compute(&traffic(1000, 0, 0.1, 1.0), &[probe(true, false)], &r, &cfg);
        assert_eq!(
            down.status,
            Status::Unhealthy,
            "a failing critical probe is unhealthy"
        );
        let soft = HealthScore::compute(
            &traffic(1000, 0, 0.1, 1.0),
            &[probe(true, true), probe(false, false)],
            &r,
            &cfg,
        );
        assert_eq!(soft.status, Status::Degraded);
        let hot = HealthScore::compute(
            &traffic(10, 0, 0.1, 1.0),
            &[],
            &Resources::new(Some(0.95), Some(0.5), None),
            &cfg,
        );
        assert!(
            (hot.components[3].score - (0.05 / 0.15)).abs() < 1e-9,
            "{hot:?}"
        );
        assert!(hot.components[3].reasons[0].starts_with("cpu 95.0 %"));
    }

    proptest! {
        #[test]
        fn bounded_and_monotonic_in_errors(
            requests in 1u64..100_000, e1 in 0u64..100_000, extra in 0u64..100_000,
            p95 in 0.0f64..30.0, apdex in 0.0f64..=1.0,
            cpu in proptest::option::of(0.0f64..=1.0), probes in proptest::collection::vec(any::<(bool, bool)>(), 0..5),
        ) {
            let cfg = ScoreConfig::default();
            let probes: Vec<ProbeResult> = probes.into_iter().map(|(c, p)| probe(c, p)).collect();
            let res = Resources::new(cpu, None, None);
            let a = HealthScore::compute(&traffic(requests, e1, p95, apdex), &probes, &res, &cfg);
            let b = HealthScore::compute(&traffic(requests, e1 + extra, p95, apdex), &probes, &res, &cfg);
            prop_assert!((0.0..=100.0).contains(&a.score) && (0.0..=100.0).contains(&b.score));
            prop_assert!(b.score <= a.score + 1e-9, "more errors raised the score: {} -> {}", a.score, b.score);
            let points: f64 = a.components.iter().map(|c| c.points).sum();
            prop_assert!((points - a.score).abs() < 1e-9);
        }

        #[test]
        fn weights_must_sum_to_100(a in 0.0f64..100.0, b in 0.0f64..100.0, c in 0.0f64..100.0, d in 0.0f64..100.0) {
            let ok = ScoreConfig::builder().weights(a, b, c, d).build().is_ok();
            prop_assert_eq!(ok, ((a + b + c + d) - 100.0).abs() <= 1e-9);
        }

        #[test]
        fn slower_never_scores_higher(p1 in 0.0f64..60.0, extra in 0.0f64..60.0) {
            let cfg = ScoreConfig::default();
            let a = HealthScore::compute(&traffic(100, 0, p1, 1.0), &[], &Resources::default(), &cfg);
            let b = HealthScore::compute(&traffic(100, 0, p1 + extra, 1.0), &[], &Resources::default(), &cfg);
            prop_assert!(b.score <= a.score + 1e-9);
        }
    }
}
