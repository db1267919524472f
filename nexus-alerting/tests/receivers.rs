//! Receivers against real HTTP servers on loopback: the exact JSON of the webhook (Alertmanager
//! v4), Slack and PagerDuty Events v2 payloads, retries while a receiver is down, a real
//! Alertmanager's API, and the test alert.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{HttpReceiver, http_get};
use nexus_alerting::{
    Alert, Clock, Labels, PagerDutyNotifier, Pipeline, Receiver, RetryPolicy, Route, SlackNotifier,
};
use serde_json::json;

const T0: i64 = 1_795_779_427_000; // 2026-11-27T11:37:07Z

fn fast_retry() -> RetryPolicy {
    let mut p = RetryPolicy::default();
    p.initial_backoff = Duration::from_millis(5);
    p.max_backoff = Duration::from_millis(20);
    p.timeout = Duration::from_secs(2);
    p
}

fn alert(name: &str, extra: &[(&str, &str)], starts_at: i64) -> Alert {
    let mut l = Labels::from_pairs([("alertname", name)]);
    for (k, v) in extra {
        l.insert(*k, *v);
    }
    let mut a = Alert::new(l, starts_at);
    a.annotations = Labels::from_pairs([("summary", format!("{name} summary"))]);
    a.ends_at = Some(starts_at + 3_600_000);
    a.generator_url = "http://nexus.local/alerts?alertname=X".into();
    a
}

fn pipeline(receiver: Receiver, clock: &Clock) -> Pipeline {
    pipeline_with(receiver, clock, Duration::from_secs(60))
}

fn pipeline_with(receiver: Receiver, clock: &Clock, group_interval: Duration) -> Pipeline {
    Pipeline::builder()
        .receiver(receiver.retry(fast_retry()))
        .route(
            Route::to("r")
                .group_by(["alertname"])
                .group_wait(Duration::from_secs(30))
                .group_interval(group_interval),
        )
        .clock(clock.clone())
        .external_url("http://nexus.local")
        .build()
        .unwrap()
}

#[tokio::test]
async fn webhook_sends_alertmanager_v4_json_firing_then_resolved() {
    let server = HttpReceiver::start().await;
    let clock = Clock::starting_at(T0);
    let p = pipeline(
        Receiver::webhook("r", &format!("{}/hook", server.url)).unwrap(),
        &clock,
    );
    let a = alert(
        "DiskFull",
        &[("severity", "critical"), ("instance", "db1")],
        T0,
    );
    let fp = format!("{:016x}", a.labels.fingerprint());
    p.ingest(vec![a.clone()]);
    assert!(p.tick().await.is_empty());
    assert!(server.bodies().is_empty(), "nothing before group_wait");
    clock.advance(Duration::from_secs(30));
    assert!(p.tick().await.is_empty());
    let bodies = server.bodies();
    assert_eq!(bodies.len(), 1);
    let expected = json!({
        "version": "4",
        "groupKey": "{}:{alertname=\"DiskFull\"}",
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "r",
        "groupLabels": {"alertname": "DiskFull"},
        "commonLabels": {"alertname": "DiskFull", "instance": "db1", "severity": "critical"},
        "commonAnnotations": {"summary": "DiskFull summary"},
        "externalURL": "http://nexus.local",
        "alerts": [{
            "status": "firing",
            "labels": {"alertname": "DiskFull", "instance": "db1", "severity": "critical"},
            "annotations": {"summary": "DiskFull summary"},
            "startsAt": "2026-11-27T11:37:07.000Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://nexus.local/alerts?alertname=X",
            "fingerprint": fp,
        }],
    });
    assert_eq!(bodies[0], expected);
    assert_eq!(server.paths(), ["/hook"]);

    // Resolve: sent at the next group_interval with send_resolved (the default).
    let mut resolved = a.clone();
    resolved.ends_at = Some(T0 + 40_000);
    clock.advance(Duration::from_secs(20));
    p.ingest(vec![resolved]);
    clock.advance(Duration::from_secs(40));
    assert!(p.tick().await.is_empty());
    let bodies = server.bodies();
    assert_eq!(bodies.len(), 2);
    assert_eq!(bodies[1]["status"], "resolved");
    assert_eq!(bodies[1]["alerts"][0]["endsAt"], "2026-11-27T11:37:47.000Z");
    // The group is gone once its resolution was delivered.
    assert!(p.alerts().is_empty());
}

