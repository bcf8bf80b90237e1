//! Tasks: spawning, cancelling, joining, yielding.
//!
//! A task is one heap allocation: its state word, a `TaskMeta` that the runtime reads, the
//! joiner's waker, and the future (later its output); the state machine is in `raw`.
//! Around every poll of the user's future:
//!
//! * panics are caught, so a panicking task never unwinds through a worker; the payload
//!   becomes the task's output as a [`JoinError`];
//! * the abort flag (and runtime shutdown) is checked before the poll, and the user's
//!   future is then dropped *inside* the poll, so by the time a [`JoinHandle`] reports a
//!   cancellation, the future's destructor has finished;
//! * the first time the task returns `Pending` it enters the runtime's registry (with its
//!   waker), and it leaves once its future is dropped: see "Reaching every task" below.
//!
//! # Reaching every task
//!
//! Abort and shutdown must reach tasks that nobody is about to poll. A task that has never
//! returned `Pending` is always in a run queue or being polled, so a worker will see its
//! abort flag (or the shutdown flag) at its next poll; only a task that returned `Pending`
//! can sit where no queue sees it, holding its waker in a timer, a ring operation or a
//! user's channel. Such a task is registered, once, right after that first `Pending`, so
//! a task that completes in its first poll never touches the registry.
//!
//! Registration and the flags form a handshake that loses no task:
//!
//! 1. The poller inserts the waker, publishes the key, then reads the abort and shutdown
//!    flags; if either is set it wakes the task itself.
//! 2. `abort` sets the flag, then reads the key and wakes the registered waker.
//!    Shutdown sets its flag, then wakes every registered waker (under the registry's
//!    locks).
//!
//! The key and the abort flag are written and read with sequentially consistent
//! operations, so either `abort` sees the key or the poller sees the flag; for shutdown,
//! the shard lock orders the insertion against the snapshot in the same way.
//!
//! # Examples
//!
//! ```
//! let rt = ringtide::Runtime::new()?;
//! let sum = rt.block_on(async {
//!     let handles: Vec<_> = (0..10u64).map(|i| ringtide::spawn(async move { i * i })).collect();
//!     let mut sum = 0;
//!     for h in handles {
//!         sum += h.await.unwrap();
//!     }
//!     sum
//! });
//! assert_eq!(sum, 285);
//! # Ok::<(), std::io::Error>(())
//! ```

pub(crate) mod blocking;
mod join;
pub(crate) mod pool;
mod raw;
mod state;
mod yield_now;

pub use blocking::spawn_blocking;
pub use join::{JoinError, JoinHandle};
pub use yield_now::{yield_now, YieldNow};

use std::alloc::Layout;
use std::future::Future;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Context;

use crate::context;
use crate::scheduler::registry::NO_KEY;
use crate::scheduler::Shared;

/// Worker index of a task that any worker may run.
pub(crate) const ANY_WORKER: usize = usize::MAX;

/// Worker index of a blocking job: its runnable goes to the runtime's blocking pool.
pub(crate) const BLOCKING: usize = usize::MAX - 1;

/// What the runtime keeps in every task's header.
#[derive(Debug)]
pub(crate) struct TaskMeta {
    pub(crate) shared: Arc<Shared>,
    /// Set by `JoinHandle::abort`; read before every poll.
    pub(crate) aborted: AtomicBool,
    /// The task's key in the registry, or `NO_KEY` until the task first returns
    /// `Pending`; written once, by the poller.
    pub(crate) key: AtomicUsize,
    /// The worker a `spawn_local` task is bound to, `BLOCKING` for a blocking job, or
    /// `ANY_WORKER`.
    pub(crate) owner: usize,
    /// The worker whose pool holds the task's memory, or `NO_HOME` for the global
    /// allocator (see `alloc_block`). A `u32`, so that the metadata stays within four
    /// words.
    pub(crate) home: u32,
}

impl TaskMeta {
    /// The metadata of a new task, whose `home` is set where its memory is allocated.
    pub(crate) fn new(shared: Arc<Shared>, owner: usize) -> TaskMeta {
        TaskMeta {
            shared,
            aborted: AtomicBool::new(false),
            key: AtomicUsize::new(NO_KEY),
            owner,
            home: NO_HOME,
        }
    }
}

/// `TaskMeta::home` of a task whose memory comes from the global allocator.
pub(crate) const NO_HOME: u32 = u32::MAX;

pub(crate) use raw::Runnable;

/// Spawns `future` on the runtime behind `shared`.
///
/// `owner` is `ANY_WORKER` for a `Send` task, `BLOCKING` for a blocking job (also
/// `Send`); otherwise the index of the worker thread that is calling this function, which
/// is the only thread that will ever poll or drop the future.
pub(crate) fn spawn<F>(shared: &Arc<Shared>, future: F, owner: usize) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let meta = TaskMeta::new(shared.clone(), owner);
    // SAFETY: a future that is not `Send` is only polled and dropped on its original
    // thread: callers pass `ANY_WORKER` and `BLOCKING` only for `Send` futures (the
    // public spawning functions require it), and for a local task `owner` is the calling
    // worker; `Shared::schedule` routes such a task's runnable to that worker alone, and
    // never drops it anywhere else. The handle only touches the output, and is `Send`
    // only when the output is.
    let (runnable, handle) = unsafe { raw::spawn(meta, future) };
    runnable.schedule();
    JoinHandle::new(handle)
}

