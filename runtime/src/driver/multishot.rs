//! Multishot requests: one submission, many completions (`IORING_CQE_F_MORE` on every
//! one but the last), as a multishot receive or accept posts them.
//!
//! A one-shot request's protocol ([`op_state`](super::op_state)) hands one completion
//! over once. A multishot request's completions instead queue up in its allocation
//! ([`Shot`]s behind a lock) until its future takes them; the ring keeps its reference
//! (and the request its entry in the ring's table) until the completion without
//! `F_MORE`, which also moves the state word to `COMPLETED` so that a later cancel finds
//! nothing to do.
//!
//! # Protocol
//!
//! The queue's lock orders the two sides; each step names who does it.
//!
//! 1. Ring, each completion: under the lock, if the future is gone the completion is
//!    released (after the lock: an accepted descriptor closed, a buffer given back to
//!    its ring); otherwise it is queued, and the last one marks the queue finished and
//!    completes the state word. The registered waker is taken under the lock and woken
//!    after.
//! 2. Future, each poll: under the lock, takes the oldest completion; if there is none
//!    and the queue is not finished, registers its waker. A completion queued after the
//!    lock is released takes that waker (step 1), so no wake-up is lost.
//! 3. Future, when dropped: under the lock, marks itself gone and takes every queued
//!    completion, releasing them after the lock; then swaps the state word to `DROPPED`.
//!    If the request had not finished, its ring is asked to cancel it, and step 1
//!    releases whatever still arrives, up to the last completion, when the ring drops
//!    its reference and with it the request's descriptor.
//!
//! # A consumer that falls behind
//!
//! An armed receive goes on taking bytes (and buffers) while nobody reads them. Once
//! [`MAX_QUEUED`] completions wait in the queue, step 1 asks the ring to cancel the
//! request; its last completion (`ECANCELED`, after what is queued) tells the future to
//! arm a new one when it gets there. Meanwhile the bytes stay in the socket, where TCP's
//! window holds the sender back, and one slow reader cannot take a worker's buffers from
//! every other stream.
//!
//! The request's own data (its descriptor) is read-only once submitted, so both sides
//! may read it at any time; the kernel writes only into provided buffers, whose
//! ownership moves with the [`Shot`] that names them (see [`buf_ring`](super::buf_ring)).

use std::collections::VecDeque;
use std::ptr::NonNull;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Poll, Waker};

use io_uring::squeue;

use super::buf_ring::RingBuf;
use super::op::{Completion, Header, OpRef, Readiness, VTable};
use super::op_state::Dropped;
use super::uring::Features;

/// Whether a multishot request ended with `result` because its ring cannot run it: the
/// driver refused it (`EOPNOTSUPP`), or the kernel does not know the multishot flag
/// (`EINVAL` before the request ever `delivered` anything).
pub(crate) fn unsupported(result: i32, delivered: bool) -> bool {
    result == -libc::EOPNOTSUPP || (result == -libc::EINVAL && !delivered)
}

/// Completions that may wait in a request's queue before the ring is asked to cancel it
/// (see the module docs).
pub(crate) const MAX_QUEUED: usize = 16;

/// What recording one completion asks of the ring.
#[derive(Debug, Default)]
pub(crate) struct Delivered {
    /// The request's future, to wake.
    pub(crate) waker: Option<Waker>,
    /// The queue just reached [`MAX_QUEUED`] with the request still armed: cancel it.
    pub(crate) cancel: bool,
}

/// One completion of a multishot request, with the provided buffer it filled, if any.
#[derive(Debug)]
pub(crate) struct Shot {
    pub(crate) completion: Completion,
    /// The buffer the kernel picked (`IORING_CQE_F_BUFFER`); dropping it gives it back.
    pub(crate) buf: Option<RingBuf>,
}

