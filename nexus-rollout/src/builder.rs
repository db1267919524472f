//! Configuration of a [`Rollout`].

use crate::judge::Thresholds;
use crate::rollout::{Inner, Local, Shadow};
use crate::state::{RolloutState, Strategy};
use crate::stats::Recorder;
use crate::store::StateStore;
use crate::{Rollout, RolloutError};
use http::HeaderName;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// How a request is tied to a version.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Stickiness {
    /// Each request is routed at random by the weight.
    Random,
    /// Requests with the same value of this header go to the same version (consistent hashing:
    /// a user on the candidate stays there as the weight grows). Requests without it: random.
    Header(HeaderName),
    /// The same by the value of this cookie.
    Cookie(String),
}

/// What a gate says about the candidate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GateResult {
    /// No objection.
    Pass,
    /// Do not advance now (the reason is shown).
    Hold(String),
    /// Roll back now (the reason is shown).
    RollBack(String),
}

pub(crate) type Gate = Arc<dyn Fn() -> GateResult + Send + Sync>;

/// Builds a [`Rollout`]. Defaults: canary 1 → 5 → 25 → 50 → 100 %, a 5-minute analysis interval
/// per step, [`Thresholds::default`], 99 % confidence, random routing, at most 64 shadow copies in
/// flight, no shared store (this instance only).
///
/// ```
/// use std::time::Duration;
/// use nexus_rollout::{Rollout, Strategy};
/// let rollout = Rollout::builder("documents")
///     .strategy(Strategy::canary([5.0, 50.0, 100.0]).unwrap())
///     .analysis_interval(Duration::from_secs(60))
///     .sticky_header("x-user-id")
///     .min_samples(300)
///     .build()
///     .unwrap();
/// assert_eq!(rollout.status().weight_percent, 5.0);
/// ```
#[must_use]
pub struct RolloutBuilder {
    name: String,
    revision: String,
    strategy: Strategy,
    interval: Duration,
    evaluate_every: Option<Duration>,
    thresholds: Thresholds,
    confidence: f64,
    stickiness: Stickiness,
    shadow_limit: usize,
    store: Option<Arc<dyn StateStore>>,
    gates: Vec<(String, Gate)>,
    instance: Option<String>,
    header_error: Option<String>,
}

impl std::fmt::Debug for RolloutBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RolloutBuilder")
            .field("name", &self.name)
            .field("strategy", &self.strategy)
            .finish_non_exhaustive()
    }
}

