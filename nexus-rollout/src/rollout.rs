//! [`Rollout`]: the state machine that the layer routes by, the judge moves, operators steer and
//! a fleet shares.

use crate::RolloutError;
use crate::builder::{Gate, GateResult, RolloutBuilder, Stickiness};
use crate::judge::{Decision, Thresholds, Verdict, judge};
use crate::metrics as m;
use crate::state::{FULL, Phase, RolloutState, Strategy};
use crate::stats::{Recorder, Window};
use crate::store::StateStore;
use nexus_core::task::TaskHandle;
use serde::Serialize;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

/// Events kept for the status (the newest).
const EVENTS: usize = 32;

/// Which version answers a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Version {
    /// The version in production.
    Stable,
    /// The version being rolled out.
    Candidate,
}

impl Version {
    /// `stable` or `candidate`.
    pub fn as_str(self) -> &'static str {
        match self {
            Version::Stable => "stable",
            Version::Candidate => "candidate",
        }
    }
}

/// Shadow copies: a bound on those in flight and what they showed.
#[derive(Debug)]
pub(crate) struct Shadow {
    pub(crate) limit: usize,
    pub(crate) in_flight: AtomicUsize,
    pub(crate) copied: AtomicU64,
    pub(crate) compared: AtomicU64,
    pub(crate) mismatched: AtomicU64,
    pub(crate) skipped: AtomicU64,
}

impl Shadow {
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            limit,
            in_flight: AtomicUsize::new(0),
            copied: AtomicU64::new(0),
            compared: AtomicU64::new(0),
            mismatched: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
        }
    }
}

/// One change of the rollout, as shown in the status.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// When (RFC 3339).
    pub at: String,
    /// The phase after the change.
    pub phase: Phase,
    /// The step after the change.
    pub step: usize,
    /// The candidate's weight after the change, percent.
    pub weight_percent: f64,
    /// Why.
    pub reasons: Vec<String>,
    /// Which instance made it.
    pub by: String,
}

pub(crate) struct Local {
    pub(crate) state: RolloutState,
    /// Cumulative counts when the step began.
    pub(crate) step_start: [Window; 2],
    pub(crate) step_started: Instant,
    /// Stable's figures of the last step that had stable traffic: the reference once the
    /// candidate takes everything.
    pub(crate) baseline: Option<Window>,
    pub(crate) verdict: Option<Verdict>,
    pub(crate) events: VecDeque<Event>,
    /// A local change not yet in the shared store.
    pub(crate) dirty: bool,
}

impl Local {
    pub(crate) fn new(state: RolloutState, stats: &Recorder, now: Instant) -> Self {
        let mut l = Local {
            step_start: [stats.snapshot(0), stats.snapshot(1)],
            step_started: now,
            baseline: None,
            verdict: None,
            events: VecDeque::new(),
            dirty: true,
            state,
        };
        l.event("");
        l
    }

    fn event(&mut self, by: &str) {
        if self.events.len() == EVENTS {
            self.events.pop_front();
        }
        let s = &self.state;
        self.events.push_back(Event {
            at: nexus_core::time::rfc3339_millis(s.step_started_ms),
            phase: s.phase,
            step: s.step,
            weight_percent: s.weight_bp as f64 / 100.0,
            reasons: s.reasons.clone(),
            by: if by.is_empty() {
                s.changed_by.clone()
            } else {
                by.to_owned()
            },
        });
    }
}

pub(crate) struct Inner {
    pub(crate) name: String,
    /// The store key: name, or name:revision.
    pub(crate) key: String,
    pub(crate) revision: String,
    pub(crate) instance: String,
    pub(crate) strategy: Strategy,
    pub(crate) steps: Vec<u32>,
    pub(crate) interval: Duration,
    pub(crate) every: Duration,
    pub(crate) thresholds: Thresholds,
    pub(crate) alpha: f64,
    pub(crate) stickiness: Stickiness,
    pub(crate) seed: u64,
    pub(crate) weight_bp: AtomicU32,
    pub(crate) shadow_on: AtomicBool,
    pub(crate) shadow: Shadow,
    /// Stable, candidate.
    pub(crate) stats: Recorder,
    pub(crate) store: Option<Arc<dyn StateStore>>,
    pub(crate) store_healthy: AtomicBool,
    pub(crate) gates: Mutex<Vec<(String, Gate)>>,
    pub(crate) local: Mutex<Local>,
    /// Rollbacks and step advances seen by this instance (published as counters from 0).
    pub(crate) rollbacks: AtomicU64,
    pub(crate) promotions: AtomicU64,
}

