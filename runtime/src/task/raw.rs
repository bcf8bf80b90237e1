//! The task allocation and its state machine.
//!
//! A task is one allocation: a [`Header`] of 64 bytes (the state word, the vtable,
//! the runtime's [`TaskMeta`] and the joiner's waker), followed by the future and, once it
//! has finished, its output in the same place. Three kinds of owner hold references to it,
//! counted in the state word: the [`Runnable`] (while the task is queued or running), each
//! [`Waker`], and the [`JoinHandle`](super::JoinHandle). The last one to let go frees it.
//!
//! An eager task ([`spawn_eager`]) is polled once by its spawner, in place, before it is
//! ever queued: the spawner's reference stands for the runnable's. If that poll finishes
//! while no waker it cloned is alive, the task has no other owner, so its outcome moves
//! into the handle (when it fits there) and its memory is freed at once: the task never
//! existed for anyone else.
//!
//! # The state word
//!
//! | bit | name | meaning |
//! |---|---|---|
//! | 0 | `SCHEDULED` | woken: a `Runnable` exists, or the task is running and was woken meanwhile |
//! | 1 | `RUNNING` | a worker is polling it |
//! | 2 | `COMPLETE` | the future is gone; the output (or the error) is stored until read |
//! | 3 | `HANDLE` | the `JoinHandle` is alive; without it, whoever completes the task drops the output |
//! | 4 | `AWAITER` | the joiner's waker is stored in the header |
//! | 6.. | references | one per `Runnable`, `Waker` and `JoinHandle` |
//!
//! Who touches what:
//!
//! * The future and the output belong to whoever holds `RUNNING` (set only by the
//!   `Runnable`, which exists once per `SCHEDULED`), until `COMPLETE` is set. After that
//!   the output belongs to the `JoinHandle`, or, if `HANDLE` was already clear when
//!   `COMPLETE` was set, to the completer, which drops it at once. A runner that finds
//!   `HANDLE` clear before it stores the output drops the output instead of storing it,
//!   and gives its reference back in the write that sets `COMPLETE`.
//! * The joiner's waker slot belongs to the `JoinHandle` while `AWAITER` is clear; the
//!   handle writes it, then sets `AWAITER` (unless `COMPLETE` came first), and clears
//!   `AWAITER` again before it touches the slot the next time. With `AWAITER` set when
//!   `COMPLETE` is set, the slot is the completer's: it takes the waker and wakes it, so
//!   a finished task holds no joiner's waker.
//!
//! Every transition is one compare-and-swap (or one `fetch_*`) on the state word, so the
//! order of the transitions is the order of those operations, and each side reads what
//! the other published with acquire/release on that word.

use std::alloc::Layout;
use std::any::Any;
use std::cell::UnsafeCell;
use std::future::Future;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::ptr::{self, NonNull};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

use super::join::InlineOutput;
use super::state::{AfterPoll, AfterWake, Complete, State};
use super::{JoinError, TaskMeta};
use crate::scheduler::Shared;

/// The start of every task: 64 bytes on 64-bit targets.
#[repr(C)]
pub(crate) struct Header {
    state: State,
    vtable: &'static Vtable,
    pub(crate) meta: TaskMeta,
    /// The joiner's waker; see the module docs for who may touch it.
    awaiter: UnsafeCell<Option<Waker>>,
}

