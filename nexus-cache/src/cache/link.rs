//! This cache's side of the backplane: the publisher (numbered changes, retried in order,
//! heartbeats, replays on request) and the listener (applies other instances' changes to L1,
//! finds gaps in their numbering, asks for a replay, and drops L1 only when that fails).

#[allow(unused_imports)]
use super::*;
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::time::Instant;

use origins::{Origins, Seen};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc::Receiver;

/// Changes kept for replays.
const REPLAY_MAX: usize = 4096;

/// The changes this instance sent last, for [`Op::Replay`].
#[derive(Debug, Default)]
struct Sent {
    ops: VecDeque<(u64, Op)>,
    /// Every change numbered above this is in `ops`.
    vouch_from: u64,
}

impl Sent {
    fn push(&mut self, seq: u64, op: &Op) {
        if self.ops.len() == REPLAY_MAX
            && let Some((s, _)) = self.ops.pop_front()
        {
            self.vouch_from = s;
        }
        self.ops.push_back((seq, op.clone()));
    }

    /// Change `seq` was never queued (the outbox was full).
    fn lost(&mut self, seq: u64) {
        self.ops.clear();
        self.vouch_from = seq;
    }

    fn replay(&self, after: u64) -> Op {
        Op::Replay {
            after: after.max(self.vouch_from),
            ops: self
                .ops
                .iter()
                .filter(|(s, _)| *s > after)
                .cloned()
                .collect(),
        }
    }
}

/// Sends this cache's changes, numbered and in order, off the caller's path. A change that
/// cannot be sent is retried (backing off to 1 s) until it is, while newer ones wait in the
/// bounded outbox; when the outbox overflows, a number is skipped so the receivers know.
/// When quiet for the heartbeat interval, it sends its latest number; asked to, it replays.
pub(super) async fn publisher<V: CacheValue>(
    inner: Weak<Inner<V>>,
    mut rx: Receiver<Op>,
    mut resend: Receiver<u64>,
) {
    let Some(heartbeat) = inner
        .upgrade()
        .and_then(|i| i.link.as_ref().map(|l| l.heartbeat))
    else {
        return;
    };
    let (mut seq, mut sent) = (0u64, Sent::default());
    loop {
        let (op, change) = tokio::select! {
            biased;
            after = resend.recv() => match after {
                Some(after) => (sent.replay(after), false),
                None => return,
            },
            op = tokio::time::timeout(heartbeat, rx.recv()) => match op {
                Ok(Some(op)) => (op, true),
                Ok(None) => return,
                Err(_) => (Op::Heartbeat, false),
            },
        };
        let Some(i) = inner.upgrade() else { return };
        let Some(link) = &i.link else { return };
        if link.overflowed.swap(false, Ordering::SeqCst) {
            seq += 1;
            sent.lost(seq);
        }
        if change {
            seq += 1;
            sent.push(seq, &op);
        }
        let msg = Message {
            origin: link.origin,
            seq,
            cache: i.name.clone(),
            op,
        };
        drop(i);
        send(&inner, &msg, change).await;
    }
}

/// Sends `msg`; a change is retried until sent, anything else is tried once.
async fn send<V: CacheValue>(inner: &Weak<Inner<V>>, msg: &Message, change: bool) {
    let mut backoff = Duration::from_millis(50);
    loop {
        let Some(i) = inner.upgrade() else { return };
        let Some(link) = &i.link else { return };
        match link.backplane.publish(msg).await {
            Ok(()) => {
                if change {
                    bump(&link.sent);
                }
                return;
            }
            Err(e) if !change => {
                tracing::debug!(cache = %i.name, error = %e, "backplane control message not sent");
                return;
            }
            Err(e) => {
                if backoff == Duration::from_millis(50) {
                    bump(&link.retried);
                    tracing::warn!(cache = %i.name, error = %e, "backplane message not sent; retrying");
                }
            }
        }
        drop(i);
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(1));
    }
}

/// The listener's state.
struct Listening {
    origins: Origins,
    /// Senders asked for a replay: until when to wait, and the highest number heard from them.
    pending: HashMap<u64, (Instant, u64)>,
    /// After a reconnection: until when to wait for every sender before trusting L1 again.
    confirming: Option<Instant>,
    /// When the subscription was lost and when it came back.
    down_at: Instant,
    back_at: Instant,
    heartbeat: Duration,
}

