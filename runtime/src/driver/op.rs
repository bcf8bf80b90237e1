//! One I/O request and the memory it owns, from submission to completion.
//!
//! A request lives in a reference-counted heap allocation ([`OpInner`]) shared by the
//! future a task awaits (which holds it through an [`OpCell`]) and the driver it was
//! submitted to. The driver holds one reference from submission until the request
//! completes; for io_uring, the kernel's `user_data` is the allocation's address. So
//! whatever happens to the future (dropped mid-flight, moved to another worker with its
//! task), the operation's buffer, socket address and file descriptor stay alive until
//! the kernel is done with them.
//!
//! Each kind of request ([`Operation`]) says how to run it both ways: as a submission
//! entry for a ring, and as one non-blocking system call ([`Operation::attempt`]) that a
//! readiness driver (or a ring without the request's opcode) repeats each time the
//! descriptor becomes ready.
//!
//! # States
//!
//! ```text
//! IDLE --first poll--> SUBMITTED --completion--> COMPLETED --poll--> (output taken)
//!                          |
//!                    future dropped --> DROPPED --completion--> orphaned (cleaned up)
//! ```
//!
//! The driver writes the completion, then swaps the state to `COMPLETED`; the future
//! swaps it to `DROPPED` when dropped first. Whichever side comes second owns the data (the
//! protocol, model-checked with loom, is in [`op_state`](super::op_state)): the future
//! takes the output; the driver hands a dropped operation's data to
//! [`Operation::orphaned`], which releases what the kernel produced (an accepted socket).
//! A dropped operation still in flight also asks its driver to cancel it.

use std::cell::UnsafeCell;
use std::io;
use std::os::fd::RawFd;
use std::ptr::NonNull;
use std::sync::Arc;
use std::task::{Poll, Waker};

use io_uring::squeue;

use super::multishot::{Delivered, Shot};
use super::op_state::{Dropped, FutureGone, OpState};
use super::uring::Features;

/// What a completion queue entry said.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Completion {
    /// The result: a count or new descriptor, or a negated errno.
    pub(crate) result: i32,
    /// `IORING_CQE_F_*` flags.
    #[allow(dead_code)]
    pub(crate) flags: u32,
}

impl Completion {
    pub(crate) fn io_result(self) -> io::Result<u32> {
        if self.result < 0 {
            Err(io::Error::from_raw_os_error(-self.result))
        } else {
            Ok(self.result as u32)
        }
    }
}

/// Which way a request waits for its descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Interest {
    /// Data to receive, a connection to accept, or end of stream.
    Read,
    /// Room to send, or a connection established.
    Write,
}

impl Interest {
    /// The `poll(2)` events that mean this direction is ready (or will never wait
    /// again: hang-ups and errors are always reported).
    pub(crate) fn poll_events(self) -> libc::c_short {
        match self {
            Interest::Read => libc::POLLIN | libc::POLLRDHUP,
            Interest::Write => libc::POLLOUT,
        }
    }
}

/// What a request waits for under a readiness driver.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Readiness {
    pub(crate) fd: RawFd,
    /// Tells this descriptor apart from an earlier one that had the same number: the
    /// readiness driver registers the number again when the key changes.
    pub(crate) key: u64,
    pub(crate) interest: Interest,
    /// The caller itself just found the descriptor not ready in this direction (a
    /// non-blocking system call failed with `EAGAIN`), and this was the readiness
    /// driver's [epoch](super::epoll::Poller::epoch) then: if no wait has ended since,
    /// the driver waits for the next edge without trying first.
    pub(crate) seen_not_ready: Option<super::epoll::Epoch>,
}

