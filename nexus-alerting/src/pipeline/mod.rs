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
use crate::time::{Clock, Millis};
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
}

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
                wake: tokio::sync::Notify::new(),
            }),
        })
    }
}

/// The running pipeline driver; dropping it stops flushing.
#[derive(Debug)]
pub struct PipelineTask(tokio::task::JoinHandle<()>);

impl Drop for PipelineTask {
    fn drop(&mut self) {
        self.0.abort();
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

    fn muted(&self, st: &State, idx: &inhibit::Index<'_>, a: &Alert, now: Millis) -> Option<Muted> {
        if let Some(s) = st.silences.iter().find(|s| s.mutes(&a.labels, now)) {
            return Some(Muted::Silenced { id: s.id.clone() });
        }
        idx.inhibited_by(a).map(|fp| Muted::Inhibited {
            by: format!("{fp:016x}"),
        })
    }

    /// Composes the deliveries due now (group flushes and escalation steps). Run each with
    /// [`run`](Self::run); a job dropped unrun releases its group for the next flush.
    pub fn due(&self) -> Vec<Job> {
        let now = self.now();
        let mut st = self.lock();
        let st = &mut *st;
        let idx = inhibit::Index::build(&self.inner.inhibit, st.alerts.values(), now);
        let mut jobs = Vec::new();
        let tree = &self.inner.tree;
        let deadline_for = |interval: Millis| {
            tokio::time::Instant::now() + Duration::from_millis(interval.max(1000) as u64)
        };

        let due_groups: Vec<String> = st
            .groups
            .iter()
            .filter(|(_, g)| !g.flushing && g.next_flush <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for key in due_groups {
            let Some(g) = st.groups.get(&key) else {
                continue;
            };
            let node = &tree.nodes[g.route];
            let mut alerts = Vec::new();
            let (mut firing, mut resolved) = (HashSet::new(), HashSet::new());
            let mut snapshot = Vec::new();
            for fp in &g.fps {
                let Some(a) = st.alerts.get(fp) else { continue };
                if a.is_resolved(now) {
                    snapshot.push((*fp, a.ends_at));
                }
                if self.muted(st, &idx, a, now).is_some() {
                    continue;
                }
                if a.is_resolved(now) {
                    resolved.insert(a.labels.fingerprint());
                } else {
                    firing.insert(a.labels.fingerprint());
                }
                alerts.push(a.clone());
            }
            alerts.sort_by(|a, b| a.labels.cmp(&b.labels));
            let receiver = Arc::clone(&self.inner.receivers[&node.receiver]);
            let entry = st.nflog.get(&(key.clone(), node.receiver.clone()));
            let needed = nflog::needs_update(
                entry,
                &firing,
                &resolved,
                receiver.sends_resolved(),
                node.repeat_interval,
                now,
            );
            let group_labels = g.labels.clone();
            let interval = node.group_interval;
            let escalate = node.escalation.is_some();
            let g = st.groups.get_mut(&key).expect("group listed above");
            g.next_flush = now + interval;
            g.has_flushed = true;
            g.flushing = true;
            let kind = JobKind::Flush {
                group: key.clone(),
                firing,
                resolved,
                snapshot,
                escalate,
            };
            if !needed {
                // Nothing to say: resolved alerts leave the group; the log is not touched (the
                // repeat interval counts from the last real notification).
                self.complete_locked(st, &kind, true, false, now);
                continue;
            }
            jobs.push(Job {
                notification: Notification {
                    receiver: receiver.name().to_owned(),
                    group_key: public_key(&key),
                    group_labels,
                    alerts,
                    now,
                    external_url: self.inner.external_url.clone(),
                    escalation_level: 0,
                },
                receiver,
                kind,
                deadline: deadline_for(interval),
                owner: Arc::downgrade(&self.inner),
                done: false,
            });
        }

        // Escalation: unacknowledged, unmuted firing alerts past their response time.
        let mut steps: HashMap<(String, usize), Vec<Alert>> = HashMap::new();
        let mut done = Vec::new();
        for ((gk, fp), e) in st.escalations.iter_mut() {
            let Some(g) = st.groups.get(gk) else {
                done.push((gk.clone(), *fp));
                continue;
            };
            let Some(esc) = &tree.nodes[g.route].escalation else {
                continue;
            };
            let Some(a) = st.alerts.get(fp) else {
                done.push((gk.clone(), *fp));
                continue;
            };
            if a.is_resolved(now) {
                // Tell everyone it was escalated to that it is over.
                for level in 0..e.level {
                    steps
                        .entry((gk.clone(), level + 1))
                        .or_default()
                        .push(a.clone());
                }
                done.push((gk.clone(), *fp));
                continue;
            }
            let acked = st.acks.get(fp).is_some_and(|k| k.until > now);
            if acked {
                e.since = now;
                continue;
            }
            if e.level >= esc.chain.len() || now - e.since < esc.response_ms(a.severity()) {
                continue;
            }
            let silenced = st.silences.iter().any(|s| s.mutes(&a.labels, now));
            if silenced || idx.inhibited_by(a).is_some() {
                continue;
            }
            e.level += 1;
            e.since = now;
            steps
                .entry((gk.clone(), e.level))
                .or_default()
                .push(a.clone());
        }
        for k in done {
            st.escalations.remove(&k);
        }
        for ((gk, level), alerts) in steps {
            let Some(g) = st.groups.get(&gk) else {
                continue;
            };
            let node = &tree.nodes[g.route];
            let Some(esc) = &node.escalation else {
                continue;
            };
            let name = &esc.chain[level - 1];
            let receiver = Arc::clone(&self.inner.receivers[name]);
            metrics::counter!("nexus_alerting_escalations_total", "receiver" => name.clone())
                .increment(1);
            jobs.push(Job {
                notification: Notification {
                    receiver: name.clone(),
                    group_key: public_key(&gk),
                    group_labels: g.labels.clone(),
                    alerts,
                    now,
                    external_url: self.inner.external_url.clone(),
                    escalation_level: level,
                },
                receiver,
                kind: JobKind::Escalation,
                deadline: deadline_for(node.group_interval),
                owner: Arc::downgrade(&self.inner),
                done: false,
            });
        }
        jobs
    }

    fn complete_locked(
        &self,
        st: &mut State,
        kind: &JobKind,
        ok: bool,
        notified: bool,
        now: Millis,
    ) {
        let JobKind::Flush {
            group,
            firing,
            resolved,
            snapshot,
            escalate,
        } = kind
        else {
            return;
        };
        let Some(g) = st.groups.get_mut(group) else {
            return;
        };
        g.flushing = false;
        if !ok {
            return;
        }
        let receiver = self.inner.tree.nodes[g.route].receiver.clone();
        for (fp, ends_at) in snapshot {
            // Only if the alert did not change (re-fire) since the flush.
            if st.alerts.get(fp).is_none_or(|a| a.ends_at == *ends_at) {
                g.fps.remove(fp);
            }
        }
        if *escalate && notified {
            for fp in &g.fps {
                if let Some(a) = st.alerts.get(fp)
                    && firing.contains(&a.labels.fingerprint())
                {
                    st.escalations
                        .entry((group.clone(), *fp))
                        .or_insert(Escalating {
                            level: 0,
                            since: now,
                        });
                }
            }
        }
        let empty = g.fps.is_empty();
        if notified {
            st.nflog.insert(
                (group.clone(), receiver),
                nflog::Entry {
                    firing: firing.clone(),
                    resolved: resolved.clone(),
                    at: Some(now),
                },
            );
        }
        if empty {
            st.groups.remove(group);
            st.nflog.retain(|(g, _), _| g != group);
        }
        // Forget resolved alerts no group holds any more.
        let held: HashSet<u64> = st
            .groups
            .values()
            .flat_map(|g| g.fps.iter().copied())
            .collect();
        st.alerts
            .retain(|fp, a| !a.is_resolved(now) || held.contains(fp));
        st.acks.retain(|fp, _| st.alerts.contains_key(fp));
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
    /// delivery, until the returned task is dropped.
    pub fn spawn(&self) -> PipelineTask {
        let me = self.clone();
        PipelineTask(tokio::spawn(async move {
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
        }))
    }

    fn next_due(&self) -> Millis {
        let st = self.lock();
        st.groups
            .values()
            .filter(|g| !g.flushing)
            .map(|g| g.next_flush)
            .min()
            .unwrap_or(Millis::MAX)
    }

    /// Every alert held, with its mute and acknowledgement status, sorted by labels.
    pub fn alerts(&self) -> Vec<PipelineAlert> {
        let now = self.now();
        let st = self.lock();
        let idx = inhibit::Index::build(&self.inner.inhibit, st.alerts.values(), now);
        let mut out: Vec<PipelineAlert> = st
            .alerts
            .values()
            .map(|a| {
                let escalated_to = st
                    .escalations
                    .iter()
                    .filter(|((_, fp), _)| *fp == a.fingerprint)
                    .flat_map(|((gk, _), e)| {
                        let chain = st
                            .groups
                            .get(gk)
                            .and_then(|g| self.inner.tree.nodes[g.route].escalation.as_ref())
                            .map(|e| e.chain.clone())
                            .unwrap_or_default();
                        chain.into_iter().take(e.level)
                    })
                    .collect();
                PipelineAlert {
                    status: if a.is_resolved(now) {
                        crate::notify::Status::Resolved
                    } else {
                        crate::notify::Status::Firing
                    },
                    muted: self.muted(&st, &idx, a, now),
                    ack: st
                        .acks
                        .get(&a.fingerprint)
                        .filter(|k| k.until > now)
                        .cloned(),
                    escalated_to,
                    alert: a.clone(),
                }
            })
            .collect();
        out.sort_by(|a, b| a.alert.labels.cmp(&b.alert.labels));
        out
    }

    /// Adds a silence; returns its id.
    pub fn add_silence(&self, mut s: Silence) -> Result<String, Error> {
        if s.ends_at <= self.now() {
            return Err(Error::Config("the silence has already ended".into()));
        }
        s.id = format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
        let id = s.id.clone();
        tracing::info!(silence = %id, by = %s.created_by, matchers = ?s.matchers, "silence added");
        self.lock().silences.push(s);
        Ok(id)
    }

    /// Ends a silence now (a pending one never starts).
    pub fn expire_silence(&self, id: &str) -> Result<(), Error> {
        let now = self.now();
        let mut st = self.lock();
        let s = st
            .silences
            .iter_mut()
            .find(|s| s.id == id)
            .ok_or_else(|| Error::UnknownSilence(id.to_owned()))?;
        if s.state(now) == SilenceState::Pending {
            s.starts_at = now;
        }
        s.ends_at = s.ends_at.min(now);
        Ok(())
    }

    /// Silences with their state; expired ones are kept for a day.
    pub fn silences(&self) -> Vec<(Silence, SilenceState)> {
        let now = self.now();
        let mut st = self.lock();
        st.silences.retain(|s| now - s.ends_at < 86_400_000);
        st.silences
            .iter()
            .map(|s| (s.clone(), s.state(now)))
            .collect()
    }

    /// Acknowledges a firing alert until `until`: escalation stops for it meanwhile.
    pub fn ack(&self, fingerprint: u64, by: &str, until: Millis) -> Result<(), Error> {
        let now = self.now();
        let mut st = self.lock();
        match st.alerts.get(&fingerprint) {
            Some(a) if !a.is_resolved(now) => {}
            _ => return Err(Error::UnknownAlert(fingerprint)),
        }
        if until <= now {
            return Err(Error::Config(
                "an acknowledgement must last into the future".into(),
            ));
        }
        tracing::info!(fingerprint = %format!("{fingerprint:016x}"), by, "alert acknowledged");
        st.acks.insert(
            fingerprint,
            Ack {
                by: by.to_owned(),
                at: now,
                until,
            },
        );
        Ok(())
    }

    /// Removes an acknowledgement.
    pub fn unack(&self, fingerprint: u64) -> Result<(), Error> {
        self.lock()
            .acks
            .remove(&fingerprint)
            .map(|_| ())
            .ok_or(Error::UnknownAlert(fingerprint))
    }

    /// Names of the receivers.
    pub fn receivers(&self) -> Vec<String> {
        let mut v: Vec<String> = self.inner.receivers.keys().cloned().collect();
        v.sort();
        v
    }

    /// Sends a synthetic alert (`alertname="TestAlert"`, severity info) straight to `receiver`,
    /// through its retries, and waits for the outcome (at most `timeout`).
    pub async fn test_alert(&self, receiver: &str, timeout: Duration) -> Result<(), Error> {
        let r = self
            .inner
            .receivers
            .get(receiver)
            .ok_or_else(|| Error::UnknownReceiver(receiver.to_owned()))?;
        let now = self.now();
        let labels = Labels::from_pairs([
            (ALERT_NAME, "TestAlert"),
            ("severity", "info"),
            ("receiver", receiver),
        ]);
        let mut a = Alert::new(labels.clone(), now);
        a.annotations = Labels::from_pairs([(
            "summary",
            "Test alert from nexus-alerting: notifications to this receiver work.",
        )]);
        a.ends_at = Some(now + 300_000);
        let n = Notification {
            receiver: receiver.to_owned(),
            group_key: format!("test:{labels}"),
            group_labels: labels,
            alerts: vec![a],
            now,
            external_url: self.inner.external_url.clone(),
            escalation_level: 0,
        };
        r.deliver(n, Some(tokio::time::Instant::now() + timeout))
            .await
    }
}
