//! [`TimerShard`]: one worker's timing wheel behind its lock.
//!
//! The owning worker expires timers and reads the next deadline; any thread may link a
//! timer (a `Sleep` first polled in `block_on` is handed to a worker's shard) or unlink
//! one (a `Sleep` dropped after its task was stolen). Wakers of fired timers are
//! collected under the lock and woken after it is released, because a waker may run
//! arbitrary code.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::task::Waker;

use super::wheel::{TimerNode, Wheel};

/// Timers moved down ahead of time per pass at most. Each move is a cache miss in another
/// task's memory, and a timer that falls due meanwhile waits for the pass to end: a small
/// slice keeps that wait to microseconds; the worker comes back for more at once when it
/// has nothing else to do.
const PRECASCADE_SLICE: usize = 128;

#[derive(Debug)]
pub(crate) struct TimerShard {
    wheel: Mutex<Wheel>,
    /// The wheel's length, readable without the lock (so an idle worker skips it).
    len: AtomicUsize,
    /// Set when the owning worker has exited: nothing will fire these timers any more.
    closed: AtomicBool,
}

impl TimerShard {
    pub(crate) fn new() -> TimerShard {
        TimerShard {
            wheel: Mutex::new(Wheel::new()),
            len: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Wheel> {
        // The wheel is never left inconsistent by a panic (its methods do not call out
        // while it is being modified), so a poisoned lock is still usable.
        self.wheel.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Links `node` to fire at `tick`. Returns `false` if that tick has already passed.
    ///
    /// # Safety
    ///
    /// `node` is pinned, linked nowhere, and stays valid until [`TimerShard::remove`] is
    /// called for it (or it has fired).
    pub(crate) unsafe fn insert(&self, node: &TimerNode, tick: u64) -> bool {
        let mut wheel = self.lock();
        // SAFETY: the caller's guarantees, and we hold the lock.
        let linked = unsafe { wheel.insert(node, tick) };
        self.len.store(wheel.len(), Ordering::Relaxed);
        linked
    }

    /// Unlinks `node` if it is still linked.
    ///
    /// # Safety
    ///
    /// `node` was passed to [`TimerShard::insert`] of this shard (or to none).
    pub(crate) unsafe fn remove(&self, node: &TimerNode) {
        let mut wheel = self.lock();
        // SAFETY: the node is linked into this wheel or into none, and we hold the lock.
        unsafe { wheel.remove(node) };
        self.len.store(wheel.len(), Ordering::Relaxed);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len.load(Ordering::Relaxed) == 0
    }

    pub(crate) fn next_expiration(&self) -> Option<u64> {
        if self.is_empty() {
            return None;
        }
        self.lock().next_expiration()
    }

    /// Fires timers whose tick `now` has reached, at most `budget` of them (moving a
    /// timer down a level counts too), then moves upcoming timers down ahead of time;
    /// wakers of fired timers go into `wakers`. Returns whether work remains.
    pub(crate) fn expire(&self, now: u64, budget: usize, wakers: &mut Vec<Waker>) -> bool {
        let mut wheel = self.lock();
        // SAFETY: every linked node is valid until unlinked (insert's contract), and we
        // hold the lock; the callback does not touch the wheel.
        let more = unsafe {
            wheel.expire(now, budget, |node| {
                if let Some(waker) = node.entry.fire() {
                    // The waker is woken after the slice, which writes its task's state
                    // and reads its scheduling data (the first two cache lines of the
                    // task's allocation, for a runtime task): load them now, overlapped
                    // with the walk through the rest of the slice.
                    let task = waker.data().cast::<u8>();
                    crate::prefetch::prefetch(task);
                    crate::prefetch::prefetch(task.wrapping_add(64));
                    wakers.push(waker);
                }
            })
        };
        // With nothing due, use the slice to move upcoming timers down early, so that
        // reaching their slot later costs nothing.
        // SAFETY: as above.
        let more = more || unsafe { wheel.precascade(budget.min(PRECASCADE_SLICE)) };
        self.len.store(wheel.len(), Ordering::Relaxed);
        more
    }

    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}