impl Listening {
    fn next_deadline(&self) -> Option<Instant> {
        self.pending
            .values()
            .map(|(d, _)| *d)
            .chain(self.confirming)
            .min()
    }
}

/// Applies other instances' changes to L1, caps L1 TTLs while disconnected, and after a
/// reconnection keeps L1 unless the senders' numbers show that something was missed that they
/// cannot replay.
pub(super) async fn listener<V: CacheValue>(
    inner: Weak<Inner<V>>,
    mut rx: tokio::sync::broadcast::Receiver<Event>,
) {
    let Some(heartbeat) = inner
        .upgrade()
        .and_then(|i| i.link.as_ref().map(|l| l.heartbeat))
    else {
        return;
    };
    let mut st = Listening {
        origins: Origins::new(10_000, heartbeat * 30),
        pending: HashMap::new(),
        confirming: None,
        down_at: Instant::now(),
        back_at: Instant::now(),
        heartbeat,
    };
    loop {
        let event = match st.next_deadline() {
            Some(d) => tokio::time::timeout_at(d.into(), rx.recv()).await.ok(),
            None => Some(rx.recv().await),
        };
        let Some(i) = inner.upgrade() else { return };
        let Some(link) = &i.link else { return };
        match event {
            None => deadlines(&i, link, &mut st).await,
            Some(Ok(Event::Message(m))) if m.origin != link.origin && m.cache == i.name => {
                message(&i, link, &mut st, m).await;
            }
            Some(Ok(Event::Message(_))) => {}
            Some(Ok(Event::Disconnected)) => {
                link.degraded.store(true, Ordering::SeqCst);
                st.confirming = None;
                st.down_at = Instant::now();
                i.clock.forget();
                tracing::warn!(cache = %i.name, "backplane down: L1 TTLs capped until it is back");
            }
            Some(Ok(Event::Connected)) => {
                if link.degraded.load(Ordering::SeqCst) {
                    st.back_at = Instant::now();
                    st.confirming = Some(st.back_at + heartbeat * 3);
                    tracing::info!(cache = %i.name, "backplane back: checking what was missed");
                }
            }
            Some(Err(RecvError::Lagged(_))) => {
                resync(&i, link, &mut st, "this instance fell behind its backplane").await;
            }
            Some(Err(RecvError::Closed)) => return,
        }
    }
}

/// A deadline passed: replays that did not come mean lost messages; a quiet confirmation
/// window means nothing was missed.
async fn deadlines<V: CacheValue>(i: &Inner<V>, link: &Link, st: &mut Listening) {
    let now = Instant::now();
    if st.pending.values().any(|(d, _)| *d <= now) {
        resync(i, link, st, "missed backplane messages were not replayed").await;
    }
    if st.confirming.is_some_and(|c| c <= now) {
        // A sender alive when the subscription was lost and silent since it came back may have
        // sent something and gone away: what it sent is unknown.
        let alive_at = st
            .down_at
            .checked_sub(st.heartbeat * 2)
            .unwrap_or(st.down_at);
        if st.pending.is_empty() && st.origins.gone_quiet(alive_at, st.back_at) {
            resync(
                i,
                link,
                st,
                "an instance went quiet while the backplane was down",
            )
            .await;
        }
        if st.pending.is_empty() {
            st.confirming = None;
            link.degraded.store(false, Ordering::SeqCst);
            tracing::info!(cache = %i.name, "backplane back and checked: L1 TTLs no longer capped");
        } else {
            st.confirming = st.pending.values().map(|(d, _)| *d).max();
        }
    }
}