/// What the type-erased parts of the runtime need to do with a task's future and output.
struct Vtable {
    /// Polls the future (the caller holds `RUNNING`).
    poll: unsafe fn(NonNull<Header>, &mut Context<'_>) -> Polled,
    /// Drops the future and stores a cancellation error (the caller holds `RUNNING`);
    /// `true` if the handle was gone and the error was dropped instead.
    cancel: unsafe fn(NonNull<Header>) -> bool,
    /// Moves the output to `*mut Result<T, JoinError>` (the caller owns the output).
    read_output: unsafe fn(NonNull<Header>, *mut ()),
    /// Drops the output in place (the caller owns the output).
    drop_output: unsafe fn(NonNull<Header>),
    /// Drops what is left and frees the allocation (the last reference is gone).
    dealloc: unsafe fn(NonNull<Header>),
}

/// What a poll of the future came to.
enum Polled {
    Pending,
    /// The future finished; `output_dropped` if the handle was gone, so that the output
    /// was dropped rather than stored.
    Ready {
        output_dropped: bool,
    },
}

#[repr(C)]
struct Cell<F: Future> {
    header: Header,
    stage: UnsafeCell<Stage<F>>,
}

enum Stage<F: Future> {
    Running(F),
    Finished(Result<F::Output, JoinError>),
    Consumed,
}

/// The one permission to poll a task, handed to the scheduler whenever the task is woken
/// (or spawned). Dropping it without running it cancels the task.
pub(crate) struct Runnable {
    ptr: NonNull<Header>,
}

// SAFETY: a `Runnable` is a counted reference to the allocation, whose shared parts are
// atomics. The future it polls may be `!Send`: such a task (`spawn_local`) is only ever
// queued on, run on and dropped on its owner thread (`Shared::schedule` routes it), which
// `spawn`'s caller promises.
unsafe impl Send for Runnable {}
// SAFETY: a shared `&Runnable` only reads the task's metadata, which is `Sync`.
unsafe impl Sync for Runnable {}

impl Runnable {
    pub(crate) fn metadata(&self) -> &TaskMeta {
        // SAFETY: the runnable holds a reference, so the header is alive.
        unsafe { &self.ptr.as_ref().meta }
    }

    /// Queues the task (spawning).
    pub(crate) fn schedule(self) {
        crate::scheduler::Shared::schedule(self);
    }

    /// Polls the task once. Wakes during the poll queue it again afterwards.
    pub(crate) fn run(self) {
        let ptr = ManuallyDrop::new(self).ptr;
        // SAFETY: the runnable's reference keeps the header alive.
        let header = unsafe { ptr.as_ref() };
        header.state.start_run();
        // The waker borrows the runnable's reference: it is not dropped.
        // SAFETY: the vtable's functions take a header pointer, which this is.
        let waker = ManuallyDrop::new(unsafe { Waker::from_raw(raw_waker(ptr)) });
        let mut cx = Context::from_waker(&waker);
        // SAFETY: we hold `RUNNING`, so the future is ours to poll.
        if let Polled::Ready { output_dropped } = unsafe { (header.vtable.poll)(ptr, &mut cx) } {
            // SAFETY: as above; the output is stored or dropped.
            unsafe { complete(ptr, output_dropped) };
            return;
        }
        match header.state.end_run() {
            AfterPoll::Reschedule => crate::scheduler::Shared::schedule(Runnable { ptr }),
            AfterPoll::Idle => {}
            // No waker, no handle: nothing can ever wake the task again.
            // SAFETY: that was the last reference.
            AfterPoll::Dealloc => unsafe { (header.vtable.dealloc)(ptr) },
        }
    }
}

impl Drop for Runnable {
    /// Cancels the task: its future is dropped here, and a joiner gets a cancellation error.
    fn drop(&mut self) {
        let ptr = self.ptr;
        // SAFETY: the runnable's reference keeps the header alive.
        let header = unsafe { ptr.as_ref() };
        header.state.start_run();
        // SAFETY: we hold `RUNNING`; then the output is stored or dropped.
        unsafe {
            let output_dropped = (header.vtable.cancel)(ptr);
            complete(ptr, output_dropped);
        }
    }
}

impl std::fmt::Debug for Runnable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runnable").finish_non_exhaustive()
    }
}

/// Allocates a task for `future` and returns its first runnable and the raw handle.
///
/// # Safety
///
/// If `future` is not `Send`, the caller makes sure the task is only polled and dropped
/// on the calling thread (through `meta.owner`, which `Shared::schedule` honours). The
/// handle touches only the output; `JoinHandle` is `Send` only when the output is.
pub(crate) unsafe fn spawn<F>(mut meta: TaskMeta, future: F) -> (Runnable, RawJoinHandle<F::Output>)
where
    F: Future,
{
    let (block, home) = super::alloc_block(&meta.shared, Layout::new::<Cell<F>>());
    meta.home = home;
    // SAFETY: the block came from `alloc_block` for a `Cell<F>`.
    let ptr = unsafe { init_cell(block, State::new(), meta, future) };
    (
        Runnable { ptr },
        RawJoinHandle {
            ptr,
            _output: PhantomData,
        },
    )
}

