//! The daily habit: the half hours of the last week in which a detector's score crossed its
//! bar. A detection at a time of day where that happened on several of the previous days — a
//! nightly backup, a batch job whose start drifts by half an hour, a report every other
//! morning — is the series' routine, not news (`BENCHMARKS.md`, "The daily habit").
//!
//! One bit per half hour of the last eight days (48 bytes); days are UTC days of series time.

use crate::time::Millis;

/// Half an hour, the width of a mark.
const BUCKET: Millis = 30 * 60 * 1000;
/// Half hours in a day.
const PER_DAY: i64 = 48;
/// Half hours remembered: eight days, enough for the seven previous days and the next
/// neighbouring half hour.
const SPAN: i64 = 8 * PER_DAY;

/// Which half hours of the last eight days crossed the bar.
#[derive(Debug, Clone)]
pub(crate) struct Habit {
    bits: [u64; (SPAN / 64) as usize],
    /// The latest half hour seen (`i64::MIN` before the first sample).
    last: i64,
}

impl Habit {
    pub(crate) fn new() -> Self {
        Self {
            bits: [0; (SPAN / 64) as usize],
            last: i64::MIN,
        }
    }

    /// Moves to `ts`: half hours older than the span are forgotten. Time running backwards
    /// forgets nothing.
    pub(crate) fn advance(&mut self, ts: Millis) {
        let now = ts.div_euclid(BUCKET);
        if self.last == i64::MIN || now.saturating_sub(self.last) >= SPAN {
            self.bits = [0; (SPAN / 64) as usize];
        } else {
            for b in self.last + 1..=now {
                self.set(b, false);
            }
        }
        self.last = self.last.max(now);
    }

    /// Marks `ts`'s half hour: the bar was crossed then. A half hour outside the span (time
    /// running far backwards, or ahead of [`Habit::advance`]) is not marked: its bit belongs to
    /// another half hour.
    pub(crate) fn mark(&mut self, ts: Millis) {
        let b = ts.div_euclid(BUCKET);
        if self.last != i64::MIN && b <= self.last && self.last - b < SPAN {
            self.set(b, true);
        }
    }

    /// On how many of the `days` previous days (at most 7) the bar was crossed within a half
    /// hour of `ts`'s time of day (its half hour or a neighbouring one).
    pub(crate) fn days_seen(&self, ts: Millis, days: u8) -> u8 {
        let now = ts.div_euclid(BUCKET);
        let mut seen = 0;
        for d in 1..=i64::from(days.min(7)) {
            let at = now - d * PER_DAY;
            if (at - 1..=at + 1).any(|b| self.get(b)) {
                seen += 1;
            }
        }
        seen
    }

    fn get(&self, b: i64) -> bool {
        // Only half hours still inside the span hold their own bit.
        if self.last == i64::MIN || b > self.last || self.last - b >= SPAN {
            return false;
        }
        let i = b.rem_euclid(SPAN) as usize;
        self.bits[i / 64] >> (i % 64) & 1 == 1
    }

    fn set(&mut self, b: i64, on: bool) {
        let i = b.rem_euclid(SPAN) as usize;
        let m = 1u64 << (i % 64);
        if on {
            self.bits[i / 64] |= m;
        } else {
            self.bits[i / 64] &= !m;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Millis = 3_600_000;
    const DAY: Millis = 24 * HOUR;

    #[test]
    fn counts_the_previous_days_at_the_same_time_of_day() {
        let mut h = Habit::new();
        let t0 = 100 * DAY;
        for (d, minute) in [(0, 0), (1, 40), (2, 10), (4, 50)] {
            let ts = t0 + d * DAY + 3 * HOUR + minute * 60_000;
            h.advance(ts);
            h.mark(ts);
        }
        let today = t0 + 5 * DAY + 3 * HOUR + 20 * 60_000;
        h.advance(today);
        assert_eq!(h.days_seen(today, 7), 4);
        assert_eq!(
            h.days_seen(today, 2),
            1,
            "yesterday was empty, the day before marked"
        );
        // Far from 03:00 nothing was seen.
        assert_eq!(h.days_seen(today + 5 * HOUR, 7), 0);
    }

    #[test]
    fn forgets_beyond_a_week_and_across_a_long_gap() {
        let mut h = Habit::new();
        let t0 = 10 * DAY + 23 * HOUR + 50 * 60_000; // 23:50: the neighbour is tomorrow 00:00
        h.advance(t0);
        h.mark(t0);
        let next = t0 + DAY + 15 * 60_000; // 00:05, a neighbouring half hour across midnight
        h.advance(next);
        assert_eq!(h.days_seen(next, 7), 1);
        let week = t0 + 8 * DAY;
        h.advance(week);
        assert_eq!(h.days_seen(week, 7), 0);
        // A gap of months, then time running backwards: nothing panics, nothing is invented —
        // a mark ten days back does not land on the half hour its bit shares now.
        h.advance(t0 + 400 * DAY);
        h.advance(t0);
        assert_eq!(h.days_seen(t0 + DAY, 7), 0);
        let now = t0 + 400 * DAY;
        h.mark(now - 10 * DAY);
        assert_eq!(h.days_seen(now + DAY, 7), 0);
        h.advance(Millis::MIN);
        h.advance(Millis::MAX);
        assert_eq!(h.days_seen(Millis::MAX, 7), 0);
    }
}
