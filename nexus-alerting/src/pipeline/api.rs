//! What people do to a running pipeline: list alerts, silence, acknowledge, send a test alert.

use super::*;

impl Pipeline {
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