/// Writes a new task into `block`: its header, with `state`, and its future.
///
/// # Safety
///
/// `block` is fresh memory, large and aligned enough for a `Cell<F>`.
#[inline]
unsafe fn init_cell<F: Future>(
    block: NonNull<u8>,
    state: State,
    meta: TaskMeta,
    future: F,
) -> NonNull<Header> {
    let cell = block.cast::<Cell<F>>();
    // SAFETY: the caller's promise.
    unsafe {
        cell.as_ptr().write(Cell {
            header: Header {
                state,
                vtable: &Vtables::<F>::VTABLE,
                meta,
                awaiter: UnsafeCell::new(None),
            },
            stage: UnsafeCell::new(Stage::Running(future)),
        })
    };
    cell.cast()
}

/// What an eager task's first poll came to (see [`spawn_eager`]).
pub(crate) enum FirstPoll<T> {
    /// It finished, with an output small enough for the handle to hold (or a panic), and
    /// the task is gone: its memory is free again, or left to the wakers the poll cloned,
    /// the last of which frees it.
    Finished(Result<InlineOutput<T>, Box<dyn Any + Send + 'static>>),
    /// It is waiting (queued again if woken during the poll), or it finished with an
    /// output too large for the handle, which the task keeps until it is joined.
    Task(RawJoinHandle<T>),
}

/// Allocates a task for `future` on the runtime behind `shared` and polls it once at
/// once, on the calling thread, before anything else can reach it: an eager task's first
/// poll.
///
/// The future is polled where the task keeps it, so it never moves after its first poll
/// (as `Pin` demands), and with the task's own waker, so a waker the poll hands out (to a
/// timer, an operation, a channel) leads to the task whenever it is woken: a wake during
/// the poll sets `SCHEDULED`, and the task is queued once it returns `Pending`, as after
/// any poll. What saves the work of a task is the end: when the poll finishes and no waker
/// it cloned is alive (`State::only_spawner_refs`), nothing else refers to the task, so
/// the outcome goes straight into the handle and the memory is freed, with no write to
/// the state word. Were a waker still alive, the task completes without a handle
/// (`State::complete_taken`) and that waker's last clone frees it.
///
/// The task's reference to the runtime (`TaskMeta::shared`) starts out borrowed from
/// `shared`: during the poll nothing reads it (a wake of a running task only sets
/// `SCHEDULED`), and a task that finishes with no waker left is freed without dropping
/// it. Only a task that outlives this call, through its handle or a waker, gets a counted
/// reference (`own_runtime_reference`), before anything else can reach it.
///
/// The poll runs with a budget of its own (see `crate::coop`), and a panic in it goes
/// to the handle. The caller has checked that the runtime is not shutting down. Inlined:
/// the first poll of a small future then runs in the spawner's code, with nothing moved
/// through memory on the way in or out; what a waiting task needs is out of line.
#[inline]
pub(crate) fn spawn_eager<F>(shared: &Arc<Shared>, future: F) -> FirstPoll<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let layout = Layout::new::<Cell<F>>();
    let (block, home) = super::alloc_block(shared, layout);
    // SAFETY: a copy of the caller's reference, not counted (see above); the caller's
    // `shared` keeps the runtime's state alive until this returns.
    let borrowed = unsafe { Arc::from_raw(Arc::as_ptr(shared)) };
    let mut meta = TaskMeta::new(borrowed, super::ANY_WORKER);
    meta.home = home;
    // SAFETY: the block came from `alloc_block` for a `Cell<F>`.
    let ptr = unsafe { init_cell(block, State::new_running(), meta, future) };
    // The waker borrows the spawner's reference, as a worker's poll borrows the
    // runnable's.
    // SAFETY: the vtable's functions take a header pointer, which this is.
    let waker = ManuallyDrop::new(unsafe { Waker::from_raw(raw_waker(ptr)) });
    let mut cx = Context::from_waker(&waker);
    // SAFETY: the task starts `RUNNING`, so its future is ours.
    let stage = unsafe { Vtables::<F>::stage(ptr) };
    let Stage::Running(future) = stage else {
        unreachable!("a new task holds its future");
    };
    // SAFETY: the future lives in the task allocation, which never moves, and it is only
    // ever dropped in place.
    let future = unsafe { Pin::new_unchecked(future) };
    let polled =
        crate::coop::with_budget(|| catch_unwind(AssertUnwindSafe(|| future.poll(&mut cx))));
    let handle = || RawJoinHandle {
        ptr,
        _output: PhantomData,
    };
    let outcome = match polled {
        Ok(Poll::Pending) => {
            // SAFETY: we hold `RUNNING` and the spawner's reference, and the future
            // returned `Pending` to `cx`.
            unsafe { first_poll_pending(ptr, &cx) };
            return FirstPoll::Task(handle());
        }
        Ok(Poll::Ready(output)) => match InlineOutput::new(output) {
            Ok(output) => Ok(output),
            Err(output) => {
                // Too large for the handle: stored in the task, as a worker's poll does.
                // SAFETY: we hold the spawner's reference.
                unsafe { own_runtime_reference(ptr) };
                // SAFETY: as above.
                let header = unsafe { ptr.as_ref() };
                let output_dropped = Vtables::<F>::finish(header, stage, Ok(output));
                // SAFETY: we hold `RUNNING` and the spawner's reference; the output is
                // stored.
                unsafe { complete(ptr, output_dropped) };
                return FirstPoll::Task(handle());
            }
        },
        Err(payload) => Err(payload),
    };
    // The future's destructor may panic: swallowed, as in `Vtables::finish`.
    let _ = catch_unwind(AssertUnwindSafe(|| *stage = Stage::Consumed));
    // SAFETY: we hold the spawner's reference.
    if unsafe { ptr.as_ref() }.state.only_spawner_refs() {
        // Nothing is left to drop: the stage is `Consumed`, the joiner's waker slot
        // empty, the task never registered (it never returned `Pending`), and its
        // reference to the runtime is the caller's.
        // SAFETY: the block came from `alloc_block` for this layout, and no reference to
        // the task is left but ours, nor can one be made.
        unsafe { super::free_block(shared, home, block, layout) };
    } else {
        // SAFETY: we hold `RUNNING` and both spawner references, and the future is gone.
        unsafe { release_taken(ptr) };
    }
    FirstPoll::Finished(outcome)
}

