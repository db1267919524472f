//! The judge: candidate against stable, over the same span of time.
//!
//! - **Errors**: a one-sided test on two proportions (Agresti–Caffo: one success and one failure
//!   added to each side, so zero-error windows behave), *with a margin*: the candidate fails only
//!   if its error ratio is significantly above stable's **plus** [`Thresholds::error_tolerance`].
//!   Passing needs the opposite evidence (non-inferiority at 95 %): the candidate's ratio is
//!   shown below stable's plus the tolerance. Between the two the step holds and collects more
//!   requests, so a candidate that fails rarely is not promoted on a lucky few hundred requests.
//! - **Latency**: the Mann–Whitney U rank test (as Kayenta does), one-sided, on the binned
//!   latencies with the tie correction; the candidate fails only if the test is significant
//!   **and** its median or p95 exceeds stable's by more than [`Thresholds::latency_tolerance`]
//!   and by more than [`Thresholds::latency_floor`].
//! - Neither test runs before both versions have [`Thresholds::min_samples`] requests in the
//!   window, so a quiet service is not judged on noise.
//!
//! The margins make the tests answer "is the candidate worse by more than we tolerate?", which is
//! what keeps identical versions (A/A runs) from being rolled back as samples pile up.
//!
//! ```
//! use nexus_rollout::judge::{judge, Decision, Thresholds};
//! use nexus_rollout::stats::VersionStats;
//! let (stable, candidate) = (VersionStats::default(), VersionStats::default());
//! for i in 0..2_000u64 {
//!     stable.record(1_000_000 + (i % 100) * 10_000, i % 100 == 0); // 1 % errors
//!     candidate.record(1_000_000 + (i % 100) * 10_000, i % 10 == 0); // 10 % errors
//! }
//! let v = judge(&stable.snapshot(), &candidate.snapshot(), &Thresholds::default(), 0.01);
//! assert_eq!(v.decision, Decision::RollBack);
//! assert!(v.reasons[0].contains("error ratio"), "{:?}", v.reasons);
//! ```

use crate::stats::Window;
use serde::Serialize;

/// Significance of the non-inferiority test that promoting needs (one-sided 95 %).
const NON_INFERIORITY: f64 = 0.05;

/// What the judge tolerates and how sure it must be.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct Thresholds {
    /// Requests each version needs in the window before it is judged (default 200).
    pub min_samples: u64,
    /// Allowed increase of the error ratio, absolute (default 0.01: one percentage point).
    pub error_tolerance: f64,
    /// Allowed relative increase of the median and the p95 (default 0.2: +20 %).
    pub latency_tolerance: f64,
    /// Increases of the median or p95 smaller than this are tolerated whatever their ratio
    /// (default 1 ms: +50 % of 0.2 ms is not a regression anyone feels).
    pub latency_floor: std::time::Duration,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            min_samples: 200,
            error_tolerance: 0.01,
            latency_tolerance: 0.2,
            latency_floor: std::time::Duration::from_millis(1),
        }
    }
}

/// The judge's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Enough samples, no regression, and errors shown within tolerance: the step may end.
    Promote,
    /// Not enough samples yet (or a gate asks to wait).
    Hold,
    /// A regression: send everything back to stable.
    RollBack,
}

/// One comparison's figures.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Comparison {
    /// Stable's figure (error ratio, or latency p95 in seconds).
    pub stable: f64,
    /// The candidate's figure.
    pub candidate: f64,
    /// One-sided p-value of "the candidate is worse by more than the tolerance".
    pub p_value: f64,
}

/// A decision with its reasons and figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    /// What to do.
    pub decision: Decision,
    /// Why, in words (empty for a plain promote).
    pub reasons: Vec<String>,
    /// The error comparison, once both sides had enough samples.
    pub errors: Option<Comparison>,
    /// The latency comparison (p95), once both sides had enough samples.
    pub latency: Option<Comparison>,
}

