//! Which runtime (and which worker) the current thread belongs to.
//!
//! A worker thread points at its [`WorkerCore`] for as long as its loop runs; a thread
//! inside [`Runtime::block_on`](crate::Runtime::block_on) (or
//! [`Handle::block_on`](crate::Handle::block_on)) holds the runtime's [`Shared`].
//! `spawn`, timers and wakers look here to find the queue, timer queue or ring to use.

use std::cell::{Cell, RefCell};
use std::sync::Arc;

use crate::scheduler::worker::WorkerCore;
use crate::scheduler::Shared;

thread_local! {
    static WORKER: Cell<*const WorkerCore> = const { Cell::new(std::ptr::null()) };
    static BLOCK_ON: RefCell<Option<Arc<Shared>>> = const { RefCell::new(None) };
}

/// The runtime context of the current thread.
pub(crate) enum Current<'a> {
    /// A worker thread of a runtime.
    Worker(&'a WorkerCore),
    /// A thread running `block_on` of a runtime.
    BlockOn(&'a Arc<Shared>),
    /// No runtime.
    None,
}

/// Calls `f` with the current thread's context.
pub(crate) fn with_current<R>(f: impl FnOnce(Current<'_>) -> R) -> R {
    let worker = WORKER.with(Cell::get);
    if !worker.is_null() {
        // SAFETY: the pointer is set by `enter_worker` for the duration of the worker loop,
        // during which the `WorkerCore` it points at lives on that worker's stack and is
        // only ever accessed through shared references.
        return f(Current::Worker(unsafe { &*worker }));
    }
    BLOCK_ON.with(|b| match b.borrow().as_ref() {
        Some(shared) => f(Current::BlockOn(shared)),
        None => f(Current::None),
    })
}

/// Calls `f` with the runtime of the current thread's context, if it has one.
pub(crate) fn with_runtime<R>(f: impl FnOnce(Option<&Arc<Shared>>) -> R) -> R {
    with_current(|current| match current {
        Current::Worker(core) => f(Some(&core.shared)),
        Current::BlockOn(shared) => f(Some(shared)),
        Current::None => f(None),
    })
}

/// The worker core of the current thread, if it is a worker of the runtime `shared`
/// (compared by address, so callers need not hold a borrow of it).
pub(crate) fn with_worker_of<R>(
    shared: *const Shared,
    f: impl FnOnce(Option<&WorkerCore>) -> R,
) -> R {
    let worker = WORKER.with(Cell::get);
    if worker.is_null() {
        return f(None);
    }
    // SAFETY: as in `with_current`.
    let core = unsafe { &*worker };
    if std::ptr::eq(Arc::as_ptr(&core.shared), shared) {
        f(Some(core))
    } else {
        f(None)
    }
}

/// Whether the current thread is a worker of any runtime or inside `block_on`: where
/// blocking the thread on a future would stall the tasks that future waits for.
pub(crate) fn in_worker_or_block_on() -> bool {
    with_current(|c| !matches!(c, Current::None))
}

/// Marks the current thread as running `core` until the guard is dropped.
pub(crate) fn enter_worker(core: &WorkerCore) -> impl Drop + '_ {
    struct Exit;
    impl Drop for Exit {
        fn drop(&mut self) {
            WORKER.with(|w| w.set(std::ptr::null()));
        }
    }
    WORKER.with(|w| w.set(core));
    Exit
}

/// Marks the current thread as inside `block_on` of `shared` until the guard is dropped.
pub(crate) fn enter_block_on(shared: Arc<Shared>) -> impl Drop {
    struct Exit;
    impl Drop for Exit {
        fn drop(&mut self) {
            BLOCK_ON.with(|b| b.borrow_mut().take());
        }
    }
    BLOCK_ON.with(|b| *b.borrow_mut() = Some(shared));
    Exit
}
