//! The state one timer shares between the future that waits on it and the worker that
//! fires it: a state byte, a released flag and a waker slot.
//!
//! A [`Sleep`](crate::time::Sleep) may be polled on one worker, stolen, polled on another
//! and dropped on a third, while it stays linked in the timer wheel of the worker it was
//! registered on. Linking and unlinking happen under that wheel's lock; the fields here
//! are shared without it.
//!
//! # Protocol
//!
//! * The future (one poll at a time: it is borrowed mutably) writes its waker into the
//!   slot while holding `REGISTERING`, which it sets only while `FIRED` is clear.
//! * The worker firing the timer (under the wheel's lock) sets `FIRED` with one atomic
//!   read-modify-write. If `REGISTERING` was clear, the slot is the worker's: it takes
//!   the waker (to wake after the lock is released). If it was set, the worker leaves
//!   the slot alone: the future, still inside its poll, sees `FIRED` when it clears
//!   `REGISTERING` and completes.
//! * The worker then sets `released`: it will never touch the node again, and a future
//!   that sees it may drop its node without the wheel's lock. One that sees `FIRED`
//!   without `released` waits the few instructions until it is set.
//!
//! One read-modify-write per fired timer: a general-purpose atomic waker takes two (one
//! to lock the slot, one to unlock it), and a burst fires tens of thousands at once.
//!
//! # Why no wake-up is lost
//!
//! Either the future's registration finished (`REGISTERING` cleared with `FIRED` still
//! clear) before the worker set `FIRED`, and the worker takes the waker just written
//! (the release of `REGISTERING` and the worker's acquiring read-modify-write order the
//! write before the take), or the future sees `FIRED`, on its first check or when it
//! clears `REGISTERING`, and does not wait.

use std::task::Waker;

use crate::loom::cell::UnsafeCell;
use crate::loom::sync::atomic::{AtomicU8, Ordering};

/// The future is writing its waker into the slot.
const REGISTERING: u8 = 1;
/// The deadline passed (the worker has unlinked the timer).
const FIRED: u8 = 2;

/// Clears `REGISTERING` if the registration unwinds.
struct ClearOnUnwind<'a>(&'a AtomicU8);

impl Drop for ClearOnUnwind<'_> {
    fn drop(&mut self) {
        self.0.fetch_and(!REGISTERING, Ordering::AcqRel);
    }
}

#[derive(Debug)]
pub(crate) struct TimerEntry {
    state: AtomicU8,
    /// Set (to 1) by the worker once it is done with a fired timer.
    released: AtomicU8,
    waker: UnsafeCell<Option<Waker>>,
}

// SAFETY: the waker slot is written by the future only while it holds `REGISTERING`
// (with `FIRED` clear), and taken by the worker only if it set `FIRED` while
// `REGISTERING` was clear (see the module docs); `Waker` is `Send` and `Sync`.
unsafe impl Send for TimerEntry {}
// SAFETY: as above.
unsafe impl Sync for TimerEntry {}

impl TimerEntry {
    pub(crate) fn new() -> TimerEntry {
        TimerEntry {
            state: AtomicU8::new(0),
            released: AtomicU8::new(0),
            waker: UnsafeCell::new(None),
        }
    }

    /// Registers `waker` before the timer is linked into a wheel (so it cannot have fired).
    pub(crate) fn register(&self, waker: &Waker) {
        let fired = self.poll_fired(waker);
        debug_assert!(!fired, "a timer fired before it was linked");
    }

    /// Registers `waker` to be woken when the timer fires, and reports whether it has
    /// fired (in which case the waker may not be woken). Called by the future only, one
    /// poll at a time.
    pub(crate) fn poll_fired(&self, waker: &Waker) -> bool {
        if self.is_fired() {
            return true;
        }
        // Only the future sets `REGISTERING` (and always clears it, see below), so this
        // fails only if `FIRED` is set.
        if let Err(state) =
            self.state
                .compare_exchange(0, REGISTERING, Ordering::Acquire, Ordering::Acquire)
        {
            return state & FIRED != 0;
        }
        // Cloning the waker runs the waker's code, which may panic: `REGISTERING` is
        // cleared on the way out all the same, or the worker would never take a waker
        // again and the next poll would take the timer for fired.
        let registering = ClearOnUnwind(&self.state);
        // SAFETY: we hold `REGISTERING`, set while `FIRED` was clear: the worker does not
        // touch the slot until we clear it (module docs).
        let replaced = self.waker.with_mut(|slot| unsafe {
            match &*slot {
                Some(current) if current.will_wake(waker) => None,
                _ => (*slot).replace(waker.clone()),
            }
        });
        std::mem::forget(registering);
        let before = self.state.fetch_and(!REGISTERING, Ordering::AcqRel);
        // Dropped once the slot is released, for the same reason as the clone.
        drop(replaced);
        // Set while we registered: the worker left the slot (and its waker) to us.
        before & FIRED != 0
    }

    /// Whether the deadline has passed (the timer is firing or has fired).
    pub(crate) fn is_fired(&self) -> bool {
        self.state.load(Ordering::Acquire) & FIRED != 0
    }

