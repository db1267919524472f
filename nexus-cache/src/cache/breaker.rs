//! The circuit breaker of each remote tier: after `limit` consecutive failures the tier is
//! skipped for `cool_down`, then one request is let through to probe it.

#[allow(unused_imports)]
use super::*;

/// A remote tier's circuit breaker: open after `limit` consecutive errors, for `cool_down`;
/// then one call at a time probes the tier.
#[derive(Debug)]
pub(super) struct Breaker {
    pub(super) limit: u32,
    pub(super) cool_down_ms: u64,
    pub(super) failures: std::sync::atomic::AtomicU32,
    pub(super) open_until: std::sync::atomic::AtomicU64,
    pub(super) opened: Counter,
}

impl Breaker {
    pub(super) fn new(limit: u32, cool_down: Duration) -> Self {
        Self {
            limit,
            cool_down_ms: cool_down.as_millis() as u64,
            failures: Default::default(),
            open_until: Default::default(),
            opened: Counter::new(),
        }
    }

    /// Whether a call may go to the tier now (a probe is let through once the cool-down ended).
    pub(super) fn allows(&self) -> bool {
        self.allows_at(now_millis())
    }

    /// [`allows`](Self::allows) at `now` (Unix ms).
    fn allows_at(&self, now: u64) -> bool {
        use std::sync::atomic::Ordering;
        let until = self.open_until.load(Ordering::Relaxed);
        if until == 0 {
            return true;
        }
        // Past the cool-down: let one probe through by pushing the deadline forward.
        now >= until
            && self
                .open_until
                .compare_exchange(
                    until,
                    now + self.cool_down_ms,
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                )
                .is_ok()
    }

    pub(super) fn success(&self) {
        use std::sync::atomic::Ordering;
        self.failures.store(0, Ordering::Relaxed);
        self.open_until.store(0, Ordering::Relaxed);
    }

    pub(super) fn failure(&self) {
        self.failure_at(now_millis());
    }

    /// [`failure`](Self::failure) at `now` (Unix ms).
    fn failure_at(&self, now: u64) {
        use std::sync::atomic::Ordering;
        let n = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
        if n >= self.limit && self.open_until.load(Ordering::Relaxed) == 0 {
            self.open_until
                .store(now + self.cool_down_ms, Ordering::Relaxed);
            bump(&self.opened);
        }
    }

    pub(super) fn is_open(&self) -> bool {
        self.open_until.load(std::sync::atomic::Ordering::Relaxed) != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy)]
    enum Step {
        /// A failed call at this time (ms).
        Fail(u64),
        /// A successful call.
        Ok,
        /// Asked whether a call may go through at this time: the expected answer.
        Allows(u64, bool),
        /// Whether the breaker reads as open.
        Open(bool),
    }
    use Step::*;

    /// Limit 3 failures, 1 000 ms cool-down. Each row: steps and the times it opened.
    #[test]
    fn breaker_state_machine() {
        let table: &[(&str, &[Step], u64)] = &[
            (
                "closed below the limit",
                &[Fail(0), Fail(1), Allows(2, true), Open(false)],
                0,
            ),
            (
                "opens at the limit, refuses during the cool-down",
                &[
                    Fail(0),
                    Fail(1),
                    Fail(2),
                    Open(true),
                    Allows(500, false),
                    Allows(1_001, false),
                ],
                1,
            ),
            (
                "one probe after the cool-down, not two",
                &[
                    Fail(0),
                    Fail(0),
                    Fail(0),
                    Allows(1_000, true),
                    Allows(1_000, false),
                    Allows(1_500, false),
                ],
                1,
            ),
            (
                "a successful probe closes it",
                &[
                    Fail(0),
                    Fail(0),
                    Fail(0),
                    Allows(1_000, true),
                    Ok,
                    Open(false),
                    Allows(1_001, true),
                ],
                1,
            ),
            (
                "a failed probe waits another cool-down",
                &[
                    Fail(0),
                    Fail(0),
                    Fail(0),
                    Allows(1_000, true),
                    Fail(1_000),
                    Open(true),
                    Allows(1_999, false),
                    Allows(2_000, true),
                ],
                1,
            ),
            (
                "a success resets the count",
                &[
                    Fail(0),
                    Fail(0),
                    Ok,
                    Fail(1),
                    Fail(2),
                    Open(false),
                    Fail(3),
                    Open(true),
                ],
                1,
            ),
        ];
        for (name, steps, opened) in table {
            let b = Breaker::new(3, Duration::from_millis(1_000));
            for (i, step) in steps.iter().enumerate() {
                match *step {
                    Fail(at) => b.failure_at(at),
                    Ok => b.success(),
                    Allows(at, want) => {
                        assert_eq!(b.allows_at(at), want, "{name}: step {i} {step:?}")
                    }
                    Open(want) => assert_eq!(b.is_open(), want, "{name}: step {i}"),
                }
            }
            assert_eq!(b.opened.get(), *opened, "{name}: times opened");
        }
    }
}