/// Makes an eager task's borrowed reference to the runtime its own: the task is about to
/// outlive `spawn_eager`'s caller.
///
/// # Safety
///
/// `ptr` is an eager task in its first poll, whose reference the caller holds.
unsafe fn own_runtime_reference(ptr: NonNull<Header>) {
    // SAFETY: the caller's reference keeps the header alive.
    std::mem::forget(unsafe { ptr.as_ref() }.meta.shared.clone());
}

/// The end of an eager task's first poll, which returned `Pending`: from here on it is
/// like any other task. Out of line, and not generic: spawning a task that finishes at
/// once does not carry this.
///
/// # Safety
///
/// `ptr` is an eager task in its first poll, which has just returned `Pending` to `cx`;
/// the caller holds `RUNNING` and the spawner's reference, and gives up both.
#[inline(never)]
unsafe fn first_poll_pending(ptr: NonNull<Header>, cx: &Context<'_>) {
    // SAFETY: the caller's promise.
    unsafe { own_runtime_reference(ptr) };
    // SAFETY: the caller's reference keeps the header alive.
    let header = unsafe { ptr.as_ref() };
    super::register(&header.meta, cx);
    match header.state.end_run() {
        AfterPoll::Reschedule => crate::scheduler::Shared::schedule(Runnable { ptr }),
        AfterPoll::Idle => {}
        AfterPoll::Dealloc => unreachable!("the handle holds a reference"),
    }
}

/// The end of an eager task's first poll, which finished while a waker it cloned is still
/// alive: the outcome has gone to the handle, the task completes without one, and the
/// last waker frees it. Out of line and not generic, as `first_poll_pending`.
///
/// # Safety
///
/// `ptr` is an eager task in its first poll whose future is dropped; the caller holds
/// `RUNNING` and both references of the spawner, and gives them up.
#[cold]
#[inline(never)]
unsafe fn release_taken(ptr: NonNull<Header>) {
    // SAFETY: the caller's promise.
    unsafe { own_runtime_reference(ptr) };
    // SAFETY: the caller's references keep the header alive.
    let header = unsafe { ptr.as_ref() };
    let dealloc = header.vtable.dealloc;
    if header.state.complete_taken() {
        // SAFETY: the wakers were dropped since: no reference is left.
        unsafe { dealloc(ptr) };
    }
}

