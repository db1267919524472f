//! The `Recorder`: per-route, per-method request figures, cumulative and over a sliding window.
//!
//! Hot path: one lock-free map read (`arc-swap`) to find the route's handle, then relaxed atomic
//! increments. Nothing is buffered per request: the window is computed by subtracting cumulative
//! counts snapshotted once per slice (default 30 s) into a ring that holds one window (default
//! 5 min) of them, so memory is flat however long nobody asks.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use arc_swap::ArcSwap;
use serde::Serialize;

use nexus_core::histogram::{Counts, Histogram};
use nexus_core::task::TaskHandle;

use crate::metrics as m;

/// Route label of requests no route template matched (scanners, typos): one series for all.
pub const UNMATCHED: &str = "unmatched";
/// Route label of requests to routes seen after the distinct-route cap was reached.
pub const OVERFLOW: &str = "other";

const METHODS: [&str; 10] = [
    "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT", "TRACE", "_OTHER",
];

/// Index of a method in [`METHODS`].
#[inline]
pub(crate) fn method_index(m: &http::Method) -> usize {
    match *m {
        http::Method::GET => 0,
        http::Method::POST => 1,
        http::Method::PUT => 2,
        http::Method::DELETE => 3,
        http::Method::PATCH => 4,
        http::Method::HEAD => 5,
        http::Method::OPTIONS => 6,
        http::Method::CONNECT => 7,
        http::Method::TRACE => 8,
        _ => 9,
    }
}

/// How a finished request is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// Counted as a success.
    Success,
    /// A client error (4xx by default): counted separately, not an error.
    ClientError,
    /// An error (5xx and service errors by default).
    Error,
}

/// Figures of one (route, method) pair, cumulative since start.
#[derive(Debug)]
pub(crate) struct Series {
    requests: AtomicU64,
    errors: AtomicU64,
    client_errors: AtomicU64,
    status_classes: [AtomicU64; 5],
    satisfied: AtomicU64,
    tolerating: AtomicU64,
    latency: Histogram,
}

impl Series {
    fn new() -> Self {
        Self {
            requests: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            client_errors: AtomicU64::new(0),
            status_classes: std::array::from_fn(|_| AtomicU64::new(0)),
            satisfied: AtomicU64::new(0),
            tolerating: AtomicU64::new(0),
            latency: Histogram::new(),
        }
    }