/// A rollout of a candidate version next to a stable one: routes requests by weight (through
/// [`RolloutLayer`](crate::RolloutLayer)), judges the candidate against stable at every look
/// and moves through the [`Strategy`]'s steps — or rolls back. Cheap to clone.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use std::time::{Duration, Instant};
/// use nexus_rollout::{Phase, Rollout, Strategy, Version};
/// let rollout = Rollout::builder("documents")
///     .strategy(Strategy::canary([10.0, 100.0]).unwrap())
///     .analysis_interval(Duration::from_secs(60))
///     .min_samples(100)
///     .build()
///     .unwrap();
/// // A candidate that fails 20 % of its requests.
/// for i in 0..5_000u64 {
///     let version = rollout.pick(None);
///     let failed = version == Version::Candidate && i % 5 == 0;
///     rollout.record(version, Duration::from_millis(3), failed);
/// }
/// rollout.evaluate_at(Instant::now()).await;
/// let status = rollout.status();
/// assert_eq!(status.phase, Phase::RolledBack);
/// assert_eq!(status.weight_percent, 0.0);
/// assert_eq!(rollout.pick(None), Version::Stable);
/// # });
/// ```
#[derive(Clone)]
pub struct Rollout {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Rollout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rollout")
            .field("name", &self.inner.name)
            .field("weight_bp", &self.inner.weight_bp.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// A change the rollout can make.
enum Change {
    Advance(Vec<String>),
    PromoteFull(Vec<String>),
    RollBack(Vec<String>),
    Pause,
    Resume,
    Restart,
}

impl Rollout {
    /// Starts configuring a rollout named `name` (used in metrics, routes and the store key).
    pub fn builder(name: &str) -> RolloutBuilder {
        RolloutBuilder::new(name)
    }

    /// The rollout's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Records one request answered by `version` (the layer does this itself; for callers that
    /// route with [`pick`](Self::pick) by hand).
    #[inline]
    pub fn record(&self, version: Version, latency: Duration, failed: bool) {
        self.inner.stats.stripe().0[version as usize].record(
            u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX),
            failed,
        );
    }

    fn lock(&self) -> MutexGuard<'_, Local> {
        self.inner.local.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Looks now: see [`evaluate_at`](Self::evaluate_at).
    pub async fn evaluate(&self) -> Option<Verdict> {
        self.evaluate_at(Instant::now()).await
    }

    /// Synchronises with the shared store, then judges the current step as of `now`: rolls back
    /// on a regression (at any look), advances when the analysis interval has passed with
    /// enough samples and no regression, holds otherwise. Every look tests at a tenth of
    /// `1 − confidence`. Returns the verdict (`None` when the rollout is over).
    pub async fn evaluate_at(&self, now: Instant) -> Option<Verdict> {
        self.sync(now).await;
        let i = &self.inner;
        let (generation, phase, stable, candidate, elapsed) = {
            let l = self.lock();
            if !l.state.phase.is_active() {
                drop(l);
                self.publish();
                return None;
            }
            let cand = i.stats.snapshot(1).since(&l.step_start[1]);
            let stable = if l.state.weight_bp >= FULL {
                l.baseline.clone().unwrap_or_default()
            } else {
                i.stats.snapshot(0).since(&l.step_start[0])
            };
            let elapsed = now.saturating_duration_since(l.step_started);
            (l.state.generation, l.state.phase, stable, cand, elapsed)
        };
        let last_look = elapsed >= i.interval;
        let alpha = i.alpha / 10.0;
        let mut v = judge(&stable, &candidate, &i.thresholds, alpha);
        let gates = i.gates.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let mut vetoes = Vec::new();
        for (name, gate) in &gates {
            match gate() {
                GateResult::Pass => {}
                GateResult::Hold(r) => {
                    if v.decision == Decision::Promote {
                        v.decision = Decision::Hold;
                    }
                    v.reasons.push(format!("gate {name}: {r}"));
                }
                GateResult::RollBack(r) => vetoes.push(format!("gate {name}: {r}")),
            }
        }
        if !vetoes.is_empty() {
            if v.decision != Decision::RollBack {
                // Only the reasons for rolling back, not those for waiting.
                v.reasons.clear();
            }
            v.decision = Decision::RollBack;
            v.reasons.extend(vetoes);
        }
        if v.decision == Decision::Promote && !last_look {
            v.decision = Decision::Hold;
            v.reasons.push(format!(
                "analysing: {} s of {} s",
                elapsed.as_secs(),
                i.interval.as_secs()
            ));
        } else if v.decision == Decision::Promote && phase == Phase::Paused {
            v.decision = Decision::Hold;
            v.reasons.push("paused by an operator".into());
        }
        let change = match v.decision {
            Decision::RollBack => Some(Change::RollBack(v.reasons.clone())),
            Decision::Promote => Some(Change::Advance(vec![format!(
                "step passed: {} stable / {} candidate requests judged",
                stable.requests, candidate.requests
            )])),
            Decision::Hold => None,
        };
        self.lock().verdict = Some(v.clone());
        if let Some(c) = change {
            self.apply(c, Some(generation), now).await;
        }
        self.publish();
        Some(v)
    }

    /// Advances to the next step now, without waiting for the analysis.
    pub async fn promote(&self) -> Result<RolloutStatus, RolloutError> {
        self.control(Change::Advance(vec!["promoted by an operator".into()]))
            .await
    }

    /// Sends all traffic to the candidate now and ends the rollout.
    pub async fn promote_full(&self) -> Result<RolloutStatus, RolloutError> {
        self.control(Change::PromoteFull(vec![
            "fully promoted by an operator".into(),
        ]))
        .await
    }

    /// Holds the current weight (the judge still rolls back on a regression).
    pub async fn pause(&self) -> Result<RolloutStatus, RolloutError> {
        self.control(Change::Pause).await
    }

    /// Lets a paused rollout advance again.
    pub async fn resume(&self) -> Result<RolloutStatus, RolloutError> {
        self.control(Change::Resume).await
    }

    /// Sends all traffic back to stable now; every instance sharing the store follows.
    pub async fn abort(&self, reason: &str) -> Result<RolloutStatus, RolloutError> {
        let reason: String = reason.chars().take(200).collect();
        let reason = if reason.is_empty() {
            "aborted by an operator".to_owned()
        } else {
            format!("aborted by an operator: {reason}")
        };
        self.control(Change::RollBack(vec![reason])).await
    }

    /// Starts the rollout again from its first step (after a rollback, for a new attempt).
    pub async fn restart(&self) -> Result<RolloutStatus, RolloutError> {
        self.control(Change::Restart).await
    }

    async fn control(&self, change: Change) -> Result<RolloutStatus, RolloutError> {
        let now = Instant::now();
        self.sync(now).await;
        let phase = self.lock().state.phase;
        let allowed = match &change {
            Change::Advance(_) | Change::PromoteFull(_) | Change::RollBack(_) => phase.is_active(),
            Change::Pause => phase == Phase::Progressing,
            Change::Resume => phase == Phase::Paused,
            Change::Restart => !phase.is_active(),
        };
        if !allowed {
            return Err(RolloutError::Conflict(format!(
                "the rollout is {}: nothing to do",
                phase.as_str()
            )));
        }
        self.apply(change, None, now).await;
        self.publish();
        Ok(self.status())
    }

    /// Makes `change` locally (at once: routing follows immediately), then shares it. With
    /// `expected`, only if the state is still at that generation.
    async fn apply(&self, change: Change, expected: Option<u64>, now: Instant) {
        let i = &self.inner;
        {
            let mut l = self.lock();
            if expected.is_some_and(|g| g != l.state.generation) {
                return;
            }
            let snap = [i.stats.snapshot(0), i.stats.snapshot(1)];
            let ended_stable = snap[0].since(&l.step_start[0]);
            let mut s = l.state.clone();
            s.generation += 1;
            s.changed_by = i.instance.clone();
            s.step_started_ms = nexus_core::time::unix_millis(SystemTime::now());
            let last = i.steps.len() - 1;
            // A canary ends when the last step below 100 % passes (as Flagger does): at 100 %
            // no stable traffic runs beside the candidate, and a baseline from an earlier step
            // was measured under another load. Blue-green watches its switch against the
            // pre-check, which ran under the same load (the shadow copies).
            let canary_done = matches!(i.strategy, Strategy::Canary { .. })
                && s.step + 1 == last
                && i.steps[last] == FULL;
            match change {
                Change::Advance(r) if s.step < last && !canary_done => {
                    s.step += 1;
                    s.weight_bp = i.steps[s.step];
                    s.shadow = s.weight_bp == 0;
                    s.reasons = r;
                }
                Change::Advance(r) | Change::PromoteFull(r) => {
                    s.phase = Phase::Promoted;
                    s.step = last;
                    s.weight_bp = FULL;
                    s.shadow = false;
                    s.reasons = r;
                }
                Change::RollBack(r) => {
                    s.phase = Phase::RolledBack;
                    s.weight_bp = 0;
                    s.shadow = false;
                    s.reasons = r;
                }
                Change::Pause => {
                    s.phase = Phase::Paused;
                    s.reasons = vec!["paused by an operator".into()];
                }
                Change::Resume => {
                    s.phase = Phase::Progressing;
                    s.reasons = vec!["resumed by an operator".into()];
                }
                Change::Restart => {
                    let g = s.generation;
                    s = RolloutState::start(&i.steps, s.step_started_ms, &i.instance);
                    s.generation = g;
                    s.reasons = vec!["restarted by an operator".into()];
                }
            }
            let new_step = resets(&l.state, &s);
            if ended_stable.requests > 0 && l.state.weight_bp < FULL && new_step {
                l.baseline = Some(ended_stable);
            }
            self.enter(&mut l, s, snap, now, new_step);
            l.dirty = true;
        }
        self.sync(now).await;
    }

    /// Puts `s` in force locally.
    fn enter(&self, l: &mut Local, s: RolloutState, snap: [Window; 2], now: Instant, reset: bool) {
        let i = &self.inner;
        i.weight_bp.store(s.weight_bp, Ordering::Relaxed);
        i.shadow_on.store(s.shadow, Ordering::Relaxed);
        match s.phase {
            Phase::RolledBack if l.state.phase != Phase::RolledBack => {
                i.rollbacks.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(rollout = %i.name, by = %s.changed_by, reasons = ?s.reasons, "rolled back: all traffic on stable");
            }
            _ if s.step != l.state.step
                || s.phase == Phase::Promoted && l.state.phase != Phase::Promoted =>
            {
                i.promotions.fetch_add(1, Ordering::Relaxed);
                tracing::info!(rollout = %i.name, by = %s.changed_by, step = s.step, weight_percent = s.weight_bp as f64 / 100.0, phase = s.phase.as_str(), reasons = ?s.reasons, "rollout advanced");
            }
            _ => {
                tracing::info!(rollout = %i.name, by = %s.changed_by, phase = s.phase.as_str(), reasons = ?s.reasons, "rollout changed")
            }
        }
        if reset {
            l.step_start = snap;
            l.step_started = now;
            if s.phase.is_active() {
                // A finished rollout keeps the verdict that finished it.
                l.verdict = None;
            }
        }
        l.state = s;
        l.event("");
    }

    /// Reads the shared state: adopts a newer one, pushes a local change that is not shared
    /// yet. A store failure leaves the local state in force (and is counted and logged).
    async fn sync(&self, now: Instant) {
        let Some(store) = self.inner.store.clone() else {
            self.lock().dirty = false;
            return;
        };
        let i = &self.inner;
        for _ in 0..3 {
            let remote = match store.load(&i.key).await {
                Ok(r) => r,
                Err(e) => return self.store_failed(&e),
            };
            let remote = match remote.map(|r| r.validate(&i.steps).map(|_| r)).transpose() {
                Ok(r) => r,
                Err(e) => return self.store_failed(&e),
            };
            let push = {
                let mut l = self.lock();
                match &remote {
                    None => Some((None, l.state.clone())),
                    Some(r) if *r == l.state => {
                        l.dirty = false;
                        None
                    }
                    Some(r) if l.dirty && r.generation < l.state.generation => {
                        Some((Some(r.generation), l.state.clone()))
                    }
                    Some(r)
                        if l.dirty
                            && l.state.phase == Phase::RolledBack
                            && r.phase != Phase::RolledBack =>
                    {
                        // Someone else moved meanwhile: a rollback still wins.
                        let mut s = l.state.clone();
                        s.generation = r.generation + 1;
                        l.state.generation = s.generation;
                        Some((Some(r.generation), s))
                    }
                    Some(r) if r.generation >= l.state.generation || !l.dirty => {
                        let r = r.clone();
                        let reset = resets(&l.state, &r);
                        let snap = [i.stats.snapshot(0), i.stats.snapshot(1)];
                        if reset && l.state.weight_bp < FULL {
                            let ended = snap[0].since(&l.step_start[0]);
                            if ended.requests > 0 {
                                l.baseline = Some(ended);
                            }
                        }
                        let age = nexus_core::time::unix_millis(SystemTime::now())
                            .saturating_sub(r.step_started_ms)
                            .max(0) as u64;
                        let started = now.checked_sub(Duration::from_millis(age)).unwrap_or(now);
                        self.enter(&mut l, r, snap, started, reset);
                        l.dirty = false;
                        None
                    }
                    Some(_) => None,
                }
            };
            i.store_healthy.store(true, Ordering::Relaxed);
            let Some((expected, state)) = push else {
                return;
            };
            match store.compare_and_set(&i.key, expected, &state).await {
                Ok(true) => {
                    let mut l = self.lock();
                    if l.state.generation == state.generation {
                        l.dirty = false;
                    }
                    return;
                }
                Ok(false) => continue, // someone else wrote meanwhile: look again
                Err(e) => return self.store_failed(&e),
            }
        }
    }

    fn store_failed(&self, e: &RolloutError) {
        let i = &self.inner;
        metrics::counter!(m::STORE_ERRORS.name, "rollout" => i.name.clone()).increment(1);
        if i.store_healthy.swap(false, Ordering::Relaxed) {
            tracing::warn!(rollout = %i.name, error = %e, "rollout store unavailable: this instance keeps its local state and retries");
        }
    }

    /// Publishes the gauges and counters (`metrics` facade).
    fn publish(&self) {
        let i = &self.inner;
        let name = i.name.clone();
        let (phase, step, weight) = {
            let l = self.lock();
            (l.state.phase, l.state.step, l.state.weight_bp)
        };
        metrics::gauge!(m::WEIGHT.name, "rollout" => name.clone()).set(weight as f64 / 1e4);
        metrics::gauge!(m::STEP.name, "rollout" => name.clone()).set(step as f64);
        for p in [
            Phase::Progressing,
            Phase::Paused,
            Phase::Promoted,
            Phase::RolledBack,
        ] {
            metrics::gauge!(m::PHASE.name, "rollout" => name.clone(), "phase" => p.as_str())
                .set(if p == phase { 1.0 } else { 0.0 });
        }
        for v in [Version::Stable, Version::Candidate] {
            let w = i.stats.snapshot(v as usize);
            let labels = [
                ("rollout", name.clone()),
                ("version", v.as_str().to_owned()),
            ];
            metrics::counter!(m::REQUESTS.name, &labels).absolute(w.requests);
            metrics::counter!(m::ERRORS.name, &labels).absolute(w.errors);
        }
        metrics::counter!(m::ROLLBACKS.name, "rollout" => name.clone())
            .absolute(i.rollbacks.load(Ordering::Relaxed));
        metrics::counter!(m::PROMOTIONS.name, "rollout" => name.clone())
            .absolute(i.promotions.load(Ordering::Relaxed));
        metrics::counter!(m::SHADOW_MISMATCHES.name, "rollout" => name)
            .absolute(i.shadow.mismatched.load(Ordering::Relaxed));
    }

    /// Looks every [`evaluate_every`](crate::RolloutBuilder::evaluate_every) until the returned
    /// handle is dropped (and keeps following the shared state after the rollout ends).
    pub fn spawn(&self) -> TaskHandle {
        let r = self.clone();
        TaskHandle::spawn(async move {
            let mut tick = tokio::time::interval(r.inner.every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                r.evaluate().await;
            }
        })
    }

    /// Adds a gate after the rollout was built (e.g. one the root crate wires to the alert
    /// engine), replacing a gate of the same name; see [`RolloutBuilder::gate`].
    pub fn add_gate(
        &self,
        name: impl Into<String>,
        gate: impl Fn() -> GateResult + Send + Sync + 'static,
    ) {
        let name = name.into();
        let mut gates = self.inner.gates.lock().unwrap_or_else(|p| p.into_inner());
        gates.retain(|(n, _)| *n != name);
        gates.push((name, Arc::new(gate)));
    }

    /// The current weight of the candidate, basis points.
    pub(crate) fn weight_bp(&self) -> u32 {
        self.inner.weight_bp.load(Ordering::Relaxed)
    }
}

/// Whether going from `old` to `new` starts a new analysis window: a new step, or a new phase
/// other than pausing and resuming.
fn resets(old: &RolloutState, new: &RolloutState) -> bool {
    old.step != new.step
        || (old.phase != new.phase && !(old.phase.is_active() && new.phase.is_active()))
}

pub use crate::status::RolloutStatus;
