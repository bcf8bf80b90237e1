//! [`TimerShard`]: one worker's timing wheel behind its lock.
//!
//! The owning worker expires timers and reads the next deadline (and, when more are due
//! than it fires in one pass, idle workers fire slices too); any thread may link a
//! timer (a `Sleep` first polled in `block_on` is handed to a worker's shard) or unlink
//! one (a `Sleep` dropped after its task was stolen). Wakers of fired timers are
//! collected under the lock and woken after it is released, because a waker may run
//! arbitrary code.
//!
//! # Lifetime
//!
//! A linked [`Sleep`](crate::time::Sleep) keeps only a raw pointer to its shard, not a
//! reference count: every task that sleeps would otherwise increment and decrement one
//! counter shared by all of them, a cache line that bounces between the workers when
//! they run each other's timers. Instead the shard owns one strong reference to itself
//! while any timer is linked into it (taken when its wheel goes from empty to non-empty,
//! given back when it empties), so it outlives every linked node, including a `Sleep`
//! kept beyond its runtime's shutdown. A fired timer's `Sleep` never touches the shard
//! again. A `Sleep` that checks its timer is still linked and then uses the shard, on a
//! thread outside the shard's runtime, does both under [`SHARD_USE`], because the timer
//! may fire in between and the shard go with its runtime.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use std::task::Waker;

use super::wheel::{TimerNode, Wheel};

/// Held (shared) by a thread that reaches a shard from outside that shard's runtime,
/// from its check that its timer is still linked to its last use of the shard; taken
/// (exclusive) by a shard's destructor before the shard's memory goes.
///
/// A linked timer keeps its shard alive, but it may fire right after the check: its
/// worker may then empty the wheel and give back the shard's reference to itself, and a
/// runtime dropped meanwhile frees the shard under the checking thread. On a thread of
/// the shard's own runtime (a worker, or `block_on`) the runtime is alive and holds the
/// shard, so only other threads (a `Sleep` dropped or polled elsewhere) take this.
pub(crate) static SHARD_USE: std::sync::RwLock<()> = std::sync::RwLock::new(());

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
    /// Set while more timers are due than the last pass fired: other workers with
    /// nothing to do fire slices of them too (see [`TimerShard::help_expire`]).
    backlog: AtomicBool,
    /// The tick by which the owner wakes up, as of its last look before sleeping
    /// (`u64::MAX`: no timer). Written and read under the lock, so an insertion sees
    /// either the value computed after it (which accounts for it) or the one the owner
    /// sleeps by; only a timer due before that needs to wake the owner.
    wake_by: AtomicU64,
}

/// What [`TimerShard::insert`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Inserted {
    /// The tick has already passed: nothing was linked.
    Due,
    /// The owner has exited (its runtime shut down): nothing was linked, and nothing
    /// will ever fire a timer here.
    Closed,
    /// Linked; the owner will look at its wheel by then anyway.
    Linked,
    /// Linked, due before the owner (if it is asleep) wakes up: the caller wakes it.
    LinkedWakeOwner,
}

impl Drop for TimerShard {
    fn drop(&mut self) {
        // Wait for any thread between its check and its use of this shard (see
        // `SHARD_USE`); none can start one now, since no timer is linked.
        drop(SHARD_USE.write().unwrap_or_else(|e| e.into_inner()));
    }
}