    fn load(&self) -> SeriesCounts {
        SeriesCounts {
            requests: self.requests.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            client_errors: self.client_errors.load(Ordering::Relaxed),
            status_classes: std::array::from_fn(|i| self.status_classes[i].load(Ordering::Relaxed)),
            satisfied: self.satisfied.load(Ordering::Relaxed),
            tolerating: self.tolerating.load(Ordering::Relaxed),
            latency: self.latency.counts(),
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct SeriesCounts {
    requests: u64,
    errors: u64,
    client_errors: u64,
    status_classes: [u64; 5],
    satisfied: u64,
    tolerating: u64,
    latency: Counts,
}

impl SeriesCounts {
    fn since(&self, e: &SeriesCounts) -> SeriesCounts {
        SeriesCounts {
            requests: self.requests.saturating_sub(e.requests),
            errors: self.errors.saturating_sub(e.errors),
            client_errors: self.client_errors.saturating_sub(e.client_errors),
            status_classes: std::array::from_fn(|i| {
                self.status_classes[i].saturating_sub(e.status_classes[i])
            }),
            satisfied: self.satisfied.saturating_sub(e.satisfied),
            tolerating: self.tolerating.saturating_sub(e.tolerating),
            latency: self.latency.since(&e.latency),
        }
    }

    fn add(&mut self, o: &SeriesCounts) {
        self.requests += o.requests;
        self.errors += o.errors;
        self.client_errors += o.client_errors;
        for i in 0..5 {
            self.status_classes[i] += o.status_classes[i];
        }
        self.satisfied += o.satisfied;
        self.tolerating += o.tolerating;
        self.latency.add(&o.latency);
    }
}

/// A route's handle: looked up once per request, then only atomics.
#[derive(Debug)]
pub struct Route {
    name: Arc<str>,
    in_flight: AtomicI64,
    methods: [OnceLock<Box<Series>>; METHODS.len()],
}

impl Route {
    fn new(name: &str) -> Self {
        Self {
            name: name.into(),
            in_flight: AtomicI64::new(0),
            methods: std::array::from_fn(|_| OnceLock::new()),
        }
    }

    /// The route label.
    pub fn name(&self) -> &str {
        &self.name
    }

    #[inline]
    pub(crate) fn start(&self) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
    }

    #[inline]
    pub(crate) fn end(&self) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
    }

    /// Records one finished request.
    #[inline]
    pub(crate) fn record(
        &self,
        method: usize,
        status: Option<u16>,
        outcome: Outcome,
        ns: u64,
        apdex_t_ns: u64,
    ) {
        let s = self.methods[method.min(METHODS.len() - 1)].get_or_init(|| Box::new(Series::new()));
        s.requests.fetch_add(1, Ordering::Relaxed);
        match outcome {
            Outcome::Success => {}
            Outcome::ClientError => {
                s.client_errors.fetch_add(1, Ordering::Relaxed);
            }
            Outcome::Error => {
                s.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
        if let Some(code) = status {
            let class = usize::from(code / 100).clamp(1, 5) - 1;
            s.status_classes[class].fetch_add(1, Ordering::Relaxed);
        }
        if outcome != Outcome::Error {
            if ns <= apdex_t_ns {
                s.satisfied.fetch_add(1, Ordering::Relaxed);
            } else if ns <= apdex_t_ns.saturating_mul(4) {
                s.tolerating.fetch_add(1, Ordering::Relaxed);
            }
        }
        s.latency.record(ns);
    }
}

/// Figures of one route (all methods) or of the whole service, over a window.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct RouteWindow {
    /// Route template (`/users/{id}`), [`UNMATCHED`], [`OVERFLOW`] or `"*"` for the total.
    pub route: String,
    /// Requests finished in the window.
    pub requests: u64,
    /// Requests per second over the window.
    pub rate: f64,
    /// Errors (per the error policy) in the window.
    pub errors: u64,
    /// `errors / requests`, 0 without requests.
    pub error_ratio: f64,
    /// Client errors (4xx by default) in the window.
    pub client_errors: u64,
    /// Responses per status class `[1xx, 2xx, 3xx, 4xx, 5xx]`.
    pub status_classes: [u64; 5],
    /// Median latency, seconds.
    pub p50: f64,
    /// 95th percentile latency, seconds.
    pub p95: f64,
    /// 99th percentile latency, seconds.
    pub p99: f64,
    /// Mean latency, seconds.
    pub mean: f64,
    /// Apdex score in 0..=1 (1 without requests).
    pub apdex: f64,
    /// Requests in progress now.
    pub in_flight: i64,
}

/// A snapshot over the sliding window: the whole service and each route.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Window {
    /// Length actually covered, seconds (shorter than configured while the process is young).
    pub seconds: f64,
    /// All routes together.
    pub total: RouteWindow,
    /// One entry per route seen, busiest first.
    pub routes: Vec<RouteWindow>,
}

impl Window {
    /// A window with no traffic (used when nothing is recorded yet).
    pub fn empty() -> Self {
        Self {
            seconds: 0.0,
            total: summarize("*", &SeriesCounts::default(), 0.0, 0),
            routes: Vec::new(),
        }
    }
}

/// Cumulative figures of one route since start (exact; what tests and exporters read).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct RouteTotals {
    /// Route label.
    pub route: String,
    /// Requests finished.
    pub requests: u64,
    /// Errors.
    pub errors: u64,
    /// Client errors.
    pub client_errors: u64,
    /// Requests in progress.
    pub in_flight: i64,
}

type Key = (Arc<str>, usize);

#[derive(Debug)]
struct Snap {
    at: quanta::Instant,
    series: HashMap<Key, SeriesCounts>,
}