#[tokio::test]
async fn send_resolved_off_sends_no_resolution() {
    let server = HttpReceiver::start().await;
    let clock = Clock::starting_at(T0);
    let p = pipeline(
        Receiver::webhook("r", &server.url)
            .unwrap()
            .send_resolved(false),
        &clock,
    );
    let a = alert("X", &[], T0);
    p.ingest(vec![a.clone()]);
    clock.advance(Duration::from_secs(30));
    p.tick().await;
    let mut r = a;
    r.ends_at = Some(T0 + 31_000);
    clock.advance(Duration::from_secs(5));
    p.ingest(vec![r]);
    clock.advance(Duration::from_secs(60));
    assert!(p.tick().await.is_empty());
    assert_eq!(server.bodies().len(), 1);
    assert!(
        p.alerts().is_empty(),
        "the resolved alert still leaves the group"
    );
}

#[tokio::test]
async fn a_receiver_that_is_down_is_retried_until_it_is_back_and_nothing_is_lost() {
    let server = HttpReceiver::start().await;
    let clock = Clock::starting_at(T0);
    // A one-second group interval: a delivery's retries end at the next flush.
    let p = pipeline_with(
        Receiver::webhook("r", &server.url).unwrap(),
        &clock,
        Duration::from_secs(1),
    );
    // Three failures inside one delivery: retried with backoff, delivered once.
    server.fail_next(3);
    p.ingest(vec![alert("A", &[("id", "1")], T0)]);
    clock.advance(Duration::from_secs(30));
    assert!(p.tick().await.is_empty());
    assert_eq!(server.bodies().len(), 1);
    assert_eq!(
        server
            .rec
            .attempts
            .load(std::sync::atomic::Ordering::SeqCst),
        4
    );

    // A long outage: the delivery gives up at its deadline (the group interval); the next flush
    // sends the group again, with the alert that arrived meanwhile.
    server.fail_next(usize::MAX);
    p.ingest(vec![alert("A", &[("id", "2")], T0 + 30_000)]);
    clock.advance(Duration::from_secs(1));
    let started = std::time::Instant::now();
    let errs = tokio::time::timeout(Duration::from_secs(5), async {
        // Deadline: 1 s minimum per delivery.
        p.tick().await
    })
    .await
    .unwrap();
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert_eq!(server.bodies().len(), 1);
    server.fail_next(0);
    clock.advance(Duration::from_secs(1));
    assert!(p.tick().await.is_empty());
    let bodies = server.bodies();
    assert_eq!(bodies.len(), 2);
    let ids: Vec<&str> = bodies[1]["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["labels"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["1", "2"]);
}

/// Fire, then resolve, all while the receiver is down; then it comes back.
async fn missed_incident(redeliver_for: Option<Duration>) -> Vec<serde_json::Value> {
    let server = HttpReceiver::start().await;
    let clock = Clock::starting_at(T0);
    let mut b = Pipeline::builder()
        .receiver(
            Receiver::webhook("r", &server.url)
                .unwrap()
                .retry(fast_retry()),
        )
        .route(
            Route::to("r")
                .group_by(["alertname"])
                .group_wait(Duration::from_secs(30))
                .group_interval(Duration::from_secs(1)),
        )
        .clock(clock.clone());
    if let Some(d) = redeliver_for {
        b = b.redeliver_for(d);
    }
    let p = b.build().unwrap();
    server.fail_next(usize::MAX);
    let mut a = alert("A", &[], T0);
    p.ingest(vec![a.clone()]);
    clock.advance(Duration::from_secs(30));
    assert_eq!(p.tick().await.len(), 1, "the firing notification fails");
    a.ends_at = Some(clock.now());
    p.ingest(vec![a]);
    clock.advance(Duration::from_secs(1));
    let _ = p.tick().await;
    server.fail_next(0);
    for _ in 0..3 {
        clock.advance(Duration::from_secs(1));
        assert!(p.tick().await.is_empty());
    }
    server.bodies()
}

#[tokio::test]
async fn an_incident_missed_while_the_receiver_was_down_is_delivered_when_it_is_back() {
    let bodies = missed_incident(None).await;
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    assert_eq!(bodies[0]["status"], "resolved");
    assert_eq!(bodies[0]["alerts"][0]["labels"]["alertname"], "A");
    assert_eq!(bodies[0]["alerts"][0]["status"], "resolved");
    // With no redelivery horizon, as Alertmanager: the receiver never hears of it.
    let bodies = missed_incident(Some(Duration::ZERO)).await;
    assert!(bodies.is_empty(), "{bodies:?}");
}

#[tokio::test]
async fn slack_payload_is_an_incoming_webhook_message() {
    let server = HttpReceiver::start().await;
    let clock = Clock::starting_at(T0);
    let slack = SlackNotifier::new(&format!("{}/services/T000/B000/XXXX", server.url))
        .unwrap()
        .channel("#ops");
    let p = pipeline(Receiver::new("r", Arc::new(slack)), &clock);
    p.ingest(vec![alert(
        "HighLatency",
        &[("severity", "warning"), ("route", "/docs")],
        T0,
    )]);
    clock.advance(Duration::from_secs(30));
    assert!(p.tick().await.is_empty());
    let expected = json!({
        "text": "[FIRING:1] HighLatency",
        "channel": "#ops",
        "attachments": [{
            "color": "warning",
            "title": "[FIRING:1] HighLatency",
            "title_link": "http://nexus.local",
            "text": "*firing* HighLatency summary\n`alertname=HighLatency route=/docs severity=warning`",
            "fallback": "[FIRING:1] HighLatency",
            "mrkdwn_in": ["text"],
        }],
    });
    let bodies = server.bodies();
    assert_eq!(bodies.len(), 1);
    assert_eq!(bodies[0], expected);
    assert_eq!(server.paths(), ["/services/T000/B000/XXXX"]);
}

#[tokio::test]
async fn pagerduty_triggers_and_resolves_with_one_stable_dedup_key() {
    let server = HttpReceiver::start().await;
    let clock = Clock::starting_at(T0);
    let pd = PagerDutyNotifier::with_url("R0UT1NGKEY", &format!("{}/v2/enqueue", server.url))
        .unwrap()
        .source("api-1");
    let p = pipeline(Receiver::new("r", Arc::new(pd)), &clock);
    let a = alert("Down", &[("severity", "critical")], T0);
    p.ingest(vec![a.clone()]);
    clock.advance(Duration::from_secs(30));
    assert!(p.tick().await.is_empty());
    let mut r = a;
    r.ends_at = Some(T0 + 50_000);
    clock.advance(Duration::from_secs(30));
    p.ingest(vec![r]);
    clock.advance(Duration::from_secs(30));
    assert!(p.tick().await.is_empty());
    let bodies = server.bodies();
    assert_eq!(bodies.len(), 2);
    let key = bodies[0]["dedup_key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("nexus-") && key.len() == 22, "{key}");
    assert_eq!(
        bodies[0],
        json!({
            "routing_key": "R0UT1NGKEY",
            "event_action": "trigger",
            "dedup_key": key,
            "payload": {
                "summary": "[FIRING:1] Down: Down summary",
                "source": "api-1",
                "severity": "critical",
                "timestamp": "2026-11-27T11:37:07.000Z",
                "group": "Down",
                "custom_details": {
                    "firing": [{
                        "labels": {"alertname": "Down", "severity": "critical"},
                        "annotations": {"summary": "Down summary"},
                        "startsAt": "2026-11-27T11:37:07.000Z",
                    }],
                    "num_firing": 1,
                    "num_resolved": 0,
                },
            },
            "client": "nexus",
            "client_url": "http://nexus.local",
        })
    );
    assert_eq!(
        bodies[1],
        json!({"routing_key": "R0UT1NGKEY", "event_action": "resolve", "dedup_key": key})
    );
}

#[tokio::test]
async fn forwards_to_a_real_alertmanager() {
    let am = nexus_testkit::AlertmanagerServer::start();
    let clock = Clock::new();
    let now = clock.now();
    let p = Pipeline::builder()
        .receiver(
            Receiver::alertmanager("am", &am.url())
                .unwrap()
                .retry(fast_retry()),
        )
        .route(Route::to("am").group_wait(Duration::ZERO))
        .clock(clock.clone())
        .build()
        .unwrap();
    let mut a = alert(
        "ForwardedAlert",
        &[("severity", "warning"), ("service", "docs")],
        now,
    );
    a.ends_at = Some(now + 600_000);
    a.generator_url = "http://nexus.local/rules".into();
    p.ingest(vec![a]);
    assert!(p.tick().await.is_empty());
    let listed: serde_json::Value =
        serde_json::from_str(&http_get(&format!("{}/api/v2/alerts", am.url())).await).unwrap();
    let found = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["labels"]["alertname"] == "ForwardedAlert")
        .unwrap_or_else(|| panic!("not in Alertmanager: {listed}"));
    assert_eq!(found["labels"]["service"], "docs");
    assert_eq!(found["annotations"]["summary"], "ForwardedAlert summary");
    assert_eq!(found["status"]["state"], "active");
}

#[tokio::test]
async fn test_alert_goes_end_to_end_and_unknown_receivers_are_errors() {
    let server = HttpReceiver::start().await;
    let clock = Clock::starting_at(T0);
    let p = pipeline(Receiver::webhook("r", &server.url).unwrap(), &clock);
    p.test_alert("r", Duration::from_secs(5)).await.unwrap();
    let b = server.bodies();
    assert_eq!(b.len(), 1);
    assert_eq!(b[0]["alerts"][0]["labels"]["alertname"], "TestAlert");
    assert!(matches!(
        p.test_alert("nope", Duration::from_secs(1)).await,
        Err(nexus_alerting::Error::UnknownReceiver(_))
    ));
    // A permanent failure (4xx) is not retried.
    let bad = Pipeline::builder()
        .receiver(
            Receiver::webhook("r", &format!("{}/x", "http://127.0.0.1:9"))
                .unwrap()
                .retry(fast_retry()),
        )
        .route(Route::to("r"))
        .build()
        .unwrap();
    let err = bad
        .test_alert("r", Duration::from_millis(300))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("receiver \"r\""), "{err}");
}

#[test]
fn secrets_do_not_show_in_debug_output() {
    let r = Receiver::slack("s", "http://hooks.slack.example/services/T1/B2/SECRETTOKEN");
    let shown = match r {
        Ok(r) => format!("{r:?}"),
        Err(e) => e.to_string(),
    };
    assert!(!shown.contains("SECRETTOKEN"), "{shown}");
    let r = Receiver::pagerduty("p", "PDKEY123").unwrap();
    assert!(!format!("{r:?}").contains("PDKEY123"));
    let err = Receiver::webhook("w", "ftp://user:pw@host/TOKEN")
        .unwrap_err()
        .to_string();
    assert!(!err.contains("TOKEN") && !err.contains("pw"), "{err}");
}
