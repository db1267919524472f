//! The cache's clock of tag invalidation marks (FusionCache's and HybridCache's "tags by
//! timestamp").
//!
//! Invalidating a tag records *when* (a mark, microseconds since the Unix epoch) instead of finding
//! and deleting every entry that carries it; an entry created before a mark of one of its tags, or
//! before the mark of `clear` (the empty tag), is a miss. The shared tiers hold the marks
//! ([`Tier::mark_tags`](crate::Tier::mark_tags)); this clock keeps the ones it has seen for a
//! while, so a remote read does not fetch them every time. The backplane brings other instances'
//! marks as they happen.

use std::time::Duration;

use crate::memory::store::Store;

/// The mark of `clear`: the empty tag (real tags are never empty).
pub(crate) const CLEAR: &str = "";

/// Marks known to this instance, each for a limited time: the L1's store (W-TinyLFU, bounded by
/// entries) of `(mark, trusted until)`.
#[derive(Debug)]
pub(crate) struct TagClock {
    marks: Store<(u64, quanta::Instant)>,
    ttl: Duration,
}

impl TagClock {
    /// A clock that trusts what it knows for `ttl`, holding at most `capacity` tags.
    pub(crate) fn new(ttl: Duration, capacity: u64) -> Self {
        Self {
            marks: Store::new(capacity, capacity, 1),
            ttl,
        }
    }

    /// The mark of `tag`, when known.
    pub(crate) fn known(&self, tag: &str) -> Option<u64> {
        let (mark, until) = self.marks.get(tag)?;
        (quanta::Instant::now() < until).then_some(mark)
    }

    /// Records that `tag` was invalidated at `at` (a mark never moves backwards).
    pub(crate) fn note(&self, tag: &str, at: u64) {
        let until = quanta::Instant::now() + self.ttl;
        self.marks.upsert(tag, 1, |old| match old {
            Some(&(m, u)) if u > quanta::Instant::now() => (m.max(at), until),
            _ => (at, until),
        });
    }

    /// Forgets everything (after missed backplane messages): marks are fetched again.
    pub(crate) fn forget(&self) {
        self.marks.remove_if(|_, _| true);
    }

    /// Whether an entry created at `created_at` with `tags` is stale by the marks known here
    /// (unknown marks count as none).
    pub(crate) fn stale_known(&self, created_at: u64, tags: &[String]) -> bool {
        std::iter::once(CLEAR)
            .chain(tags.iter().map(String::as_str))
            .any(|t| self.known(t).is_some_and(|m| created_at < m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_only_move_forward_and_judge_entries() {
        let c = TagClock::new(Duration::from_secs(60), 100);
        c.note("a", 100);
        c.note("a", 50);
        assert_eq!(c.known("a"), Some(100));
        let tags = vec!["a".to_string()];
        assert!(c.stale_known(99, &tags));
        assert!(
            !c.stale_known(100, &tags),
            "created at the mark is not before it"
        );
        assert!(
            !c.stale_known(0, &["b".to_string()]),
            "unknown marks count as none"
        );
        c.note(CLEAR, 500);
        assert!(
            c.stale_known(499, &[]),
            "clear concerns untagged entries too"
        );
        c.forget();
        assert_eq!(c.known("a"), None);
    }
}
