//! The notification log: what each receiver was last told about each group, and Alertmanager's
//! rule for whether a group needs a new notification.

use foldhash::HashSet;

use crate::time::Millis;

/// The last successful notification of a group to a receiver.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) firing: HashSet<u64>,
    pub(crate) resolved: HashSet<u64>,
    /// When it was sent; `None` as Go's zero time.
    pub(crate) at: Option<Millis>,
}

/// Alertmanager's `DedupStage.needsUpdate`.
pub(crate) fn needs_update(
    entry: Option<&Entry>,
    firing: &HashSet<u64>,
    resolved: &HashSet<u64>,
    send_resolved: bool,
    repeat: Millis,
    now: Millis,
) -> bool {
    let Some(e) = entry else {
        // Never notified: notify unless everything is already resolved.
        return !firing.is_empty();
    };
    if !firing.is_subset(&e.firing) {
        return true;
    }
    // All resolved: notify (even without send_resolved) so the log forgets the firing ones,
    // unless the receiver never heard of any of them.
    if firing.is_empty() {
        return !e.firing.is_empty();
    }
    if send_resolved && !resolved.is_subset(&e.resolved) {
        return true;
    }
    // Nothing changed: only after the repeat interval.
    e.at.is_none_or(|at| at < now - repeat)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(h: &[u64]) -> HashSet<u64> {
        h.iter().copied().collect()
    }

    fn entry(firing: &[u64], resolved: &[u64], at: Option<Millis>) -> Entry {
        Entry {
            firing: set(firing),
            resolved: set(resolved),
            at,
        }
    }

    /// The cases of Alertmanager's TestDedupStageNeedsUpdate (notify/notify_test.go), in order.
    #[test]
    fn alertmanager_dedup_table() {
        let now: Millis = 1_000_000_000;
        let min = 60_000;
        type Case<'a> = (
            &'a str,
            Option<Entry>,
            &'a [u64],
            &'a [u64],
            Millis,
            bool,
            bool,
        );
        #[rustfmt::skip]
        let cases: Vec<Case<'_>> = vec![
            ("no nflog entry: update", None, &[2, 3, 4], &[], 0, false, true),
            ("no nflog entry, nothing fires: no update", None, &[], &[2, 3, 4], 0, false, false),
            ("different firing sets: update", Some(entry(&[1, 2, 3], &[], Some(now))), &[2, 3, 4], &[], 0, false, true),
            ("zero timestamp: always update", Some(entry(&[1, 2, 3], &[], None)), &[1, 2, 3], &[], 0, false, true),
            ("identical before repeat_interval: no update", Some(entry(&[1, 2, 3], &[], Some(now - 9 * min))), &[1, 2, 3], &[], 10 * min, false, false),
            ("identical after repeat_interval: update", Some(entry(&[1, 2, 3], &[], Some(now - 11 * min))), &[1, 2, 3], &[], 10 * min, false, true),
            ("different resolved sets without firing: no update", Some(entry(&[], &[1, 2, 3], Some(now - 11 * min))), &[], &[3, 4, 5], 10 * min, true, false),
            ("different resolved sets, resolve off: no update", Some(entry(&[1, 2], &[3], Some(now - 9 * min))), &[1], &[2, 3], 10 * min, false, false),
            ("different resolved sets, resolve on: update", Some(entry(&[1, 2], &[3], Some(now - 9 * min))), &[1], &[2, 3], 10 * min, true, true),
            ("empty firing set, resolve off: update", Some(entry(&[1, 2], &[3], Some(now - 9 * min))), &[], &[1, 2, 3], 10 * min, false, true),
            ("empty firing set, resolve on: update", Some(entry(&[1, 2], &[3], Some(now - 9 * min))), &[], &[1, 2, 3], 10 * min, true, true),
        ];
        for (name, e, firing, resolved, repeat, send_resolved, want) in cases {
            let got = needs_update(
                e.as_ref(),
                &set(firing),
                &set(resolved),
                send_resolved,
                repeat,
                now,
            );
            assert_eq!(got, want, "{name}");
        }
    }
}
