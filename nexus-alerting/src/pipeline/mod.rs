//! `Pipeline`: Alertmanager's semantics in-process.
//!
//! Alerts arrive from the engine (or anyone) and are **deduplicated** by fingerprint into one
//! store, **routed** through the tree and put into **aggregation groups** (`group_by`). A group
//! is flushed `group_wait` after it appears, then every `group_interval`; at a flush its alerts
//! are filtered by **inhibition** and **silences** (evaluated then, so a silence added later
//! mutes alerts already grouped), and the **notification log** decides whether the receiver
//! needs to hear about the group (new firing alerts, resolved ones with `send_resolved`, or
//! `repeat_interval` passed). Resolved alerts leave a group once a notification about them
//! succeeded; a failed notification is retried with backoff until the next flush, and the next
//! flush sends the group again, so nothing is lost while a receiver is down. On top:
//! acknowledgements and per-route **escalation**.

mod api;
mod escalation;
mod flush;
mod inhibit;
mod nflog;
mod route;
mod silence;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};
use serde::Serialize;

pub use inhibit::InhibitRule;
pub use route::{Escalation, Route};
pub use silence::{Silence, SilenceState};

use crate::alert::Alert;
use crate::engine::AlertSink;
use crate::error::Error;
use crate::labels::{ALERT_NAME, Labels};
use crate::notify::{Notification, Receiver};
use crate::time::{Clock, Millis, ms};
use nexus_core::task::TaskHandle;
use route::Tree;

/// An acknowledgement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ack {
    /// Who acknowledged.
    pub by: String,
    /// When.
    pub at: Millis,
    /// Until when (escalation resumes after).
    pub until: Millis,
}

/// Why an alert is not notified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
#[non_exhaustive]
pub enum Muted {
    /// By a silence.
    Silenced {
        /// The silence's id.
        id: String,
    },
    /// By a firing alert through an inhibition rule.
    Inhibited {
        /// The inhibiting alert's fingerprint.
        by: String,
    },
}

/// An alert as the pipeline holds it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PipelineAlert {
    /// The alert.
    pub alert: Alert,
    /// `firing` or `resolved`.
    pub status: crate::notify::Status,
    /// Silenced or inhibited.
    pub muted: Option<Muted>,
    /// Acknowledged.
    pub ack: Option<Ack>,
    /// Receivers it was escalated to.
    pub escalated_to: Vec<String>,
}

struct Group {
    route: usize,
    labels: Labels,
    fps: HashSet<u64>,
    next_flush: Millis,
    has_flushed: bool,
    flushing: bool,
    /// Alerts (label fingerprints) this group's receiver was due to hear firing when a delivery
    /// failed, and since when: it hears of them (resolved, if they resolved meanwhile) once it is
    /// back, within the redelivery horizon.
    owed: HashMap<u64, Millis>,
}

/// Most owed alerts remembered per group.
const MAX_OWED: usize = 1000;

struct Escalating {
    level: usize,
    since: Millis,
}

#[derive(Default)]
struct State {
    alerts: HashMap<u64, Alert>,
    groups: HashMap<String, Group>,
    /// Routes (node, group key) per full-label fingerprint.
    routes: HashMap<u64, Vec<(usize, String)>>,
    nflog: HashMap<(String, String), nflog::Entry>,
    silences: Vec<Silence>,
    acks: HashMap<u64, Ack>,
    escalations: HashMap<(String, u64), Escalating>,
}

/// One delivery to run: a group flush or an escalation step.
#[derive(Debug)]
pub struct Job {
    receiver: Arc<Receiver>,
    notification: Notification,
    kind: JobKind,
    deadline: tokio::time::Instant,
    /// The pipeline, to release the group if the job is dropped without being run.
    owner: std::sync::Weak<Inner>,
    done: bool,
}

/// The group key receivers see (Alertmanager's `{route key}:{group labels}`) of an internal
/// group key (`{route id}#` before it).
fn public_key(key: &str) -> String {
    key.split_once('#').map_or(key, |(_, k)| k).to_owned()
}