/// One kind of request: the memory it needs and what its completion means.
pub(crate) trait Operation: Send + Sized + 'static {
    type Output;

    /// The io_uring opcode of [`sqe`](Operation::sqe)'s entry: a ring whose kernel lacks
    /// it runs the request as [`attempt`](Operation::attempt)s instead.
    const OPCODE: u8;

    /// The request only waits for its descriptor to become ready and takes nothing from
    /// it: a readiness driver completes it on an edge without an attempt, and goes on to
    /// the next request waiting in that direction.
    const WAIT_ONLY: bool = false;

    /// The submission entry, without `user_data`. Called once, on the ring's thread,
    /// with `self` at the heap address it keeps until the completion: pointers into
    /// `self` may go into the entry.
    fn sqe(&mut self, features: &Features) -> squeue::Entry;

    /// The descriptor and the direction this request waits for.
    fn readiness(&self) -> Readiness;

    /// Tries the request once without blocking, on the driver's thread, with `self` at
    /// its heap address. Returns what a completion would carry: a count or a new
    /// descriptor, or a negated errno, `-EAGAIN` when the descriptor is not ready (the
    /// driver then calls again once it is).
    fn attempt(&mut self) -> i32;

    /// After an [`attempt`](Operation::attempt) that returned `result`: whether that
    /// shows the descriptor has nothing more to give in this direction for now, so that
    /// the next request waits for an edge instead of trying (a stream read or write
    /// shorter than asked for: the socket buffer was emptied, or filled).
    fn exhausted(&self, _result: i32) -> bool {
        false
    }

    /// Whether a ring should hand the request to the kernel at once rather than with the
    /// worker's next batch of submissions: for a request a device serves with nothing in
    /// front of it (an `O_DIRECT` read or write), so that the device works on it while
    /// the worker runs the tasks that queue the next ones. Costs one system call per
    /// request; a batch flushed later would leave the device idle meanwhile. Asked once,
    /// when the request is made.
    fn submit_at_once(&self) -> bool {
        false
    }

    /// The output for a completion, or for an error that kept the request from the
    /// kernel (no runtime, runtime shut down).
    fn complete(self, result: io::Result<Completion>) -> Self::Output;

    /// The request completed after its future was dropped: release what the kernel
    /// produced. Buffers and descriptors the operation holds are dropped afterwards.
    fn orphaned(self, _completion: Completion) {}
}

/// The type-independent head of every operation allocation; `user_data` points here.
/// (A multishot request's allocation starts with it too: see
/// [`multishot`](super::multishot).)
#[repr(C)]
pub(super) struct Header {
    pub(super) vtable: &'static VTable,
    pub(super) state: OpState,
    /// Written by the ring before the state becomes `COMPLETED`, read after.
    pub(super) completion: UnsafeCell<Completion>,
    /// Index in the owning driver's table of requests in flight; only that driver's
    /// thread touches it.
    pub(super) slot: UnsafeCell<usize>,
    /// [`Operation::submit_at_once`], as the request said when it was made.
    pub(super) submit_at_once: bool,
}

/// How a multishot request records one completion (see [`VTable::shot`]).
pub(super) type DeliverFn = unsafe fn(NonNull<Header>, Shot, bool) -> Delivered;

impl Header {
    /// The header of a request not yet submitted, whose allocation `vtable` serves.
    pub(super) fn new(vtable: &'static VTable, submit_at_once: bool) -> Header {
        Header {
            vtable,
            state: OpState::new(),
            completion: UnsafeCell::new(Completion::default()),
            slot: UnsafeCell::new(usize::MAX),
            submit_at_once,
        }
    }
}

pub(super) struct VTable {
    pub(super) opcode: u8,
    pub(super) wait_only: bool,
    pub(super) sqe: unsafe fn(NonNull<Header>, &Features) -> squeue::Entry,
    pub(super) readiness: unsafe fn(NonNull<Header>) -> Readiness,
    pub(super) attempt: unsafe fn(NonNull<Header>) -> i32,
    pub(super) exhausted: unsafe fn(NonNull<Header>, i32) -> bool,
    pub(super) complete: unsafe fn(NonNull<Header>, Completion) -> Option<Waker>,
    /// A multishot request's: records one of its completions (`more`: not the last),
    /// without consuming the ring's reference. `None` for a one-shot request.
    pub(super) shot: Option<DeliverFn>,
    /// Whether a ring with these features can run the request as itself.
    pub(super) runs_on: fn(&Features) -> bool,
    pub(super) clone: unsafe fn(NonNull<Header>),
    pub(super) drop: unsafe fn(NonNull<Header>),
}

#[repr(C)]
struct OpInner<T> {
    header: Header,
    /// `Some` until the output is taken or the orphan is cleaned up.
    data: UnsafeCell<Option<T>>,
}

// SAFETY: `data` is reached by one side at a time, as the state word decides (see the
// module docs); `completion` is written before the releasing swap to `COMPLETED` and read
// after the acquiring load that sees it; `slot` only by the owning ring's thread.
unsafe impl<T: Send> Send for OpInner<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for OpInner<T> {}

impl<T: Operation> OpInner<T> {
    const VTABLE: VTable = VTable {
        opcode: T::OPCODE,
        wait_only: T::WAIT_ONLY,
        sqe: Self::sqe,
        readiness: Self::readiness,
        attempt: Self::attempt,
        exhausted: Self::exhausted,
        complete: Self::complete,
        shot: None,
        runs_on: |_| true,
        clone: Self::clone_ref,
        drop: Self::drop_ref,
    };

