//! Running a future to completion on a thread outside the workers, for
//! [`Runtime::block_on`](crate::Runtime::block_on).
//!
//! The thread polls the future itself, with the runtime as its context, and sleeps in
//! `thread::park` between polls; the timers and I/O it waits for are driven by the
//! workers, which wake it.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
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
