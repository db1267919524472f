//! [`Sketch`]: a count-min sketch of 4-bit counters that ages (halves) periodically, TinyLFU's
//! estimate of how often a key was asked for recently.

/// Four 4-bit counters per key, each in its own 64-bit word of one 64-byte block (one cache
/// line per update). After `period` additions every counter is halved, so the estimate follows
/// what is popular now.
#[derive(Debug)]
pub(crate) struct Sketch {
    table: Vec<u64>,
    /// `table.len() / 8 - 1`: picks the block.
    block_mask: usize,
    additions: u64,
    period: u64,
}

const RESET_MASK: u64 = 0x7777_7777_7777_7777;

impl Sketch {
    /// A sketch for about `entries` distinct keys held.
    pub(crate) fn new(entries: u64) -> Self {
        let mut s = Self {
            table: Vec::new(),
            block_mask: 0,
            additions: 0,
            period: 0,
        };
        s.resize(entries);
        s
    }

    /// Sized (again) for about `entries` keys held; counts start over.
    pub(crate) fn resize(&mut self, entries: u64) {
        let entries = entries.clamp(8, 1 << 26);
        let words = (entries as usize).next_power_of_two().max(8);
        self.table = vec![0; words];
        self.block_mask = words / 8 - 1;
        self.additions = 0;
        self.period = entries * 10;
    }

    /// Keys the sketch is sized for.
    pub(crate) fn entries(&self) -> u64 {
        self.period / 10
    }

    #[inline]
    fn slots(&self, hash: u64) -> [(usize, u32); 4] {
        let h = hash.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let block = ((h >> 32) as usize & self.block_mask) * 8;
        let mut out = [(0, 0); 4];
        for (i, o) in out.iter_mut().enumerate() {
            // A word in each half-block pair, and one of its 16 counters.
            let bits = (h >> (i * 8)) as u32;
            let word = block + i * 2 + (bits & 1) as usize;
            *o = (word, ((bits >> 1) & 15) * 4);
        }
        out
    }

    /// Estimated recent accesses of `hash` (0–15).
    #[inline]
    pub(crate) fn frequency(&self, hash: u64) -> u32 {
        self.slots(hash)
            .iter()
            .map(|&(w, shift)| ((self.table[w] >> shift) & 15) as u32)
            .min()
            .unwrap_or(0)
    }

    /// Counts one access of `hash`.
    #[inline]
    pub(crate) fn increment(&mut self, hash: u64) {
        let mut added = false;
        for (w, shift) in self.slots(hash) {
            if (self.table[w] >> shift) & 15 < 15 {
                self.table[w] += 1 << shift;
                added = true;
            }
        }
        if added {
            self.additions += 1;
            if self.additions >= self.period {
                self.age();
            }
        }
    }

    /// Halves every counter.
    fn age(&mut self) {
        for w in &mut self.table {
            *w = (*w >> 1) & RESET_MASK;
        }
        self.additions /= 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_saturate_and_age() {
        let mut s = Sketch::new(64);
        for _ in 0..20 {
            s.increment(42);
        }
        assert_eq!(s.frequency(42), 15);
        assert!(s.frequency(43) <= 1);
        s.age();
        assert_eq!(s.frequency(42), 7);
    }

    #[test]
    fn popular_keys_stand_out_among_many() {
        let mut s = Sketch::new(1000);
        for k in 0..5000u64 {
            s.increment(k.wrapping_mul(0x2545_F491_4F6C_DD1D));
        }
        for _ in 0..8 {
            s.increment(7);
        }
        assert!(s.frequency(7) >= 7);
        assert_eq!(s.entries(), 1000);
    }
}
