//! Which runtime (and which worker) the current thread belongs to.
//!
//! A worker thread points at its [`WorkerCore`] for as long as its loop runs; a thread
//! inside [`Runtime::block_on`](crate::Runtime::block_on) (or
//! [`Handle::block_on`](crate::Handle::block_on)) holds the runtime's [`Shared`], and so
//! does a thread of a runtime's blocking pool, for as long as it lives. `spawn`, timers
//! and wakers look here to find the queue, timer queue or ring to use.

use std::cell::{Cell, RefCell};
use std::sync::Arc;

use crate::scheduler::worker::WorkerCore;
use crate::scheduler::Shared;

thread_local! {
    static WORKER: Cell<*const WorkerCore> = const { Cell::new(std::ptr::null()) };
    static BLOCK_ON: RefCell<Option<Arc<Shared>>> = const { RefCell::new(None) };
    /// The runtime whose blocking pool this thread belongs to. Looked at after
    /// `BLOCK_ON`: a blocking job may `block_on` a future of another runtime.
    static BLOCKING: RefCell<Option<Arc<Shared>>> = const { RefCell::new(None) };
}

/// The runtime context of the current thread.
pub(crate) enum Current<'a> {
    /// A worker thread of a runtime.
    Worker(&'a WorkerCore),
    /// A thread outside the workers with a runtime as its context: one running
    /// `block_on`, or one of the runtime's blocking-pool threads. Work it starts goes
    /// through the workers.
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
    BLOCK_ON.with(|block_on| {
        if let Some(shared) = block_on.borrow().as_ref() {
            return f(Current::BlockOn(shared));
        }
        BLOCKING.with(|blocking| match blocking.borrow().as_ref() {
            Some(shared) => f(Current::BlockOn(shared)),
            None => f(Current::None),
        })
    })
}

/// The readiness epoch of the current worker's driver (see
/// [`Readiness::seen_not_ready`](crate::driver::op::Readiness)); `None` off a worker or
/// under a ring.
pub(crate) fn readiness_epoch() -> Option<crate::driver::epoll::Epoch> {
    let worker = WORKER.with(Cell::get);
    if worker.is_null() {
        return None;
    }
    // SAFETY: as in `with_current`.
    unsafe { &*worker }.readiness_epoch()
}

/// Whether the rings of the current thread's runtime run `opcode` themselves: false on
/// the epoll driver, where the kernel lacks the opcode (or `RINGTIDE_IO_URING_WITHOUT`
/// names it), and outside a runtime. The file operations ask before they build a
/// request, and run on the blocking pool where the answer is no.
pub(crate) fn ring_runs(opcode: u8) -> bool {
    with_runtime(|shared| {
        shared.is_some_and(|s| crate::driver::uring::supports(s.ring_opcodes, opcode))
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
/// (A blocking-pool thread outside `block_on` may block.)
pub(crate) fn in_worker_or_block_on() -> bool {
    !WORKER.with(Cell::get).is_null() || BLOCK_ON.with(|b| b.borrow().is_some())
}

/// Whether the current thread is one of the blocking-pool threads of the runtime
/// `shared` (compared by address).
pub(crate) fn on_blocking_thread_of(shared: *const Shared) -> bool {
    BLOCKING.with(|b| {
        b.borrow()
            .as_ref()
            .is_some_and(|own| std::ptr::eq(Arc::as_ptr(own), shared))
    })
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

/// Marks the current thread as a blocking-pool thread of `shared` until the guard is
/// dropped.
pub(crate) fn enter_blocking_thread(shared: Arc<Shared>) -> impl Drop {
    struct Exit;
    impl Drop for Exit {
        fn drop(&mut self) {
            // Taken out first: the runtime's last reference may go with it, and its
            // destructor must find this thread outside the runtime.
            let shared = BLOCKING.with(|b| b.borrow_mut().take());
            drop(shared);
        }
    }
    BLOCKING.with(|b| *b.borrow_mut() = Some(shared));
    Exit
}
