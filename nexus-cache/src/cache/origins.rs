//! [`Origins`]: the last sequence number heard from each other instance, so a receiver knows
//! whether it missed backplane messages (and only then drops its L1).

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// What one message says about the messages before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Seen {
    /// The next one (or a heartbeat confirming nothing was sent since).
    InOrder,
    /// Already seen (a publish retried after a lost reply): harmless to apply again.
    Repeat,
    /// Messages after `after` were missed (the sender is asked to send them again; `last` stays
    /// at `after` until they arrive or the receiver gives up and [`settle`](Origins::settle)s).
    Missed {
        /// The last number received in order.
        after: u64,
    },
}

/// Per sender: the last sequence number received in order and when it was heard. Bounded:
/// senders not heard for `forget_after` are forgotten when room is needed, and beyond `max`
/// senders new ones are not tracked (their messages are applied; only gap detection is lost).
#[derive(Debug)]
pub(crate) struct Origins {
    last: HashMap<u64, (u64, Instant)>,
    max: usize,
    forget_after: Duration,
}

impl Origins {
    pub(crate) fn new(max: usize, forget_after: Duration) -> Self {
        Self {
            last: HashMap::new(),
            max,
            forget_after,
        }
    }

    /// Records `seq` from `origin`. `heartbeat`: the message carries no change, only the
    /// sender's latest `seq`. `unsure`: this receiver was disconnected and has not yet heard
    /// every sender again, so a sender it does not know may have sent it something meanwhile.
    /// A `seq` of 0 on a change comes from a sender that does not number its messages.
    pub(crate) fn observe(
        &mut self,
        origin: u64,
        seq: u64,
        heartbeat: bool,
        unsure: bool,
        now: Instant,
    ) -> Seen {
        if seq == 0 && !heartbeat {
            return Seen::InOrder;
        }
        let first_expected = u64::from(!heartbeat);
        if !self.last.contains_key(&origin) && !self.make_room(now) {
            return Seen::InOrder;
        }
        match self.last.get_mut(&origin) {
            Some((last, heard)) => {
                *heard = now;
                if heartbeat {
                    return if seq <= *last {
                        Seen::InOrder
                    } else {
                        Seen::Missed { after: *last }
                    };
                }
                match seq.cmp(&last.saturating_add(1)) {
                    std::cmp::Ordering::Equal => {
                        *last = seq;
                        Seen::InOrder
                    }
                    std::cmp::Ordering::Less => Seen::Repeat,
                    std::cmp::Ordering::Greater => Seen::Missed { after: *last },
                }
            }
            None if unsure && seq > first_expected => {
                self.last.insert(origin, (0, now));
                Seen::Missed { after: 0 }
            }
            None => {
                self.last.insert(origin, (seq, now));
                Seen::InOrder
            }
        }
    }

    /// Everything from `origin` up to `seq` is accounted for (received again, or given up on
    /// by dropping L1).
    pub(crate) fn settle(&mut self, origin: u64, seq: u64) {
        if let Some((last, _)) = self.last.get_mut(&origin) {
            *last = (*last).max(seq);
        }
    }

    /// The last number received in order from `origin`.
    pub(crate) fn last(&self, origin: u64) -> Option<u64> {
        self.last.get(&origin).map(|(l, _)| *l)
    }

    /// Whether a sender heard at or after `alive_at` has not been heard since `since`: it went
    /// quiet (or away) while this receiver was disconnected, so what it last sent is unknown.
    pub(crate) fn gone_quiet(&self, alive_at: Instant, since: Instant) -> bool {
        self.last
            .values()
            .any(|(_, heard)| *heard >= alive_at && *heard < since)
    }

    /// Whether there is room for one more sender (forgetting silent ones if needed).
    fn make_room(&mut self, now: Instant) -> bool {
        if self.last.len() < self.max {
            return true;
        }
        let forget_after = self.forget_after;
        self.last
            .retain(|_, (_, heard)| now.duration_since(*heard) < forget_after);
        self.last.len() < self.max
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.last.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origins() -> Origins {
        Origins::new(3, Duration::from_secs(30))
    }

    #[test]
    fn in_order_repeats_and_gaps() {
        let (mut o, t) = (origins(), Instant::now());
        assert_eq!(
            o.observe(7, 5, false, false, t),
            Seen::InOrder,
            "first heard"
        );
        assert_eq!(o.observe(7, 6, false, false, t), Seen::InOrder);
        assert_eq!(o.observe(7, 6, false, false, t), Seen::Repeat);
        assert_eq!(o.observe(7, 6, true, false, t), Seen::InOrder, "heartbeat");
        assert_eq!(o.observe(7, 8, false, false, t), Seen::Missed { after: 6 });
        assert_eq!(
            o.observe(7, 9, false, false, t),
            Seen::Missed { after: 6 },
            "until settled"
        );
        assert_eq!(o.observe(7, 9, true, false, t), Seen::Missed { after: 6 });
        o.settle(7, 9);
        assert_eq!(o.last(7), Some(9));
        assert_eq!(o.observe(7, 10, false, false, t), Seen::InOrder);
        assert_eq!(o.observe(7, 12, true, false, t), Seen::Missed { after: 10 });
        assert_eq!(
            o.observe(9, 0, false, false, t),
            Seen::InOrder,
            "unnumbered"
        );
        assert_eq!(o.last(9), None);
    }

    #[test]
    fn an_unknown_sender_after_a_disconnection() {
        let (mut o, t) = (origins(), Instant::now());
        assert_eq!(
            o.observe(1, 0, true, true, t),
            Seen::InOrder,
            "sent nothing"
        );
        assert_eq!(o.observe(2, 1, false, true, t), Seen::InOrder, "its first");
        assert_eq!(
            o.observe(3, 4, true, true, t),
            Seen::Missed { after: 0 },
            "sent 4 we never saw"
        );
        assert_eq!(
            o.observe(4, 4, true, false, t),
            Seen::InOrder,
            "known since before"
        );
    }

    #[test]
    fn bounded_and_forgets_silent_senders() {
        let (mut o, t) = (origins(), Instant::now());
        for id in 0..3 {
            o.observe(id, 1, false, false, t);
        }
        // Full, nobody silent long enough: the fourth is not tracked.
        assert_eq!(o.observe(10, 5, false, true, t), Seen::InOrder);
        assert_eq!(o.len(), 3);
        let later = t + Duration::from_secs(31);
        o.observe(0, 2, false, false, later);
        assert_eq!(o.observe(10, 1, false, false, later), Seen::InOrder);
        assert_eq!(o.len(), 2, "1 and 2 forgotten, 0 and 10 kept");
    }
}