async fn message<V: CacheValue>(i: &Inner<V>, link: &Link, st: &mut Listening, m: Message) {
    match m.op {
        Op::Resend { to, after } => {
            if to == link.origin {
                let _ = link.resend.try_send(after);
            }
        }
        Op::Replay { after, ops } => {
            let Some(last) = st.origins.last(m.origin) else {
                return;
            };
            if last >= m.seq {
                return;
            }
            st.pending.remove(&m.origin);
            if after > last {
                st.origins.settle(m.origin, m.seq);
                resync(i, link, st, "missed backplane messages are no longer held").await;
                return;
            }
            for (_, op) in ops.into_iter().filter(|(s, _)| *s > last) {
                bump(&link.replayed);
                apply(i, link, op).await;
            }
            st.origins.settle(m.origin, m.seq);
            tracing::debug!(cache = %i.name, "missed backplane messages replayed");
        }
        op => {
            let beat = matches!(op, Op::Heartbeat);
            let unsure = st.confirming.is_some();
            let seen = st
                .origins
                .observe(m.origin, m.seq, beat, unsure, Instant::now());
            if let Seen::Missed { after } = seen {
                ask_replay(i, link, st, m.origin, after, m.seq).await;
            }
            if !beat {
                apply(i, link, op).await;
            }
        }
    }
}

/// Asks `origin` to send again what came after `after` (once per gap).
async fn ask_replay<V: CacheValue>(
    i: &Inner<V>,
    link: &Link,
    st: &mut Listening,
    origin: u64,
    after: u64,
    heard: u64,
) {
    if let Some((_, max)) = st.pending.get_mut(&origin) {
        *max = (*max).max(heard);
        return;
    }
    let ask = Message {
        origin: link.origin,
        seq: 0,
        cache: i.name.clone(),
        op: Op::Resend { to: origin, after },
    };
    match link.backplane.publish(&ask).await {
        Ok(()) => {
            let until = Instant::now() + st.heartbeat * 3;
            st.pending.insert(origin, (until, heard));
        }
        Err(_) => {
            st.origins.settle(origin, heard);
            resync(i, link, st, "missed backplane messages cannot be asked for").await;
        }
    }
}

/// Applies one change from another instance to L1.
async fn apply<V: CacheValue>(i: &Inner<V>, link: &Link, op: Op) {
    bump(&link.received);
    // The mark first, then L1: an entry written meanwhile is caught by one or the other.
    match &op {
        Op::Tags { tags, at } => tags.iter().for_each(|t| i.clock.note(t, *at)),
        Op::Clear { at } => i.clock.note(CLEAR, *at),
        _ => {}
    }
    if let Some(l1) = i.levels.first().and_then(|l| l.memory.as_ref()) {
        let _ = match op {
            Op::Set(k) | Op::Delete(k) => l1.delete(&k).await.map(|_| ()),
            Op::Tags { tags, .. } => l1.invalidate_tags(&tags),
            Op::Clear { .. } => l1.clear().await,
            _ => Ok(()),
        };
    }
}

/// Drops L1 (and the trusted tag marks) because messages were missed; every pending gap is
/// settled by it.
async fn resync<V: CacheValue>(i: &Inner<V>, link: &Link, st: &mut Listening, why: &str) {
    if let Some(l1) = i.levels.first().and_then(|l| l.memory.as_ref()) {
        let _ = l1.clear().await;
    }
    i.clock.forget();
    for (origin, (_, heard)) in st.pending.drain() {
        st.origins.settle(origin, heard);
    }
    bump(&link.resyncs);
    tracing::warn!(cache = %i.name, "{why}: L1 dropped");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replays_vouch_only_for_what_is_held() {
        let mut s = Sent::default();
        for seq in 1..=3 {
            s.push(seq, &Op::Delete(format!("k{seq}")));
        }
        let Op::Replay { after, ops } = s.replay(1) else {
            unreachable!()
        };
        assert_eq!((after, ops.len()), (1, 2));
        assert_eq!(ops[0], (2, Op::Delete("k2".into())));
        s.lost(5);
        s.push(6, &Op::Delete("k6".into()));
        let Op::Replay { after, ops } = s.replay(3) else {
            unreachable!()
        };
        assert_eq!((after, ops.len()), (5, 1), "4 and 5 cannot be replayed");
        for seq in 7..(7 + REPLAY_MAX as u64) {
            s.push(seq, &Op::Delete(String::new()));
        }
        assert_eq!(s.ops.len(), REPLAY_MAX);
        let Op::Replay { after, .. } = s.replay(0) else {
            unreachable!()
        };
        assert_eq!(after, 6, "the oldest were let go");
    }
}