/// One kind of multishot request.
pub(crate) trait MultishotOperation: Send + Sync + Sized + 'static {
    /// The io_uring opcode of [`sqe`](Self::sqe)'s entry.
    const OPCODE: u8;

    /// The submission entry, without `user_data`. The entry may refer to nothing in
    /// `self` but its descriptor, which `self` keeps open.
    fn sqe(&self, features: &Features) -> squeue::Entry;

    /// The descriptor the request reads from.
    fn readiness(&self) -> Readiness;

    /// Whether a ring with `features` has this multishot variant (and what it needs).
    fn runs_on(features: &Features) -> bool;

    /// A completion arrived, or was queued, after the future was dropped: release what
    /// the kernel produced besides a buffer (which goes back when the shot is dropped).
    fn orphaned(&self, _shot: &Shot) {}
}

#[derive(Debug, Default)]
struct ShotQueue {
    shots: VecDeque<Shot>,
    /// The last completion (without `F_MORE`) is queued or released.
    finished: bool,
    /// The future is gone.
    dropped: bool,
    /// The ring was asked to cancel the request for a full queue.
    capped: bool,
    waker: Option<Waker>,
}

#[repr(C)]
struct MultiInner<T> {
    header: Header,
    data: T,
    queue: Mutex<ShotQueue>,
}

// SAFETY: `completion` and `slot` of the header are touched as for one-shot requests
// (see `op`'s `OpInner`); `data` is only read; the queue has its lock.
unsafe impl<T: Send + Sync> Send for MultiInner<T> {}
// SAFETY: as above.
unsafe impl<T: Send + Sync> Sync for MultiInner<T> {}

impl<T: MultishotOperation> MultiInner<T> {
    const VTABLE: VTable = VTable {
        opcode: T::OPCODE,
        wait_only: false,
        sqe: Self::sqe,
        readiness: Self::readiness,
        attempt: Self::attempt,
        exhausted: |_, _| false,
        complete: Self::complete,
        shot: Some(Self::shot),
        runs_on: T::runs_on,
        clone: Self::clone_ref,
        drop: Self::drop_ref,
    };

    fn queue(&self) -> MutexGuard<'_, ShotQueue> {
        // A panic never happens under this lock (only queue operations run there).
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Step 1 of the protocol.
    fn deliver(&self, shot: Shot, more: bool) -> Delivered {
        let mut queue = self.queue();
        if queue.dropped {
            queue.finished |= !more;
            drop(queue);
            self.data.orphaned(&shot);
            if !more {
                let _ = self.header.state.complete();
            }
            return Delivered::default();
        }
        queue.shots.push_back(shot);
        if !more {
            queue.finished = true;
            let _ = self.header.state.complete();
        }
        let cancel = more && !queue.capped && queue.shots.len() >= MAX_QUEUED;
        queue.capped |= cancel;
        Delivered {
            waker: queue.waker.take(),
            cancel,
        }
    }

    /// # Safety
    ///
    /// `ptr` must point at the header of a live `MultiInner<T>`.
    unsafe fn this<'a>(ptr: NonNull<Header>) -> &'a MultiInner<T> {
        // SAFETY: the caller guarantees the type and liveness; every field is read
        // through shared references (the queue has its lock).
        unsafe { ptr.cast::<MultiInner<T>>().as_ref() }
    }

    /// # Safety
    ///
    /// As for [`this`](Self::this).
    unsafe fn sqe(ptr: NonNull<Header>, features: &Features) -> squeue::Entry {
        // SAFETY: forwarded.
        unsafe { Self::this(ptr) }.data.sqe(features)
    }

    /// # Safety
    ///
    /// As for [`this`](Self::this).
    unsafe fn readiness(ptr: NonNull<Header>) -> Readiness {
        // SAFETY: forwarded.
        unsafe { Self::this(ptr) }.data.readiness()
    }

    /// A multishot request has no one-call form: a driver that cannot run it as itself
    /// ends it with `EOPNOTSUPP`, and the caller falls back to one-shot requests.
    ///
    /// # Safety
    ///
    /// None needed; `unsafe` for the vtable's signature.
    unsafe fn attempt(_: NonNull<Header>) -> i32 {
        -libc::EOPNOTSUPP
    }