/// Moves a task whose output is stored, or dropped (`output_dropped`, see `Polled`), to
/// `COMPLETE` (the caller held `RUNNING`), hands the output to whoever owns it now, and
/// drops the caller's reference.
///
/// # Safety
///
/// The caller holds `RUNNING` and the runnable's reference, and the output is stored or
/// dropped as `output_dropped` says.
unsafe fn complete(ptr: NonNull<Header>, output_dropped: bool) {
    // SAFETY: the caller's reference keeps the header alive.
    let header = unsafe { ptr.as_ref() };
    let vtable = header.vtable;
    let completed = header.state.complete(output_dropped);
    if let Some(last) = completed.released {
        // Our reference went with `COMPLETE`: the task must not be touched any more,
        // unless that was the last one.
        if last {
            // SAFETY: no reference is left.
            unsafe { (vtable.dealloc)(ptr) };
        }
        return;
    }
    if completed.detached {
        // Nobody will read the output.
        // SAFETY: with `HANDLE` clear when `COMPLETE` was set, the output is ours.
        let _ = catch_unwind(AssertUnwindSafe(|| unsafe {
            (header.vtable.drop_output)(ptr)
        }));
    } else if completed.wake_awaiter {
        // SAFETY: with `AWAITER` set when `COMPLETE` was set, the slot is ours.
        if let Some(waker) = unsafe { (*header.awaiter.get()).take() } {
            // The joiner's waker is the user's code: a panic in it must not unwind
            // through the worker.
            let _ = catch_unwind(AssertUnwindSafe(|| waker.wake()));
        }
    }
    // SAFETY: the caller's reference.
    unsafe { drop_ref(ptr) };
}

/// Drops one reference; frees the task with the last one.
///
/// # Safety
///
/// The caller owns one reference to a live task.
unsafe fn drop_ref(ptr: NonNull<Header>) {
    // SAFETY: the caller's reference keeps the header alive until this decrement.
    let header = unsafe { ptr.as_ref() };
    let vtable = header.vtable;
    if header.state.ref_dec() {
        // SAFETY: that was the last reference.
        unsafe { (vtable.dealloc)(ptr) };
    }
}

struct Vtables<F>(PhantomData<F>);

impl<F: Future> Vtables<F> {
    const VTABLE: Vtable = Vtable {
        poll: Self::poll,
        cancel: Self::cancel,
        read_output: Self::read_output,
        drop_output: Self::drop_output,
        dealloc: Self::dealloc,
    };

    /// # Safety
    ///
    /// `ptr` is the header of a live `Cell<F>`, and the caller may use its stage as the
    /// vtable entry's contract says.
    #[allow(clippy::mut_from_ref)]
    unsafe fn stage<'a>(ptr: NonNull<Header>) -> &'a mut Stage<F> {
        // SAFETY: the header is the first field of a `#[repr(C)]` cell; exclusive access
        // is the caller's promise.
        unsafe { &mut *ptr.cast::<Cell<F>>().as_ref().stage.get() }
    }

