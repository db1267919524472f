//! Property test of the rollout state machine: whatever operators, traffic and looks do, the
//! routing always matches the phase and step, refused actions change nothing, and every change
//! bumps the generation.
#![allow(clippy::unwrap_used)]

use nexus_rollout::{Phase, Rollout, RolloutError, Version};
use proptest::prelude::*;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
enum Op {
    Promote,
    PromoteFull,
    Pause,
    Resume,
    Abort,
    Restart,
    /// Requests: how many, and the candidate's error share in percent.
    Traffic(u16, u8),
    /// A look, this many seconds after the previous one.
    Look(u16),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        Just(Op::Promote),
        Just(Op::PromoteFull),
        Just(Op::Pause),
        Just(Op::Resume),
        Just(Op::Abort),
        Just(Op::Restart),
        (1u16..3000, 0u8..30).prop_map(|(n, e)| Op::Traffic(n, e)),
        (1u16..400).prop_map(Op::Look),
    ]
}

fn strategy() -> impl Strategy<Value = nexus_rollout::Strategy> {
    prop_oneof![
        Just(nexus_rollout::Strategy::default()),
        Just(nexus_rollout::Strategy::canary([0.0, 50.0, 100.0]).unwrap()),
        Just(nexus_rollout::Strategy::blue_green()),
    ]
}

fn check(r: &Rollout, steps: &[f64]) {
    let s = r.status();
    let share = (0..200)
        .filter(|_| r.pick(None) == Version::Candidate)
        .count();
    match s.phase {
        Phase::RolledBack => {
            assert_eq!((s.weight_percent, s.shadow, share), (0.0, false, 0));
        }
        Phase::Promoted => {
            assert_eq!((s.weight_percent, s.shadow, share), (100.0, false, 200));
        }
        Phase::Progressing | Phase::Paused => {
            assert_eq!(s.weight_percent, steps[s.step], "{s:?}");
            assert_eq!(s.shadow, s.weight_percent == 0.0);
        }
    }
    assert!(s.events.len() <= 32);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn routing_always_matches_the_state(strategy in strategy(), ops in prop::collection::vec(op(), 1..60)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let r = Rollout::builder("p")
                .strategy(strategy.clone())
                .analysis_interval(Duration::from_secs(60))
                .min_samples(50)
                .build()
                .unwrap();
            let steps = strategy.weights_percent();
            let t0 = Instant::now();
            let mut t = Duration::ZERO;
            check(&r, &steps);
            for op in ops {
                let before = r.status();
                let result = match op {
                    Op::Promote => Some(r.promote().await),
                    Op::PromoteFull => Some(r.promote_full().await),
                    Op::Pause => Some(r.pause().await),
                    Op::Resume => Some(r.resume().await),
                    Op::Abort => Some(r.abort("property test").await),
                    Op::Restart => Some(r.restart().await),
                    Op::Traffic(n, errors) => {
                        for i in 0..n {
                            let v = r.pick(None);
                            let failed = v == Version::Candidate && (i % 100) < u16::from(errors);
                            r.record(v, Duration::from_millis(5 + u64::from(i % 7)), failed);
                        }
                        None
                    }
                    Op::Look(secs) => {
                        t += Duration::from_secs(u64::from(secs));
                        r.evaluate_at(t0 + t).await;
                        None
                    }
                };
                let after = r.status();
                match result {
                    Some(Ok(_)) => assert!(after.store.generation > before.store.generation),
                    Some(Err(RolloutError::Conflict(_))) => {
                        assert_eq!(
                            (after.phase, after.step, after.weight_percent, after.store.generation),
                            (before.phase, before.step, before.weight_percent, before.store.generation)
                        );
                    }
                    Some(Err(e)) => panic!("{e}"),
                    None => assert!(after.store.generation >= before.store.generation),
                }
                check(&r, &steps);
            }
        });
    }
}