    /// The request ended outside the ring's multishot path (a driver that cannot run
    /// it, a ring shutting down): one last, bare completion.
    ///
    /// # Safety
    ///
    /// `ptr` must be a counted reference to a live `MultiInner<T>`; it is consumed.
    unsafe fn complete(ptr: NonNull<Header>, completion: Completion) -> Option<Waker> {
        // SAFETY: the caller hands over a counted reference.
        let this = unsafe { Arc::from_raw(ptr.cast::<MultiInner<T>>().as_ptr()) };
        let shot = Shot {
            completion,
            buf: None,
        };
        this.deliver(shot, false).waker
    }

    /// # Safety
    ///
    /// As for [`this`](Self::this).
    unsafe fn shot(ptr: NonNull<Header>, shot: Shot, more: bool) -> Delivered {
        // SAFETY: forwarded.
        unsafe { Self::this(ptr) }.deliver(shot, more)
    }

    /// # Safety
    ///
    /// `ptr` must point at the header of a live `MultiInner<T>` held through an `Arc`.
    unsafe fn clone_ref(ptr: NonNull<Header>) {
        // SAFETY: the caller guarantees a live Arc allocation.
        unsafe { Arc::increment_strong_count(ptr.cast::<MultiInner<T>>().as_ptr()) };
    }

    /// # Safety
    ///
    /// `ptr` must be a counted reference to a live `MultiInner<T>`; it is released.
    unsafe fn drop_ref(ptr: NonNull<Header>) {
        // SAFETY: the caller hands over a counted reference.
        drop(unsafe { Arc::from_raw(ptr.cast::<MultiInner<T>>().as_ptr()) });
    }
}

/// The future's side of one multishot request.
pub(crate) struct MultiCell<T: MultishotOperation> {
    inner: Arc<MultiInner<T>>,
}

impl<T: MultishotOperation> MultiCell<T> {
    pub(crate) fn new(data: T) -> MultiCell<T> {
        MultiCell {
            inner: Arc::new(MultiInner {
                header: Header::new(&MultiInner::<T>::VTABLE, false),
                data,
                queue: Mutex::new(ShotQueue::default()),
            }),
        }
    }

    /// A counted reference to the request, for a driver or a message to one.
    pub(crate) fn op_ref(&self) -> OpRef {
        // SAFETY: `MultiInner` is `repr(C)` with the header first, and its vtable is
        // `MultiInner::<T>`'s.
        unsafe { OpRef::from_arc(self.inner.clone()) }
    }

    /// Marks the request as handed to a driver and returns the reference to hand over.
    pub(crate) fn submit(&self) -> OpRef {
        self.inner.header.state.submit();
        self.op_ref()
    }

    /// No driver could take the request: it stays idle, and finished.
    pub(crate) fn fail_submit(&self) {
        self.inner.header.state.unsubmit();
        self.inner.queue().finished = true;
    }

    /// Step 2 of the protocol: the oldest completion; `None` once the last one was
    /// taken; registers `waker` while more may come.
    pub(crate) fn poll_next(&self, waker: &Waker) -> Poll<Option<Shot>> {
        let mut queue = self.inner.queue();
        if let Some(shot) = queue.shots.pop_front() {
            return Poll::Ready(Some(shot));
        }
        if queue.finished {
            return Poll::Ready(None);
        }
        match &mut queue.waker {
            Some(w) if w.will_wake(waker) => {}
            slot => *slot = Some(waker.clone()),
        }
        Poll::Pending
    }

    /// Step 3 of the protocol. Returns whether the request is still armed, in which
    /// case its driver should be asked to cancel it.
    pub(crate) fn abandon(&mut self) -> bool {
        let shots = {
            let mut queue = self.inner.queue();
            queue.dropped = true;
            queue.waker = None;
            std::mem::take(&mut queue.shots)
        };
        for shot in shots {
            self.inner.data.orphaned(&shot);
        }
        matches!(self.inner.header.state.drop_future(), Dropped::InFlight)
    }
}