/// Compares `candidate` against `stable` at significance level `alpha`.
pub fn judge(stable: &Window, candidate: &Window, t: &Thresholds, alpha: f64) -> Verdict {
    let short: Vec<String> = [("stable", stable), ("candidate", candidate)]
        .iter()
        .filter(|(_, w)| w.requests < t.min_samples)
        .map(|(name, w)| {
            format!(
                "{name}: {} of {} requests needed",
                w.requests, t.min_samples
            )
        })
        .collect();
    if !short.is_empty() {
        return Verdict {
            decision: Decision::Hold,
            reasons: short,
            errors: None,
            latency: None,
        };
    }
    let mut reasons = Vec::new();
    let p_err = proportion_worse(
        stable.errors,
        stable.requests,
        candidate.errors,
        candidate.requests,
        t.error_tolerance,
    );
    let errors = Comparison {
        stable: stable.error_ratio(),
        candidate: candidate.error_ratio(),
        p_value: p_err,
    };
    if p_err < alpha {
        reasons.push(format!(
            "error ratio {:.2} % vs stable {:.2} % (tolerance +{:.2} points, p = {:.1e})",
            errors.candidate * 100.0,
            errors.stable * 100.0,
            t.error_tolerance * 100.0,
            p_err
        ));
    }
    // Promoting needs the opposite evidence: the candidate is shown no worse than the
    // tolerance (a non-inferiority test at 95 %); until then the step holds.
    let p_ok = proportion_worse(
        candidate.errors,
        candidate.requests,
        stable.errors,
        stable.requests,
        -t.error_tolerance,
    );
    let mut undecided = Vec::new();
    if reasons.is_empty() && p_ok >= NON_INFERIORITY {
        undecided.push(format!(
            "error ratio {:.2} % vs stable {:.2} %: not yet shown within +{:.2} points, collecting more requests",
            errors.candidate * 100.0,
            errors.stable * 100.0,
            t.error_tolerance * 100.0
        ));
    }
    let mut latency = None;
    if stable.samples() > 0 && candidate.samples() > 0 {
        let p_lat = mann_whitney_greater(&stable.latency, &candidate.latency);
        let (s50, c50) = (stable.quantile(0.5), candidate.quantile(0.5));
        let (s95, c95) = (stable.quantile(0.95), candidate.quantile(0.95));
        latency = Some(Comparison {
            stable: s95,
            candidate: c95,
            p_value: p_lat,
        });
        let limit = 1.0 + t.latency_tolerance;
        let floor = t.latency_floor.as_secs_f64();
        let worse = |c: f64, s: f64| c > s * limit && c - s > floor;
        if p_lat < alpha && (worse(c50, s50) || worse(c95, s95)) {
            reasons.push(format!(
                "latency p50 {:.1} ms / p95 {:.1} ms vs stable {:.1} / {:.1} ms (tolerance +{:.0} % and +{:.1} ms, Mann-Whitney p = {:.1e})",
                c50 * 1e3,
                c95 * 1e3,
                s50 * 1e3,
                s95 * 1e3,
                t.latency_tolerance * 100.0,
                floor * 1e3,
                p_lat
            ));
        }
    }
    let decision = if !reasons.is_empty() {
        Decision::RollBack
    } else if !undecided.is_empty() {
        reasons = undecided;
        Decision::Hold
    } else {
        Decision::Promote
    };
    Verdict {
        decision,
        reasons,
        errors: Some(errors),
        latency,
    }
}

/// One-sided p-value that the candidate's error ratio exceeds stable's by more than `margin`
/// (Agresti–Caffo adjusted Wald test).
pub fn proportion_worse(
    stable_errors: u64,
    stable_n: u64,
    cand_errors: u64,
    cand_n: u64,
    margin: f64,
) -> f64 {
    let adj = |x: u64, n: u64| ((x.min(n) as f64 + 1.0) / (n as f64 + 2.0), n as f64 + 2.0);
    let (ps, ns) = adj(stable_errors, stable_n);
    let (pc, nc) = adj(cand_errors, cand_n);
    let se = (ps * (1.0 - ps) / ns + pc * (1.0 - pc) / nc).sqrt();
    upper_tail((pc - ps - margin) / se)
}

/// One-sided p-value of the Mann–Whitney U test that `candidate`'s values are stochastically
/// greater than `stable`'s, both given as counts per (ordered) bucket; values in one bucket are
/// ties. Normal approximation with the tie and continuity corrections.
pub fn mann_whitney_greater(stable: &[u64], candidate: &[u64]) -> f64 {
    let (ns, nc) = (
        stable.iter().sum::<u64>() as f64,
        candidate.iter().sum::<u64>() as f64,
    );
    if ns == 0.0 || nc == 0.0 {
        return 1.0;
    }
    let n = ns + nc;
    let (mut below, mut u, mut ties) = (0.0, 0.0, 0.0);
    for i in 0..stable.len().max(candidate.len()) {
        let s = stable.get(i).copied().unwrap_or(0) as f64;
        let c = candidate.get(i).copied().unwrap_or(0) as f64;
        u += c * (below + s / 2.0);
        below += s;
        let t = s + c;
        ties += t * t * t - t;
    }
    let mean = ns * nc / 2.0;
    let var = ns * nc / 12.0 * ((n + 1.0) - ties / (n * (n - 1.0)).max(1.0));
    if var <= 0.0 {
        return 1.0;
    }
    upper_tail((u - mean - 0.5) / var.sqrt())
}

