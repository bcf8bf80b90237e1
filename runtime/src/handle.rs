//! [`Handle`]: a runtime reached from anywhere, without owning it.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use crate::context;
use crate::scheduler::Shared;
use crate::task::{self, blocking, JoinHandle, ANY_WORKER};

/// A handle to a [`Runtime`](crate::Runtime): spawns tasks and blocking jobs onto it,
/// and runs futures with it as their context, from any thread, including threads the
/// runtime did not start.
///
/// Get one from [`Runtime::handle`](crate::Runtime::handle), or with
/// [`Handle::current`] inside the runtime (in a task, `block_on` or a blocking job).
/// Handles are cheap to clone, and can be sent to and shared between threads.
///
/// # After the runtime is dropped
///
/// A handle does not keep the runtime running: dropping the
/// [`Runtime`](crate::Runtime) shuts it down as usual, and its threads exit. What the
/// handle keeps is the runtime's shared state (its queues, the memory its tasks were
/// carved from, a wake-up descriptor per worker), freed with the last handle, task and
/// waker of the runtime. Through a handle to a runtime that has shut down:
///
/// * [`spawn`](Self::spawn) and [`spawn_blocking`](Self::spawn_blocking) return a
///   [`JoinHandle`] that yields a [`JoinError`](crate::JoinError) for which
///   [`is_cancelled`](crate::JoinError::is_cancelled) is true: the future or closure is
///   dropped without running;
/// * [`block_on`](Self::block_on) still runs its future on the calling thread, but
///   nothing drives the runtime's timers or I/O any more: a timer panics when polled
///   (saying its runtime shut down), and I/O fails. A thread inside `block_on` while
///   the runtime shuts down is woken, so that a timer it waits on panics rather than
///   waits forever.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let rt = ringtide::Runtime::new()?;
/// let handle = rt.handle();
/// let from_a_thread = std::thread::spawn(move || {
///     // This thread runs the future; the runtime's workers drive its timer.
///     handle.block_on(async {
///         ringtide::time::sleep(Duration::from_millis(1)).await;
///         ringtide::spawn(async { "spawned from a thread of our own" }).await
///     })
/// });
/// assert_eq!(from_a_thread.join().unwrap().unwrap(), "spawned from a thread of our own");
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct Handle {
    shared: Arc<Shared>,
}

impl Handle {
    pub(crate) fn new(shared: Arc<Shared>) -> Handle {
        Handle { shared }
    }

    /// A handle to the runtime of the current thread: the runtime of the task, the
    /// `block_on` or the blocking job it is called from.
    ///
    /// # Panics
    ///
    /// Panics outside a ringtide runtime; [`try_current`](Self::try_current) returns an
    /// error instead.
    ///
    /// ```
    /// let rt = ringtide::Runtime::new()?;
    /// let handle = rt.block_on(async { ringtide::Handle::current() });
    /// assert_eq!(handle.block_on(async { 5 }), 5);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn current() -> Handle {
        match Handle::try_current() {
            Ok(handle) => handle,
            Err(e) => panic!("{e}"),
        }
    }

    /// A handle to the runtime of the current thread, or an error outside a ringtide
    /// runtime.
    ///
    /// ```
    /// assert!(ringtide::Handle::try_current().is_err());
    ///
    /// let rt = ringtide::Runtime::new()?;
    /// let inside = rt.block_on(rt.spawn(async { ringtide::Handle::try_current().is_ok() }));
    /// assert!(inside.unwrap());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn try_current() -> Result<Handle, TryCurrentError> {
        context::with_runtime(|shared| match shared {
            Some(shared) => Ok(Handle::new(shared.clone())),
            None => Err(TryCurrentError { _private: () }),
        })
    }

    /// Spawns a task onto the runtime; a worker will run it. Once the runtime has shut
    /// down, the task is cancelled at once (see the type's docs).
    ///
    /// ```
    /// let rt = ringtide::Runtime::new()?;
    /// let handle = rt.handle();
    /// let task = handle.spawn(async { 6 * 7 });
    /// assert_eq!(rt.block_on(task).unwrap(), 42);
    ///
    /// drop(rt);
    /// let late = handle.spawn(async { 1 });
    /// assert!(futures::executor::block_on(late).unwrap_err().is_cancelled());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        task::spawn(&self.shared, future, ANY_WORKER)
    }

    /// Runs `f` on a thread of the runtime's blocking pool; see
    /// [`spawn_blocking`](crate::task::spawn_blocking) for the pool, cancellation and
    /// shutdown. Once the runtime has shut down, the job is cancelled at once.
    ///
    /// ```
    /// let rt = ringtide::Runtime::new()?;
    /// let handle = rt.handle();
    /// let job = handle.spawn_blocking(|| std::thread::current().name().map(String::from));
    /// let name = rt.block_on(job).unwrap().unwrap();
    /// assert!(name.starts_with("ringtide-blocking-"), "{name}");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn spawn_blocking<F, R>(&self, f: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        blocking::spawn_blocking_on(&self.shared, f)
    }

    /// Runs `future` to completion on the current thread, with the runtime as its
    /// context, as [`Runtime::block_on`](crate::Runtime::block_on) does: the future may
    /// spawn, and use timers and I/O, which the workers drive. Any thread may call it,
    /// including one the runtime did not start and a blocking job's.
    ///
    /// # Panics
    ///
    /// Panics when called from a worker thread or from inside another `block_on`:
    /// blocking there would stall the tasks it waits for. Await the future instead.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let rt = ringtide::Runtime::new()?;
    /// let handle = rt.handle();
    /// let waited = rt.block_on(rt.spawn_blocking(move || {
    ///     // A blocking job waits for async work without holding a worker.
    ///     handle.block_on(async {
    ///         ringtide::time::sleep(Duration::from_millis(2)).await;
    ///         "slept"
    ///     })
    /// }));
    /// assert_eq!(waited.unwrap(), "slept");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        crate::block_on::block_on(&self.shared, future, "Handle::block_on")
    }

    /// As [`Runtime::recv_buffer_stats`](crate::Runtime::recv_buffer_stats), from
    /// inside the runtime.
    ///
    /// ```
    /// ringtide::Runtime::new()?.block_on(async {
    ///     let stats = ringtide::Handle::current().recv_buffer_stats();
    ///     assert!(stats.grown <= stats.enobufs);
    /// });
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn recv_buffer_stats(&self) -> crate::net::RecvBufferStats {
        crate::net::RecvBufferStats::read(&self.shared.recv.counters)
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("worker_threads", &self.shared.workers.len())
            .field("shut_down", &self.shared.is_shutdown())
            .finish()
    }
}

/// The error of [`Handle::try_current`]: the current thread has no ringtide runtime.
///
/// ```
/// let err = ringtide::Handle::try_current().unwrap_err();
/// assert!(err.to_string().starts_with("no ringtide runtime"));
/// ```
#[derive(Debug)]
pub struct TryCurrentError {
    _private: (),
}

impl fmt::Display for TryCurrentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "no ringtide runtime: Handle::current was called outside a ringtide runtime; \
             call it from a task, inside block_on or a blocking job, or use Runtime::handle",
        )
    }
}

impl std::error::Error for TryCurrentError {}
