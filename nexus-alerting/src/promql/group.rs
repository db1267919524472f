//! Grouping label sets by a subset of their labels (aggregation groups, vector-matching
//! signatures, histogram buckets) without building the subset for every element: a hash of the
//! kept labels, then an exact comparison.

use foldhash::HashMap;

use crate::labels::Labels;

pub(crate) struct Grouper<F> {
    keep: F,
    first: HashMap<u64, usize>,
    /// The next group with the same hash (collisions), per group.
    next: Vec<Option<usize>>,
    /// Each group's key: the kept labels of its first member.
    pub(crate) keys: Vec<Labels>,
}

impl<F: Fn(&str) -> bool> Grouper<F> {
    pub(crate) fn new(keep: F) -> Self {
        Self {
            keep,
            first: HashMap::default(),
            next: Vec::new(),
            keys: Vec::new(),
        }
    }

    /// The group of `l`, if one exists.
    pub(crate) fn find(&self, l: &Labels) -> Option<usize> {
        let mut g = *self.first.get(&l.subset_hash(&self.keep))?;
        loop {
            if l.subset_eq(&self.keys[g], &self.keep) {
                return Some(g);
            }
            g = self.next[g]?;
        }
    }

    /// The group of `l`, created if none matches: (group, whether it is new).
    pub(crate) fn group(&mut self, l: &Labels) -> (usize, bool) {
        let h = l.subset_hash(&self.keep);
        let Some(&head) = self.first.get(&h) else {
            self.first.insert(h, self.keys.len());
            return (self.push(l), true);
        };
        let mut g = head;
        loop {
            if l.subset_eq(&self.keys[g], &self.keep) {
                return (g, false);
            }
            match self.next[g] {
                Some(n) => g = n,
                None => {
                    let new = self.push(l);
                    self.next[g] = Some(new);
                    return (new, true);
                }
            }
        }
    }

    fn push(&mut self, l: &Labels) -> usize {
        self.keys.push(l.subset(&self.keep));
        self.next.push(None);
        self.keys.len() - 1
    }
}
