//! Rollouts in the monitor (feature `rollout`): their routes, the gate that ties them to the
//! alert engine, and their place in the report.

use nexus_alerting::{AlertState, Engine};
use nexus_rollout::{GateResult, Phase, RolloutStatus};

/// The gate every rollout given to the monitor gets: a firing alert labelled
/// `rollback="true"` or `rollout="<this rollout>"` rolls it back; any other firing alert of
/// severity `critical` holds it (the service is in trouble: not the moment to move traffic).
pub(super) fn alert_gate(engine: Engine, rollout: String) -> impl Fn() -> GateResult {
    move || {
        let mut hold = None;
        for a in engine.alerts() {
            if a.state != AlertState::Firing {
                continue;
            }
            let labels = &a.alert.labels;
            if labels.get("rollback") == Some("true") || labels.get("rollout") == Some(&rollout) {
                return GateResult::RollBack(format!("alert {} is firing", a.rule));
            }
            if hold.is_none() && labels.get("severity") == Some("critical") {
                hold = Some(GateResult::Hold(format!(
                    "critical alert {} is firing",
                    a.rule
                )));
            }
        }
        hold.unwrap_or(GateResult::Pass)
    }
}

/// What the report recommends about the rollouts.
pub(super) fn recommendations(statuses: &[RolloutStatus]) -> Vec<String> {
    let mut out = Vec::new();
    for s in statuses {
        let reasons = s
            .events
            .last()
            .map(|e| e.reasons.join("; "))
            .unwrap_or_default();
        match s.phase {
            Phase::RolledBack => out.push(format!(
                "rollout {}: rolled back ({reasons}); all traffic is on stable — fix the candidate, then POST /api/v1/rollout/{}/restart",
                s.name, s.name
            )),
            Phase::Paused => out.push(format!(
                "rollout {}: paused at {} % — POST /api/v1/rollout/{}/resume to let it advance",
                s.name, s.weight_percent, s.name
            )),
            _ => {}
        }
    }
    out
}
