//! Timers: a min-heap of deadlines with cancellation.
//!
//! The earliest live deadline becomes the poll timeout. Cancelled entries are
//! skipped lazily when they reach the top, and the heap is rebuilt when dead
//! entries outnumber live ones, so add/cancel churn cannot grow it without
//! bound. Frequently-refreshed deadlines (idle timeouts) should not be
//! re-added on every byte: keep a "last active" instant and re-arm when the
//! timer fires early, as the drivers do.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::time::{Duration, Instant};

/// `now + after`, or `None` when that is past what an `Instant` can hold:
/// a deadline too far away to matter is no deadline at all.
pub fn deadline(now: Instant, after: Duration) -> Option<Instant> {
    now.checked_add(after)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimerId(u64);

pub struct Timers<K> {
    heap: BinaryHeap<Reverse<(Instant, u64)>>,
    live: HashMap<u64, (Instant, K)>,
    next: u64,
}

impl<K> Default for Timers<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K> Timers<K> {
    pub fn new() -> Timers<K> {
        Timers {
            heap: BinaryHeap::new(),
            live: HashMap::new(),
            next: 0,
        }
    }

    /// Fires `key` at `at`.
    pub fn add(&mut self, at: Instant, key: K) -> TimerId {
        let id = self.next;
        self.next += 1;
        self.heap.push(Reverse((at, id)));
        self.live.insert(id, (at, key));
        if self.heap.len() > 64 && self.heap.len() > 2 * self.live.len() {
            self.heap = self
                .live
                .iter()
                .map(|(&id, &(at, _))| Reverse((at, id)))
                .collect();
        }
        TimerId(id)
    }

    /// Fires `key` after `after` from `now`; no timer (`None`) when that
    /// is beyond what an `Instant` can hold.
    pub fn add_after(&mut self, now: Instant, after: Duration, key: K) -> Option<TimerId> {
        deadline(now, after).map(|at| self.add(at, key))
    }

    /// Cancels a timer; returns its key if it had not fired.
    pub fn cancel(&mut self, id: TimerId) -> Option<K> {
        self.live.remove(&id.0).map(|(_, k)| k)
    }

    pub fn len(&self) -> usize {
        self.live.len()
    }

    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }

    /// The earliest live deadline.
    pub fn next_deadline(&mut self) -> Option<Instant> {
        while let Some(&Reverse((at, id))) = self.heap.peek() {
            if self.live.contains_key(&id) {
                return Some(at);
            }
            self.heap.pop();
        }
        None
    }

    /// Removes and returns one timer due at `now`, earliest first.
    pub fn pop_expired(&mut self, now: Instant) -> Option<K> {
        while let Some(&Reverse((at, id))) = self.heap.peek() {
            if at > now {
                return None;
            }
            self.heap.pop();
            if let Some((_, key)) = self.live.remove(&id) {
                return Some(key);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn earliest_first_and_cancel() {
        let t0 = Instant::now();
        let mut t = Timers::new();
        let a = t.add(t0 + Duration::from_millis(30), "a");
        t.add(t0 + Duration::from_millis(10), "b");
        t.add(t0 + Duration::from_millis(20), "c");
        assert_eq!(t.next_deadline(), Some(t0 + Duration::from_millis(10)));
        assert_eq!(t.cancel(a), Some("a"));
        assert_eq!(t.cancel(a), None);
        let later = t0 + Duration::from_millis(100);
        assert_eq!(t.pop_expired(t0), None);
        assert_eq!(t.pop_expired(later), Some("b"));
        assert_eq!(t.pop_expired(later), Some("c"));
        assert_eq!(t.pop_expired(later), None);
        assert_eq!(t.next_deadline(), None);
    }

    #[test]
    fn an_unreachable_deadline_is_no_timer() {
        let t0 = Instant::now();
        let mut t = Timers::new();
        assert_eq!(deadline(t0, Duration::MAX), None);
        assert!(t.add_after(t0, Duration::MAX, "never").is_none());
        assert!(t.is_empty());
        assert!(t.add_after(t0, Duration::from_secs(1), "soon").is_some());
        assert_eq!(t.next_deadline(), Some(t0 + Duration::from_secs(1)));
    }

    #[test]
    fn churn_stays_bounded() {
        let t0 = Instant::now();
        let mut t = Timers::new();
        let keep = t.add(t0 + Duration::from_secs(5), 0);
        for i in 0..10_000 {
            let id = t.add(t0 + Duration::from_secs(10), i);
            t.cancel(id);
        }
        assert!(t.heap.len() <= 130, "heap grew to {}", t.heap.len());
        assert_eq!(t.len(), 1);
        assert_eq!(t.cancel(keep), Some(0));
    }
}
