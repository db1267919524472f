//! What a rollout shows: [`RolloutStatus`], the JSON of `GET /api/v1/rollout`.

use crate::judge::Verdict;
use crate::rollout::{Event, Rollout};
use crate::state::{FULL, Phase};
use crate::stats::Window;
use serde::Serialize;
use std::sync::atomic::Ordering;
use std::time::Instant;

/// One version's figures in the current step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VersionFigures {
    /// Requests answered.
    pub requests: u64,
    /// Of which failed.
    pub errors: u64,
    /// errors / requests.
    pub error_ratio: f64,
    /// Median latency, ms (absent without requests).
    pub p50_ms: Option<f64>,
    /// 95th percentile latency, ms.
    pub p95_ms: Option<f64>,
}

impl From<&Window> for VersionFigures {
    fn from(w: &Window) -> Self {
        let ms = |q: f64| Some(w.quantile(q) * 1e3).filter(|v| v.is_finite());
        VersionFigures {
            requests: w.requests,
            errors: w.errors,
            error_ratio: w.error_ratio(),
            p50_ms: ms(0.5),
            p95_ms: ms(0.95),
        }
    }
}

/// Shadow copies so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ShadowFigures {
    /// Requests copied to the candidate.
    pub copied: u64,
    /// Copies whose status was compared with stable's.
    pub compared: u64,
    /// Of which the status differed.
    pub mismatched: u64,
    /// Requests not copied (a body, no runtime, or the in-flight bound reached).
    pub skipped: u64,
}

/// The shared store as this instance sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoreFigures {
    /// `local` (no store), `memory`, `redis`.
    pub kind: &'static str,
    /// Whether the last read or write succeeded.
    pub healthy: bool,
    /// Whether this instance's state is in the store.
    pub synced: bool,
    /// The state's generation.
    pub generation: u64,
}

/// A rollout's state and figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct RolloutStatus {
    /// The rollout's name.
    pub name: String,
    /// The revision being rolled out (may be empty).
    pub revision: String,
    /// `canary` or `blue_green`.
    pub strategy: &'static str,
    /// The phase.
    pub phase: Phase,
    /// Index of the current step.
    pub step: usize,
    /// Each step's candidate weight, percent.
    pub steps_percent: Vec<f64>,
    /// The candidate's weight now, percent.
    pub weight_percent: f64,
    /// Whether stable's requests are copied to the candidate.
    pub shadow: bool,
    /// Time in the current step, seconds.
    pub step_elapsed_seconds: f64,
    /// The analysis interval per step, seconds.
    pub analysis_interval_seconds: f64,
    /// Stable in this step (once the candidate takes everything: the reference from the last
    /// step that had stable traffic).
    pub stable: VersionFigures,
    /// The candidate in this step.
    pub candidate: VersionFigures,
    /// The last verdict of this step.
    pub verdict: Option<Verdict>,
    /// Shadow copies.
    pub shadow_copies: ShadowFigures,
    /// The shared store.
    pub store: StoreFigures,
    /// This instance.
    pub instance: String,
    /// The latest changes, oldest first (at most 32).
    pub events: Vec<Event>,
}

impl Rollout {
    /// The state and figures now.
    pub fn status(&self) -> RolloutStatus {
        let i = &self.inner;
        let l = i.local.lock().unwrap_or_else(|p| p.into_inner());
        let cand = i.stats.snapshot(1).since(&l.step_start[1]);
        let stable = if l.state.weight_bp >= FULL && l.state.phase.is_active() {
            l.baseline.clone().unwrap_or_default()
        } else {
            i.stats.snapshot(0).since(&l.step_start[0])
        };
        let sh = &i.shadow;
        RolloutStatus {
            name: i.name.clone(),
            revision: i.revision.clone(),
            strategy: i.strategy.kind(),
            phase: l.state.phase,
            step: l.state.step,
            steps_percent: i.strategy.weights_percent(),
            weight_percent: l.state.weight_bp as f64 / 100.0,
            shadow: l.state.shadow,
            step_elapsed_seconds: Instant::now()
                .saturating_duration_since(l.step_started)
                .as_secs_f64(),
            analysis_interval_seconds: i.interval.as_secs_f64(),
            stable: (&stable).into(),
            candidate: (&cand).into(),
            verdict: l.verdict.clone(),
            shadow_copies: ShadowFigures {
                copied: sh.copied.load(Ordering::Relaxed),
                compared: sh.compared.load(Ordering::Relaxed),
                mismatched: sh.mismatched.load(Ordering::Relaxed),
                skipped: sh.skipped.load(Ordering::Relaxed),
            },
            store: StoreFigures {
                kind: i.store.as_ref().map_or("local", |s| s.kind()),
                healthy: i.store_healthy.load(Ordering::Relaxed),
                synced: !l.dirty,
                generation: l.state.generation,
            },
            instance: i.instance.clone(),
            events: l.events.iter().cloned().collect(),
        }
    }
}
