//! [`Admission`]: how a child of a limited [`TaskGroup`](crate::TaskGroup) waits its turn.
//!
//! A [`Limit`] counts the free places and queues the children waiting for one, first
//! come first served. Every child gets an [`Admission`] when it is spawned (under the
//! group's lock, so the queue is in spawn order), polls it before its first poll of its
//! own future, and drops it (or [`leave`](Admission::leave)s) when it ends; a child of
//! a group without a limit holds an empty one, which admits at once.
//!
//! # Protocol
//!
//! 1. A child is admitted when it asks if a place is free and nobody is queued (so
//!    nobody jumps the queue); otherwise it queues a [`Ticket`].
//! 2. A leaving child hands its place to the first ticket that is still wanted, marking
//!    it admitted under the lock and waking its waker after the lock is released; with
//!    nobody waiting, the place becomes free.
//! 3. A ticket is abandoned under the lock when its child goes before being admitted,
//!    and skipped by step 2 (its queue entry is dropped when reached). A ticket found
//!    admitted when its child goes is a place that child holds: it is handed on as in
//!    step 2.
//! 4. A queued child registers its waker before it reads `admitted`, so an admission
//!    after that read wakes it.
//! 5. A group that aborts its children closes its limit first: from then on a place
//!    given back goes to nobody. Otherwise the first aborted child could hand its place
//!    to a waiting one that another worker starts (and may finish) before its own abort
//!    arrives.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use atomic_waker::AtomicWaker;

/// The places of a limited group, and the queue for them.
#[derive(Debug)]
pub(crate) struct Limit {
    state: Mutex<LimitState>,
}

#[derive(Debug)]
struct LimitState {
    free: usize,
    queue: VecDeque<Arc<Ticket>>,
    /// The group is aborting its children: places given back are kept, so no child
    /// waiting in line starts while its abort is on the way (step 5).
    closed: bool,
}

/// A queued child's place in line.
#[derive(Debug)]
struct Ticket {
    /// Set under the lock when the child is given a place (step 2).
    admitted: AtomicBool,
    /// Set under the lock when the child went before it was admitted (step 3).
    abandoned: AtomicBool,
    waker: AtomicWaker,
}

impl Limit {
    /// At most `places` children at once.
    pub(crate) fn new(places: usize) -> Limit {
        Limit {
            state: Mutex::new(LimitState {
                free: places,
                queue: VecDeque::new(),
                closed: false,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, LimitState> {
        // Nothing panics under this lock but an allocation failure.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Step 5: admits nobody from now on.
    pub(crate) fn close(&self) {
        self.lock().closed = true;
    }

    /// Step 2: a place is given back.
    fn hand_on(&self) {
        let mut state = self.lock();
        while !state.closed {
            let Some(ticket) = state.queue.pop_front() else {
                break;
            };
            if ticket.abandoned.load(Ordering::Relaxed) {
                continue;
            }
            ticket.admitted.store(true, Ordering::Release);
            drop(state);
            ticket.waker.wake();
            return;
        }
        state.free += 1;
    }
}

/// One child's claim on a place: none yet, queued, holding one, or gone.
#[derive(Debug)]
pub(crate) struct Admission {
    /// `None` for a group without a limit.
    limit: Option<Arc<Limit>>,
    state: State,
}

#[derive(Debug)]
enum State {
    Queued(Arc<Ticket>),
    Admitted,
    Left,
}

impl Admission {
    /// Asks for one of `limit`'s places (step 1); without a limit, admitted at once.
    pub(crate) fn new(limit: Option<Arc<Limit>>) -> Admission {
        let Some(places) = &limit else {
            return Admission {
                limit,
                state: State::Admitted,
            };
        };
        let mut queue = places.lock();
        let state = if queue.free > 0 && queue.queue.is_empty() {
            queue.free -= 1;
            State::Admitted
        } else {
            let ticket = Arc::new(Ticket {
                admitted: AtomicBool::new(false),
                abandoned: AtomicBool::new(false),
                waker: AtomicWaker::new(),
            });
            queue.queue.push_back(ticket.clone());
            State::Queued(ticket)
        };
        drop(queue);
        Admission { limit, state }
    }

    /// Ready once the child holds a place.
    pub(crate) fn poll_admitted(&mut self, cx: &Context<'_>) -> Poll<()> {
        match &self.state {
            State::Admitted | State::Left => Poll::Ready(()),
            State::Queued(ticket) => {
                // Step 4.
                ticket.waker.register(cx.waker());
                if ticket.admitted.load(Ordering::Acquire) {
                    self.state = State::Admitted;
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            }
        }
    }

    /// Gives up the child's place or its place in line; the child has ended.
    pub(crate) fn leave(&mut self) {
        let Some(limit) = &self.limit else { return };
        match std::mem::replace(&mut self.state, State::Left) {
            State::Admitted => limit.hand_on(),
            State::Queued(ticket) => {
                // Step 3.
                let state = limit.lock();
                if ticket.admitted.load(Ordering::Relaxed) {
                    drop(state);
                    limit.hand_on();
                } else {
                    ticket.abandoned.store(true, Ordering::Relaxed);
                }
            }
            State::Left => {}
        }
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.leave();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Waker;

    fn poll(admission: &mut Admission) -> Poll<()> {
        admission.poll_admitted(&Context::from_waker(Waker::noop()))
    }

    #[test]
    fn places_go_first_come_first_served_and_skip_those_who_left() {
        let limit = Some(Arc::new(Limit::new(1)));
        let mut children: Vec<_> = (0..4).map(|_| Admission::new(limit.clone())).collect();
        assert!(poll(&mut children[0]).is_ready());
        assert!(Admission::new(None)
            .poll_admitted(&Context::from_waker(Waker::noop()))
            .is_ready());
        for child in &mut children[1..] {
            assert!(poll(child).is_pending());
        }
        children[1].leave(); // gave up while queued
        children[0].leave();
        assert!(poll(&mut children[3]).is_pending());
        assert!(poll(&mut children[2]).is_ready());
        // Admitted but gone before noticing: the place goes on to the next in line.
        let mut late = Admission::new(limit.clone());
        assert!(poll(&mut late).is_pending());
        children[2].leave();
        drop(children);
        assert!(poll(&mut late).is_ready());
        late.leave();
        let mut last = Admission::new(limit);
        assert!(poll(&mut last).is_ready());
    }

    #[test]
    fn a_closed_limit_admits_nobody_waiting() {
        let limit = Arc::new(Limit::new(1));
        let mut holder = Admission::new(Some(limit.clone()));
        let mut waiting = Admission::new(Some(limit.clone()));
        assert!(poll(&mut holder).is_ready());
        assert!(poll(&mut waiting).is_pending());
        limit.close();
        holder.leave();
        assert!(poll(&mut waiting).is_pending());
        waiting.leave();
    }
}
