//! One io_uring request and the memory it owns, from submission to completion.
//!
//! An [`Op`] is the future a task awaits; the request itself lives in a reference-counted
//! heap allocation ([`OpInner`]) shared by the future and the ring it was submitted on.
//! The ring holds one reference from submission until it reaps the completion, and the
//! kernel's `user_data` is the allocation's address. So whatever happens to the future
//! (dropped mid-flight, moved to another worker with its task), the operation's buffer,
//! socket address and file descriptor stay alive until the kernel is done with them.
//!
//! # States
//!
//! ```text
//! IDLE --first poll--> SUBMITTED --completion--> COMPLETED --poll--> (output taken)
//!                          |
//!                    future dropped --> DROPPED --completion--> orphaned (cleaned up)
//! ```
//!
//! The ring writes the completion, then swaps the state to `COMPLETED`; the future swaps
//! it to `DROPPED` when dropped first. Whichever side comes second owns the data (the
//! protocol, model-checked with loom, is in [`op_state`](super::op_state)): the future
//! takes the output; the ring hands a dropped operation's data to
//! [`Operation::orphaned`], which releases what the kernel produced (an accepted socket).
//! A dropped operation still in flight also asks its ring to cancel it.

use std::cell::UnsafeCell;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::ptr::NonNull;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use io_uring::squeue;

use super::op_state::{Dropped, FutureGone, OpState};
use super::Features;
use crate::context::{self, Current};
use crate::scheduler::WorkerShared;

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

/// One kind of request: the memory it needs and what its completion means.
pub(crate) trait Operation: Send + Sized + 'static {
    type Output;

    /// The submission entry, without `user_data`. Called once, on the ring's thread,
    /// with `self` at the heap address it keeps until the completion: pointers into
    /// `self` may go into the entry.
    fn sqe(&mut self, features: &Features) -> squeue::Entry;

    /// The output for a completion, or for an error that kept the request from the
    /// kernel (no runtime, runtime shut down).
    fn complete(self, result: io::Result<Completion>) -> Self::Output;

    /// The request completed after its future was dropped: release what the kernel
    /// produced. Buffers and descriptors the operation holds are dropped afterwards.
    fn orphaned(self, _completion: Completion) {}
}

/// The type-independent head of every operation allocation; `user_data` points here.
#[repr(C)]
struct Header {
    vtable: &'static VTable,
    state: OpState,
    /// Written by the ring before the state becomes `COMPLETED`, read after.
    completion: UnsafeCell<Completion>,
    /// Index in the owning driver's table of requests in flight; only that driver's
    /// thread touches it.
    slot: UnsafeCell<usize>,
}

struct VTable {
    sqe: unsafe fn(NonNull<Header>, &Features) -> squeue::Entry,
    complete: unsafe fn(NonNull<Header>, Completion) -> Option<Waker>,
    clone: unsafe fn(NonNull<Header>),
    drop: unsafe fn(NonNull<Header>),
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
        sqe: Self::sqe,
        complete: Self::complete,
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

    /// Records the completion; returns the waker of the future to wake, if it is alive.
    pub(crate) fn complete(self, completion: Completion) -> Option<Waker> {
        let ptr = self.0;
        std::mem::forget(self);
        // SAFETY: the vtable matches the allocation, and this reference is handed over.
        unsafe { (ptr.as_ref().vtable.complete)(ptr, completion) }
    }

    /// The future was dropped before the request reached a ring.
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

/// The future of one operation. Submitted on its first poll, to the ring of the worker
/// polling it (from `block_on` or a thread outside the runtime, to a worker's ring
/// through its inbox).
pub(crate) struct Op<T: Operation> {
    inner: Arc<OpInner<T>>,
    /// The worker whose ring has the request; `None` before submission.
    owner: Option<Arc<WorkerShared>>,
    /// The output was taken.
    done: bool,
}

// The operation's data lives in the shared allocation and is never pinned.
impl<T: Operation> Unpin for Op<T> {}

impl<T: Operation> Op<T> {
    pub(crate) fn new(data: T) -> Op<T> {
        Op {
            inner: Arc::new(OpInner {
                header: Header {
                    vtable: &OpInner::<T>::VTABLE,
                    state: OpState::new(),
                    completion: UnsafeCell::new(Completion::default()),
                    slot: UnsafeCell::new(usize::MAX),
                },
                data: UnsafeCell::new(Some(data)),
            }),
            owner: None,
            done: false,
        }
    }

    fn op_ref(&self) -> OpRef {
        let ptr = Arc::into_raw(self.inner.clone()) as *mut Header;
        // SAFETY: `Arc::into_raw` is never null; `Header` is the first field of the
        // `repr(C)` allocation.
        OpRef(unsafe { NonNull::new_unchecked(ptr) })
    }

    /// Hands the request to a ring. Returns an error when there is no runtime to run it.
    fn submit(&mut self) -> io::Result<()> {
        self.inner.header.state.submit();
        let op = self.op_ref();
        let owner = context::with_current(|current| match current {
            Current::Worker(core) => Ok(core.submit_op(op)),
            Current::BlockOn(shared) => {
                let worker = shared.workers[shared.next_timer_worker()].clone();
                worker.send_submit(op);
                Ok(worker)
            }
            Current::None => Err(io::Error::other(
                "ringtide I/O used outside a ringtide runtime: \
                 await it inside a task or inside Runtime::block_on",
            )),
        })?;
        self.owner = Some(owner);
        Ok(())
    }

    fn take_output(&mut self, result: io::Result<Completion>) -> T::Output {
        self.done = true;
        // SAFETY: the state is `COMPLETED` (or the request never left this future), so the
        // ring no longer touches `data`.
        let data = unsafe { (*self.inner.data.get()).take() };
        data.expect("operation polled after completion")
            .complete(result)
    }
}

impl<T: Operation> Future for Op<T> {
    type Output = T::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T::Output> {
        let this = self.get_mut();
        assert!(!this.done, "operation polled after completion");
        if this.owner.is_none() {
            if let Err(e) = this.submit() {
                this.inner.header.state.unsubmit();
                return Poll::Ready(this.take_output(Err(e)));
            }
        }
        let header = &this.inner.header;
        if !header.state.poll_completed(cx.waker()) {
            return Poll::Pending;
        }
        // SAFETY: `COMPLETED` was observed with acquire ordering after the ring wrote it.
        let completion = unsafe { *header.completion.get() };
        Poll::Ready(this.take_output(Ok(completion)))
    }
}

impl<T: Operation> Drop for Op<T> {
    fn drop(&mut self) {
        let Some(owner) = self.owner.take() else {
            return; // never submitted: the data is dropped with the allocation
        };
        if self.done {
            return;
        }
        match self.inner.header.state.drop_future() {
            Dropped::Idle => {}
            Dropped::Completed => {
                // The completion arrived but was never taken: release what it produced.
                // SAFETY: the state was `COMPLETED`, so the ring is done with `data` and
                // the completion.
                let completion = unsafe { *self.inner.header.completion.get() };
                // SAFETY: as above.
                if let Some(data) = unsafe { (*self.inner.data.get()).take() } {
                    data.orphaned(completion);
                }
            }
            Dropped::InFlight => owner.cancel(self.op_ref()),
        }
    }
}

impl<T: Operation> std::fmt::Debug for Op<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Op")
            .field("state", &self.inner.header.state)
            .field("done", &self.done)
            .finish()
    }
}