    /// # Safety
    ///
    /// As for `Vtable::poll`: `ptr` is a live `Cell<F>` whose `RUNNING` the caller holds.
    unsafe fn poll(ptr: NonNull<Header>, cx: &mut Context<'_>) -> Polled {
        // SAFETY: the caller holds `RUNNING`, which makes the future ours.
        let (header, stage) = unsafe { (ptr.as_ref(), Self::stage(ptr)) };
        let meta = &header.meta;
        if meta.aborted.load(Ordering::Acquire) || meta.shared.is_shutdown() {
            // SAFETY: as above.
            let output_dropped = unsafe { Self::cancel(ptr) };
            return Polled::Ready { output_dropped };
        }
        let Stage::Running(future) = stage else {
            unreachable!("a finished task was polled");
        };
        // SAFETY: the future lives in the task allocation, which never moves, and it is
        // only ever dropped in place.
        let future = unsafe { Pin::new_unchecked(future) };
        let output = match catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
            Ok(Poll::Pending) => {
                super::register(meta, cx);
                return Polled::Pending;
            }
            Ok(Poll::Ready(output)) => Ok(output),
            Err(payload) => Err(JoinError::panic(payload)),
        };
        let output_dropped = Self::finish(header, stage, output);
        Polled::Ready { output_dropped }
    }

    /// # Safety
    ///
    /// As for `Vtable::cancel`: `ptr` is a live `Cell<F>` whose `RUNNING` the caller holds.
    unsafe fn cancel(ptr: NonNull<Header>) -> bool {
        // SAFETY: the caller holds `RUNNING`.
        let (header, stage) = unsafe { (ptr.as_ref(), Self::stage(ptr)) };
        Self::finish(header, stage, Err(JoinError::cancelled()))
    }

    /// Drops the future in place, then stores the output, or drops it if the handle is
    /// gone (panics from either destructor are swallowed: there is no one to hand them
    /// to, and unwinding must not reach the worker), then leaves the registry. Returns
    /// whether the output was dropped.
    fn finish(header: &Header, stage: &mut Stage<F>, output: Result<F::Output, JoinError>) -> bool {
        let _ = catch_unwind(AssertUnwindSafe(|| *stage = Stage::Consumed));
        let output_dropped = !header.state.has_handle();
        if output_dropped {
            let _ = catch_unwind(AssertUnwindSafe(|| drop(output)));
        } else {
            *stage = Stage::Finished(output);
        }
        // After the user's destructors, which may spawn: the registry must not look empty
        // to shutdown while a task is still being torn down.
        super::unregister(&header.meta);
        output_dropped
    }

    /// # Safety
    ///
    /// As for `Vtable::read_output`: `ptr` is a live `Cell<F>` whose output the caller
    /// owns and has not read, and `out` is valid for writing a `Result<F::Output,
    /// JoinError>`.
    unsafe fn read_output(ptr: NonNull<Header>, out: *mut ()) {
        // SAFETY: the caller owns the output.
        let stage = unsafe { Self::stage(ptr) };
        match std::mem::replace(stage, Stage::Consumed) {
            // SAFETY: the caller passes a place for this task's output type.
            Stage::Finished(output) => unsafe {
                out.cast::<Result<F::Output, JoinError>>().write(output)
            },
            _ => unreachable!("a task's output was read twice"),
        }
    }

    /// # Safety
    ///
    /// As for `Vtable::drop_output`: `ptr` is a live `Cell<F>` whose output the caller owns.
    unsafe fn drop_output(ptr: NonNull<Header>) {
        // SAFETY: the caller owns the output.
        *unsafe { Self::stage(ptr) } = Stage::Consumed;
    }

    /// # Safety
    ///
    /// As for `Vtable::dealloc`: `ptr` is a `Cell<F>` made by `spawn` whose last reference
    /// is gone.
    unsafe fn dealloc(ptr: NonNull<Header>) {
        let cell = ptr.cast::<Cell<F>>().as_ptr();
        // SAFETY: the last reference is gone, so nothing else can reach the cell. The
        // runtime's shared state owns the pool the block goes back to: it is moved out
        // first and dropped last. The rest of `TaskMeta` needs no dropping.
        let (shared, home) = unsafe {
            let meta = &raw mut (*cell).header.meta;
            (ptr::read(&raw const (*meta).shared), (*meta).home)
        };
        // A panic from what is left (a future that never completed, an output nobody
        // read, the joiner's waker) is swallowed, like any task destructor's.
        // SAFETY: as above; each field is dropped once.
        let _ = catch_unwind(AssertUnwindSafe(|| unsafe {
            ptr::drop_in_place(&raw mut (*cell).stage)
        }));
        // SAFETY: as above.
        let _ = catch_unwind(AssertUnwindSafe(|| unsafe {
            ptr::drop_in_place(&raw mut (*cell).header.awaiter)
        }));
        // SAFETY: the block came from `alloc_block` for this layout in `spawn` or
        // `spawn_eager`, and nothing uses it any more.
        unsafe { super::free_block(&shared, home, ptr.cast(), Layout::new::<Cell<F>>()) };
        drop(shared);
    }
}

/// The join side of a task, typed by its output: see [`JoinHandle`](super::JoinHandle).
pub(crate) struct RawJoinHandle<T> {
    ptr: NonNull<Header>,
    _output: PhantomData<T>,
}

impl<T> RawJoinHandle<T> {
    pub(crate) fn metadata(&self) -> &TaskMeta {
        // SAFETY: the handle holds a reference.
        unsafe { &self.ptr.as_ref().meta }
    }

    fn header(&self) -> &Header {
        // SAFETY: the handle holds a reference.
        unsafe { self.ptr.as_ref() }
    }

    pub(crate) fn is_finished(&self) -> bool {
        self.header().state.is_complete()
    }

