//! The flush decision: which groups are due, what each receiver needs to hear (the
//! notification log), and what a finished delivery changes.

use super::*;

impl Pipeline {
    pub(super) fn muted(
        &self,
        st: &State,
        idx: &inhibit::Index<'_>,
        a: &Alert,
        now: Millis,
    ) -> Option<Muted> {
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
        let horizon = self.inner.redeliver_for;
        for key in &due_groups {
            if let Some(g) = st.groups.get_mut(key) {
                g.owed.retain(|_, since| now - *since <= horizon);
            }
        }
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
            // A receiver that missed an incident hears of it even if it has resolved.
            let owed_now =
                receiver.sends_resolved() && resolved.iter().any(|fp| g.owed.contains_key(fp));
            let needed = owed_now
                || nflog::needs_update(
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
        let steps = escalation::steps(st, tree, &idx, now);
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
            metrics::counter!(crate::metrics::ESCALATIONS.name, "receiver" => name.clone())
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

    pub(super) fn complete_locked(
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
            // The receiver missed these: it hears of them once it answers again.
            for fp in firing {
                if g.owed.len() < MAX_OWED {
                    g.owed.entry(*fp).or_insert(now);
                }
            }
            return;
        }
        if notified {
            g.owed.clear();
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

    pub(super) fn next_due(&self) -> Millis {
        let st = self.lock();
        st.groups
            .values()
            .filter(|g| !g.flushing)
            .map(|g| g.next_flush)
            .min()
            .unwrap_or(Millis::MAX)
    }
}