/// Nested eager polls past which a spawn is queued instead: an eager task that spawns
/// eagerly runs on its spawner's stack, and so on down.
const EAGER_DEPTH_LIMIT: u32 = 16;

thread_local! {
    /// Eager polls running on this thread, one inside the other.
    static EAGER_DEPTH: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Spawns a `Send` task and polls it once at once, on the calling worker's thread, as
/// a worker would run it from its queue; a task that completes in that poll is never
/// queued, and one whose output fits in its handle (see `raw::spawn_eager`) gives its
/// memory back before this returns. Past [`EAGER_DEPTH_LIMIT`] nested eager polls, or
/// once the runtime is shutting down, the task is queued instead (and a shutdown cancels
/// it there).
///
/// Must be called on a worker thread of `shared`'s runtime.
#[inline]
pub(crate) fn spawn_eager<F>(shared: &Arc<Shared>, future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let depth = EAGER_DEPTH.with(|d| d.get());
    if depth >= EAGER_DEPTH_LIMIT || shared.is_shutdown() {
        return spawn(shared, future, ANY_WORKER);
    }
    struct Leave;
    impl Drop for Leave {
        #[inline]
        fn drop(&mut self) {
            EAGER_DEPTH.with(|d| d.set(d.get() - 1));
        }
    }
    EAGER_DEPTH.with(|d| d.set(depth + 1));
    let _leave = Leave;
    match raw::spawn_eager(shared, future) {
        raw::FirstPoll::Finished(outcome) => JoinHandle::finished(outcome),
        raw::FirstPoll::Task(raw) => JoinHandle::new(raw),
    }
}

/// Step 1 of the handshake in the module docs, the first time the task is idle.
fn register(meta: &TaskMeta, cx: &Context<'_>) {
    if meta.key.load(Ordering::Relaxed) != NO_KEY {
        return;
    }
    let shared = &meta.shared;
    let worker = context::with_worker_of(Arc::as_ptr(shared), |core| core.map(|c| c.index));
    let key = shared.registry.insert(cx.waker().clone(), worker);
    meta.key.store(key, Ordering::SeqCst);
    if meta.aborted.load(Ordering::SeqCst) || shared.is_shutdown() {
        cx.waker().wake_by_ref();
    }
}

/// Takes a task whose future has been dropped out of the registry.
fn unregister(meta: &TaskMeta) {
    let key = meta.key.load(Ordering::Relaxed);
    if key == NO_KEY {
        return;
    }
    // Workers remove keys in batches (see `WorkerCore::unregister`); other threads, and
    // workers while shutting down, remove them at once.
    let batched = context::with_worker_of(Arc::as_ptr(&meta.shared), |core| {
        core.is_some_and(|core| core.unregister(key))
    });
    if !batched {
        drop(meta.shared.registry.remove(key));
    }
}

/// Memory for a task: a block of the calling worker's pool if this is one of `shared`'s
/// workers and the pool serves `layout`, with that worker's index; otherwise from the
/// global allocator, with `NO_HOME`.
/// Inlined so that the size class, a constant for each task type, is computed at compile
/// time.
#[inline]
fn alloc_block(shared: &Arc<Shared>, layout: Layout) -> (NonNull<u8>, u32) {
    if let Some(class) = pool::class_of(layout).filter(|_| pool::enabled()) {
        let pooled = context::with_worker_of(Arc::as_ptr(shared), |core| {
            let core = core?;
            let home = u32::try_from(core.index).ok()?;
            let block = core.pool.alloc(&shared.workers[core.index].pool, class);
            Some((block, home))
        });
        if let Some(pooled) = pooled {
            return pooled;
        }
    }
    // SAFETY: every task layout has a non-zero size (it includes the header).
    let block = unsafe { std::alloc::alloc(layout) };
    match NonNull::new(block) {
        Some(block) => (block, NO_HOME),
        None => std::alloc::handle_alloc_error(layout),
    }
}

/// Returns a task's memory to where `alloc_block` took it from.
///
/// # Safety
///
/// `block` and `home` come from `alloc_block(shared, layout)`, and nothing uses the block
/// any more. Inlined for the same reason as `alloc_block`.
#[inline]
unsafe fn free_block(shared: &Arc<Shared>, home: u32, block: NonNull<u8>, layout: Layout) {
    if home == NO_HOME {
        // SAFETY: allocated by the global allocator with this layout (caller's promise).
        return unsafe { std::alloc::dealloc(block.as_ptr(), layout) };
    }
    let class = pool::class_of(layout).expect("a pooled task has a pooled size class");
    let worker = &shared.workers[home as usize];
    let freed_here = context::with_worker_of(Arc::as_ptr(shared), |core| match core {
        Some(core) if core.index == home as usize => {
            // SAFETY: from this worker's pool, with this class (caller's promise).
            unsafe { core.pool.free(block, class) };
            true
        }
        _ => false,
    });
    if !freed_here {
        // SAFETY: from that worker's pool, with this class (caller's promise).
        unsafe { worker.pool.free(block, class) };
    }
}
