//! The monitor's own history: what `/dashboard` plots and `GET /api/v1/monitoring/history`
//! serves. Sampled every evaluation interval into two bounded rings, the last hour at that
//! interval and the last day at 5 minutes, plus the spans during which each alert was pending or
//! firing.
//!
//! The JSON is documented in the `monitor` module (`nexus::monitor`, section History).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::Monitor;

/// The coarse ring's step.
const COARSE_STEP: f64 = 300.0;
/// The coarse ring's length: a day.
const COARSE_POINTS: usize = 288;
/// Alert spans kept at most (the oldest go first).
const MAX_SPANS: usize = 2_000;

/// One sample of everything the dashboard plots.
#[derive(Debug, Clone, Default)]
struct Point {
    t: f64,
    /// score, availability, performance, error_rate, resources (points).
    score: [Option<f64>; 5],
    routes: Vec<(Arc<str>, [f64; 5])>,
    caches: Vec<CachePoint>,
    /// connections, max connections, tps, cache hit ratio.
    database: Option<[Option<f64>; 4]>,
    resources: [Option<f64>; 3],
}

const SCORE_NAMES: [&str; 5] = [
    "score",
    "availability",
    "performance",
    "error_rate",
    "resources",
];
const ROUTE_SERIES: [&str; 5] = ["rate", "error_ratio", "p50", "p95", "p99"];

/// A period during which an alert was pending or firing.
#[derive(Debug, Clone, Serialize)]
struct Span {
    rule: String,
    fingerprint: String,
    labels: Value,
    state: &'static str,
    from: f64,
    to: Option<f64>,
}

