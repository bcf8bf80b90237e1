//! The state one timer shares between the future that waits on it and the worker that
//! fires it: a fired flag and a waker.
//!
//! A [`Sleep`](crate::time::Sleep) may be polled on one worker, stolen, polled on another
//! and dropped on a third, while it stays linked in the timer wheel of the worker it was
//! registered on. Linking and unlinking happen under that wheel's lock; the two fields
//! here are read without it.
//!
//! # States
//!
//! * `PENDING`: set at creation and by [`TimerEntry::reset`] (only while the timer is in
//!   no wheel, so nobody else touches it).
//! * `FIRING`: a worker saw the deadline pass and unlinked the timer, and is taking its
//!   waker. Set only under the wheel's lock, by the wheel's owner or by another worker
//!   helping it through a backlog.
//! * `FIRED`: the worker is done with the timer and will never touch it again. Set only
//!   under the wheel's lock, right after `FIRING`.
//!
//! A future that sees `FIRED` may drop its node without taking the wheel's lock; one that
//! sees `FIRING` waits the few instructions until `FIRED`.
//!
//! # Why no wake-up is lost
//!
//! The future registers its waker *before* it checks for `FIRING`; the worker stores
//! `FIRING` *before* it takes the registered waker (which it wakes after releasing the
//! lock). Either the check sees the timer fired, or the store comes after the registration and
//! the taken waker is the one just registered ([`AtomicWaker`] orders registration
//! against take).

use std::task::Waker;

use crate::loom::sync::atomic::{AtomicU8, Ordering};
use crate::loom::waker::AtomicWaker;

const PENDING: u8 = 0;
const FIRING: u8 = 1;
const FIRED: u8 = 2;

#[derive(Debug)]
pub(crate) struct TimerEntry {
    state: AtomicU8,
    waker: AtomicWaker,
}

impl TimerEntry {
    pub(crate) fn new() -> TimerEntry {
        TimerEntry {
            state: AtomicU8::new(PENDING),
            waker: AtomicWaker::new(),
        }
    }

    /// Registers `waker` to be woken when the timer fires.
    pub(crate) fn register(&self, waker: &Waker) {
        self.waker.register(waker);
    }

    /// Registers `waker` and reports whether the timer has fired.
    pub(crate) fn poll_fired(&self, waker: &Waker) -> bool {
        if self.is_fired() {
            return true;
        }
        self.waker.register(waker);
        self.is_fired()
    }

    /// Whether the deadline has passed (the timer is firing or has fired).
    pub(crate) fn is_fired(&self) -> bool {
        self.state.load(Ordering::Acquire) != PENDING
    }

    /// Whether the worker is done with the timer: it is unlinked and will never be
    /// touched by the worker again. Waits out a fire in progress.
    pub(crate) fn is_released(&self) -> bool {
        loop {
            match self.state.load(Ordering::Acquire) {
                PENDING => return false,
                FIRED => return true,
                _ => std::hint::spin_loop(),
            }
        }
    }

    /// Called under the wheel's lock by the worker firing the timer, once the deadline
    /// has passed: marks the timer fired and hands back the waker to wake (outside the
    /// wheel's lock).
    pub(crate) fn fire(&self) -> Option<Waker> {
        self.state.store(FIRING, Ordering::Release);
        let waker = self.waker.take();
        self.state.store(FIRED, Ordering::Release);
        waker
    }

    /// Makes the entry pending again. Only for an entry in no wheel.
    pub(crate) fn reset(&self) {
        self.state.store(PENDING, Ordering::Relaxed);
        drop(self.waker.take());
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
}
