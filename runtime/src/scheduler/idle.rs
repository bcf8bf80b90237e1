//! Who is idle: the counters that decide whether pushing stealable work must wake a
//! parked worker.
//!
//! # Protocol
//!
//! A worker that pushes stealable work (its local queue, the injector):
//!
//! 1. pushes;
//! 2. calls [`Idle::should_notify`]: a sequentially consistent fence, then "nobody is
//!    searching and somebody is parked";
//! 3. if so, wakes one parked worker ([`ParkState::notify_if_parked`]).
//!
//! A worker that runs out of work:
//!
//! 1. searches between [`Idle::begin_search`] and [`Idle::end_search`] (while it searches,
//!    pushers need not wake anyone: the searcher will find the work, or park and re-check);
//! 2. publishes [`ParkState::begin_park`], then [`Idle::begin_park`] (parked + 1, fence);
//! 3. re-checks every stealable queue, and blocks only if all are empty.
//!
//! # Why no work is stranded
//!
//! Both counters live in one word, and every step above that touches it is a
//! read-modify-write (the pusher's check is a `fetch_add(0)`), so all of them are totally
//! ordered in that word's modification order, and each acquires what the one before it
//! released. If the parker's `begin_park` comes first, the pusher's check reads a parked,
//! non-searching worker and wakes it. If the pusher's check comes first, the parker's
//! `begin_park` (or an earlier `end_search`) acquires it, so the parker's re-check sees
//! the pushed work. The same holds when the pusher's check sees a searcher: the
//! searcher's `end_search` comes later and acquires the push. A plain load after a fence
//! would need sequentially consistent fences to be modelled exactly, which the loom
//! model checker does not do; the RMW needs only acquire/release.
//!
//! [`ParkState::begin_park`]: super::park::ParkState::begin_park
//! [`ParkState::notify_if_parked`]: super::park::ParkState::notify_if_parked

use crate::loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};

/// Searching workers in the low half of the word, parked workers in the high half.
const SEARCHING_ONE: usize = 1;
const PARKED_SHIFT: u32 = usize::BITS / 2;
const PARKED_ONE: usize = 1 << PARKED_SHIFT;
const SEARCHING_MASK: usize = PARKED_ONE - 1;

#[derive(Debug)]
pub(crate) struct Idle {
    state: AtomicUsize,
}

impl Idle {
    pub(crate) fn new() -> Idle {
        Idle {
            state: AtomicUsize::new(0),
        }
    }

    pub(crate) fn begin_search(&self) {
        self.state.fetch_add(SEARCHING_ONE, SeqCst);
    }

    pub(crate) fn end_search(&self) {
        self.state.fetch_sub(SEARCHING_ONE, SeqCst);
    }

    /// Counts the caller as parked; it must re-check the queues afterwards.
    pub(crate) fn begin_park(&self) {
        self.state.fetch_add(PARKED_ONE, SeqCst);
    }

    pub(crate) fn end_park(&self) {
        self.state.fetch_sub(PARKED_ONE, SeqCst);
    }

    /// After pushing stealable work: whether a parked worker must be woken.
    pub(crate) fn should_notify(&self) -> bool {
        // A read-modify-write, not a load: see "Why no work is stranded".
        let state = self.state.fetch_add(0, SeqCst);
        state & SEARCHING_MASK == 0 && state >> PARKED_SHIFT > 0
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn notifies_only_when_someone_is_parked_and_nobody_searches() {
        let idle = Idle::new();
        assert!(!idle.should_notify(), "nobody parked");
        idle.begin_park();
        assert!(idle.should_notify());
        idle.begin_search();
        assert!(!idle.should_notify(), "the searcher will find the work");
        idle.end_search();
        idle.begin_park();
        idle.end_park();
        assert!(idle.should_notify());
        idle.end_park();
        assert!(!idle.should_notify());
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::super::park::ParkState;
    use super::*;
    use loom::sync::atomic::AtomicBool;
    use loom::sync::{Arc, Condvar, Mutex};
    use loom::thread;

    struct FakeEventFd {
        set: Mutex<bool>,
        cond: Condvar,
    }

    /// Worker A pushes one task onto its queue while idle worker B searches, finds
    /// nothing, and parks. B must end up with the task: it either sees it on its
    /// re-check, or A wakes it. A lost notification deadlocks B, which loom reports.
    #[test]
    fn pushed_work_is_never_stranded_behind_a_parking_worker() {
        crate::loom::model(|| {
            let idle = Arc::new(Idle::new());
            let park_b = Arc::new(ParkState::new());
            let queue_a = Arc::new(AtomicBool::new(false));
            let eventfd_b = Arc::new(FakeEventFd {
                set: Mutex::new(false),
                cond: Condvar::new(),
            });

            let a = {
                let (idle, park_b, queue_a, eventfd_b) = (
                    idle.clone(),
                    park_b.clone(),
                    queue_a.clone(),
                    eventfd_b.clone(),
                );
                thread::spawn(move || {
                    // The push is an RMW: loom keeps modification order partial between a
                    // plain store and an RMW of another thread, and would then let B's
                    // later swap read its own older write, which real hardware cannot.
                    queue_a.swap(true, SeqCst);
                    if idle.should_notify() && park_b.notify_if_parked() {
                        *eventfd_b.set.lock().unwrap() = true;
                        eventfd_b.cond.notify_one();
                    }
                })
            };

            // Worker B.
            loop {
                idle.begin_search();
                let stolen = queue_a.swap(false, SeqCst);
                idle.end_search();
                if stolen {
                    break;
                }
                if !park_b.begin_park() {
                    continue;
                }
                idle.begin_park();
                if queue_a.load(SeqCst) {
                    idle.end_park();
                    park_b.end_park();
                    continue;
                }
                let mut set = eventfd_b.set.lock().unwrap();
                while !*set {
                    set = eventfd_b.cond.wait(set).unwrap();
                }
                *set = false;
                drop(set);
                idle.end_park();
                park_b.end_park();
            }
            a.join().unwrap();
        });
    }
}