impl<T: MultishotOperation> std::fmt::Debug for MultiCell<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MultiCell")
            .field("state", &self.inner.header.state)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::{Poll, Wake, Waker};

    use io_uring::{opcode, squeue};

    use super::{MultiCell, MultishotOperation, Shot, MAX_QUEUED};
    use crate::driver::op::{Completion, Interest, Readiness};
    use crate::driver::uring::Features;

    /// A request that counts the completions released for want of a future.
    struct Counted(Arc<AtomicUsize>);

    impl MultishotOperation for Counted {
        const OPCODE: u8 = opcode::Nop::CODE;

        fn sqe(&self, _: &Features) -> squeue::Entry {
            opcode::Nop::new().build()
        }

        fn readiness(&self) -> Readiness {
            Readiness {
                fd: -1,
                key: 0,
                interest: Interest::Read,
                seen_not_ready: None,
            }
        }

        fn runs_on(_: &Features) -> bool {
            true
        }

        fn orphaned(&self, _: &Shot) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    struct Wakes(AtomicUsize);

    impl Wake for Wakes {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn shot(result: i32) -> Shot {
        Shot {
            completion: Completion { result, flags: 0 },
            buf: None,
        }
    }

    fn result(poll: Poll<Option<Shot>>) -> Option<i32> {
        match poll {
            Poll::Ready(shot) => shot.map(|s| s.completion.result),
            Poll::Pending => panic!("nothing queued"),
        }
    }

    #[test]
    fn completions_are_taken_in_order_and_each_wakes_the_registered_future() {
        let orphans = Arc::new(AtomicUsize::new(0));
        let mut cell = MultiCell::new(Counted(orphans.clone()));
        let wakes = Arc::new(Wakes(AtomicUsize::new(0)));
        let waker = Waker::from(wakes.clone());
        let ring = cell.submit();
        assert!(cell.poll_next(&waker).is_pending());
        for (n, more) in [(1, true), (2, true), (3, false)] {
            if let Some(w) = ring.deliver(shot(n), more).waker {
                w.wake();
            }
        }
        drop(ring);
        // Registered once: the first completion took the waker.
        assert_eq!(wakes.0.load(Ordering::SeqCst), 1);
        assert_eq!(result(cell.poll_next(&waker)), Some(1));
        assert_eq!(result(cell.poll_next(&waker)), Some(2));
        assert_eq!(result(cell.poll_next(&waker)), Some(3));
        assert_eq!(result(cell.poll_next(&waker)), None);
        assert!(!cell.abandon(), "a finished request needs no cancel");
        assert_eq!(orphans.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn a_full_queue_asks_for_one_cancel() {
        let cell = MultiCell::new(Counted(Arc::new(AtomicUsize::new(0))));
        let ring = cell.submit();
        let cancels: Vec<bool> = (0..MAX_QUEUED + 3)
            .map(|n| ring.deliver(shot(n as i32 + 1), true).cancel)
            .collect();
        assert_eq!(cancels.iter().filter(|&&c| c).count(), 1);
        assert!(
            cancels[MAX_QUEUED - 1],
            "asked when the queue reached the bound"
        );
        assert!(!ring.deliver(shot(-libc::ECANCELED), false).cancel);
        drop(ring);
        for n in 1..=MAX_QUEUED + 3 {
            assert_eq!(result(cell.poll_next(Waker::noop())), Some(n as i32));
        }
        assert_eq!(
            result(cell.poll_next(Waker::noop())),
            Some(-libc::ECANCELED)
        );
        assert_eq!(result(cell.poll_next(Waker::noop())), None);
    }

    #[test]
    fn an_abandoned_request_releases_queued_and_later_completions() {
        let orphans = Arc::new(AtomicUsize::new(0));
        let mut cell = MultiCell::new(Counted(orphans.clone()));
        let ring = cell.submit();
        assert!(ring.deliver(shot(10), true).waker.is_none());
        assert!(ring.deliver(shot(11), true).waker.is_none());
        assert!(cell.abandon(), "still armed: its ring must cancel it");
        assert_eq!(orphans.load(Ordering::SeqCst), 2, "the queued ones");
        assert!(ring.deliver(shot(12), true).waker.is_none());
        assert!(ring.deliver(shot(-libc::ECANCELED), false).waker.is_none());
        assert_eq!(
            orphans.load(Ordering::SeqCst),
            4,
            "and those that came after"
        );
        assert!(ring.is_completed());
    }
}
