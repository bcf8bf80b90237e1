//! The per-worker queue of pending timers, ordered by deadline.
//!
//! Deadlines are nanoseconds since the runtime's epoch, so the queue has no resolution of
//! its own: a timer is due exactly when the clock passes its deadline, never rounded to a
//! tick. The queue is a binary min-heap with lazy deletion: a cancelled timer stays in the
//! heap until it reaches the top or until cancelled entries outnumber live ones, when the
//! heap is rebuilt without them (amortised O(1) per cancellation, memory bounded by twice
//! the live timers).
//!
//! The queue is pure data: no clock, no syscalls. The worker asks it for the nearest
//! deadline (its wait timeout in the ring) and pops what is due.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// What a queue entry must tell about itself.
pub(crate) trait Timer {
    fn deadline(&self) -> u64;
    fn is_cancelled(&self) -> bool;
}

impl<T: Timer> Timer for std::sync::Arc<T> {
    fn deadline(&self) -> u64 {
        (**self).deadline()
    }
    fn is_cancelled(&self) -> bool {
        (**self).is_cancelled()
    }
}

#[derive(Debug)]
pub(crate) struct TimerQueue<T> {
    heap: BinaryHeap<Slot<T>>,
}

#[derive(Debug)]
struct Slot<T> {
    deadline: u64,
    timer: T,
}

impl<T> PartialEq for Slot<T> {
    fn eq(&self, other: &Self) -> bool {
        self.deadline == other.deadline
    }
}
impl<T> Eq for Slot<T> {}
impl<T> PartialOrd for Slot<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for Slot<T> {
    // Reversed: `BinaryHeap` is a max-heap and we want the earliest deadline on top.
    fn cmp(&self, other: &Self) -> Ordering {
        other.deadline.cmp(&self.deadline)
    }
}

impl<T: Timer> TimerQueue<T> {
    pub(crate) fn new() -> Self {
        TimerQueue {
            heap: BinaryHeap::new(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }

    pub(crate) fn push(&mut self, timer: T) {
        self.heap.push(Slot {
            deadline: timer.deadline(),
            timer,
        });
    }

    /// The earliest deadline among the queued timers (cancelled ones included; waking
    /// for a cancelled timer is harmless and rare, scanning for a live one is not).
    pub(crate) fn next_deadline(&self) -> Option<u64> {
        self.heap.peek().map(|s| s.deadline)
    }

    /// Removes and returns one timer whose deadline is at or before `now`.
    pub(crate) fn pop_due(&mut self, now: u64) -> Option<T> {
        if self.heap.peek()?.deadline <= now {
            self.heap.pop().map(|s| s.timer)
        } else {
            None
        }
    }

    /// Drops every cancelled entry when they make up more than half of the queue.
    /// Returns how many were dropped.
    pub(crate) fn compact(&mut self, cancelled_hint: usize) -> usize {
        if self.heap.len() < 64 || cancelled_hint * 2 <= self.heap.len() {
            return 0;
        }
        let before = self.heap.len();
        self.heap.retain(|s| !s.timer.is_cancelled());
        before - self.heap.len()
    }

    /// Removes every entry (used at shutdown).
    pub(crate) fn drain(&mut self) -> impl Iterator<Item = T> + '_ {
        self.heap.drain().map(|s| s.timer)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::rc::Rc;

    #[derive(Debug, Clone)]
    struct T(u64, Rc<Cell<bool>>, u32);
    impl Timer for T {
        fn deadline(&self) -> u64 {
            self.0
        }
        fn is_cancelled(&self) -> bool {
            self.1.get()
        }
    }
    fn t(deadline: u64, id: u32) -> T {
        T(deadline, Rc::new(Cell::new(false)), id)
    }

    #[test]
    fn pops_in_deadline_order_and_only_when_due() {
        let mut q = TimerQueue::new();
        for (i, d) in [50u64, 10, 30, 10, 20].into_iter().enumerate() {
            q.push(t(d, i as u32));
        }
        assert_eq!(q.next_deadline(), Some(10));
        assert!(q.pop_due(9).is_none(), "nothing is due before its deadline");
        let ids: Vec<u32> = std::iter::from_fn(|| q.pop_due(30)).map(|t| t.2).collect();
        assert_eq!(
            ids,
            vec![1, 3, 4, 2],
            "deadline order, ties in insertion order"
        );
        assert_eq!(q.next_deadline(), Some(50));
        assert!(q.pop_due(49).is_none());
        assert_eq!(q.pop_due(50).unwrap().2, 0);
        assert!(q.next_deadline().is_none());
    }

    #[test]
    fn compaction_drops_only_cancelled_entries() {
        let mut q = TimerQueue::new();
        let timers: Vec<T> = (0..200).map(|i| t(1000 + i, i as u32)).collect();
        for timer in &timers {
            q.push(timer.clone());
        }
        for timer in timers.iter().filter(|t| t.2 % 4 != 0) {
            timer.1.set(true);
        }
        assert_eq!(q.compact(10), 0, "too few cancelled to bother");
        assert_eq!(q.compact(150), 150);
        assert_eq!(q.len(), 50);
        let mut last = 0;
        while let Some(timer) = q.pop_due(u64::MAX) {
            assert!(!timer.is_cancelled());
            assert!(timer.0 >= last);
            last = timer.0;
        }
    }
}