/// Cumulative counters of the previous sample, for per-second rates and windowed ratios.
#[derive(Debug, Default)]
struct Previous {
    t: f64,
    /// cache → loads.
    loads: HashMap<String, u64>,
    /// (cache, tier) → (hits, misses).
    reads: HashMap<(String, &'static str), (u64, u64)>,
    /// commits + rollbacks, blocks hit, blocks read.
    database: Option<(i64, i64, i64)>,
}

#[derive(Debug)]
struct State {
    fine: VecDeque<Point>,
    fine_capacity: usize,
    coarse: VecDeque<Point>,
    spans: VecDeque<Span>,
    /// (rule, fingerprint) → index of its open span, by its position counted from the start.
    open: HashMap<(String, u64), u64>,
    /// Spans dropped from the front so far (so open indexes stay valid).
    dropped: u64,
    previous: Previous,
    slowest: Value,
}

impl State {
    /// Appends a sample to the hour, and to the day when 5 minutes have passed since its last.
    fn push(&mut self, p: Point) {
        if self
            .coarse
            .back()
            .is_none_or(|c| p.t - c.t >= COARSE_STEP - 0.5)
        {
            if self.coarse.len() == COARSE_POINTS {
                self.coarse.pop_front();
            }
            self.coarse.push_back(p.clone());
        }
        if self.fine.len() == self.fine_capacity {
            self.fine.pop_front();
        }
        self.fine.push_back(p);
    }
}

/// One cache in a sample: its name, loads per second, and each tier's hit ratio since the
/// previous sample.
type CachePoint = (Arc<str>, Option<f64>, Vec<(&'static str, Option<f64>)>);

/// The bounded history (one per monitor).
#[derive(Debug)]
pub(crate) struct History {
    interval: Duration,
    state: Mutex<State>,
}

fn now_seconds() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl History {
    /// A history sampled every `interval`: an hour of it (between 60 and 720 points), and a day
    /// at 5 minutes.
    pub(crate) fn new(interval: Duration) -> Self {
        let every = interval.as_secs_f64().max(0.001);
        let fine_capacity = ((3600.0 / every).ceil() as usize).clamp(60, 720);
        Self {
            interval,
            state: Mutex::new(State {
                fine: VecDeque::with_capacity(fine_capacity),
                fine_capacity,
                coarse: VecDeque::with_capacity(COARSE_POINTS),
                spans: VecDeque::new(),
                open: HashMap::new(),
                dropped: 0,
                previous: Previous::default(),
                slowest: Value::Array(Vec::new()),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes one sample of `m` (the database, when configured, is queried here).
    pub(crate) async fn sample(&self, m: &Monitor) {
        let t = now_seconds();
        let health = m.inner.health.report();
        let caches: Vec<_> = m.inner.caches.iter().map(|(_, s)| s()).collect();
        let database = database(m).await;
        let alerts = m.inner.engine.alerts();

        let mut st = self.lock();
        let dt = if st.previous.t > 0.0 {
            t - st.previous.t
        } else {
            0.0
        };
        let mut p = Point {
            t,
            ..Point::default()
        };
        p.score[0] = Some(health.score.score);
        for c in &health.score.components {
            if let Some(i) = SCORE_NAMES.iter().position(|n| *n == c.name) {
                p.score[i] = Some(c.points);
            }
        }
        p.routes = health
            .window
            .routes
            .iter()
            .map(|r| {
                (
                    Arc::from(r.route.as_str()),
                    [r.rate, r.error_ratio, r.p50, r.p95, r.p99],
                )
            })
            .collect();
        for (stats, (name, _)) in caches.iter().zip(&m.inner.caches) {
            let loads = st.previous.loads.insert(name.clone(), stats.loader.loads);
            let loads_per_second = loads
                .filter(|_| dt > 0.0)
                .map(|before| stats.loader.loads.saturating_sub(before) as f64 / dt);
            let tiers = stats
                .tiers
                .iter()
                .map(|tier| {
                    let now = (tier.hits, tier.misses);
                    let before = st
                        .previous
                        .reads
                        .insert((name.clone(), tier.tier), now)
                        .unwrap_or((0, 0));
                    let hits = now.0.saturating_sub(before.0);
                    let reads = hits + now.1.saturating_sub(before.1);
                    (tier.tier, (reads > 0).then(|| hits as f64 / reads as f64))
                })
                .collect();
            p.caches
                .push((Arc::from(name.as_str()), loads_per_second, tiers));
        }
        if let Some(d) = database {
            let prev = st.previous.database.replace((d.xacts, d.hit, d.read));
            let (tps, hit_ratio) = match prev {
                Some((x, h, r)) if dt > 0.0 => {
                    let (dh, dr) = (d.hit - h, d.read - r);
                    (
                        Some((d.xacts - x).max(0) as f64 / dt),
                        (dh + dr > 0).then(|| dh as f64 / (dh + dr) as f64),
                    )
                }
                _ => (None, None),
            };
            p.database = Some([d.connections, d.max_connections, tps, hit_ratio]);
            st.slowest = d.slowest;
        } else if m.inner.has_database() {
            p.database = Some([None; 4]); // configured but not answering: a gap
        }
        let r = &health.resources;
        p.resources = [r.cpu, r.memory, r.disk];
        st.previous.t = t;

        // Alert spans: extend, change state, or close.
        let mut seen = Vec::with_capacity(alerts.len());
        for a in &alerts {
            let state = match a.state {
                nexus_alerting::AlertState::Pending => "pending",
                nexus_alerting::AlertState::Firing => "firing",
                _ => continue,
            };
            let key = (a.rule.clone(), a.alert.fingerprint);
            seen.push(key.clone());
            if let Some(&at) = st.open.get(&key) {
                let i = (at - st.dropped) as usize;
                if st.spans[i].state == state {
                    continue;
                }
                st.spans[i].to = Some(t);
            }
            let labels = serde_json::to_value(&a.alert.labels).unwrap_or(Value::Null);
            st.spans.push_back(Span {
                rule: a.rule.clone(),
                fingerprint: format!("{:016x}", a.alert.fingerprint),
                labels,
                state,
                from: t,
                to: None,
            });
            let at = st.dropped + st.spans.len() as u64 - 1;
            st.open.insert(key, at);
        }
        let closed: Vec<(String, u64)> = st
            .open
            .keys()
            .filter(|k| !seen.contains(k))
            .cloned()
            .collect();
        for k in closed {
            if let Some(at) = st.open.remove(&k) {
                let i = (at - st.dropped) as usize;
                st.spans[i].to = Some(t);
            }
        }
        // Bounded: spans that ended more than a day ago, and the oldest beyond the cap.
        while st
            .spans
            .front()
            .is_some_and(|s| s.to.is_some_and(|to| t - to > 86_400.0))
            || st.spans.len() > MAX_SPANS
        {
            if st.spans.pop_front().is_some() {
                let at = st.dropped;
                st.dropped += 1;
                st.open.retain(|_, i| *i != at);
            }
        }

        st.push(p);
    }

    /// The history as JSON (see the module docs).
    pub(crate) fn json(&self, day: bool, top: usize, route: Option<&str>) -> Value {
        let st = self.lock();
        let points: Vec<&Point> = if day {
            st.coarse.iter().collect()
        } else {
            st.fine.iter().collect()
        };
        let from = points.first().map_or(f64::INFINITY, |p| p.t);
        let col = |f: &dyn Fn(&Point) -> Option<f64>| -> Value {
            Value::Array(
                points
                    .iter()
                    .map(|p| f(p).map_or(Value::Null, |v| json!(v)))
                    .collect(),
            )
        };

        let mut score = Map::new();
        for (i, n) in SCORE_NAMES.iter().enumerate() {
            score.insert((*n).into(), col(&|p| p.score[i]));
        }

        // The busiest routes of the newest sample, and the one asked for.
        let mut names: Vec<Arc<str>> = points.last().map_or_else(Vec::new, |p| {
            let mut r: Vec<&(Arc<str>, [f64; 5])> = p.routes.iter().collect();
            r.sort_by(|a, b| b.1[0].total_cmp(&a.1[0]));
            r.into_iter().take(top).map(|(n, _)| n.clone()).collect()
        });
        if let Some(want) = route
            && !names.iter().any(|n| &**n == want)
            && points
                .iter()
                .any(|p| p.routes.iter().any(|(n, _)| &**n == want))
        {
            names.push(Arc::from(want));
        }
        let mut routes = Map::new();
        for name in &names {
            let mut series = Map::new();
            for (i, s) in ROUTE_SERIES.iter().enumerate() {
                series.insert(
                    (*s).into(),
                    col(&|p| p.routes.iter().find(|(n, _)| n == name).map(|(_, v)| v[i])),
                );
            }
            routes.insert(name.to_string(), Value::Object(series));
        }

        let mut caches = Map::new();
        let cache_names: Vec<Arc<str>> = points
            .last()
            .map_or_else(Vec::new, |p| p.caches.iter().map(|c| c.0.clone()).collect());
        for name in &cache_names {
            let find = |p: &Point| p.caches.iter().find(|c| &c.0 == name).cloned();
            let tier_names: Vec<&'static str> = points
                .last()
                .and_then(|p| find(p))
                .map_or_else(Vec::new, |c| c.2.iter().map(|t| t.0).collect());
            let mut tiers = Map::new();
            for tier in tier_names {
                tiers.insert(
                    tier.into(),
                    col(&|p| {
                        find(p).and_then(|c| c.2.iter().find(|t| t.0 == tier).and_then(|t| t.1))
                    }),
                );
            }
            caches.insert(
                name.to_string(),
                json!({ "loads_per_second": col(&|p| find(p).and_then(|c| c.1)), "tiers": tiers }),
            );
        }

        let database = points.iter().any(|p| p.database.is_some()).then(|| {
            json!({
                "connections": col(&|p| p.database.and_then(|d| d[0])),
                "max_connections": col(&|p| p.database.and_then(|d| d[1])),
                "tps": col(&|p| p.database.and_then(|d| d[2])),
                "cache_hit_ratio": col(&|p| p.database.and_then(|d| d[3])),
            })
        });
        let alerts: Vec<&Span> = st
            .spans
            .iter()
            .filter(|s| s.to.is_none_or(|to| to >= from))
            .collect();
        json!({
            "range": if day { "24h" } else { "1h" },
            "interval_seconds": if day { COARSE_STEP } else { self.interval.as_secs_f64() },
            "t": points.iter().map(|p| p.t).collect::<Vec<_>>(),
            "score": score,
            "routes": routes,
            "caches": caches,
            "database": database,
            "resources": {
                "cpu": col(&|p| p.resources[0]),
                "memory": col(&|p| p.resources[1]),
                "disk": col(&|p| p.resources[2]),
            },
            "alerts": alerts,
            "slowest_statements": st.slowest,
        })
    }
}

/// What one sample reads from the database monitor.
#[cfg_attr(not(feature = "dbmon"), allow(dead_code))]
struct DbSample {
    connections: Option<f64>,
    max_connections: Option<f64>,
    xacts: i64,
    hit: i64,
    read: i64,
    slowest: Value,
}

#[cfg(feature = "dbmon")]
async fn database(m: &Monitor) -> Option<DbSample> {
    let db = m.inner.db.as_ref()?;
    let report = db.database().await.ok()?;
    let connections = db.connections().await.ok();
    let slowest = db
        .statements()
        .await
        .map(|s| {
            let mut slow: Vec<_> = s.top_by_total.into_iter().chain(s.slow).collect();
            slow.sort_by(|a, b| b.mean_ms.total_cmp(&a.mean_ms));
            slow.dedup_by_key(|s| s.queryid);
            Value::Array(
                slow.into_iter()
                    .take(5)
                    .map(|s| json!({ "query": s.query, "mean_ms": s.mean_ms, "calls": s.calls }))
                    .collect(),
            )
        })
        .unwrap_or(Value::Array(Vec::new()));
    Some(DbSample {
        connections: connections.as_ref().map(|c| c.total as f64),
        max_connections: connections.as_ref().map(|c| f64::from(c.max_connections)),
        xacts: report.commits + report.rollbacks,
        hit: report.blocks_hit,
        read: report.blocks_read,
        slowest,
    })
}

#[cfg(not(feature = "dbmon"))]
async fn database(_: &Monitor) -> Option<DbSample> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A day of history with 256 routes: bounded rings, and the page's request (top 10 routes)
    /// stays small whatever the number of routes.
    #[test]
    fn a_day_with_256_routes_stays_bounded_and_small() {
        let h = History::new(Duration::from_secs(5));
        {
            let mut st = h.lock();
            for i in 0..20_000u32 {
                let t = 1_800_000_000.0 + f64::from(i) * 5.0;
                let p = Point {
                    t,
                    score: [Some(99.0); 5],
                    routes: (0..256)
                        .map(|r| {
                            (
                                Arc::from(format!("/r{r}").as_str()),
                                [f64::from(r), 0.01, 1e-4, 2e-4, 3e-4],
                            )
                        })
                        .collect(),
                    ..Point::default()
                };
                st.push(p);
            }
            assert_eq!((st.fine.len(), st.coarse.len()), (720, 288));
        }
        let day = h.json(true, 10, Some("/r3")).to_string();
        let hour = h.json(false, 10, None).to_string();
        let v: Value = serde_json::from_str(&day).unwrap();
        assert_eq!(
            v["routes"].as_object().unwrap().len(),
            11,
            "top 10 + the one asked for"
        );
        assert_eq!(v["t"].as_array().unwrap().len(), 288);
        assert!(v["routes"]["/r255"]["rate"][0] == 255.0);
        assert!(
            day.len() < 250_000 && hour.len() < 600_000,
            "{} / {} bytes",
            day.len(),
            hour.len()
        );
    }
}