/// P(Z > z) for a standard normal Z (1 for NaN).
pub fn upper_tail(z: f64) -> f64 {
    nexus_core::stats::normal_sf(z)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::VersionStats;

    #[test]
    fn normal_tail() {
        assert!((upper_tail(0.0) - 0.5).abs() < 1e-7);
        assert!((upper_tail(1.959_964) - 0.025).abs() < 1e-6);
        assert!((upper_tail(-2.326_348) - 0.99).abs() < 1e-6);
        assert!(upper_tail(40.0) < 1e-300 || upper_tail(40.0) == 0.0);
        assert_eq!(upper_tail(f64::NAN), 1.0);
    }

    #[test]
    fn mann_whitney_matches_the_textbook() {
        // Two samples, one bucket per value: a = 1..=10, b = 6..=15.
        let mut a = vec![0u64; 16];
        let mut b = vec![0u64; 16];
        a[1..=10].fill(1);
        b[6..=15].fill(1);
        // U of b over a: 5.5 + 6.5 + 7.5 + 8.5 + 9.5 + 5 × 10 = 87.5; five tied pairs (6..=10).
        let p = mann_whitney_greater(&a, &b);
        let var = 100.0 / 12.0 * (21.0 - 30.0 / 380.0);
        let z: f64 = (87.5 - 50.0 - 0.5) / f64::sqrt(var);
        assert!((p - upper_tail(z)).abs() < 1e-9, "{p}");
        assert!(mann_whitney_greater(&b, &a) > 0.99);
        // Identical samples: nothing to see.
        assert!(mann_whitney_greater(&a, &a) > 0.4);
        assert_eq!(mann_whitney_greater(&a, &[]), 1.0);
    }

    #[test]
    fn proportions_with_margin() {
        // 5 % against 0 %, 400 each: clearly worse than +1 point.
        assert!(proportion_worse(0, 400, 20, 400, 0.01) < 0.001);
        // Equal ratios: never worse by more than the margin.
        assert!(proportion_worse(10, 1000, 10, 1000, 0.01) > 0.5);
        // No requests: nothing.
        assert!(proportion_worse(0, 0, 0, 0, 0.0) >= 0.5);
    }

    fn window(latencies: impl Iterator<Item = u64>, error_every: u64) -> Window {
        let s = VersionStats::default();
        for (i, ns) in latencies.enumerate() {
            s.record(
                ns,
                error_every > 0 && (i as u64).is_multiple_of(error_every),
            );
        }
        s.snapshot()
    }

    #[test]
    fn verdicts() {
        let t = Thresholds::default();
        let base = || (0..1000u64).map(|i| 2_000_000 + (i * 7919 % 1000) * 5_000);
        let stable = window(base(), 100);
        // Too few samples: hold, with the counts.
        let few = window(base().take(50), 0);
        let v = judge(&stable, &few, &t, 0.01);
        assert_eq!(v.decision, Decision::Hold);
        assert!(v.reasons[0].contains("50 of 200"), "{:?}", v.reasons);
        // Same distribution: promote.
        let v = judge(&stable, &window(base(), 100), &t, 0.01);
        assert_eq!(v.decision, Decision::Promote, "{:?}", v.reasons);
        // +50 % latency: roll back for latency, not errors.
        let slow = window(base().map(|ns| ns * 3 / 2), 100);
        let v = judge(&stable, &slow, &t, 0.01);
        assert_eq!(v.decision, Decision::RollBack);
        assert!(
            v.reasons.len() == 1 && v.reasons[0].contains("latency"),
            "{:?}",
            v.reasons
        );
        // +50 % of a fraction of a millisecond: under the floor.
        let fast = || (0..1000u64).map(|i| 200_000 + (i * 7919 % 1000) * 100);
        let v = judge(
            &window(fast(), 100),
            &window(fast().map(|ns| ns * 3 / 2), 100),
            &t,
            0.01,
        );
        assert_eq!(v.decision, Decision::Promote, "{:?}", v.reasons);
        // +10 % latency: significant but within tolerance.
        let bit_slower = window(base().map(|ns| ns * 11 / 10), 100);
        assert_eq!(
            judge(&stable, &bit_slower, &t, 0.01).decision,
            Decision::Promote
        );
    }
}