type RouteMap = HashMap<Box<str>, Arc<Route>, foldhash::fast::RandomState>;

/// Builder for [`Recorder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct RecorderBuilder {
    max_routes: usize,
    apdex_t: Duration,
    window: Duration,
    slice: Duration,
    metrics_interval: Option<Duration>,
}

impl RecorderBuilder {
    /// Cap on distinct route labels (default 256); later routes are counted as [`OVERFLOW`].
    pub fn max_routes(mut self, n: usize) -> Self {
        self.max_routes = n.max(1);
        self
    }

    /// Apdex threshold T (default 500 ms): satisfied ≤ T, tolerating ≤ 4T.
    pub fn apdex_threshold(mut self, t: Duration) -> Self {
        self.apdex_t = t;
        self
    }

    /// Sliding window length (default 5 minutes) and slice (default 30 s).
    pub fn window(mut self, window: Duration, slice: Duration) -> Self {
        self.window = window.max(Duration::from_millis(1));
        self.slice = slice.max(Duration::from_millis(1)).min(self.window);
        self
    }

    /// How often [`Recorder::spawn`]'s task pushes figures to the `metrics` facade (default
    /// every 5 s; `None`: only on [`Recorder::publish_metrics`]).
    pub fn metrics_interval(mut self, every: Option<Duration>) -> Self {
        self.metrics_interval = every;
        self
    }

    /// Builds the recorder. It starts nothing: windows are brought up to date when read, and
    /// [`Recorder::spawn`] starts the task that takes a snapshot every slice and publishes metrics.
    pub fn build(self) -> Recorder {
        let mut map = RouteMap::default();
        for r in [UNMATCHED, OVERFLOW] {
            map.insert(r.into(), Arc::new(Route::new(r)));
        }
        let inner = Arc::new(Inner {
            routes: ArcSwap::from_pointee(map),
            writer: Mutex::new(()),
            max_routes: self.max_routes,
            apdex_t_ns: u64::try_from(self.apdex_t.as_nanos()).unwrap_or(u64::MAX),
            window: self.window,
            slice: self.slice,
            started: quanta::Instant::now(),
            ring: Mutex::new(VecDeque::new()),
            exported: Mutex::new(HashMap::new()),
            publish: self.metrics_interval,
        });
        Recorder { inner }
    }
}

#[derive(Debug)]
struct Inner {
    routes: ArcSwap<RouteMap>,
    writer: Mutex<()>,
    max_routes: usize,
    apdex_t_ns: u64,
    window: Duration,
    slice: Duration,
    started: quanta::Instant,
    ring: Mutex<VecDeque<Snap>>,
    exported: Mutex<HashMap<Key, Counts>>,
    publish: Option<Duration>,
}

/// Per-route request figures shared by every [`HealthService`](crate::HealthService) clone.
///
/// ```
/// use nexus_health::Recorder;
/// let recorder = Recorder::builder().max_routes(100).build();
/// assert_eq!(recorder.window().total.requests, 0);
/// ```
#[derive(Debug, Clone)]
pub struct Recorder {
    inner: Arc<Inner>,
}

impl Default for Recorder {
    fn default() -> Self {
        Self::builder().build()
    }
}

impl Recorder {
    /// Starts the background task: a window snapshot every slice, and metrics published every
    /// [`metrics_interval`](RecorderBuilder::metrics_interval). Stops when the handle is
    /// dropped. Call it inside a Tokio runtime ([`Health::spawn`](crate::Health::spawn) does it
    /// for a whole `Health`).
    pub fn spawn(&self) -> TaskHandle {
        TaskHandle::spawn(self.clone().run(None))
    }

