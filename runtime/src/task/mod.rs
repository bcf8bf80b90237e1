//! Tasks: spawning, cancelling, joining, yielding.
//!
//! A task is one heap allocation made by [`async_task`]: its state word, the future (later
//! its output), the scheduling function, and a `TaskMeta` that the runtime reads. The
//! future the runtime hands to `async_task` is a `TaskFuture` wrapped around the user's:
//!
//! * it catches panics, so a panicking task never unwinds through a worker; the payload
//!   becomes the task's output as a [`JoinError`];
//! * it checks the abort flag (and runtime shutdown) before every poll, and then drops the
//!   user's future *inside* the poll, so by the time a [`JoinHandle`] reports a
//!   cancellation, the future's destructor has finished;
//! * the first time the task returns `Pending` it enters the runtime's registry (with its
//!   waker), and its destructor removes it: see "Reaching every task" below.
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

mod join;
mod yield_now;

pub use join::{JoinError, JoinHandle};
pub use yield_now::{yield_now, YieldNow};

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::context;
use crate::scheduler::registry::NO_KEY;
use crate::scheduler::Shared;

/// Worker index of a task that any worker may run.
pub(crate) const ANY_WORKER: usize = usize::MAX;

/// What the runtime keeps in every task's header.
#[derive(Debug)]
pub(crate) struct TaskMeta {
    pub(crate) shared: Arc<Shared>,
    /// Set by `JoinHandle::abort`; read before every poll.
    pub(crate) aborted: AtomicBool,
    /// The task's key in the registry, or `NO_KEY` until the task first returns
    /// `Pending`; written once, by the poller.
    pub(crate) key: AtomicUsize,
    /// The worker a `spawn_local` task is bound to, or `ANY_WORKER`.
    pub(crate) owner: usize,
    /// The index of the worker whose thread allocated the task (`NO_HOME` if it was
    /// spawned elsewhere): where its memory is best freed (see `WorkerCore::retire`).
    /// A `u32`, so that the metadata stays within four words.
    pub(crate) home: u32,
}

/// `TaskMeta::home` of a task spawned outside the workers.
pub(crate) const NO_HOME: u32 = u32::MAX;

pub(crate) type Runnable = async_task::Runnable<TaskMeta>;

/// Spawns `future` on the runtime behind `shared`.
///
/// `owner` is `ANY_WORKER` for a `Send` task; otherwise the index of the worker thread
/// that is calling this function, which is the only thread that will ever poll or drop
/// the future.
pub(crate) fn spawn<F>(shared: &Arc<Shared>, future: F, owner: usize) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let home = context::with_worker_of(Arc::as_ptr(shared), |core| {
        core.and_then(|core| u32::try_from(core.index).ok())
            .unwrap_or(NO_HOME)
    });
    let meta = TaskMeta {
        shared: shared.clone(),
        aborted: AtomicBool::new(false),
        key: AtomicUsize::new(NO_KEY),
        owner,
        home,
    };
    let schedule = async_task::WithInfo(Shared::schedule);
    // SAFETY: `spawn_unchecked` asks for three things.
    // - The future borrows only the task's metadata, which lives in the same allocation
    //   and outlives the future.
    // - `schedule` is `Send + Sync + 'static` (a plain function).
    // - A future that is not `Send` is only polled and dropped on its original thread:
    //   callers pass `ANY_WORKER` only for `Send` futures (`Runtime::spawn` and
    //   `crate::spawn` require it), and for a local task `owner` is the calling worker;
    //   `Shared::schedule` routes such a task's runnable to that worker alone, and never
    //   drops it anywhere else.
    let (runnable, task) = unsafe {
        async_task::Builder::new()
            .metadata(meta)
            .spawn_unchecked(move |meta| TaskFuture::new(meta, future), schedule)
    };
    runnable.schedule();
    JoinHandle::new(task)
}

/// The user's future, wrapped; see the module docs.
struct TaskFuture<'a, F: Future> {
    meta: &'a TaskMeta,
    future: Option<F>,
}