    /// # Safety
    ///
    /// `ptr` must point at the header of a live `OpInner<T>` that is submitted, on the
    /// ring's thread, before the completion.
    unsafe fn sqe(ptr: NonNull<Header>, features: &Features) -> squeue::Entry {
        // SAFETY: the caller guarantees the type and liveness; before the completion the
        // future does not touch `data`, so the ring may borrow it mutably.
        let this = unsafe { ptr.cast::<OpInner<T>>().as_ref() };
        // SAFETY: as above.
        let data = unsafe { &mut *this.data.get() };
        data.as_mut()
            .expect("operation data taken before submission")
            .sqe(features)
    }

    /// # Safety
    ///
    /// `ptr` must point at the header of a live `OpInner<T>` that is with a driver (not
    /// yet completed).
    unsafe fn readiness(ptr: NonNull<Header>) -> Readiness {
        // SAFETY: the caller guarantees the type and liveness, and that the future does
        // not touch `data` meanwhile.
        let this = unsafe { ptr.cast::<OpInner<T>>().as_ref() };
        // SAFETY: as above.
        let data = unsafe { &*this.data.get() };
        data.as_ref()
            .expect("operation data taken before completion")
            .readiness()
    }

    /// # Safety
    ///
    /// `ptr` must point at the header of a live `OpInner<T>` that is with a driver (not
    /// yet completed), and the call must come from that driver's thread.
    unsafe fn attempt(ptr: NonNull<Header>) -> i32 {
        // SAFETY: the caller guarantees the type and liveness; before the completion the
        // future does not touch `data`, so the driver may borrow it mutably.
        let this = unsafe { ptr.cast::<OpInner<T>>().as_ref() };
        // SAFETY: as above.
        let data = unsafe { &mut *this.data.get() };
        data.as_mut()
            .expect("operation data taken before completion")
            .attempt()
    }

    /// # Safety
    ///
    /// As for [`attempt`](Self::attempt).
    unsafe fn exhausted(ptr: NonNull<Header>, result: i32) -> bool {
        // SAFETY: the caller guarantees the type and liveness, and that the future does
        // not touch `data` meanwhile.
        let this = unsafe { ptr.cast::<OpInner<T>>().as_ref() };
        // SAFETY: as above.
        let data = unsafe { &*this.data.get() };
        data.as_ref().is_some_and(|data| data.exhausted(result))
    }

    /// # Safety
    ///
    /// `ptr` must be a reference owned by the ring (from [`OpRef::into_raw`]) to a live
    /// `OpInner<T>`; it is consumed.
    unsafe fn complete(ptr: NonNull<Header>, completion: Completion) -> Option<Waker> {
        // SAFETY: the caller hands over a counted reference.
        let this = unsafe { Arc::from_raw(ptr.cast::<OpInner<T>>().as_ptr()) };
        // SAFETY: nobody reads `completion` before the swap below publishes it.
        unsafe { *this.header.completion.get() = completion };
        match this.header.state.complete() {
            Err(FutureGone) => {
                // SAFETY: the future is gone; the ring is the only side left.
                if let Some(data) = unsafe { (*this.data.get()).take() } {
                    data.orphaned(completion);
                }
                None
            }
            Ok(waker) => waker,
        }
    }

    /// # Safety
    ///
    /// `ptr` must point at the header of a live `OpInner<T>` held through an `Arc`.
    unsafe fn clone_ref(ptr: NonNull<Header>) {
        // SAFETY: the caller guarantees a live Arc allocation.
        unsafe { Arc::increment_strong_count(ptr.cast::<OpInner<T>>().as_ptr()) };
    }

    /// # Safety
    ///
    /// `ptr` must be a counted reference to a live `OpInner<T>`; it is released.
    unsafe fn drop_ref(ptr: NonNull<Header>) {
        // SAFETY: the caller hands over a counted reference.
        drop(unsafe { Arc::from_raw(ptr.cast::<OpInner<T>>().as_ptr()) });
    }
}

/// A counted, type-erased reference to an operation, held by rings and messages.
pub(crate) struct OpRef(NonNull<Header>);

// SAFETY: an `OpRef` is an `Arc` of a `Send + Sync` allocation (see `OpInner`).
unsafe impl Send for OpRef {}

impl OpRef {
    /// Turns a counted reference to a request's allocation into an `OpRef`.
    ///
    /// # Safety
    ///
    /// `A` must be `repr(C)` with a [`Header`] as its first field, whose vtable's
    /// functions are those of `A`.
    pub(super) unsafe fn from_arc<A>(arc: Arc<A>) -> OpRef {
        let ptr = Arc::into_raw(arc) as *mut Header;
        // SAFETY: `Arc::into_raw` is never null; the caller guarantees the header is
        // the allocation's first field.
        OpRef(unsafe { NonNull::new_unchecked(ptr) })
    }

