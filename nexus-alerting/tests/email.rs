//! The email receiver against Postfix's `smtp-sink` on loopback.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use nexus_alerting::{
    Alert, Clock, EmailNotifier, Labels, Pipeline, Receiver, RetryPolicy, Route, SmtpSecurity,
};

fn receiver(port: u16) -> Receiver {
    let mail = EmailNotifier::new(
        "127.0.0.1",
        port,
        SmtpSecurity::None,
        "Nexus <nexus@example.test>",
        &["oncall@example.test"],
    )
    .unwrap();
    let mut retry = RetryPolicy::default();
    retry.initial_backoff = Duration::from_millis(20);
    retry.max_backoff = Duration::from_millis(200);
    retry.timeout = Duration::from_secs(3);
    Receiver::new("mail", Arc::new(mail)).retry(retry)
}

#[tokio::test]
async fn alerts_arrive_as_email_and_a_sink_outage_is_retried() {
    let sink = nexus_testkit::SmtpSink::start();
    let clock = Clock::new();
    let p = Pipeline::builder()
        .receiver(receiver(sink.port()))
        .route(
            Route::to("mail")
                .group_by(["alertname"])
                .group_wait(Duration::ZERO)
                .group_interval(Duration::from_secs(5)),
        )
        .clock(clock.clone())
        .external_url("http://nexus.local/dashboard")
        .build()
        .unwrap();
    p.test_alert("mail", Duration::from_secs(10)).await.unwrap();
    let mut a = Alert::new(
        Labels::from_pairs([
            ("alertname", "HighErrorRate"),
            ("severity", "critical"),
            ("route", "/docs"),
        ]),
        clock.now(),
    );
    a.annotations = Labels::from_pairs([("summary", "Error rate 9.1% on /docs")]);
    a.ends_at = Some(clock.now() + 60_000);
    p.ingest(vec![a]);
    assert!(p.tick().await.is_empty());
    let msgs = sink.messages();
    assert_eq!(msgs.len(), 2, "{msgs:?}");
    assert!(
        msgs[0].contains("Subject: [FIRING:1] TestAlert"),
        "{}",
        msgs[0]
    );
    let m = &msgs[1];
    assert!(m.contains("Subject: [FIRING:1] HighErrorRate"), "{m}");
    assert!(m.contains("To: oncall@example.test"), "{m}");
    assert!(m.contains("summary: Error rate 9.1% on /docs"), "{m}");
    assert!(m.contains("http://nexus.local/dashboard"), "{m}");

    // The sink goes away; the delivery is retried and lands once it is back.
    sink.stop();
    let restart = tokio::task::spawn_blocking({
        move || {
            std::thread::sleep(Duration::from_millis(700));
            sink.restart();
            sink
        }
    });
    p.test_alert("mail", Duration::from_secs(10)).await.unwrap();
    let sink = restart.await.unwrap();
    assert_eq!(sink.messages().len(), 3);
}
