//! What a rollout is doing: its strategy, phase and step, as plain data that a fleet shares.

use serde::{Deserialize, Serialize};

/// Basis points: 10 000 = 100 %.
pub(crate) const FULL: u32 = 10_000;

/// How traffic moves to the candidate.
///
/// ```
/// use nexus_rollout::Strategy;
/// let canary = Strategy::canary([1.0, 5.0, 25.0, 50.0, 100.0]).unwrap();
/// assert_eq!(canary.weights_percent(), vec![1.0, 5.0, 25.0, 50.0, 100.0]);
/// // Blue-green: a pre-check on shadow copies (0 %), then everything at once.
/// assert_eq!(Strategy::blue_green().weights_percent(), vec![0.0, 100.0]);
/// assert!(Strategy::canary([5.0, 1.0]).is_err());
/// assert!(Strategy::canary([100.0]).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Strategy {
    /// Steps of growing weight (basis points), each held for the analysis interval; passing the
    /// last step below 100 % promotes. A step of weight 0 is a shadow pre-check.
    Canary {
        /// Candidate weight per step, in basis points, ending at 10 000.
        steps: Vec<u32>,
    },
    /// A shadow pre-check, then all traffic at once, watched for one analysis interval against
    /// the stable figures of the pre-check; a regression switches back at once.
    BlueGreen,
}

impl Strategy {
    /// Canary steps in percent: strictly increasing, within 0–100, ending at 100 after at least
    /// one step below it (a leading 0 adds a shadow pre-check).
    pub fn canary(percent: impl IntoIterator<Item = f64>) -> Result<Self, crate::RolloutError> {
        let steps: Vec<u32> = percent
            .into_iter()
            .map(|p| {
                if p.is_finite() && (0.0..=100.0).contains(&p) {
                    Ok((p * 100.0).round() as u32)
                } else {
                    Err(crate::RolloutError::Config(format!(
                        "a canary step must be within 0-100 %, got {p}"
                    )))
                }
            })
            .collect::<Result<_, _>>()?;
        if steps.len() < 2 || steps.last() != Some(&FULL) || steps.windows(2).any(|w| w[0] >= w[1])
        {
            return Err(crate::RolloutError::Config(
                "canary steps must increase strictly and end at 100 %, with at least one step below it"
                    .into(),
            ));
        }
        Ok(Strategy::Canary { steps })
    }

    /// Blue-green: shadow pre-check, then 100 %.
    pub fn blue_green() -> Self {
        Strategy::BlueGreen
    }

    /// The weight of each step, basis points.
    pub(crate) fn steps(&self) -> Vec<u32> {
        match self {
            Strategy::Canary { steps } => steps.clone(),
            Strategy::BlueGreen => vec![0, FULL],
        }
    }

    /// The weight of each step, percent.
    pub fn weights_percent(&self) -> Vec<f64> {
        self.steps().iter().map(|&w| w as f64 / 100.0).collect()
    }

    /// `canary` or `blue_green`.
    pub fn kind(&self) -> &'static str {
        match self {
            Strategy::Canary { .. } => "canary",
            Strategy::BlueGreen => "blue_green",
        }
    }
}

impl Default for Strategy {
    /// Canary 1 → 5 → 25 → 50 → 100 %.
    fn default() -> Self {
        Strategy::Canary {
            steps: vec![100, 500, 2_500, 5_000, FULL],
        }
    }
}

/// Where a rollout is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Moving through the steps as the judge allows.
    Progressing,
    /// Held at the current weight by an operator; the judge still rolls back on a regression.
    Paused,
    /// The candidate takes all traffic; done.
    Promoted,
    /// Everything back on stable; done until restarted.
    RolledBack,
}

impl Phase {
    /// The phase's name as in JSON and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Progressing => "progressing",
            Phase::Paused => "paused",
            Phase::Promoted => "promoted",
            Phase::RolledBack => "rolled_back",
        }
    }

    /// Whether the rollout is still moving or may move (progressing or paused).
    pub fn is_active(self) -> bool {
        matches!(self, Phase::Progressing | Phase::Paused)
    }
}

/// The state a fleet shares: every instance routes by it. Each change bumps `generation`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RolloutState {
    /// Bumped by every change; a store only accepts a change made on the latest generation.
    pub generation: u64,
    /// The phase.
    pub phase: Phase,
    /// Index of the current step.
    pub step: usize,
    /// The candidate's weight, basis points (10 000 = 100 %).
    pub weight_bp: u32,
    /// Whether stable's requests are copied to the candidate (a pre-check step).
    pub shadow: bool,
    /// When the step began, Unix milliseconds.
    pub step_started_ms: i64,
    /// Why the last change happened.
    pub reasons: Vec<String>,
    /// The instance that made the last change.
    pub changed_by: String,
}

impl RolloutState {
    pub(crate) fn start(steps: &[u32], now_ms: i64, by: &str) -> Self {
        let weight = steps.first().copied().unwrap_or(FULL);
        RolloutState {
            generation: 1,
            phase: Phase::Progressing,
            step: 0,
            weight_bp: weight,
            shadow: weight == 0,
            step_started_ms: now_ms,
            reasons: vec!["rollout started".into()],
            changed_by: by.to_owned(),
        }
    }

    /// Checks a state read from outside (a store) against the rollout's steps.
    pub(crate) fn validate(&self, steps: &[u32]) -> Result<(), crate::RolloutError> {
        if self.weight_bp > FULL || self.step >= steps.len().max(1) {
            return Err(crate::RolloutError::Corrupt(format!(
                "step {} / weight {} bp outside the rollout's {} steps",
                self.step,
                self.weight_bp,
                steps.len()
            )));
        }
        if self.reasons.len() > 16
            || self.reasons.iter().any(|r| r.len() > 1_000)
            || self.changed_by.len() > 256
        {
            return Err(crate::RolloutError::Corrupt(
                "oversized reasons or instance name".into(),
            ));
        }
        Ok(())
    }
}