    /// The loop: a snapshot every slice; every metrics interval, `health`'s metrics (which
    /// include this recorder's) or else this recorder's.
    pub(crate) async fn run(self, health: Option<crate::Health>) {
        let every = self
            .inner
            .publish
            .map_or(self.inner.slice, |p| p.min(self.inner.slice));
        let mut tick = tokio::time::interval(every.max(Duration::from_millis(1)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut published = quanta::Instant::now();
        loop {
            tick.tick().await;
            let now = quanta::Instant::now();
            self.inner.tick(now);
            if let Some(p) = self.inner.publish
                && now.saturating_duration_since(published) >= p.saturating_sub(every / 2)
            {
                published = now;
                match &health {
                    Some(h) => h.publish_metrics(),
                    None => self.publish_metrics(),
                }
            }
        }
    }

    /// Defaults: 256 routes, Apdex T 500 ms, 5-minute window in 30 s slices.
    pub fn builder() -> RecorderBuilder {
        RecorderBuilder {
            max_routes: 256,
            apdex_t: Duration::from_millis(500),
            window: Duration::from_secs(300),
            slice: Duration::from_secs(30),
            metrics_interval: Some(Duration::from_secs(5)),
        }
    }

    pub(crate) fn apdex_t_ns(&self) -> u64 {
        self.inner.apdex_t_ns
    }

    /// The handle of `route`, creating it on first sight (bounded by the route cap).
    #[inline]
    pub fn route(&self, route: &str) -> Arc<Route> {
        if let Some(r) = self.inner.routes.load().get(route) {
            return r.clone();
        }
        self.insert(route)
    }

    #[cold]
    fn insert(&self, route: &str) -> Arc<Route> {
        let _w = self.inner.writer.lock().unwrap_or_else(|e| e.into_inner());
        let current = self.inner.routes.load_full();
        if let Some(r) = current.get(route) {
            return r.clone();
        }
        // The two sentinels do not count against the cap.
        if current.len() >= self.inner.max_routes + 2
            && let Some(r) = current.get(OVERFLOW)
        {
            return r.clone();
        }
        let r = Arc::new(Route::new(route));
        let mut next = (*current).clone();
        next.insert(route.into(), r.clone());
        self.inner.routes.store(Arc::new(next));
        r
    }

    /// Records one request directly (for protocols the layer does not wrap).
    pub fn record(
        &self,
        route: &str,
        method: &http::Method,
        status: Option<u16>,
        outcome: Outcome,
        latency: Duration,
    ) {
        let ns = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        self.route(route).record(
            method_index(method),
            status,
            outcome,
            ns,
            self.inner.apdex_t_ns,
        );
    }

    /// Exact cumulative figures per route since start.
    pub fn totals(&self) -> Vec<RouteTotals> {
        let routes = self.inner.routes.load_full();
        let mut out: Vec<RouteTotals> = routes
            .values()
            .map(|r| {
                let mut t = RouteTotals {
                    route: r.name.to_string(),
                    requests: 0,
                    errors: 0,
                    client_errors: 0,
                    in_flight: r.in_flight.load(Ordering::Relaxed),
                };
                for s in r.methods.iter().filter_map(OnceLock::get) {
                    t.requests += s.requests.load(Ordering::Relaxed);
                    t.errors += s.errors.load(Ordering::Relaxed);
                    t.client_errors += s.client_errors.load(Ordering::Relaxed);
                }
                t
            })
            .filter(|t| t.requests > 0 || t.in_flight != 0)
            .collect();
        out.sort_by(|a, b| {
            b.requests
                .cmp(&a.requests)
                .then_with(|| a.route.cmp(&b.route))
        });
        out
    }

    /// Figures over the sliding window, per route and in total.
    pub fn window(&self) -> Window {
        let now = quanta::Instant::now();
        self.inner.tick(now);
        let current = self.inner.collect();
        let (base_at, base) = self.inner.baseline(now);
        let seconds = now.saturating_duration_since(base_at).as_secs_f64();
        let routes = self.inner.routes.load_full();
        let mut per_route: HashMap<Arc<str>, SeriesCounts> = HashMap::new();
        let mut total = SeriesCounts::default();
        for (key, counts) in &current {
            let d = match base.as_ref().and_then(|b| b.get(key)) {
                Some(b) => counts.since(b),
                None => *counts,
            };
            per_route.entry(key.0.clone()).or_default().add(&d);
            total.add(&d);
        }
        let in_flight = |name: &str| {
            routes
                .get(name)
                .map_or(0, |r| r.in_flight.load(Ordering::Relaxed))
        };
        let mut list: Vec<RouteWindow> = per_route
            .iter()
            .filter(|(_, c)| c.requests > 0)
            .map(|(name, c)| summarize(name, c, seconds, in_flight(name)))
            .collect();
        list.sort_by(|a, b| {
            b.requests
                .cmp(&a.requests)
                .then_with(|| a.route.cmp(&b.route))
        });
        let all_in_flight = routes
            .values()
            .map(|r| r.in_flight.load(Ordering::Relaxed))
            .sum();
        Window {
            seconds,
            total: summarize("*", &total, seconds, all_in_flight),
            routes: list,
        }
    }

    /// Pushes cumulative figures to the `metrics` facade, with OpenTelemetry HTTP names:
    ///
    /// | metric | kind | labels |
    /// |---|---|---|
    /// | `http_server_request_duration_seconds` | histogram | `http_route`, `http_request_method` |
    /// | `http_server_requests_total` | counter | `http_route`, `http_request_method` |
    /// | `http_server_errors_total` | counter | `http_route`, `http_request_method` |
    /// | `http_server_responses_total` | counter | `http_route`, `http_request_method`, `http_response_status_class` |
    /// | `http_server_active_requests` | gauge | `http_route` |
    ///
    /// The status *class* (`2xx`…) rather than the code keeps the series bounded and the hot path to
    /// one map read. Histogram buckets are sent as deltas, so no sample is buffered.
    pub fn publish_metrics(&self) {
        let current = self.inner.collect();
        let mut exported = self
            .inner
            .exported
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        for ((route, m), c) in &current {
            let labels = [
                ("http_route", route.to_string()),
                ("http_request_method", METHODS[*m].to_string()),
            ];
            metrics::counter!(m::REQUESTS.name, &labels).absolute(c.requests);
            metrics::counter!(m::ERRORS.name, &labels).absolute(c.errors);
            for (i, n) in c.status_classes.iter().enumerate() {
                if *n > 0 {
                    metrics::counter!(m::RESPONSES.name, "http_route" => route.to_string(),
                        "http_request_method" => METHODS[*m], "http_response_status_class" => format!("{}xx", i + 1))
                    .absolute(*n);
                }
            }
            let h = metrics::histogram!(m::REQUEST_DURATION.name, &labels);
            let prev = exported.entry((route.clone(), *m)).or_default();
            c.latency.since(prev).record_into(&h);
            *prev = c.latency;
        }
        for r in self.inner.routes.load().values() {
            metrics::gauge!(m::ACTIVE_REQUESTS.name, "http_route" => r.name.to_string())
                .set(r.in_flight.load(Ordering::Relaxed) as f64);
        }
    }
}

impl Inner {
    fn collect(&self) -> HashMap<Key, SeriesCounts> {
        let routes = self.routes.load_full();
        let mut out = HashMap::new();
        for r in routes.values() {
            for (m, s) in r.methods.iter().enumerate() {
                if let Some(s) = s.get() {
                    out.insert((r.name.clone(), m), s.load());
                }
            }
        }
        out
    }

    /// Adds a slice snapshot when one is due and drops those older than the window needs.
    fn tick(&self, now: quanta::Instant) {
        let mut ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        let due = ring
            .back()
            .is_none_or(|s| now.saturating_duration_since(s.at) >= self.slice);
        if !due {
            return;
        }
        ring.push_back(Snap {
            at: now,
            series: self.collect(),
        });
        // Keep the newest snapshot that is at least a window old, and everything after it.
        while ring.len() >= 2 && now.saturating_duration_since(ring[1].at) >= self.window {
            ring.pop_front();
        }
    }

    /// The newest snapshot at least one window old; the process start when it is younger; the
    /// oldest snapshot otherwise.
    fn baseline(
        &self,
        now: quanta::Instant,
    ) -> (quanta::Instant, Option<HashMap<Key, SeriesCounts>>) {
        let ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = ring
            .iter()
            .rev()
            .find(|s| now.saturating_duration_since(s.at) >= self.window)
        {
            return (s.at, Some(s.series.clone()));
        }
        if now.saturating_duration_since(self.started) <= self.window + self.slice {
            return (self.started, None);
        }
        match ring.front() {
            Some(s) => (s.at, Some(s.series.clone())),
            None => (self.started, None),
        }
    }
}

fn summarize(route: &str, c: &SeriesCounts, seconds: f64, in_flight: i64) -> RouteWindow {
    let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    RouteWindow {
        route: route.to_owned(),
        requests: c.requests,
        rate: if seconds > 0.0 {
            c.requests as f64 / seconds
        } else {
            0.0
        },
        errors: c.errors,
        error_ratio: ratio(c.errors, c.requests),
        client_errors: c.client_errors,
        status_classes: c.status_classes,
        p50: c.latency.quantile(0.50),
        p95: c.latency.quantile(0.95),
        p99: c.latency.quantile(0.99),
        mean: c.latency.mean(),
        apdex: if c.requests == 0 {
            1.0
        } else {
            (c.satisfied as f64 + c.tolerating as f64 / 2.0) / c.requests as f64
        },
        in_flight,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn window_figures_and_apdex() {
        let r = Recorder::builder().apdex_threshold(ms(100)).build();
        let get = http::Method::GET;
        for _ in 0..6 {
            r.record("/a", &get, Some(200), Outcome::Success, ms(50)); // satisfied
        }
        r.record("/a", &get, Some(200), Outcome::Success, ms(300)); // tolerating
        r.record("/a", &get, Some(200), Outcome::Success, ms(1000)); // frustrated
        r.record("/a", &get, Some(404), Outcome::ClientError, ms(10));
        r.record("/a", &http::Method::POST, Some(503), Outcome::Error, ms(10));
        let w = r.window();
        assert_eq!(w.routes.len(), 1);
        let a = &w.routes[0];
        assert_eq!((a.requests, a.errors, a.client_errors), (10, 1, 1));
        assert_eq!(a.status_classes, [0, 8, 0, 1, 1]);
        assert!((a.error_ratio - 0.1).abs() < 1e-12);
        assert!((a.apdex - (7.0 + 0.5) / 10.0).abs() < 1e-12, "{}", a.apdex);
        assert!(a.p50 > 0.03 && a.p50 < 0.08, "{}", a.p50);
        assert_eq!(w.total.requests, 10);
    }

    #[test]
    fn route_cap_folds_new_routes_into_overflow() {
        let r = Recorder::builder().max_routes(2).build();
        for route in ["/a", "/b", "/c", "/d"] {
            r.record(
                route,
                &http::Method::GET,
                Some(200),
                Outcome::Success,
                ms(1),
            );
        }
        let names: Vec<String> = r.totals().into_iter().map(|t| t.route).collect();
        assert_eq!(names, vec![OVERFLOW.to_string(), "/a".into(), "/b".into()]);
    }

    #[test]
    fn window_forgets_what_is_older_than_the_window() {
        let r = Recorder::builder().window(ms(200), ms(50)).build();
        r.record(
            "/old",
            &http::Method::GET,
            Some(200),
            Outcome::Success,
            ms(1),
        );
        for _ in 0..8 {
            std::thread::sleep(ms(50));
            r.window(); // ticks
        }
        r.record(
            "/new",
            &http::Method::GET,
            Some(200),
            Outcome::Success,
            ms(1),
        );
        let w = r.window();
        assert_eq!(w.total.requests, 1, "{w:?}");
        assert_eq!(w.routes[0].route, "/new");
        assert!(w.seconds >= 0.2 && w.seconds < 0.4, "{}", w.seconds);
        assert_eq!(
            r.totals().iter().map(|t| t.requests).sum::<u64>(),
            2,
            "totals stay exact"
        );
    }
}
