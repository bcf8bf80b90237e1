//! The state an io_uring request shares between its future and the ring it was submitted
//! on (see [`op`](super::op)), kept apart from the memory it guards so that loom can
//! check it.
//!
//! # Who owns the request's data
//!
//! The ring records the completion, then swaps the state to `COMPLETED`; a future
//! dropped before it took the output swaps it to `DROPPED`. The side whose swap comes
//! second owns the data: a future that sees `COMPLETED` takes the output (or, when it is
//! being dropped, releases what the completion produced); a ring that sees `DROPPED`
//! releases it. The swaps are read-modify-writes on one word, so exactly one side comes
//! second, and the acquire half of each orders its access to the data after the other
//! side's.
//!
//! # Why no wake-up is lost
//!
//! The future registers its waker before it checks for `COMPLETED`; the ring swaps in
//! `COMPLETED` before it takes the registered waker. Either the check sees the
//! completion, or the swap came after the check and the waker taken is the one just
//! registered.

use std::task::Waker;

use crate::loom::sync::atomic::{AtomicU8, Ordering};
use crate::loom::waker::AtomicWaker;

/// Created, not yet handed to a ring.
const IDLE: u8 = 0;
/// Handed to a ring (possibly still on its way, through an inbox).
const SUBMITTED: u8 = 1;
/// The ring recorded the completion.
const COMPLETED: u8 = 2;
/// The future was dropped before the completion.
const DROPPED: u8 = 3;

#[derive(Debug)]
pub(crate) struct OpState {
    state: AtomicU8,
    waker: AtomicWaker,
}

/// What a future being dropped must do.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Dropped {
    /// It never reached a ring, or its completion was taken: nothing.
    Idle,
    /// The completion arrived and was not taken: the future owns the data and releases
    /// what the completion produced.
    Completed,
    /// In flight: the ring owns the data from now on; ask it to cancel the request.
    InFlight,
}

/// The ring learns that the future is gone: the ring owns the data.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct FutureGone;

impl OpState {
    pub(crate) fn new() -> OpState {
        OpState {
            state: AtomicU8::new(IDLE),
            waker: AtomicWaker::new(),
        }
    }

    /// The future hands the request to a ring.
    pub(crate) fn submit(&self) {
        self.state.store(SUBMITTED, Ordering::Release);
    }

    /// The request could not be handed to any ring; it stays with the future.
    pub(crate) fn unsubmit(&self) {
        self.state.store(IDLE, Ordering::Release);
    }

    pub(crate) fn is_completed(&self) -> bool {
        self.state.load(Ordering::Acquire) == COMPLETED
    }

    pub(crate) fn is_dropped(&self) -> bool {
        self.state.load(Ordering::Acquire) == DROPPED
    }

    /// Ring side, once the completion is recorded: the waker to wake while the future
    /// lives, or `FutureGone`.
    pub(crate) fn complete(&self) -> Result<Option<Waker>, FutureGone> {
        match self.state.swap(COMPLETED, Ordering::AcqRel) {
            DROPPED => Err(FutureGone),
            _ => Ok(self.waker.take()),
        }
    }

    /// Future side: registers `waker`; whether the completion has been recorded.
    pub(crate) fn poll_completed(&self, waker: &Waker) -> bool {
        if self.is_completed() {
            return true;
        }
        self.waker.register(waker);
        self.is_completed()
    }

    /// Future side, when it is dropped without having taken the output.
    pub(crate) fn drop_future(&self) -> Dropped {
        if self.state.load(Ordering::Acquire) == IDLE {
            return Dropped::Idle;
        }
        match self.state.swap(DROPPED, Ordering::AcqRel) {
            COMPLETED => Dropped::Completed,
            IDLE => Dropped::Idle,
            _ => Dropped::InFlight,
        }
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::cell::UnsafeCell;
    use loom::sync::atomic::AtomicUsize;
    use loom::sync::Arc;
    use loom::thread;
    use std::task::Wake;

    struct Count(std::sync::atomic::AtomicUsize);
    impl Wake for Count {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    /// A request's data and how often it was released.
    struct Request {
        state: OpState,
        data: UnsafeCell<Option<u32>>,
        releases: AtomicUsize,
    }

    impl Request {
        fn release(&self) {
            // loom reports any access here that is not ordered after the other side's.
            let taken = self.data.with_mut(|d| unsafe { (*d).take() });
            assert_eq!(taken, Some(7), "the data is released once");
            self.releases.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn submitted() -> Arc<Request> {
        let request = Arc::new(Request {
            state: OpState::new(),
            data: UnsafeCell::new(Some(7)),
            releases: AtomicUsize::new(0),
        });
        request.state.submit();
        request
    }

    /// The ring completes while the future is dropped on another thread: exactly one of
    /// them releases the data, and the other never touches it.
    #[test]
    fn completion_races_drop() {
        crate::loom::model(|| {
            let request = submitted();
            let ring = {
                let request = request.clone();
                thread::spawn(move || {
                    if let Err(FutureGone) = request.state.complete() {
                        request.release();
                    }
                })
            };
            match request.state.drop_future() {
                Dropped::Completed => request.release(),
                Dropped::InFlight => {}
                Dropped::Idle => panic!("a submitted request is never idle"),
            }
            ring.join().unwrap();
            assert_eq!(request.releases.load(Ordering::SeqCst), 1);
        });
    }

    /// The ring completes while the future polls: either the poll sees the completion
    /// (and takes the data), or its waker is woken; a later drop releases nothing twice.
    #[test]
    fn completion_races_poll() {
        crate::loom::model(|| {
            let request = submitted();
            let count = std::sync::Arc::new(Count(std::sync::atomic::AtomicUsize::new(0)));
            let waker = Waker::from(count.clone());
            let ring = {
                let request = request.clone();
                thread::spawn(move || match request.state.complete() {
                    Ok(Some(waker)) => waker.wake(),
                    Ok(None) => {}
                    Err(FutureGone) => request.release(),
                })
            };
            let ready = request.state.poll_completed(&waker);
            if ready {
                request.release();
            }
            ring.join().unwrap();
            let woken = count.0.load(std::sync::atomic::Ordering::SeqCst) > 0;
            assert!(ready || woken, "wake-up lost");
            if !ready {
                // Woken: the next poll finds the completion.
                assert!(request.state.poll_completed(&waker));
                request.release();
            }
            assert_eq!(request.releases.load(Ordering::SeqCst), 1);
        });
    }
}
