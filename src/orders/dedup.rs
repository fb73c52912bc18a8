//! A bounded set of execution ids: remembers the most recent `capacity` ids, forgets the oldest.

use std::collections::{HashSet, VecDeque};

use rustc_hash::FxBuildHasher;

use crate::ids::ExecId;

/// Remembers the last `capacity` execution ids so a replayed fill is recognised.
#[derive(Debug)]
pub struct ExecIdSet {
    set: HashSet<ExecId, FxBuildHasher>,
    order: VecDeque<ExecId>,
    capacity: usize,
}

impl ExecIdSet {
    /// A set holding up to `capacity` ids, allocated up front.
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            set: HashSet::with_capacity_and_hasher(capacity, FxBuildHasher),
            order: VecDeque::with_capacity(capacity),
            capacity,
        }
    }

    /// Inserts `id`; `false` if it was already present.
    pub fn insert(&mut self, id: ExecId) -> bool {
        if self.set.contains(&id) {
            return false;
        }
        if self.order.len() == self.capacity
            && let Some(old) = self.order.pop_front()
        {
            self.set.remove(&old);
        }
        self.set.insert(id);
        self.order.push_back(id);
        true
    }

    /// True if `id` is remembered.
    pub fn contains(&self, id: &ExecId) -> bool {
        self.set.contains(id)
    }

    /// Number of ids remembered.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forgets_oldest_beyond_capacity() {
        let id = |s: &str| ExecId::new(s).unwrap();
        let mut s = ExecIdSet::new(2);
        assert!(s.is_empty());
        assert!(s.insert(id("a")));
        assert!(!s.is_empty());
        assert!(!s.insert(id("a")));
        assert!(s.insert(id("b")));
        assert!(s.insert(id("c")));
        assert!(!s.contains(&id("a")));
        assert!(s.contains(&id("b")) && s.contains(&id("c")));
        assert_eq!(s.len(), 2);
    }
}
