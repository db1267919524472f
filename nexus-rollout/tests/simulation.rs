//! Seeded simulations of whole rollouts through the real `Rollout` (routing, recording, judge,
//! steps), with simulated time: many runs are cheap, so rates can be measured.
//!
//! Traffic: `rate` requests per second, latency log-normal (median 20 ms, σ = 0.5), errors
//! Bernoulli. The judge looks every `every` of simulated time, as `Rollout::spawn` does.

use nexus_rollout::{Phase, Rollout, Strategy, Version};
use std::time::{Duration, Instant};

#[derive(Clone, Copy)]
struct Traffic {
    rate: f64,
    error: f64,
    /// Latency multiplier.
    slow: f64,
}

const BASE: Traffic = Traffic {
    rate: 40.0,
    error: 0.01,
    slow: 1.0,
};

fn latency(rng: &mut fastrand::Rng, t: Traffic) -> Duration {
    // Box–Muller.
    let (u1, u2) = (rng.f64().max(1e-12), rng.f64());
    let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
    Duration::from_secs_f64(0.020 * (0.5 * z).exp() * t.slow)
}

struct Outcome {
    phase: Phase,
    /// Simulated seconds until the rollout ended.
    seconds: f64,
    /// The step it ended in.
    step: usize,
    reasons: Vec<String>,
}

/// One rollout from start to end (or `limit` of simulated time).
async fn run(seed: u64, stable: Traffic, candidate: Traffic, limit: Duration) -> Outcome {
    let rollout = Rollout::builder("sim")
        .strategy(Strategy::default())
        .analysis_interval(Duration::from_secs(300))
        .build()
        .expect("valid configuration");
    let every = Duration::from_secs(15);
    fastrand::seed(seed);
    let mut rng = fastrand::Rng::with_seed(seed ^ 0x5eed);
    let t0 = Instant::now();
    let per_look = (stable.rate * every.as_secs_f64()) as u64;
    let mut t = Duration::ZERO;
    while t < limit {
        for _ in 0..per_look {
            let v = rollout.pick(None);
            let tr = if v == Version::Stable {
                stable
            } else {
                candidate
            };
            rollout.record(v, latency(&mut rng, tr), rng.f64() < tr.error);
        }
        t += every;
        rollout.evaluate_at(t0 + t).await;
        let s = rollout.status();
        if !s.phase.is_active() {
            return Outcome {
                phase: s.phase,
                seconds: t.as_secs_f64(),
                step: s.events.iter().rev().nth(1).map_or(0, |e| e.step),
                reasons: s
                    .events
                    .last()
                    .map(|e| e.reasons.clone())
                    .unwrap_or_default(),
            };
        }
    }
    let s = rollout.status();
    Outcome {
        phase: s.phase,
        seconds: t.as_secs_f64(),
        step: s.step,
        reasons: Vec::new(),
    }
}

const HOUR: Duration = Duration::from_secs(3600);

#[tokio::test]
async fn aa_runs_are_rarely_rolled_back() {
    // Identical versions: every rollback is a false one. Quiet to busy services, no to many
    // errors; 150 seeded runs each.
    let (mut runs, mut false_rollbacks, mut promoted) = (0, 0, 0);
    for rate in [10.0, 40.0, 200.0] {
        for error in [0.0, 0.01, 0.05] {
            let tr = Traffic {
                rate,
                error,
                slow: 1.0,
            };
            let (mut fr, mut secs) = (0, Vec::new());
            for seed in 0..150 {
                let o = run(seed, tr, tr, 8 * HOUR).await;
                runs += 1;
                match o.phase {
                    Phase::RolledBack => {
                        fr += 1;
                        eprintln!(
                            "{rate}/s {error}: seed {seed}: false rollback at step {}: {:?}",
                            o.step, o.reasons
                        );
                    }
                    Phase::Promoted => {
                        promoted += 1;
                        secs.push(o.seconds);
                    }
                    _ => {}
                }
            }
            secs.sort_by(f64::total_cmp);
            println!(
                "A/A at {rate} req/s, {:.0} % errors: {fr} false rollbacks in 150 runs; {} promoted, after {:.0} min median",
                error * 100.0,
                secs.len(),
                secs.get(secs.len() / 2).copied().unwrap_or(f64::NAN) / 60.0
            );
            if rate >= 40.0 {
                // Busy enough to decide within the 8 simulated hours.
                assert_eq!(secs.len() + fr, 150, "{rate}/s, {error}: undecided runs");
            }
            false_rollbacks += fr;
        }
    }
    let rate = false_rollbacks as f64 / runs as f64;
    println!(
        "A/A: {false_rollbacks} false rollbacks in {runs} seeded runs ({:.2} %), {promoted} promoted",
        rate * 100.0
    );
    assert!(rate <= 0.01, "false rollback rate {rate}");
    assert!(
        promoted as f64 >= runs as f64 * 0.95,
        "{promoted} of {runs} promoted"
    );
}

#[tokio::test]
async fn regressions_are_rolled_back_at_the_first_step() {
    for (what, cand) in [
        (
            "+5 points of errors",
            Traffic {
                error: 0.06,
                ..BASE
            },
        ),
        ("+50 % latency", Traffic { slow: 1.5, ..BASE }),
    ] {
        for seed in 0..20 {
            let o = run(seed, BASE, cand, 4 * HOUR).await;
            assert_eq!(o.phase, Phase::RolledBack, "{what}, seed {seed}");
            assert_eq!(o.step, 0, "{what}, seed {seed}: {:?}", o.reasons);
        }
    }
}

#[tokio::test]
async fn detection_time_of_a_two_point_error_regression_at_200_per_second() {
    let stable = Traffic {
        rate: 200.0,
        ..BASE
    };
    let cand = Traffic {
        error: 0.03,
        ..stable
    };
    let mut times = Vec::new();
    for seed in 0..20 {
        let o = run(seed, stable, cand, 4 * HOUR).await;
        assert_eq!(o.phase, Phase::RolledBack, "seed {seed}");
        times.push(o.seconds);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "2-point error regression (1 % → 3 %) at 200 req/s: rolled back after {:.0} s median, {:.0}–{:.0} s over 20 seeds",
        times[10], times[0], times[19]
    );
}