impl TimerShard {
    /// A shard is always reference counted: it holds a reference to itself while timers
    /// are linked into it (module docs).
    pub(crate) fn new() -> Arc<TimerShard> {
        Arc::new(TimerShard {
            wheel: Mutex::new(Wheel::new()),
            len: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            backlog: AtomicBool::new(false),
            wake_by: AtomicU64::new(u64::MAX),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Wheel> {
        // The wheel is never left inconsistent by a panic (its methods do not call out
        // while it is being modified), so a poisoned lock is still usable.
        self.wheel.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn try_lock(&self) -> Option<MutexGuard<'_, Wheel>> {
        match self.wheel.try_lock() {
            Ok(wheel) => Some(wheel),
            Err(TryLockError::Poisoned(e)) => Some(e.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        }
    }

    /// Links `node` to fire at `tick`, and says whether the owner must be woken to see it
    /// in time (for a caller on another thread).
    ///
    /// # Safety
    ///
    /// `node` is pinned, linked nowhere, and stays valid until [`TimerShard::remove`] is
    /// called for it (or it has fired).
    pub(crate) unsafe fn insert(&self, node: &TimerNode, tick: u64) -> Inserted {
        let mut wheel = self.lock();
        // Checked under the lock, which `close` takes too: a timer is refused here, or
        // it was linked before the wheel closed.
        if self.is_closed() {
            return Inserted::Closed;
        }
        // SAFETY: the caller's guarantees, and we hold the lock.
        let linked = unsafe { wheel.insert(node, tick) };
        if linked && wheel.len() == 1 {
            // SAFETY: shards are only made by `new`, inside an `Arc`, and `&self` proves
            // a strong reference is alive.
            unsafe { Arc::increment_strong_count(self) };
        }
        self.len.store(wheel.len(), Ordering::Relaxed);
        if !linked {
            Inserted::Due
        } else if tick < self.wake_by.load(Ordering::Relaxed) {
            Inserted::LinkedWakeOwner
        } else {
            Inserted::Linked
        }
    }

    /// Unlinks `node` if it is still linked. Returns `true` if that emptied the wheel:
    /// the caller then gives back the shard's reference to itself with
    /// [`TimerShard::release_self`] (which may free the shard, when its runtime is gone),
    /// once it no longer holds [`SHARD_USE`].
    ///
    /// # Safety
    ///
    /// `node` was passed to [`TimerShard::insert`] of this shard and is linked there, or
    /// is linked nowhere.
    pub(crate) unsafe fn remove(&self, node: &TimerNode) -> bool {
        let mut wheel = self.lock();
        let before = wheel.len();
        // SAFETY: the node is linked into this wheel or into none; we hold the lock.
        unsafe { wheel.remove(node) };
        self.len.store(wheel.len(), Ordering::Relaxed);
        before == 1 && wheel.len() == 0
    }

    /// Gives back the reference `insert` took when the wheel stopped being empty, after
    /// [`TimerShard::remove`] emptied it.
    ///
    /// # Safety
    ///
    /// `remove` returned `true` for this shard, and this is called once for it; nothing
    /// touches the shard afterwards (it may be freed).
    pub(crate) unsafe fn release_self(this: NonNull<TimerShard>) {
        // SAFETY: the caller's promise; the reference is the shard's own.
        unsafe { Arc::decrement_strong_count(this.as_ptr()) };
    }

    /// Releases the lock of an owner or helper that had `before` timers linked when it
    /// took it, giving back the shard's reference to itself if none is linked now. The
    /// caller holds a reference of its own, so the shard stays alive.
    fn unlock(&self, wheel: MutexGuard<'_, Wheel>, before: usize) {
        let emptied = before > 0 && wheel.len() == 0;
        drop(wheel);
        if emptied {
            // SAFETY: the reference `insert` took; the caller's own keeps the count above
            // zero.
            unsafe { Arc::decrement_strong_count(self) };
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Timers linked, as of the last change (a hint: it may be stale by then).
    pub(crate) fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    /// The tick the owner, about to sleep, must wake up by (`None`: no timer), as seen
    /// by an insertion from then on (see `wake_by`).
    pub(crate) fn next_expiration_before_sleep(&self) -> Option<u64> {
        let wheel = self.lock();
        let next = wheel.next_expiration();
        self.wake_by
            .store(next.unwrap_or(u64::MAX), Ordering::Relaxed);
        next
    }

    /// Fires timers whose tick `now` has reached, at most `budget` of them (moving a
    /// timer down a level counts too), then moves upcoming timers down ahead of time;
    /// wakers of fired timers go into `wakers`. Returns whether work remains.
    ///
    /// The caller holds a strong reference to the shard (it is its owner's).
    pub(crate) fn expire(&self, now: u64, budget: usize, wakers: &mut Vec<Waker>) -> bool {
        let mut wheel = if self.backlog.load(Ordering::Relaxed) {
            // Another worker may be firing a slice: rather than sleep on the lock, let the
            // caller run what it has and come back (work remains either way).
            match self.try_lock() {
                Some(wheel) => wheel,
                None => return true,
            }
        } else {
            self.lock()
        };
        let before = wheel.len();
        let more = self.expire_locked(&mut wheel, now, budget, wakers);
        // With nothing due, use the slice to move upcoming timers down early, so that
        // reaching their slot later costs nothing.
        // SAFETY: every linked node is valid until unlinked (insert's contract), and we
        // hold the lock.
        let more = more || unsafe { wheel.precascade(budget.min(PRECASCADE_SLICE)) };
        self.len.store(wheel.len(), Ordering::Relaxed);
        self.unlock(wheel, before);
        more
    }

    /// Fires a slice of this shard's due timers on behalf of its owner, which has more
    /// due than it fires in one pass (a burst of identical deadlines, or timers that all
    /// went to one worker). Called by workers with nothing else to do: the woken tasks
    /// are queued on the caller, which runs them while their memory is still in its
    /// cache, instead of every timer of the burst waiting for one thread's walk. Returns
    /// whether it fired any. Never waits for the lock, and does none of the owner's
    /// housekeeping (moving upcoming timers down). The caller holds a strong reference.
    /// `now` reads the clock; it is called only if there is a backlog to help with, so
    /// that a worker looking for work reads no clock for shards that have none.
    pub(crate) fn help_expire(
        &self,
        now: impl FnOnce() -> u64,
        budget: usize,
        wakers: &mut Vec<Waker>,
    ) -> bool {
        if !self.backlog.load(Ordering::Relaxed) {
            return false;
        }
        let Some(mut wheel) = self.try_lock() else {
            return false;
        };
        let (linked, woken) = (wheel.len(), wakers.len());
        self.expire_locked(&mut wheel, now(), budget, wakers);
        self.len.store(wheel.len(), Ordering::Relaxed);
        self.unlock(wheel, linked);
        wakers.len() > woken
    }

    fn expire_locked(
        &self,
        wheel: &mut Wheel,
        now: u64,
        budget: usize,
        wakers: &mut Vec<Waker>,
    ) -> bool {
        // SAFETY: every linked node is valid until unlinked (insert's contract), and the
        // caller holds the lock; the callback does not touch the wheel.
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
        self.backlog.store(more, Ordering::Relaxed);
        more
    }

    pub(crate) fn close(&self) {
        let _wheel = self.lock();
        self.closed.store(true, Ordering::Release);
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_shard_links_no_timer() {
        let shard = TimerShard::new();
        let node = std::pin::pin!(TimerNode::new());
        shard.close();
        // SAFETY: the node is pinned and linked nowhere; it is not linked here either.
        assert_eq!(unsafe { shard.insert(&node, 10) }, Inserted::Closed);
        assert!(shard.is_empty());
        assert!(shard.is_closed());
    }
}
