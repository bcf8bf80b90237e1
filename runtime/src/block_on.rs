//! Running a future to completion on a thread outside the workers, for
//! [`Runtime::block_on`](crate::Runtime::block_on) and
//! [`Handle::block_on`](crate::Handle::block_on).
//!
//! The thread polls the future itself, with the runtime as its context, and sleeps in
//! `thread::park` between polls; the timers and I/O it waits for are driven by the
//! workers, which wake it.
//!
//! # Across a shutdown
//!
//! Through a [`Handle`](crate::Handle), a thread may be inside `block_on` while the
//! runtime is dropped elsewhere, or enter it afterwards. Once the workers have exited
//! nothing drives the runtime's timers any more: a future waiting on one would sleep
//! forever. So every thread inside `block_on` is registered with the runtime, and the
//! last worker out wakes them all; the next poll of such a timer finds its wheel closed
//! and panics with a message that says so (a timer first polled after that panics at
//! once). I/O completes with an error, and tasks spawned then are cancelled.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;

use crate::context;
use crate::coop;
use crate::scheduler::Shared;

/// Runs `future` on this thread with `shared`'s runtime as the context; `caller` names
/// the public method, for the panic message.
pub(crate) fn block_on<F: Future>(shared: &Arc<Shared>, future: F, caller: &str) -> F::Output {
    if context::in_worker_or_block_on() {
        panic!(
            "{caller} called from inside a ringtide runtime (a worker thread or another \
             block_on); blocking there can stall the tasks it waits for: await the future \
             instead, or spawn it"
        );
    }
    let _context = context::enter_block_on(shared.clone());
    let parker = Arc::new(ThreadParker {
        thread: thread::current(),
        notified: AtomicBool::new(false),
    });
    let _registered = shared.block_on_threads.register(&parker);
    let waker = Waker::from(parker.clone());
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(output) = coop::with_budget(|| future.as_mut().poll(&mut cx)) {
            return output;
        }
        while !parker.notified.swap(false, Ordering::Acquire) {
            thread::park();
        }
    }
}

/// The waker of a thread in `block_on`.
#[derive(Debug)]
struct ThreadParker {
    thread: thread::Thread,
    notified: AtomicBool,
}

impl Wake for ThreadParker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if !self.notified.swap(true, Ordering::Release) {
            self.thread.unpark();
        }
    }
}

/// The threads inside `block_on` of one runtime (see "Across a shutdown" above).
#[derive(Debug, Default)]
pub(crate) struct BlockOnThreads {
    parkers: Mutex<Vec<Arc<ThreadParker>>>,
}

impl BlockOnThreads {
    /// Lists `parker` until the guard is dropped.
    fn register<'a>(&'a self, parker: &Arc<ThreadParker>) -> impl Drop + 'a {
        struct Registered<'a> {
            threads: &'a BlockOnThreads,
            parker: Arc<ThreadParker>,
        }
        impl Drop for Registered<'_> {
            fn drop(&mut self) {
                let mut parkers = self.threads.lock();
                if let Some(i) = parkers.iter().position(|p| Arc::ptr_eq(p, &self.parker)) {
                    parkers.swap_remove(i);
                }
            }
        }
        self.lock().push(parker.clone());
        Registered {
            threads: self,
            parker: parker.clone(),
        }
    }

    /// Wakes every thread inside `block_on`, so that each polls its future again: the
    /// last worker does this on its way out.
    pub(crate) fn wake_all(&self) {
        let parkers = self.lock().clone();
        for parker in &parkers {
            parker.wake_by_ref();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Arc<ThreadParker>>> {
        // A list of parkers is never left half-updated by a panic.
        self.parkers.lock().unwrap_or_else(|e| e.into_inner())
    }
}
