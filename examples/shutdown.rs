//! A future that resolves on SIGINT or SIGTERM, for servers that stop cleanly.
//!
//! ringtide has no signal support of its own, so the signals are taken the plain way:
//!
//! 1. [`Shutdown::on_signals`] blocks SIGINT and SIGTERM in the calling thread. Threads
//!    inherit their creator's signal mask, so every thread started afterwards (the
//!    runtime's workers included) has them blocked too, and the kernel keeps them pending
//!    for the process instead of interrupting some thread.
//! 2. One thread, started there, waits for them with `sigwait(2)`: an ordinary thread
//!    that takes the signal as a return value, so no handler runs in signal context.
//! 3. That thread records which signal came and wakes the task waiting on
//!    [`Shutdown::wait`] through an [`AtomicWaker`]. The flag is stored before the wake
//!    and checked again after the waiter registers, so a signal that arrives while the
//!    waiter is registering is never lost.
//!
//! Call `on_signals` first in `main`, before building the runtime; a thread started
//! earlier would keep the signals unblocked and could receive them instead.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use atomic_waker::AtomicWaker;

/// Set off by a signal (or by [`trigger`](Shutdown::trigger)); cloned handles share it.
///
/// ```
/// use ringtide_examples::Shutdown;
///
/// let shutdown = Shutdown::new();
/// let waiter = shutdown.clone();
/// shutdown.trigger();
/// ringtide::Runtime::new().unwrap().block_on(waiter.wait());
/// assert!(shutdown.is_triggered());
/// ```
#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// 0 while running; the signal number, or [`TRIGGERED`] for a manual trigger.
    cause: AtomicI32,
    waker: AtomicWaker,
}

/// `cause` of a shutdown asked for in code rather than by a signal.
const TRIGGERED: i32 = -1;

impl Shutdown {
    /// A shutdown that only [`trigger`](Shutdown::trigger) sets off.
    pub fn new() -> Shutdown {
        Shutdown::default()
    }

    /// A shutdown that SIGINT (Ctrl-C) and SIGTERM set off; see the module docs for why
    /// this must run before any other thread is started.
    pub fn on_signals() -> io::Result<Shutdown> {
        let shutdown = Shutdown::new();
        let set = signal_set();
        // SAFETY: `set` is an initialized signal set; a null old mask is allowed.
        let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        let handle = shutdown.clone();
        std::thread::Builder::new()
            .name("signal-wait".into())
            .spawn(move || {
                let mut signal = 0;
                // SAFETY: `set` is initialized and `signal` is a valid place for the
                // result. Both signals are blocked in every thread (step 1), so they
                // stay pending until this call takes one.
                let rc = unsafe { libc::sigwait(&set, &mut signal) };
                if rc == 0 {
                    handle.fire(signal);
                }
            })?;
        Ok(shutdown)
    }

    /// Sets the shutdown off now.
    pub fn trigger(&self) {
        self.fire(TRIGGERED);
    }

    /// Whether the shutdown has been set off.
    pub fn is_triggered(&self) -> bool {
        self.inner.cause.load(Ordering::Acquire) != 0
    }

    /// The name of the signal that set the shutdown off (`None` before, or after a
    /// [`trigger`](Shutdown::trigger)).
    pub fn signal_name(&self) -> Option<&'static str> {
        match self.inner.cause.load(Ordering::Acquire) {
            libc::SIGINT => Some("SIGINT"),
            libc::SIGTERM => Some("SIGTERM"),
            _ => None,
        }
    }

    /// Resolves once the shutdown is set off. One task at a time may wait: a second
    /// waiter replaces the first one's wake-up.
    pub fn wait(&self) -> Wait<'_> {
        Wait { shutdown: self }
    }

    fn fire(&self, cause: i32) {
        // The first cause wins; a second Ctrl-C changes nothing.
        let _ = self
            .inner
            .cause
            .compare_exchange(0, cause, Ordering::AcqRel, Ordering::Acquire);
        self.inner.waker.wake();
    }
}

/// The future of [`Shutdown::wait`].
#[derive(Debug)]
pub struct Wait<'a> {
    shutdown: &'a Shutdown,
}

impl Future for Wait<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.shutdown.is_triggered() {
            return Poll::Ready(());
        }
        self.shutdown.inner.waker.register(cx.waker());
        // Checked again: a signal between the first check and the registration woke no
        // one (step 3 of the module docs).
        if self.shutdown.is_triggered() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

fn signal_set() -> libc::sigset_t {
    // SAFETY: sigemptyset initializes the set it is given; sigaddset adds valid signals.
    unsafe {
        let mut set = std::mem::zeroed::<libc::sigset_t>();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        set
    }
}
