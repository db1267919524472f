use super::*;

/// Feeds `x` once a minute and evaluates after each sample; `None` = no sample (stale after
/// the lookback). Returns the state of the single alert after each step ("-" = none held).
fn run(rule: Rule, values: &[Option<f64>]) -> Vec<&'static str> {
    let mut ev = Evaluator::new(EvalConfig {
        lookback: Duration::from_secs(90),
        ..EvalConfig::default()
    });
    ev.add_rule("g", rule);
    let mut out = Vec::new();
    for (i, v) in values.iter().enumerate() {
        let t = i as Millis * 60_000;
        if let Some(v) = v {
            ev.push(Sample::new("x", Labels::from_pairs([("job", "a")]), *v, t));
        }
        ev.eval(t);
        let alerts = ev.alerts();
        out.push(match alerts.first().map(|a| a.state) {
            None => "-",
            Some(AlertState::Pending) => "pending",
            Some(AlertState::Firing) => "firing",
            Some(AlertState::Inactive) => "resolved",
        });
    }
    out
}

fn rule(f: impl FnOnce(crate::rule::RuleBuilder) -> crate::rule::RuleBuilder) -> Rule {
    f(Rule::builder("R", "x > 1")).build().unwrap()
}

#[test]
fn the_rule_state_machine() {
    let m = Duration::from_secs(60);
    type Case = (&'static str, Rule, Vec<Option<f64>>, Vec<&'static str>);
    let cases: Vec<Case> = vec![
        (
            "no for: fires at once, resolves at once",
            rule(|b| b),
            vec![Some(0.0), Some(2.0), Some(2.0), Some(0.0)],
            vec!["-", "firing", "firing", "resolved"],
        ),
        (
            "for 2m: pending until it has held 2 minutes",
            rule(|b| b.for_(2 * m)),
            vec![Some(2.0), Some(2.0), Some(2.0), Some(2.0)],
            vec!["pending", "pending", "firing", "firing"],
        ),
        (
            "for 2m: a dip while pending starts over",
            rule(|b| b.for_(2 * m)),
            vec![Some(2.0), Some(0.0), Some(2.0), Some(2.0), Some(2.0)],
            vec!["pending", "-", "pending", "pending", "firing"],
        ),
        (
            "keep_firing_for 2m: a short dip does not resolve",
            rule(|b| b.keep_firing_for(2 * m)),
            vec![Some(2.0), Some(0.0), Some(0.0), Some(0.0)],
            vec!["firing", "firing", "firing", "resolved"],
        ),
        (
            "clear_at 0.5: hysteresis holds between the thresholds",
            rule(|b| b.clear_at(0.5)),
            vec![Some(2.0), Some(0.8), Some(0.8), Some(0.2)],
            vec!["firing", "firing", "firing", "resolved"],
        ),
        (
            "a series that goes stale resolves",
            rule(|b| b),
            vec![Some(2.0), None, None, None],
            vec!["firing", "firing", "resolved", "resolved"],
        ),
    ];
    for (name, rule, values, want) in cases {
        assert_eq!(run(rule, &values), want, "{name}");
    }
}

/// A detector that panics on its third sample (a user's bug).
#[derive(Debug, Default)]
struct Bomb(u32);

impl crate::anomaly::Detector for Bomb {
    fn update(&mut self, _: Millis, _: f64) -> f64 {
        self.0 += 1;
        assert!(self.0 < 3, "detector bug");
        0.0
    }
}

#[test]
fn a_panicking_rule_fails_alone() {
    let mut ev = Evaluator::new(EvalConfig::default());
    ev.set_detector_factory(Arc::new(|| Box::new(Bomb::default())));
    ev.add_rule(
        "g",
        Rule::builder("Anomalous", "anomaly(x) > 0.5")
            .build()
            .unwrap(),
    );
    ev.add_rule("g", Rule::builder("High", "x > 1").build().unwrap());
    for i in 0..6 {
        let t = i * 15_000;
        ev.push(Sample::new("x", Labels::from_pairs([("job", "a")]), 5.0, t));
        ev.eval(t);
    }
    let health = ev.rule_health();
    assert_eq!(health[0].1, "Anomalous");
    let err = health[0].2.as_deref().unwrap();
    assert!(err.contains("panicked: detector bug"), "{err}");
    // The other rule still evaluates and fires.
    assert_eq!(health[1].2, None);
    assert!(
        ev.alerts().iter().any(|a| a.rule == "High"),
        "{:?}",
        ev.alerts()
    );
}