impl Drop for Job {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        // Dropped (or cancelled) before completing: the group must flush again later.
        if let (JobKind::Flush { group, .. }, Some(inner)) = (&self.kind, self.owner.upgrade()) {
            let mut st = inner.state.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(g) = st.groups.get_mut(group) {
                g.flushing = false;
            }
        }
    }
}

#[derive(Debug)]
enum JobKind {
    Flush {
        group: String,
        firing: HashSet<u64>,
        resolved: HashSet<u64>,
        /// (fingerprint, ends_at) of resolved alerts at flush time.
        snapshot: Vec<(u64, Option<Millis>)>,
        escalate: bool,
    },
    Escalation,
}

struct Inner {
    state: Mutex<State>,
    receivers: HashMap<String, Arc<Receiver>>,
    tree: Tree,
    inhibit: Vec<InhibitRule>,
    clock: Clock,
    external_url: String,
    redeliver_for: Millis,
    wake: tokio::sync::Notify,
}

/// The alert pipeline. Cheap to clone.
///
/// ```
/// use nexus_alerting::{Alert, Labels, Pipeline, Receiver, Route};
/// use std::time::Duration;
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let pipeline = Pipeline::builder()
///     .receiver(Receiver::webhook("ops", "http://127.0.0.1:9/hook").unwrap())
///     .route(Route::to("ops").group_by(["alertname"]).group_wait(Duration::from_secs(10)))
///     .build()
///     .unwrap();
/// pipeline.ingest(vec![Alert::new(Labels::from_pairs([("alertname", "Disk")]), pipeline.now())]);
/// assert_eq!(pipeline.alerts().len(), 1);
/// let _task = pipeline.spawn(); // flushes groups and delivers until dropped
/// # }
/// ```
#[derive(Clone)]
pub struct Pipeline {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field(
                "receivers",
                &self.inner.receivers.keys().collect::<Vec<_>>(),
            )
            .field("inhibit_rules", &self.inner.inhibit.len())
            .finish_non_exhaustive()
    }
}

/// Builds a [`Pipeline`].
#[derive(Debug, Default)]
#[must_use]
pub struct PipelineBuilder {
    receivers: Vec<Receiver>,
    route: Option<Route>,
    inhibit: Vec<InhibitRule>,
    clock: Option<Clock>,
    external_url: String,
    redeliver_for: Option<Duration>,
}

impl PipelineBuilder {
    /// Adds a receiver (names must be unique).
    pub fn receiver(mut self, r: Receiver) -> Self {
        self.receivers.push(r);
        self
    }

    /// The routing tree (its root needs a receiver).
    pub fn route(mut self, r: Route) -> Self {
        self.route = Some(r);
        self
    }

    /// Adds an inhibition rule.
    pub fn inhibit(mut self, r: InhibitRule) -> Self {
        self.inhibit.push(r);
        self
    }

    /// The clock (tests anchor it).
    pub fn clock(mut self, c: Clock) -> Self {
        self.clock = Some(c);
        self
    }

    /// How long an incident that a receiver missed (its deliveries failed) is still delivered
    /// once it answers again, even when every alert has resolved meanwhile (default 24 h; zero:
    /// as Alertmanager, a receiver that never heard an alert fire never hears it resolve).
    pub fn redeliver_for(mut self, d: Duration) -> Self {
        self.redeliver_for = Some(d);
        self
    }

    /// Link prefix in notifications.
    pub fn external_url(mut self, url: &str) -> Self {
        self.external_url = url.to_owned();
        self
    }

    /// Validates (receiver names unique and known to the routes) and builds.
    pub fn build(self) -> Result<Pipeline, Error> {
        let mut receivers = HashMap::new();
        for r in self.receivers {
            let name = r.name().to_owned();
            if receivers.insert(name.clone(), Arc::new(r)).is_some() {
                return Err(Error::Config(format!("receiver {name:?} defined twice")));
            }
        }
        let names: Vec<&str> = receivers.keys().map(String::as_str).collect();
        let route = self
            .route
            .ok_or_else(|| Error::Config("a pipeline needs a route".into()))?;
        let tree = Tree::build(route, &names)?;
        Ok(Pipeline {
            inner: Arc::new(Inner {
                state: Mutex::new(State::default()),
                receivers,
                tree,
                inhibit: self.inhibit,
                clock: self.clock.unwrap_or_default(),
                external_url: self.external_url,
                redeliver_for: ms(self.redeliver_for.unwrap_or(Duration::from_secs(24 * 3600))),
                wake: tokio::sync::Notify::new(),
            }),
        })
    }
}