    fn header(&self) -> &Header {
        // SAFETY: a counted reference keeps the allocation alive.
        unsafe { self.0.as_ref() }
    }

    /// The operation's `user_data`, transferring this reference to the ring.
    pub(crate) fn into_raw(self) -> u64 {
        let ptr = self.0.as_ptr() as u64;
        std::mem::forget(self);
        ptr
    }

    /// The address the operation is known by in its ring, without giving up the reference.
    pub(crate) fn user_data(&self) -> u64 {
        self.0.as_ptr() as u64
    }

    /// Takes back the reference given to the ring with [`OpRef::into_raw`].
    ///
    /// # Safety
    ///
    /// `user_data` must come from `into_raw` and be taken back once.
    pub(crate) unsafe fn from_raw(user_data: u64) -> OpRef {
        // SAFETY: `into_raw` gave a non-null pointer.
        OpRef(unsafe { NonNull::new_unchecked(user_data as *mut Header) })
    }

    /// The submission entry, without `user_data`.
    ///
    /// # Safety
    ///
    /// Called once per operation, by the ring it is submitted on.
    pub(crate) unsafe fn sqe(&self, features: &Features) -> squeue::Entry {
        // SAFETY: the vtable matches the allocation; the caller submits once.
        unsafe { (self.header().vtable.sqe)(self.0, features) }
    }

    /// The io_uring opcode of the request's entry.
    pub(crate) fn opcode(&self) -> u8 {
        self.header().vtable.opcode
    }

    /// Whether the request is multishot: many completions, the last without
    /// `IORING_CQE_F_MORE` (see [`multishot`](super::multishot)).
    pub(crate) fn is_multishot(&self) -> bool {
        self.header().vtable.shot.is_some()
    }

    /// Whether a ring with `features` runs the request as itself (a multishot request
    /// needs the kernel's multishot variant, and for a receive the ring's buffers).
    pub(crate) fn runs_on(&self, features: &Features) -> bool {
        (self.header().vtable.runs_on)(features)
    }

    /// Records one completion of a multishot request (`more`: others follow); returns
    /// the waker of its future, if that is alive, and whether to cancel the request for
    /// a consumer that fell behind. The ring keeps its reference while `more`; with the
    /// last completion it drops it afterwards.
    ///
    /// # Panics
    ///
    /// For a one-shot request.
    pub(crate) fn deliver(&self, shot: Shot, more: bool) -> Delivered {
        let deliver = self.header().vtable.shot.expect("a multishot request");
        // SAFETY: the vtable matches the allocation, which this reference keeps alive.
        unsafe { deliver(self.0, shot, more) }
    }

    /// See [`Operation::submit_at_once`].
    pub(crate) fn submit_at_once(&self) -> bool {
        self.header().submit_at_once
    }

    /// See [`Operation::WAIT_ONLY`].
    pub(crate) fn wait_only(&self) -> bool {
        self.header().vtable.wait_only
    }

    /// The descriptor and direction the request waits for.
    ///
    /// # Safety
    ///
    /// Called by the driver the request is with, before its completion.
    pub(crate) unsafe fn readiness(&self) -> Readiness {
        // SAFETY: the vtable matches the allocation; the caller holds the request.
        unsafe { (self.header().vtable.readiness)(self.0) }
    }

    /// Tries the request once without blocking (see [`Operation::attempt`]).
    ///
    /// # Safety
    ///
    /// Called on the thread of the driver the request is with, before its completion.
    pub(crate) unsafe fn attempt(&self) -> i32 {
        // SAFETY: the vtable matches the allocation; the caller holds the request.
        unsafe { (self.header().vtable.attempt)(self.0) }
    }

    /// Whether an attempt that returned `result` emptied (or filled) the descriptor (see
    /// [`Operation::exhausted`]).
    ///
    /// # Safety
    ///
    /// As for [`attempt`](Self::attempt), right after it.
    pub(crate) unsafe fn exhausted(&self, result: i32) -> bool {
        // SAFETY: the vtable matches the allocation; the caller holds the request.
        unsafe { (self.header().vtable.exhausted)(self.0, result) }
    }

    /// Records the completion; returns the waker of the future to wake, if it is alive.
    pub(crate) fn complete(self, completion: Completion) -> Option<Waker> {
        let ptr = self.0;
        std::mem::forget(self);
        // SAFETY: the vtable matches the allocation, and this reference is handed over.
        unsafe { (ptr.as_ref().vtable.complete)(ptr, completion) }
    }

