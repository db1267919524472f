//! Pipeline timing and semantics on tokio's paused clock: group_wait / group_interval /
//! repeat_interval, dedup, silences, inhibition, acknowledgement and escalation, and the engine
//! feeding the pipeline.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::Recorder;
use nexus_alerting::{
    Alert, Clock, Engine, Escalation, InhibitRule, Labels, Pipeline, Receiver, Route, Rule,
    Severity, Silence,
};

const MIN: Duration = Duration::from_secs(60);

fn alert(clock: &Clock, pairs: &[(&str, &str)], ttl: Duration) -> Alert {
    let mut a = Alert::new(Labels::from_pairs(pairs.iter().copied()), clock.now());
    a.ends_at = Some(clock.now() + ttl.as_millis() as i64);
    a
}

struct Setup {
    clock: Clock,
    p: Pipeline,
    main: Arc<Recorder>,
    second: Arc<Recorder>,
    third: Arc<Recorder>,
}

fn setup(route: Route) -> Setup {
    let clock = Clock::starting_at(1_800_000_000_000);
    let (main, second, third) = (
        Arc::new(Recorder::default()),
        Arc::new(Recorder::default()),
        Arc::new(Recorder::default()),
    );
    let p = Pipeline::builder()
        .receiver(Receiver::new("main", main.clone()))
        .receiver(Receiver::new("second", second.clone()))
        .receiver(Receiver::new("third", third.clone()).send_resolved(false))
        .route(route)
        .inhibit(
            InhibitRule::new(
                r#"severity="critical""#,
                r#"severity="warning""#,
                ["service"],
            )
            .unwrap(),
        )
        .clock(clock.clone())
        .build()
        .unwrap();
    Setup {
        clock,
        p,
        main,
        second,
        third,
    }
}

async fn sleep(d: Duration) {
    tokio::time::sleep(d).await;
}

#[tokio::test(start_paused = true)]
async fn group_timers_follow_alertmanager() {
    let s = setup(
        Route::to("main")
            .group_by(["alertname"])
            .group_wait(Duration::from_secs(30))
            .group_interval(5 * MIN)
            .repeat_interval(60 * MIN),
    );
    let _task = s.p.spawn();
    let ttl = 24 * 60 * MIN;
    s.p.ingest(vec![alert(
        &s.clock,
        &[("alertname", "A"), ("id", "1")],
        ttl,
    )]);
    sleep(Duration::from_secs(29)).await;
    assert_eq!(s.main.count(), 0, "not before group_wait");
    sleep(Duration::from_secs(2)).await;
    assert_eq!(s.main.count(), 1);
    // The same alert sent again and again (the engine resends every evaluation): deduplicated.
    for _ in 0..100 {
        s.p.ingest(vec![alert(
            &s.clock,
            &[("alertname", "A"), ("id", "1")],
            ttl,
        )]);
    }
    // A new alert in the group waits for the group interval (5 min after the first flush).
    s.p.ingest(vec![alert(
        &s.clock,
        &[("alertname", "A"), ("id", "2")],
        ttl,
    )]);
    sleep(4 * MIN).await;
    assert_eq!(s.main.count(), 1);
    sleep(MIN + Duration::from_secs(1)).await;
    assert_eq!(s.main.count(), 2);
    assert_eq!(s.main.summary(1).0, ["1", "2"]);
    // Unchanged: nothing until repeat_interval has passed, checked at group-interval flushes.
    // As in Alertmanager the comparison is strict, so the flush exactly 60 min after the last
    // notification (65:30) does not repeat; the next one (70:30) does.
    sleep(59 * MIN).await; // 64:32
    assert_eq!(s.main.count(), 2);
    sleep(2 * MIN).await; // 66:32
    assert_eq!(s.main.count(), 2);
    sleep(5 * MIN).await; // 71:32
    assert_eq!(s.main.count(), 3);
    // A separate alertname is a separate group with its own group_wait.
    s.p.ingest(vec![alert(&s.clock, &[("alertname", "B")], ttl)]);
    sleep(Duration::from_secs(31)).await;
    assert_eq!(s.main.count(), 4);
}

