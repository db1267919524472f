//! The figures reach the `metrics` facade under their documented names, histograms as bucket
//! deltas (never more samples than operations).

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use metrics::{
    Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder,
};
use metrics::{SharedString, Unit};
use nexus_cache::TieredCache;

#[derive(Debug, Default)]
struct Store {
    counters: Mutex<HashMap<String, u64>>,
    gauges: Mutex<HashMap<String, f64>>,
    samples: Mutex<HashMap<String, usize>>,
}

struct Handle(Arc<Store>, String);

impl CounterFn for Handle {
    fn increment(&self, v: u64) {
        *self
            .0
            .counters
            .lock()
            .unwrap()
            .entry(self.1.clone())
            .or_default() += v;
    }
    fn absolute(&self, v: u64) {
        let mut c = self.0.counters.lock().unwrap();
        let e = c.entry(self.1.clone()).or_default();
        *e = (*e).max(v);
    }
}

impl GaugeFn for Handle {
    fn increment(&self, _: f64) {}
    fn decrement(&self, _: f64) {}
    fn set(&self, v: f64) {
        self.0.gauges.lock().unwrap().insert(self.1.clone(), v);
    }
}

impl HistogramFn for Handle {
    fn record(&self, _: f64) {
        self.record_many(0.0, 1);
    }
    fn record_many(&self, _: f64, n: usize) {
        *self
            .0
            .samples
            .lock()
            .unwrap()
            .entry(self.1.clone())
            .or_default() += n;
    }
}

#[derive(Debug, Default, Clone)]
struct TestRecorder(Arc<Store>);

fn id(key: &Key) -> String {
    let mut labels: Vec<String> = key
        .labels()
        .map(|l| format!("{}={}", l.key(), l.value()))
        .collect();
    labels.sort();
    format!("{}{{{}}}", key.name(), labels.join(","))
}

impl Recorder for TestRecorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(Arc::new(Handle(self.0.clone(), id(key))))
    }
    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(Arc::new(Handle(self.0.clone(), id(key))))
    }
    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(Arc::new(Handle(self.0.clone(), id(key))))
    }
}

#[tokio::test]
async fn stats_are_published_under_documented_names() {
    let recorder = TestRecorder::default();
    let cache: TieredCache<String> = TieredCache::builder()
        .name("docs")
        .metrics_interval(None)
        .build()
        .unwrap();
    for i in 0..10 {
        cache.set(&format!("k{i}"), "v".into()).await.unwrap();
    }
    for i in 0..15 {
        cache.get(&format!("k{i}")).await.unwrap();
    }
    cache
        .get_or_load("k99", || async { Ok::<_, std::io::Error>("x".to_string()) })
        .await
        .unwrap();
    metrics::with_local_recorder(&recorder, || cache.publish_metrics());
    // Publishing again adds no histogram samples: only deltas are sent.
    metrics::with_local_recorder(&recorder, || cache.publish_metrics());

    let counters = recorder.0.counters.lock().unwrap().clone();
    assert_eq!(counters["nexus_cache_hits_total{cache=docs,tier=l1}"], 10);
    assert_eq!(counters["nexus_cache_misses_total{cache=docs,tier=l1}"], 6);
    assert_eq!(counters["nexus_cache_sets_total{cache=docs,tier=l1}"], 11);
    assert_eq!(counters["nexus_cache_loads_total{cache=docs}"], 1);
    assert_eq!(counters["nexus_cache_errors_total{cache=docs,tier=l1}"], 0);
    assert!(recorder.0.gauges.lock().unwrap()["nexus_cache_bytes{cache=docs,tier=l1}"] >= 0.0);
    let samples = recorder.0.samples.lock().unwrap().clone();
    assert_eq!(
        samples["nexus_cache_operation_duration_seconds{cache=docs,op=set,tier=l1}"],
        11
    );
    assert_eq!(samples["nexus_cache_load_duration_seconds{cache=docs}"], 1);
    let gets = samples
        .get("nexus_cache_operation_duration_seconds{cache=docs,op=get,tier=l1}")
        .copied();
    assert!(gets.unwrap_or(0) <= 16, "sampled L1 reads: {gets:?}");
}