    /// The output once the task is complete; otherwise registers `cx`'s waker.
    ///
    /// Call at most until it returns `Ready`.
    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Result<T, JoinError>> {
        let header = self.header();
        if header.state.is_complete() {
            return Poll::Ready(self.take_output());
        }
        // Take the slot back first if a waker is published in it.
        if header.state.has_awaiter() && header.state.unset_awaiter() == Err(Complete) {
            return Poll::Ready(self.take_output());
        }
        // SAFETY: `AWAITER` is clear and the task was not complete: the slot is ours.
        let slot = unsafe { &mut *header.awaiter.get() };
        if !slot.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            *slot = Some(cx.waker().clone());
        }
        match header.state.set_awaiter() {
            Ok(()) => Poll::Pending,
            Err(Complete) => {
                // Still ours: the completer saw no `AWAITER`.
                drop(slot.take());
                Poll::Ready(self.take_output())
            }
        }
    }

    fn take_output(&mut self) -> Result<T, JoinError> {
        let mut output = std::mem::MaybeUninit::<Result<T, JoinError>>::uninit();
        // SAFETY: the task is complete with `HANDLE` set, so the output is the handle's,
        // and `T` is the output type this handle was made with.
        unsafe {
            (self.header().vtable.read_output)(self.ptr, output.as_mut_ptr().cast());
            output.assume_init()
        }
    }
}

impl<T> Drop for RawJoinHandle<T> {
    fn drop(&mut self) {
        // The reference is dropped even if a destructor below panics.
        let _reference = DropRef(self.ptr);
        let header = self.header();
        if header.state.has_awaiter() && header.state.unset_awaiter().is_ok() {
            // SAFETY: `AWAITER` is clear again and the task not complete: the slot is
            // ours. The joiner is not waiting on this handle any more.
            drop(unsafe { (*header.awaiter.get()).take() });
        }
        if header.state.drop_handle() {
            // Completed while the handle was alive: the output (if not read) is ours.
            // SAFETY: as said; a read output left `Consumed` behind, a no-op to drop.
            unsafe { (header.vtable.drop_output)(self.ptr) };
        }
    }
}

/// Drops one reference to a task when it goes out of scope, unwinding included.
struct DropRef(NonNull<Header>);

impl Drop for DropRef {
    fn drop(&mut self) {
        // SAFETY: the reference this guard was made for is owned by it.
        unsafe { drop_ref(self.0) };
    }
}

fn raw_waker(ptr: NonNull<Header>) -> RawWaker {
    RawWaker::new(ptr.as_ptr().cast_const().cast(), &WAKER_VTABLE)
}

static WAKER_VTABLE: RawWakerVTable =
    RawWakerVTable::new(clone_waker, wake, wake_by_ref, drop_waker);

/// # Safety
///
/// `data` is a waker's data pointer: a task header the waker holds a reference to.
unsafe fn header<'a>(data: *const ()) -> &'a Header {
    // SAFETY: the caller's promise.
    unsafe { &*data.cast::<Header>() }
}

/// # Safety (for the four functions of `WAKER_VTABLE`)
///
/// `data` is the data pointer of a waker made by `raw_waker`, which holds one reference
/// to the task (borrowed from the runnable for the waker a poll is given); `wake` and
/// `drop_waker` consume it.
unsafe fn clone_waker(data: *const ()) -> RawWaker {
    // SAFETY: see above.
    let header = unsafe { header(data) };
    header.state.ref_inc();
    raw_waker(NonNull::from(header))
}

/// # Safety
///
/// See `clone_waker`.
unsafe fn wake(data: *const ()) {
    // SAFETY: see `clone_waker`.
    let header = unsafe { header(data) };
    let ptr = NonNull::from(header);
    match header.state.wake_by_val() {
        // The waker's reference is the runnable's now.
        AfterWake::Schedule => crate::scheduler::Shared::schedule(Runnable { ptr }),
        AfterWake::Nothing => {}
        // SAFETY: the waker's reference was the last.
        AfterWake::Dealloc => unsafe { (header.vtable.dealloc)(ptr) },
    }
}

/// # Safety
///
/// See `clone_waker`.
unsafe fn wake_by_ref(data: *const ()) {
    // SAFETY: see `clone_waker`.
    let header = unsafe { header(data) };
    if header.state.wake_by_ref() {
        // The reference `wake_by_ref` added is the runnable's.
        let ptr = NonNull::from(header);
        crate::scheduler::Shared::schedule(Runnable { ptr });
    }
}

/// # Safety
///
/// See `clone_waker`.
unsafe fn drop_waker(data: *const ()) {
    // SAFETY: the waker's reference (see `clone_waker`).
    unsafe { drop_ref(NonNull::from(header(data))) }
}