/// Two sibling routes with the same (no) matchers, the first with `continue`: each receiver gets
/// the alert from its own group (they shared one group before, and the second never heard).
#[tokio::test(start_paused = true)]
async fn sibling_routes_with_the_same_matchers_have_their_own_groups() {
    let s = setup(
        Route::to("third")
            .group_by(["alertname"])
            .group_wait(Duration::ZERO)
            .child(Route::to("main").continue_matching(true))
            .child(Route::to("second")),
    );
    let _task = s.p.spawn();
    s.p.ingest(vec![alert(&s.clock, &[("alertname", "A")], 10 * MIN)]);
    sleep(Duration::from_secs(1)).await;
    assert_eq!(
        (s.main.count(), s.second.count(), s.third.count()),
        (1, 1, 0)
    );
}

#[tokio::test(start_paused = true)]
async fn resolution_is_sent_with_send_resolved_and_the_group_ends() {
    let s = setup(
        Route::to("main")
            .group_wait(Duration::ZERO)
            .group_interval(MIN),
    );
    let _task = s.p.spawn();
    let mut a = alert(&s.clock, &[("alertname", "A")], 10 * MIN);
    s.p.ingest(vec![a.clone()]);
    sleep(Duration::from_secs(1)).await;
    assert_eq!(s.main.count(), 1);
    a.ends_at = Some(s.clock.now());
    s.p.ingest(vec![a]);
    sleep(MIN).await;
    assert_eq!(s.main.count(), 2);
    assert_eq!(s.main.summary(1), (vec![], vec!["A".to_owned()]));
    assert!(s.p.alerts().is_empty());
    sleep(10 * MIN).await;
    assert_eq!(s.main.count(), 2);
}