    /// Whether the worker is done with the timer: it is unlinked and will never be
    /// touched by the worker again. Waits out a fire in progress.
    pub(crate) fn is_released(&self) -> bool {
        if !self.is_fired() {
            return false;
        }
        while self.released.load(Ordering::Acquire) == 0 {
            crate::loom::hint::spin_loop();
        }
        true
    }

    /// Called under the wheel's lock by the worker firing the timer, once the deadline
    /// has passed: marks the timer fired and hands back the waker to wake (outside the
    /// wheel's lock).
    pub(crate) fn fire(&self) -> Option<Waker> {
        let before = self.state.fetch_or(FIRED, Ordering::AcqRel);
        let waker = if before & REGISTERING == 0 {
            // SAFETY: `FIRED` is set and `REGISTERING` was clear: the slot is ours, and
            // the future will not write it again (module docs).
            self.waker.with_mut(|slot| unsafe { (*slot).take() })
        } else {
            None
        };
        self.released.store(1, Ordering::Release);
        waker
    }

    /// Makes the entry pending again. Only for an entry in no wheel, whose future has
    /// `&mut` access (nobody else touches it).
    pub(crate) fn reset(&self) {
        self.state.store(0, Ordering::Relaxed);
        self.released.store(0, Ordering::Relaxed);
        // SAFETY: the entry is in no wheel, so no worker can reach it.
        drop(self.waker.with_mut(|slot| unsafe { (*slot).take() }));
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::panic::{catch_unwind, AssertUnwindSafe};
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;
    use std::task::{RawWaker, RawWakerVTable, Wake};

    /// A waker whose `clone` panics.
    fn bad_waker() -> Waker {
        fn clone(_: *const ()) -> RawWaker {
            panic!("waker clone panicked");
        }
        fn noop(_: *const ()) {}
        static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, noop, noop, noop);
        // SAFETY: the vtable's functions ignore the data pointer.
        unsafe { Waker::from_raw(RawWaker::new(std::ptr::null(), &VTABLE)) }
    }

    struct Flag(AtomicBool);
    impl Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_panicking_waker_clone_leaves_the_timer_pending_and_usable() {
        let entry = TimerEntry::new();
        let panicked = catch_unwind(AssertUnwindSafe(|| entry.poll_fired(&bad_waker())));
        assert!(panicked.is_err());
        assert!(!entry.is_fired());
        let flag = Arc::new(Flag(AtomicBool::new(false)));
        assert!(
            !entry.poll_fired(&Waker::from(flag.clone())),
            "not fired: the deadline has not passed"
        );
        entry.fire().expect("the worker takes the waker").wake();
        assert!(flag.0.load(Ordering::SeqCst));
        assert!(entry.poll_fired(&Waker::from(flag)));
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::sync::atomic::AtomicBool;
    use loom::sync::Arc;
    use loom::thread;
    use std::task::{Wake, Waker};

    struct Flag(AtomicBool);
    impl Wake for Flag {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    /// A future on one thread registers and checks while the owning worker fires on
    /// another: either the check sees `FIRED`, or the registered waker is woken.
    #[test]
    fn fire_races_registration() {
        crate::loom::model(|| {
            let entry = Arc::new(TimerEntry::new());
            let flag = std::sync::Arc::new(Flag(AtomicBool::new(false)));
            let waker = Waker::from(flag.clone());
            let worker = {
                let entry = entry.clone();
                thread::spawn(move || {
                    if let Some(waker) = entry.fire() {
                        waker.wake();
                    }
                })
            };
            let seen = entry.poll_fired(&waker);
            worker.join().unwrap();
            assert!(seen || flag.0.load(Ordering::SeqCst), "wake-up lost");
        });
    }

    /// A waker replaced by a poll from another thread (a stolen task) is the one woken.
    #[test]
    fn fire_wakes_the_latest_waker() {
        crate::loom::model(|| {
            let entry = Arc::new(TimerEntry::new());
            let first = std::sync::Arc::new(Flag(AtomicBool::new(false)));
            let second = std::sync::Arc::new(Flag(AtomicBool::new(false)));
            entry.register(&Waker::from(first.clone()));
            let worker = {
                let entry = entry.clone();
                thread::spawn(move || {
                    if let Some(waker) = entry.fire() {
                        waker.wake();
                    }
                })
            };
            let seen = entry.poll_fired(&Waker::from(second.clone()));
            worker.join().unwrap();
            assert!(
                seen || second.0.load(Ordering::SeqCst),
                "the waker registered last must be woken unless the poll saw the fire"
            );
        });
    }

    /// Once the future sees the timer released, the worker is done with the entry: the
    /// future may reset it (touching the waker slot) while the worker's fire is still
    /// returning; loom reports any access of the slot that is not ordered.
    #[test]
    fn a_released_entry_is_the_futures_alone() {
        crate::loom::model(|| {
            let entry = Arc::new(TimerEntry::new());
            let flag = std::sync::Arc::new(Flag(AtomicBool::new(false)));
            entry.register(&Waker::from(flag.clone()));
            let worker = {
                let entry = entry.clone();
                thread::spawn(move || drop(entry.fire()))
            };
            let waker = Waker::from(std::sync::Arc::new(Flag(AtomicBool::new(false))));
            if entry.poll_fired(&waker) && entry.is_released() {
                entry.reset();
            }
            worker.join().unwrap();
        });
    }
}