impl AlertSink for Pipeline {
    fn send(&self, alerts: Vec<Alert>) {
        self.ingest(alerts);
    }
}

impl Pipeline {
    /// Starts building.
    pub fn builder() -> PipelineBuilder {
        PipelineBuilder::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Now on the pipeline's clock.
    pub fn now(&self) -> Millis {
        self.inner.clock.now()
    }

    /// Takes alerts in: deduplicated by fingerprint (the newest wins, the earliest start is
    /// kept while the alert keeps firing), routed and grouped.
    pub fn ingest(&self, alerts: Vec<Alert>) {
        let now = self.now();
        let tree = &self.inner.tree;
        let mut st = self.lock();
        let mut wake = false;
        for mut a in alerts {
            if let Some(old) = st.alerts.get(&a.fingerprint)
                && !old.is_resolved(now)
                && old.starts_at < a.starts_at
            {
                a.starts_at = old.starts_at;
            }
            let lfp = a.labels.fingerprint();
            if !st.routes.contains_key(&lfp) {
                let routes = tree
                    .matches(&a.labels)
                    .into_iter()
                    .map(|id| {
                        // One aggregation group per route (Alertmanager keys them by route, so
                        // two sibling routes with the same matchers never share a group); the
                        // group key receivers see is Alertmanager's `{route key}:{labels}`.
                        let gl = tree.group_labels(id, &a.labels);
                        (id, format!("{id}#{}:{gl}", tree.nodes[id].key))
                    })
                    .collect();
                if st.routes.len() > 100_000 {
                    st.routes.clear();
                }
                st.routes.insert(lfp, routes);
            }
            let routes = st.routes.get(&lfp).cloned().unwrap_or_default();
            for (id, key) in routes {
                let node = &tree.nodes[id];
                let group = st.groups.entry(key).or_insert_with(|| {
                    wake = true;
                    Group {
                        route: id,
                        labels: tree.group_labels(id, &a.labels),
                        fps: HashSet::new(),
                        next_flush: now + node.group_wait,
                        has_flushed: false,
                        flushing: false,
                        owed: HashMap::new(),
                    }
                });
                group.fps.insert(a.fingerprint);
                // An alert older than group_wait makes a new group flush at once.
                if !group.has_flushed
                    && a.starts_at + node.group_wait <= now
                    && group.next_flush > now
                {
                    group.next_flush = now;
                    wake = true;
                }
            }
            st.alerts.insert(a.fingerprint, a);
        }
        drop(st);
        if wake {
            self.inner.wake.notify_one();
        }
    }

    /// Runs one job: delivers (with retries until its deadline) and records the outcome.
    pub async fn run(&self, mut job: Job) -> Result<(), Error> {
        let result = job
            .receiver
            .deliver(job.notification.clone(), Some(job.deadline))
            .await;
        let now = job.notification.now;
        let mut st = self.lock();
        self.complete_locked(&mut st, &job.kind, result.is_ok(), true, now);
        job.done = true;
        result
    }

    /// Composes and runs everything due now, concurrently; returns the failures.
    pub async fn tick(&self) -> Vec<Error> {
        let jobs = self.due();
        let results = futures_util::future::join_all(jobs.into_iter().map(|j| self.run(j))).await;
        results.into_iter().filter_map(Result::err).collect()
    }

    /// Runs the pipeline: flushes groups when due and delivers in the background, one task per
    /// delivery, until the returned handle is dropped (deliveries already started finish).
    /// Call it inside a Tokio runtime.
    pub fn spawn(&self) -> TaskHandle {
        let me = self.clone();
        TaskHandle::spawn(async move {
            loop {
                for job in me.due() {
                    let p = me.clone();
                    tokio::spawn(async move {
                        let _ = p.run(job).await;
                    });
                }
                let next = me.next_due().min(me.now() + 1000);
                let wait = Duration::from_millis((next - me.now()).max(1) as u64);
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = me.inner.wake.notified() => {}
                }
            }
        })
    }
}