    /// The future was dropped (before the request reached a driver, or while it waits
    /// there).
    pub(crate) fn is_dropped(&self) -> bool {
        self.header().state.is_dropped()
    }

    pub(crate) fn is_completed(&self) -> bool {
        self.header().state.is_completed()
    }

    pub(crate) fn slot(&self) -> usize {
        // SAFETY: only the owning ring's thread reads or writes the slot.
        unsafe { *self.header().slot.get() }
    }

    pub(crate) fn set_slot(&self, slot: usize) {
        // SAFETY: as in `slot`.
        unsafe { *self.header().slot.get() = slot };
    }
}

impl Clone for OpRef {
    fn clone(&self) -> OpRef {
        // SAFETY: the vtable matches the allocation, which this reference keeps alive.
        unsafe { (self.header().vtable.clone)(self.0) };
        OpRef(self.0)
    }
}

impl Drop for OpRef {
    fn drop(&mut self) {
        // SAFETY: this counted reference is released once.
        unsafe { (self.header().vtable.drop)(self.0) };
    }
}

impl std::fmt::Debug for OpRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("OpRef").field(&self.0).finish()
    }
}

/// The future's side of one request: creates it, hands it to a driver, and takes its
/// output or abandons it. Whatever the future does, the request's data is touched by one
/// side at a time, as the state word decides.
pub(crate) struct OpCell<T: Operation> {
    inner: Arc<OpInner<T>>,
}

impl<T: Operation> OpCell<T> {
    pub(crate) fn new(data: T) -> OpCell<T> {
        OpCell {
            inner: Arc::new(OpInner {
                header: Header::new(&OpInner::<T>::VTABLE, data.submit_at_once()),
                data: UnsafeCell::new(Some(data)),
            }),
        }
    }

    /// A counted reference to the request, for a driver or a message to one.
    pub(crate) fn op_ref(&self) -> OpRef {
        // SAFETY: `OpInner` is `repr(C)` with the header first, and its vtable is
        // `OpInner::<T>`'s.
        unsafe { OpRef::from_arc(self.inner.clone()) }
    }

    /// Marks the request as handed to a driver and returns the reference to hand over.
    /// From here until the completion the driver owns the data.
    pub(crate) fn submit(&self) -> OpRef {
        self.inner.header.state.submit();
        self.op_ref()
    }

    /// No driver could take the request (the reference from [`submit`](Self::submit)
    /// was dropped unused): the output for `error`.
    pub(crate) fn fail_submit(&mut self, error: io::Error) -> T::Output {
        self.inner.header.state.unsubmit();
        self.take_output(Err(error))
    }

    /// The output once the driver has recorded the completion; registers `waker`
    /// otherwise.
    pub(crate) fn poll(&mut self, waker: &Waker) -> Poll<T::Output> {
        let header = &self.inner.header;
        if !header.state.poll_completed(waker) {
            return Poll::Pending;
        }
        // SAFETY: `COMPLETED` was observed with acquire ordering after the driver wrote
        // the completion.
        let completion = unsafe { *header.completion.get() };
        Poll::Ready(self.take_output(Ok(completion)))
    }

    /// The future is dropped before taking the output (`&mut self`: no other user of
    /// this cell is running). Returns whether the request is
    /// still in flight, in which case its driver should be asked to cancel it (the
    /// driver owns the data from now on and releases it at the completion).
    pub(crate) fn abandon(&mut self) -> bool {
        match self.inner.header.state.drop_future() {
            Dropped::Idle => false,
            Dropped::Completed => {
                // The completion arrived but was never taken: release what it produced.
                // SAFETY: the state was `COMPLETED`, so the driver is done with `data`
                // and the completion.
                let completion = unsafe { *self.inner.header.completion.get() };
                // SAFETY: as above.
                if let Some(data) = unsafe { (*self.inner.data.get()).take() } {
                    data.orphaned(completion);
                }
                false
            }
            Dropped::InFlight => true,
        }
    }

    /// Only with the request idle or completed: no driver touches `data`.
    fn take_output(&mut self, result: io::Result<Completion>) -> T::Output {
        // SAFETY: the callers run with the state `IDLE` or `COMPLETED`, when the driver
        // no longer touches `data`; `&mut self` keeps other users of this cell out.
        let data = unsafe { (*self.inner.data.get()).take() };
        data.expect("operation polled after completion")
            .complete(result)
    }
}

impl<T: Operation> std::fmt::Debug for OpCell<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpCell")
            .field("state", &self.inner.header.state)
            .finish()
    }
}
