//! Escalation: a firing alert nobody acknowledged within its response time goes to the next
//! receiver of its route's chain, and everyone it reached hears when it resolves.

use super::*;

/// The escalation steps due at `now`, by (group, level): advances each escalating alert that is
/// unacknowledged, unmuted and past its response time, and ends those whose alert resolved
/// (their resolution is sent to every level they reached) or whose group is gone.
pub(super) fn steps(
    st: &mut State,
    tree: &Tree,
    idx: &inhibit::Index<'_>,
    now: Millis,
) -> HashMap<(String, usize), Vec<Alert>> {
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
    steps
}