impl<'a, F: Future> TaskFuture<'a, F> {
    fn new(meta: &'a TaskMeta, future: F) -> Self {
        TaskFuture {
            meta,
            future: Some(future),
        }
    }

    /// Step 1 of the handshake in the module docs, the first time the task is idle.
    fn register(&self, cx: &Context<'_>) {
        if self.meta.key.load(Ordering::Relaxed) != NO_KEY {
            return;
        }
        let shared = &self.meta.shared;
        let worker = context::with_worker_of(Arc::as_ptr(shared), |core| core.map(|c| c.index));
        let key = shared.registry.insert(cx.waker().clone(), worker);
        self.meta.key.store(key, Ordering::SeqCst);
        if self.meta.aborted.load(Ordering::SeqCst) || shared.is_shutdown() {
            cx.waker().wake_by_ref();
        }
    }

    /// Drops the user's future in place, swallowing a panic from its destructor (there is
    /// no one to hand it to and unwinding must not reach the worker).
    fn drop_future(&mut self) {
        let _ = catch_unwind(AssertUnwindSafe(|| self.future = None));
    }
}

impl<F: Future> Future for TaskFuture<'_, F> {
    type Output = Result<F::Output, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: `future` is structurally pinned: it is never moved out of the option,
        // only polled in place or dropped in place (`drop_future`).
        let this = unsafe { self.get_unchecked_mut() };
        if this.meta.aborted.load(Ordering::Acquire) || this.meta.shared.is_shutdown() {
            this.drop_future();
            return Poll::Ready(Err(JoinError::cancelled()));
        }
        let Some(future) = this.future.as_mut() else {
            // Unreachable: async_task never polls a future after it returned Ready.
            return Poll::Ready(Err(JoinError::cancelled()));
        };
        // SAFETY: see above; the future is pinned inside the task allocation.
        let future = unsafe { Pin::new_unchecked(future) };
        match catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
            Ok(Poll::Pending) => {
                this.register(cx);
                Poll::Pending
            }
            Ok(Poll::Ready(output)) => {
                this.drop_future();
                Poll::Ready(Ok(output))
            }
            Err(payload) => {
                this.drop_future();
                Poll::Ready(Err(JoinError::panic(payload)))
            }
        }
    }
}

impl<F: Future> Drop for TaskFuture<'_, F> {
    fn drop(&mut self) {
        self.drop_future();
        // After the user's destructor, which may spawn: the registry must not look empty
        // to shutdown while a task is still being torn down.
        let key = self.meta.key.load(Ordering::Relaxed);
        if key == NO_KEY {
            return;
        }
        let meta = self.meta;
        let free_at = free_at(meta);
        // A task finished on another worker than the one it registered with: that
        // worker's registry shard is removed from in batches (see `WorkerCore::unregister`).
        let batched = context::with_worker_of(Arc::as_ptr(&meta.shared), |core| {
            core.is_some_and(|core| core.unregister(key, free_at))
        });
        if !batched {
            if let Some(waker) = meta.shared.registry.remove(key) {
                free(&meta.shared, free_at, waker);
            }
        }
    }
}

/// Where a finished task's registry waker, usually its last reference, is best dropped:
/// the worker that allocated the task, or `NO_HOME` for anywhere (see
/// `WorkerCore::retire`).
fn free_at(meta: &TaskMeta) -> u32 {
    // A local task never leaves its owner; the others can be dropped on any thread.
    if meta.owner != ANY_WORKER {
        return NO_HOME;
    }
    meta.home
}

/// Drops a finished task's registry waker, on the worker `free_at` names if that is not
/// the current one: the waker goes back there to be dropped (see `WorkerCore::retire`).
pub(crate) fn free(shared: &Arc<Shared>, free_at: u32, waker: std::task::Waker) {
    if free_at == NO_HOME {
        return drop(waker);
    }
    let home = free_at as usize;
    let waker = context::with_worker_of(Arc::as_ptr(shared), |core| match core {
        Some(core) if core.index != home => core.retire(home, waker),
        _ => Some(waker),
    });
    drop(waker);
}
