//! The parking protocol of a worker, as a pure state machine.
//!
//! A worker with nothing to run blocks inside `io_uring_enter`. Anyone who hands it work
//! (another worker, a foreign thread, a timer registration) must be able to wake it, and
//! a worker that is busy must not cost the waker a syscall. [`ParkState`] is the word that
//! makes both true; the syscall itself (an eventfd write that completes a read armed in
//! the ring) stays with the caller.
//!
//! # Protocol
//!
//! The parker (the worker itself):
//!
//! 1. [`ParkState::begin_park`] moves `RUNNING -> PARKED`. If the word is `NOTIFIED`, work
//!    was handed over since the worker last looked: the notification is consumed, the word
//!    goes back to `RUNNING`, and the worker looks at its queues again instead of blocking.
//! 2. With `PARKED` published (sequentially consistent), the worker re-checks every queue
//!    it could be handed work through. If any has work, it calls [`ParkState::end_park`]
//!    and does not block.
//! 3. It blocks in the ring until a completion (the eventfd read among them) or its timer
//!    deadline, then calls [`ParkState::end_park`], which moves the word back to `RUNNING`.
//!
//! The notifier:
//!
//! 1. Publishes the work (pushes onto a queue).
//! 2. Calls [`ParkState::notify`], which swaps the word to `NOTIFIED`. Only when the
//!    previous value was `PARKED` must it write the eventfd.
//!
//! # Why no wake-up is lost
//!
//! Both sides use sequentially consistent operations, so the notifier's swap and the
//! parker's `RUNNING -> PARKED` transition are totally ordered. If the swap comes first,
//! the parker's step 1 sees `NOTIFIED` and re-checks the queues, where the work already is.
//! If the transition comes first, the swap returns `PARKED` and the notifier writes the
//! eventfd; the armed read completes whether the parker has entered the kernel yet or not,
//! so the blocking call returns. A second notification while the word is `NOTIFIED` (or
//! while the worker is `RUNNING`) costs one atomic swap and no syscall.

use crate::loom::sync::atomic::{AtomicU8, Ordering::SeqCst};

const RUNNING: u8 = 0;
const PARKED: u8 = 1;
const NOTIFIED: u8 = 2;

/// The park/notify word of one worker. See the module docs for the protocol.
#[derive(Debug)]
pub(crate) struct ParkState {
    state: AtomicU8,
}

impl ParkState {
    pub(crate) fn new() -> ParkState {
        ParkState {
            state: AtomicU8::new(RUNNING),
        }
    }

    /// Step 1 for the parker. Returns `false` when a notification was pending, in which
    /// case it has been consumed and the worker must look for work instead of blocking.
    pub(crate) fn begin_park(&self) -> bool {
        match self.state.compare_exchange(RUNNING, PARKED, SeqCst, SeqCst) {
            Ok(_) => true,
            Err(_) => {
                self.state.store(RUNNING, SeqCst);
                false
            }
        }
    }

    /// Step 3 for the parker (or the end of step 2 when it decides not to block).
    /// Returns whether a notification arrived while parked.
    pub(crate) fn end_park(&self) -> bool {
        self.state.swap(RUNNING, SeqCst) == NOTIFIED
    }

    /// For the notifier, after it published work. Returns `true` when the worker is
    /// parked and the caller must wake it with a syscall.
    pub(crate) fn notify(&self) -> bool {
        self.state.swap(NOTIFIED, SeqCst) == PARKED
    }

    /// Notifies only a parked worker, leaving a running one alone. Returns `true` when the
    /// caller must wake it with a syscall. Used to hand stealable work to an idle worker.
    pub(crate) fn notify_if_parked(&self) -> bool {
        self.state
            .compare_exchange(PARKED, NOTIFIED, SeqCst, SeqCst)
            .is_ok()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn notify_while_running_costs_no_wake_and_cancels_the_next_park() {
        let park = ParkState::new();
        assert!(!park.notify(), "a running worker needs no syscall");
        assert!(!park.notify(), "a second notification is coalesced");
        assert!(
            !park.begin_park(),
            "a pending notification prevents blocking"
        );
        assert!(park.begin_park(), "it was consumed");
        assert!(!park.end_park());
    }

    #[test]
    fn notify_while_parked_asks_for_one_wake() {
        let park = ParkState::new();
        assert!(park.begin_park());
        assert!(park.notify(), "a parked worker must be woken");
        assert!(!park.notify(), "only once");
        assert!(park.end_park(), "the parker sees it was notified");
        assert!(park.begin_park());
    }

    #[test]
    fn notify_if_parked_leaves_running_workers_alone() {
        let park = ParkState::new();
        assert!(!park.notify_if_parked());
        assert!(park.begin_park(), "no notification was left behind");
        assert!(park.notify_if_parked());
        assert!(!park.notify_if_parked());
        assert!(park.end_park());
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::sync::atomic::AtomicUsize;
    use loom::sync::{Arc, Condvar, Mutex};
    use loom::thread;

    /// Stands in for the eventfd and the read armed on it: a counter that a blocked
    /// waiter sleeps on.
    struct FakeEventFd {
        count: Mutex<u64>,
        cond: Condvar,
    }

    impl FakeEventFd {
        fn write(&self) {
            *self.count.lock().unwrap() += 1;
            self.cond.notify_one();
        }
        fn wait(&self) {
            let mut count = self.count.lock().unwrap();
            while *count == 0 {
                count = self.cond.wait(count).unwrap();
            }
            *count = 0;
        }
    }

    /// One worker parks until it has seen every item; `notifiers` threads each publish one
    /// item and notify. Loom explores every interleaving: a lost wake-up deadlocks the
    /// model, which loom reports.
    fn park_model(notifiers: usize) {
        crate::loom::model(move || {
            let park = Arc::new(ParkState::new());
            let queue = Arc::new(AtomicUsize::new(0));
            let eventfd = Arc::new(FakeEventFd {
                count: Mutex::new(0),
                cond: Condvar::new(),
            });

            let handles: Vec<_> = (0..notifiers)
                .map(|_| {
                    let (park, queue, eventfd) = (park.clone(), queue.clone(), eventfd.clone());
                    thread::spawn(move || {
                        queue.fetch_add(1, SeqCst);
                        if park.notify() {
                            eventfd.write();
                        }
                    })
                })
                .collect();

            let mut seen = 0;
            while seen < notifiers {
                let available = queue.swap(0, SeqCst);
                if available > 0 {
                    seen += available;
                    continue;
                }
                if !park.begin_park() {
                    continue;
                }
                if queue.load(SeqCst) > 0 {
                    park.end_park();
                    continue;
                }
                eventfd.wait();
                park.end_park();
            }
            for h in handles {
                h.join().unwrap();
            }
        });
    }

    #[test]
    fn park_one_notifier() {
        park_model(1);
    }

    #[test]
    fn park_two_notifiers() {
        park_model(2);
    }
}
