//! The recorder's figures reach the `metrics` facade under OpenTelemetry HTTP names.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use nexus_health::{Outcome, Recorder};

#[test]
fn publishes_otel_named_series() {
    let rec = Recorder::builder().metrics_interval(None).build();
    let get = http::Method::GET;
    for _ in 0..9 {
        rec.record(
            "/users/{id}",
            &get,
            Some(200),
            Outcome::Success,
            Duration::from_millis(3),
        );
    }
    rec.record(
        "/users/{id}",
        &get,
        Some(503),
        Outcome::Error,
        Duration::from_millis(40),
    );
    let debug = DebuggingRecorder::new();
    let snap = debug.snapshotter();
    metrics::with_local_recorder(&debug, || {
        rec.publish_metrics();
        rec.publish_metrics(); // histogram deltas: nothing new the second time
    });
    let mut found = std::collections::HashMap::new();
    for (key, _, _, value) in snap.snapshot().into_vec() {
        let k = key.key();
        let mut labels: Vec<String> = k
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        labels.sort();
        found.insert(format!("{}{{{}}}", k.name(), labels.join(",")), value);
    }
    let base = "http_request_method=GET,http_route=/users/{id}";
    assert_eq!(
        found[&format!("http_server_requests_total{{{base}}}")],
        DebugValue::Counter(10)
    );
    assert_eq!(
        found[&format!("http_server_errors_total{{{base}}}")],
        DebugValue::Counter(1)
    );
    assert_eq!(
        found["http_server_responses_total{http_request_method=GET,http_response_status_class=5xx,http_route=/users/{id}}"],
        DebugValue::Counter(1)
    );
    match &found[&format!("http_server_request_duration_seconds{{{base}}}")] {
        DebugValue::Histogram(samples) => {
            assert_eq!(samples.len(), 10, "one sample per request, sent once");
            assert!(
                samples
                    .iter()
                    .all(|s| s.into_inner() > 0.001 && s.into_inner() < 0.06)
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        found["http_server_active_requests{http_route=/users/{id}}"],
        DebugValue::Gauge(0.0.into())
    );
}