#[tokio::test(start_paused = true)]
async fn silences_mute_while_active_and_stop_muting_when_expired() {
    let s = setup(
        Route::to("main")
            .group_wait(Duration::ZERO)
            .group_interval(MIN)
            .repeat_interval(MIN),
    );
    let _task = s.p.spawn();
    let now = s.clock.now();
    let pending = Silence::new(
        r#"{alertname="B"}"#,
        now + 10 * 60_000,
        now + 20 * 60_000,
        "ana",
        "later",
    )
    .unwrap();
    let id =
        s.p.add_silence(
            Silence::new(
                r#"{alertname="A", id=~"1|2"}"#,
                now,
                now + 5 * 60_000,
                "ana",
                "deploy",
            )
            .unwrap(),
        )
        .unwrap();
    let pid = s.p.add_silence(pending).unwrap();
    s.p.ingest(vec![alert(
        &s.clock,
        &[("alertname", "A"), ("id", "1")],
        60 * MIN,
    )]);
    sleep(2 * MIN).await;
    assert_eq!(s.main.count(), 0, "silenced");
    let listed = s.p.alerts();
    assert!(matches!(
        listed[0].muted,
        Some(nexus_alerting::Muted::Silenced { .. })
    ));
    let states: Vec<_> =
        s.p.silences()
            .into_iter()
            .map(|(s, st)| (s.id, st))
            .collect();
    assert!(states.contains(&(id.clone(), nexus_alerting::SilenceState::Active)));
    assert!(states.contains(&(pid.clone(), nexus_alerting::SilenceState::Pending)));
    s.p.expire_silence(&id).unwrap();
    sleep(MIN + Duration::from_secs(1)).await;
    assert_eq!(s.main.count(), 1, "notified once the silence expired");
    assert!(s.p.expire_silence("nope").is_err());
    assert!(Silence::new(r#"{alertname=~".*"}"#, now, now + 1, "ana", "").is_err());
}

#[tokio::test(start_paused = true)]
async fn a_critical_alert_inhibits_warnings_of_its_service() {
    let s = setup(
        Route::to("main")
            .group_by(["alertname", "service"])
            .group_wait(Duration::from_secs(10)),
    );
    let _task = s.p.spawn();
    let ttl = 60 * MIN;
    s.p.ingest(vec![
        alert(
            &s.clock,
            &[
                ("alertname", "Down"),
                ("severity", "critical"),
                ("service", "api"),
            ],
            ttl,
        ),
        alert(
            &s.clock,
            &[
                ("alertname", "Slow"),
                ("severity", "warning"),
                ("service", "api"),
            ],
            ttl,
        ),
        alert(
            &s.clock,
            &[
                ("alertname", "Slow"),
                ("severity", "warning"),
                ("service", "web"),
            ],
            ttl,
        ),
    ]);
    sleep(Duration::from_secs(11)).await;
    let sent = s.main.sent.lock().unwrap().clone();
    let mut got: Vec<String> = sent
        .iter()
        .flat_map(|n| {
            n.alerts
                .iter()
                .map(|a| format!("{}/{}", a.name(), a.labels.get("service").unwrap()))
        })
        .collect();
    got.sort();
    assert_eq!(got, ["Down/api", "Slow/web"]);
}

#[tokio::test(start_paused = true)]
async fn unacknowledged_alerts_escalate_down_the_chain() {
    let s = setup(
        Route::to("main")
            .group_by(["alertname"])
            .group_wait(Duration::ZERO)
            .group_interval(MIN)
            .escalate(Escalation::new(["second", "third"])),
    );
    let _task = s.p.spawn();
    let ttl = 24 * 60 * MIN;
    // Distinct services, so the critical alert does not inhibit the warnings.
    let warn = alert(
        &s.clock,
        &[
            ("alertname", "Slow"),
            ("severity", "warning"),
            ("service", "a"),
        ],
        ttl,
    );
    let crit = alert(
        &s.clock,
        &[
            ("alertname", "Down"),
            ("severity", "critical"),
            ("service", "b"),
        ],
        ttl,
    );
    let acked = alert(
        &s.clock,
        &[
            ("alertname", "Disk"),
            ("severity", "warning"),
            ("service", "c"),
        ],
        ttl,
    );
    s.p.ingest(vec![warn.clone(), crit.clone(), acked.clone()]);
    sleep(Duration::from_secs(1)).await;
    assert_eq!(s.main.count(), 3);
    s.p.ack(acked.fingerprint, "bob", s.clock.now() + 3_600_000)
        .unwrap();
    // Critical: immediately to the whole chain, a step per check.
    sleep(Duration::from_secs(3)).await;
    let names = |r: &Recorder| -> Vec<String> {
        r.sent
            .lock()
            .unwrap()
            .iter()
            .flat_map(|n| n.alerts.iter().map(|a| a.name().to_owned()))
            .collect()
    };
    assert_eq!(names(&s.second), ["Down"]);
    assert_eq!(names(&s.third), ["Down"]);
    // Warning: after 15 minutes without acknowledgement, to "second"; 15 more, to "third".
    sleep(14 * MIN).await;
    assert_eq!(names(&s.second), ["Down"]);
    sleep(MIN + Duration::from_secs(2)).await;
    assert_eq!(names(&s.second), ["Down", "Slow"]);
    sleep(15 * MIN + Duration::from_secs(2)).await;
    assert_eq!(names(&s.third), ["Down", "Slow"]);
    assert_eq!(s.second.sent.lock().unwrap()[1].escalation_level, 1);
    let listed = s.p.alerts();
    let slow = listed.iter().find(|a| a.alert.name() == "Slow").unwrap();
    assert_eq!(slow.escalated_to, ["second", "third"]);
    let disk = listed.iter().find(|a| a.alert.name() == "Disk").unwrap();
    assert_eq!(disk.ack.as_ref().unwrap().by, "bob");
    assert!(
        disk.escalated_to.is_empty(),
        "acknowledged: never escalated"
    );
    // Resolution reaches the receivers it was escalated to ("third" has send_resolved off).
    let mut resolved = warn.clone();
    resolved.ends_at = Some(s.clock.now());
    s.p.ingest(vec![resolved]);
    sleep(Duration::from_secs(2)).await;
    let second = s.second.sent.lock().unwrap().clone();
    assert!(
        second
            .last()
            .unwrap()
            .alerts
            .iter()
            .any(|a| a.name() == "Slow" && a.is_resolved(second.last().unwrap().now))
    );
    assert_eq!(names(&s.third), ["Down", "Slow"]);
    assert!(s.p.ack(0xdead, "bob", s.clock.now() + 1000).is_err());
}

#[tokio::test(start_paused = true)]
async fn engine_alerts_flow_into_the_pipeline() {
    let clock = Clock::starting_at(1_800_000_000_000);
    let rec = Arc::new(Recorder::default());
    let p = Pipeline::builder()
        .receiver(Receiver::new("main", rec.clone()))
        .route(
            Route::to("main")
                .group_by(["alertname"])
                .group_wait(Duration::from_secs(30))
                .group_interval(MIN),
        )
        .clock(clock.clone())
        .build()
        .unwrap();
    let engine = Engine::builder()
        .interval(Duration::from_secs(15))
        .rule(
            "app",
            Rule::builder("HighErrorRate", "nexus_http_error_ratio > 0.05")
                .for_(MIN)
                .clear_at(0.03)
                .severity(Severity::Warning)
                .tier(Severity::Critical, 0.2)
                .annotation(
                    "summary",
                    "{{ $value | humanizePercentage }} errors on {{ $labels.route }}",
                )
                .build()
                .unwrap(),
        )
        .sink(Arc::new(p.clone()))
        .clock(clock.clone())
        .build();
    let _p = p.spawn();
    let _e = engine.spawn();
    let route = Labels::from_pairs([("route", "/docs")]);
    let observe = |v: f64| engine.observe("nexus_http_error_ratio", route.clone(), v);
    observe(0.09);
    sleep(MIN + Duration::from_secs(16)).await; // pending for `for`, then firing, then group_wait
    sleep(Duration::from_secs(30)).await;
    observe(0.09);
    assert_eq!(rec.count(), 1);
    let first = rec.sent.lock().unwrap()[0].clone();
    assert_eq!(first.alerts[0].labels.get("severity"), Some("warning"));
    assert_eq!(
        first.alerts[0].annotations.get("summary"),
        Some("9% errors on /docs")
    );
    // Escalates to critical in place: same fingerprint, re-notified at the next group interval.
    observe(0.25);
    sleep(MIN + Duration::from_secs(16)).await;
    assert_eq!(rec.count(), 2);
    let second = rec.sent.lock().unwrap()[1].clone();
    assert_eq!(
        second.alerts.len(),
        1,
        "one alert, not a resolve and a re-fire"
    );
    assert_eq!(second.alerts[0].labels.get("severity"), Some("critical"));
    assert_eq!(second.alerts[0].fingerprint, first.alerts[0].fingerprint);
    // Hysteresis: 0.04 is below the firing threshold but above the clear threshold.
    observe(0.04);
    sleep(2 * MIN).await;
    observe(0.04);
    assert!(
        engine
            .alerts()
            .iter()
            .all(|a| a.state == nexus_alerting::AlertState::Firing)
    );
    observe(0.01);
    sleep(2 * MIN).await;
    let last = rec.sent.lock().unwrap().last().unwrap().clone();
    assert!(
        last.alerts.iter().all(|a| a.is_resolved(last.now)),
        "resolved below 0.03"
    );
}

#[tokio::test]
async fn a_job_dropped_without_running_releases_its_group() {
    let clock = Clock::starting_at(1_800_000_000_000);
    let rec = Arc::new(Recorder::default());
    let p = Pipeline::builder()
        .receiver(Receiver::new("main", rec.clone()))
        .route(
            Route::to("main")
                .group_wait(Duration::ZERO)
                .group_interval(MIN),
        )
        .clock(clock.clone())
        .build()
        .unwrap();
    p.ingest(vec![alert(&clock, &[("alertname", "A")], 60 * MIN)]);
    let jobs = p.due();
    assert_eq!(jobs.len(), 1);
    drop(jobs); // e.g. a cancelled caller
    clock.advance(MIN);
    assert!(p.tick().await.is_empty());
    assert_eq!(rec.count(), 1, "the group flushed at its next interval");
}
