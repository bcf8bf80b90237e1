//! The state one timer shares between the future that waits on it and the worker that
//! fires it.
//!
//! A [`Sleep`](crate::time::Sleep) may be polled on one worker, stolen, polled on another
//! and dropped on a third, while its entry stays in the timer queue of the worker it was
//! registered on. Everything those threads need to agree on is in this word and waker.
//!
//! # States
//!
//! * `PENDING`: in a timer queue, deadline not reached. Set at creation.
//! * `FIRED`: the owning worker saw the deadline pass and woke the waker. Set only by the
//!   owning worker, only from `PENDING`. Final.
//! * `CANCELLED`: the future was dropped (or reset) before the deadline. Set only by the
//!   future, only from `PENDING`. Final; the queue discards the entry lazily.
//!
//! # Why no wake-up is lost
//!
//! The future registers its waker *before* it checks for `FIRED`; the worker stores
//! `FIRED` *before* it wakes the registered waker. Either the check sees `FIRED`, or the
//! store comes after the registration and the wake reaches the newly registered waker
//! ([`AtomicWaker`] orders registration against wake).

use crate::loom::sync::atomic::{AtomicU8, Ordering};

#[cfg(not(loom))]
use atomic_waker::AtomicWaker;
#[cfg(loom)]
use loom_waker::AtomicWaker;

const PENDING: u8 = 0;
const FIRED: u8 = 1;
const CANCELLED: u8 = 2;

#[derive(Debug)]
pub(crate) struct TimerEntry {
    /// Deadline in nanoseconds since the runtime's epoch.
    pub(crate) deadline: u64,
    /// Index of the worker whose queue holds the entry.
    pub(crate) owner: usize,
    state: AtomicU8,
    waker: AtomicWaker,
}

impl TimerEntry {
    pub(crate) fn new(deadline: u64, owner: usize) -> TimerEntry {
        TimerEntry {
            deadline,
            owner,
            state: AtomicU8::new(PENDING),
            waker: AtomicWaker::new(),
        }
    }

    /// Registers `waker` and reports whether the timer has fired.
    pub(crate) fn poll_fired(&self, waker: &std::task::Waker) -> bool {
        if self.is_fired() {
            return true;
        }
        self.waker.register(waker);
        self.is_fired()
    }

    pub(crate) fn is_fired(&self) -> bool {
        self.state.load(Ordering::Acquire) == FIRED
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        self.state.load(Ordering::Acquire) == CANCELLED
    }

    /// Called by the owning worker once the deadline has passed. Returns `false` when the
    /// timer had been cancelled.
    pub(crate) fn fire(&self) -> bool {
        let fired = self
            .state
            .compare_exchange(PENDING, FIRED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if fired {
            self.waker.wake();
        }
        fired
    }

    /// Called by the future when it no longer wants the timer. Returns `true` when this
    /// call cancelled it (it had not fired).
    pub(crate) fn cancel(&self) -> bool {
        let cancelled = self
            .state
            .compare_exchange(PENDING, CANCELLED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if cancelled {
            // Drop the waker now rather than when the queue discards the entry: the
            // waker keeps its task alive.
            drop(self.waker.take());
        }
        cancelled
    }
}

#[cfg(not(loom))]
impl crate::time::queue::Timer for TimerEntry {
    fn deadline(&self) -> u64 {
        self.deadline
    }
    fn is_cancelled(&self) -> bool {
        TimerEntry::is_cancelled(self)
    }
}

#[cfg(loom)]
mod loom_waker {
    //! A lock-based stand-in for `atomic_waker::AtomicWaker` that loom can see through.
    use loom::sync::Mutex;
    use std::task::Waker;

    #[derive(Debug)]
    pub(crate) struct AtomicWaker(Mutex<Option<Waker>>);

    impl AtomicWaker {
        pub(crate) fn new() -> Self {
            AtomicWaker(Mutex::new(None))
        }
        pub(crate) fn register(&self, waker: &Waker) {
            *self.0.lock().unwrap() = Some(waker.clone());
        }
        pub(crate) fn wake(&self) {
            if let Some(w) = self.0.lock().unwrap().take() {
                w.wake();
            }
        }
        pub(crate) fn take(&self) -> Option<Waker> {
            self.0.lock().unwrap().take()
        }
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
    /// another: either the check sees `FIRED`, or the waker is woken.
    #[test]
    fn fire_races_registration() {
        crate::loom::model(|| {
            let entry = Arc::new(TimerEntry::new(10, 0));
            let flag = std::sync::Arc::new(Flag(AtomicBool::new(false)));
            let waker = Waker::from(flag.clone());
            let worker = {
                let entry = entry.clone();
                thread::spawn(move || entry.fire())
            };
            let seen = entry.poll_fired(&waker);
            assert!(worker.join().unwrap());
            assert!(seen || flag.0.load(Ordering::SeqCst), "wake-up lost");
        });
    }

    /// Cancel and fire race: exactly one wins, and a cancelled timer never wakes.
    #[test]
    fn fire_races_cancel() {
        crate::loom::model(|| {
            let entry = Arc::new(TimerEntry::new(10, 0));
            let flag = std::sync::Arc::new(Flag(AtomicBool::new(false)));
            assert!(!entry.poll_fired(&Waker::from(flag.clone())));
            let worker = {
                let entry = entry.clone();
                thread::spawn(move || entry.fire())
            };
            let cancelled = entry.cancel();
            let fired = worker.join().unwrap();
            assert!(cancelled != fired, "exactly one of fire and cancel wins");
            assert_eq!(flag.0.load(Ordering::SeqCst), fired);
        });
    }
}