impl RolloutBuilder {
    pub(crate) fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            revision: String::new(),
            strategy: Strategy::default(),
            interval: Duration::from_secs(300),
            evaluate_every: None,
            thresholds: Thresholds::default(),
            confidence: 0.99,
            stickiness: Stickiness::Random,
            shadow_limit: 64,
            store: None,
            gates: Vec::new(),
            instance: None,
            header_error: None,
        }
    }

    /// The strategy (default canary 1 → 5 → 25 → 50 → 100 %).
    pub fn strategy(mut self, s: Strategy) -> Self {
        self.strategy = s;
        self
    }

    /// What is being rolled out (e.g. the candidate's version). The shared state is keyed by
    /// name and revision: instances restarting mid-rollout resume it, a new revision starts
    /// afresh.
    pub fn revision(mut self, r: impl Into<String>) -> Self {
        self.revision = r.into();
        self
    }

    /// How long each step is analysed before it may advance (default 5 min).
    pub fn analysis_interval(mut self, d: Duration) -> Self {
        self.interval = d;
        self
    }

    /// How often the judge looks (default: a twentieth of the analysis interval, within
    /// 1–30 s). A regression can roll back at any look; a step advances at the first look
    /// after its analysis interval that finds enough evidence.
    pub fn evaluate_every(mut self, d: Duration) -> Self {
        self.evaluate_every = Some(d);
        self
    }

    /// All thresholds at once.
    pub fn thresholds(mut self, t: Thresholds) -> Self {
        self.thresholds = t;
        self
    }

    /// Requests each version needs in a step before it is judged (default 200).
    pub fn min_samples(mut self, n: u64) -> Self {
        self.thresholds.min_samples = n;
        self
    }

    /// Allowed increase of the error ratio, absolute (default 0.01).
    pub fn error_tolerance(mut self, t: f64) -> Self {
        self.thresholds.error_tolerance = t;
        self
    }

    /// Allowed relative increase of the median or p95 latency (default 0.2).
    pub fn latency_tolerance(mut self, t: f64) -> Self {
        self.thresholds.latency_tolerance = t;
        self
    }

    /// Latency increases smaller than this never count (default 1 ms).
    pub fn latency_floor(mut self, d: Duration) -> Self {
        self.thresholds.latency_floor = d;
        self
    }

    /// How sure the judge must be (default 0.99). Every look tests at a tenth of
    /// `1 − confidence` (0.001 by default), so looking often does not add up to false rollbacks.
    pub fn confidence(mut self, c: f64) -> Self {
        self.confidence = c;
        self
    }

    /// Ties users to a version by this header (e.g. `x-user-id`).
    pub fn sticky_header(mut self, name: &str) -> Self {
        match HeaderName::try_from(name) {
            Ok(h) => self.stickiness = Stickiness::Header(h),
            Err(_) => self.header_error = Some(name.to_owned()),
        }
        self
    }

    /// Ties users to a version by this cookie.
    pub fn sticky_cookie(mut self, name: impl Into<String>) -> Self {
        self.stickiness = Stickiness::Cookie(name.into());
        self
    }

    /// Shadow copies in flight at most (default 64); beyond, requests are not copied.
    pub fn shadow_limit(mut self, n: usize) -> Self {
        self.shadow_limit = n;
        self
    }

    /// Shares the state with other instances through `store`.
    pub fn store(self, store: impl StateStore) -> Self {
        self.store_arc(Arc::new(store))
    }

    /// Shares the state through a store that is already shared.
    pub fn store_arc(mut self, store: Arc<dyn StateStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// A gate that can hold or veto the rollout (e.g. "no alert is firing"); called at every
    /// look, so keep it cheap.
    pub fn gate(
        mut self,
        name: impl Into<String>,
        gate: impl Fn() -> GateResult + Send + Sync + 'static,
    ) -> Self {
        self.gates.push((name.into(), Arc::new(gate)));
        self
    }

    /// This instance's name in events and the shared state (default `pid-random`).
    pub fn instance(mut self, id: impl Into<String>) -> Self {
        self.instance = Some(id.into());
        self
    }

    /// Checks the configuration and builds the rollout (first step in force).
    pub fn build(self) -> Result<Rollout, RolloutError> {
        let bad = |m: &str| Err(RolloutError::Config(m.to_owned()));
        if self.name.is_empty()
            || self.name.len() > 128
            || !self
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        {
            return bad("the name must be 1-128 characters of [A-Za-z0-9._-]");
        }
        if self.revision.len() > 128 || self.revision.bytes().any(|b| b.is_ascii_control()) {
            return bad("the revision must be at most 128 printable characters");
        }
        if let Some(h) = self.header_error {
            return Err(RolloutError::Config(format!("`{h}` is not a header name")));
        }
        if self.interval.is_zero() {
            return bad("the analysis interval must be positive");
        }
        if !(0.5..1.0).contains(&self.confidence) {
            return bad("the confidence must be within 0.5 and 1 (e.g. 0.99)");
        }
        let t = self.thresholds;
        let error_ok = (0.0..1.0).contains(&t.error_tolerance);
        let latency_ok = t.latency_tolerance.is_finite() && t.latency_tolerance >= 0.0;
        if !(error_ok && latency_ok) {
            return bad("tolerances must be finite and non-negative (error tolerance below 1)");
        }
        if t.min_samples == 0 {
            return bad("min_samples must be at least 1");
        }
        let steps = self.strategy.steps();
        let instance = self
            .instance
            .unwrap_or_else(|| format!("{}-{:08x}", std::process::id(), fastrand::u32(..)));
        let every = match self.evaluate_every {
            Some(d) if d.is_zero() => return bad("evaluate_every must be positive"),
            Some(d) => d,
            None => (self.interval / 20).clamp(Duration::from_secs(1), Duration::from_secs(30)),
        };
        let now_ms = nexus_core::time::unix_millis(SystemTime::now());
        let state = RolloutState::start(&steps, now_ms, &instance);
        let key = if self.revision.is_empty() {
            self.name.clone()
        } else {
            format!("{}:{}", self.name, self.revision)
        };
        let stats = Recorder::new();
        let local = Local::new(state.clone(), &stats, Instant::now());
        let inner = Inner {
            seed: crate::layer::hash(0x6e65_7875_7372_6f6c, self.name.as_bytes()),
            name: self.name,
            key,
            revision: self.revision,
            instance,
            strategy: self.strategy,
            steps,
            interval: self.interval,
            every,
            thresholds: t,
            alpha: 1.0 - self.confidence,
            stickiness: self.stickiness,
            weight_bp: AtomicU32::new(state.weight_bp),
            shadow_on: AtomicBool::new(state.shadow),
            shadow: Shadow::new(self.shadow_limit),
            stats,
            store: self.store,
            store_healthy: AtomicBool::new(true),
            gates: Mutex::new(self.gates),
            local: Mutex::new(local),
            rollbacks: AtomicU64::new(0),
            promotions: AtomicU64::new(0),
        };
        Ok(Rollout {
            inner: Arc::new(inner),
        })
    }
}
