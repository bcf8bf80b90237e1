//! The blocking pool: threads of a runtime that run closures which block (a blocking
//! system call, a library without async support, heavy computation), so that they never
//! stall a worker and the tasks queued on it.
//!
//! A job is a task like any other (the same allocation, state word and
//! [`JoinHandle`]) whose future calls the closure in its one poll; its runnable goes to
//! this pool's queue instead of a worker's. So a panic comes back through the handle as
//! a [`JoinError`](super::JoinError), a job aborted before it starts is dropped instead
//! of polled, and a job dropped unpolled (at shutdown) is cancelled, all by the task
//! machinery.
//!
//! # Threads
//!
//! Threads start on demand, up to `Builder::max_blocking_threads`: a job goes to an idle
//! thread if there is one, else to a new thread if the pool is below its bound, else it
//! waits in a FIFO queue, which every thread looks at before it goes idle. An idle thread
//! exits after `Builder::thread_keep_alive` without a job. Each thread has the runtime
//! as its context for its whole life (see `context::enter_blocking_thread`), so a job
//! may spawn, and may `Handle::block_on` futures that use timers and I/O.
//!
//! A thread that exits on its own is joined by the next one to exit, so exited threads
//! never pile up unjoined; at shutdown, the thread dropping the runtime joins the rest.
//!
//! # Shutdown
//!
//! `Runtime`'s drop calls [`BlockingPool::shutdown`] before it cancels the tasks: from
//! then on no job starts (queued jobs are cancelled, new ones are cancelled at once), and
//! the workers keep running (driving timers and I/O for the jobs still running, though
//! every task is cancelled) until [`BlockingPool::has_running_jobs`] says the last job
//! has returned.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::thread;
use std::time::{Duration, Instant};

use super::{JoinHandle, Runnable, BLOCKING};
use crate::context;
use crate::scheduler::Shared;

/// Default bound on a runtime's blocking threads (as in tokio).
pub(crate) const DEFAULT_MAX_THREADS: usize = 512;

/// Default time an idle blocking thread waits for a job before it exits.
pub(crate) const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(10);

/// Runs `f` on a thread of the current runtime's blocking pool, and returns a handle to
/// its outcome.
///
/// Use it for work that would stall a worker: a blocking system call or library, a long
/// computation. Awaiting the [`JoinHandle`] yields `f`'s return value, or a
/// [`JoinError`](crate::JoinError) for which [`is_panic`](crate::JoinError::is_panic) is
/// true if `f` panicked (the payload comes with it).
///
/// # The pool
///
/// Each runtime has its own pool of at most
/// [`max_blocking_threads`](crate::Builder::max_blocking_threads) threads (512 by
/// default), named `ringtide-blocking-N`. They start when jobs need them, and one left
/// without a job for [`thread_keep_alive`](crate::Builder::thread_keep_alive) (10 s by
/// default) exits. While every thread is busy and the pool is at its bound, jobs wait
/// in a queue and start in the order they were spawned.
///
/// Pool threads are not workers: inside a job, [`spawn`](crate::spawn()), `spawn_blocking`
/// and [`Handle::current`](crate::Handle::current) work on the job's runtime, and
/// [`Handle::block_on`](crate::Handle::block_on) runs a future that uses its timers and
/// I/O; [`spawn_local`](crate::spawn_local) does not (it needs a worker).
///
/// # Cancellation
///
/// [`JoinHandle::abort`] on a job that has not started yet cancels it: it never runs, its
/// closure is dropped when its turn in the queue comes, and the handle then yields a
/// cancelled [`JoinError`](crate::JoinError). A job that has started cannot be
/// interrupted: `abort` has no effect on it, and the handle yields its output. Dropping
/// the handle detaches the job, which still runs.
///
/// # Shutdown
///
/// Dropping the [`Runtime`](crate::Runtime) cancels the jobs that have not started (they
/// never run; their closures are dropped by the thread dropping the runtime) and waits,
/// however long it takes, for the running ones to return. Meanwhile the runtime's timers
/// and I/O keep working for them, but tasks are cancelled: a task a running job spawns
/// then yields a cancelled error, and so does a job it spawns.
///
/// # Panics
///
/// Panics when called outside a ringtide runtime (a task, `block_on`, or a blocking
/// job): use [`Runtime::spawn_blocking`](crate::Runtime::spawn_blocking) or
/// [`Handle::spawn_blocking`](crate::Handle::spawn_blocking) there.
///
/// # Examples
///
/// Python's `asyncio.to_thread(f)`:
///
/// ```
/// use ringtide::task::spawn_blocking;
///
/// let rt = ringtide::Runtime::new()?;
/// rt.block_on(async {
///     let sum = spawn_blocking(|| {
///         (1..=1_000u64).sum::<u64>() // stands for blocking work
///     })
///     .await
///     .expect("the job did not panic");
///     assert_eq!(sum, 500_500);
///
///     let err = spawn_blocking(|| panic!("disk on fire")).await.unwrap_err();
///     assert!(err.is_panic());
/// });
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn spawn_blocking<F, R>(f: F) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    context::with_runtime(|shared| match shared {
        Some(shared) => spawn_blocking_on(shared, f),
        None => panic!(
            "ringtide::task::spawn_blocking called outside a ringtide runtime: call it from \
             a task, inside block_on or a blocking job, or use Runtime::spawn_blocking or \
             Handle::spawn_blocking"
        ),
    })
}

/// Queues `f` on the blocking pool of the runtime behind `shared`.
pub(crate) fn spawn_blocking_on<F, R>(shared: &Arc<Shared>, f: F) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    super::spawn(shared, BlockingJob(Some(f)), BLOCKING)
}

/// The future of a blocking job: calls the closure in its first poll.
struct BlockingJob<F>(Option<F>);

// The closure is moved out, never pinned.
impl<F> Unpin for BlockingJob<F> {}

impl<F: FnOnce() -> R, R> Future for BlockingJob<F> {
    type Output = R;

    fn poll(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<R> {
        let f = self.0.take().expect("a blocking job is polled once");
        Poll::Ready(f())
    }
}

/// A runtime's blocking pool.
#[derive(Debug)]
pub(crate) struct BlockingPool {
    state: Mutex<PoolState>,
    /// Idle threads wait here for a job (or the shutdown).
    job_queued: Condvar,
    max_threads: usize,
    keep_alive: Duration,
}

#[derive(Debug, Default)]
struct PoolState {
    queue: VecDeque<Runnable>,
    /// Threads started and not exited.
    threads: usize,
    /// Idle threads that have not been sent a job.
    idle: usize,
    /// Jobs sent to idle threads and not yet taken: a thread woken while this is zero
    /// woke spuriously or timed out.
    notified: usize,
    /// Jobs running now.
    running: usize,
    shutdown: bool,
    /// Number of the next thread (its name's `N`).
    next_id: usize,
    /// Threads that have not exited on their own.
    handles: HashMap<usize, thread::JoinHandle<()>>,
    /// The last thread that exited on its own, for the next one to join.
    last_exited: Option<thread::JoinHandle<()>>,
}

impl BlockingPool {
    pub(crate) fn new(max_threads: usize, keep_alive: Duration) -> BlockingPool {
        BlockingPool {
            state: Mutex::new(PoolState::default()),
            job_queued: Condvar::new(),
            max_threads,
            keep_alive,
        }
    }

    fn lock(&self) -> MutexGuard<'_, PoolState> {
        // No user code runs under the lock, so it is never left half-updated.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether a job is running: the workers of a runtime shutting down wait for this to
    /// turn false (no job starts once the pool is shut down).
    pub(crate) fn has_running_jobs(&self) -> bool {
        self.lock().running > 0
    }

    /// Stops the pool: cancels the queued jobs (here, on the caller's thread), refuses
    /// new ones, and tells idle threads to exit. Returns the threads still alive, for the
    /// caller to join (or detach).
    pub(crate) fn shutdown(&self) -> Vec<thread::JoinHandle<()>> {
        let mut state = self.lock();
        state.shutdown = true;
        let queued = std::mem::take(&mut state.queue);
        let mut threads: Vec<_> = state.handles.drain().map(|(_, handle)| handle).collect();
        threads.extend(state.last_exited.take());
        self.job_queued.notify_all();
        drop(state);
        // Outside the lock: a closure's destructor may spawn.
        drop(queued);
        threads
    }
}

/// Queues a job's runnable (its one scheduling, at spawn) and finds it a thread.
pub(crate) fn schedule(runnable: Runnable) {
    let shared = runnable.metadata().shared.clone();
    let pool = &shared.blocking;
    let mut state = pool.lock();
    if state.shutdown {
        drop(state);
        // Cancels the job: its handle yields a cancelled error.
        drop(runnable);
        return;
    }
    state.queue.push_back(runnable);
    if state.idle > 0 {
        state.idle -= 1;
        state.notified += 1;
        pool.job_queued.notify_one();
        return;
    }
    if state.threads == pool.max_threads {
        // The job waits for the first thread to finish its own.
        return;
    }
    let id = state.next_id;
    let thread_shared = shared.clone();
    let started = thread::Builder::new()
        .name(format!("ringtide-blocking-{id}"))
        .spawn(move || run_thread(thread_shared, id));
    match started {
        Ok(handle) => {
            state.next_id += 1;
            state.threads += 1;
            state.handles.insert(id, handle);
        }
        // A running thread takes the job when it finishes its own.
        Err(_) if state.threads > 0 => {}
        Err(e) => {
            // No thread would ever run it: cancel it, then fail as `thread::spawn` does.
            let job = state.queue.pop_back();
            drop(state);
            drop(job);
            panic!("ringtide: failed to start a blocking-pool thread: {e}");
        }
    }
}

/// The life of one pool thread.
fn run_thread(shared: Arc<Shared>, id: usize) {
    let _context = context::enter_blocking_thread(shared.clone());
    let previous = shared.blocking.work(id);
    drop(shared);
    if let Some(previous) = previous {
        let _ = previous.join();
    }
}

impl BlockingPool {
    /// Runs jobs until the thread has been idle for the keep-alive or the pool shuts
    /// down. Returns the thread that exited before this one, if this one takes its place
    /// as `last_exited`, to be joined.
    fn work(&self, id: usize) -> Option<thread::JoinHandle<()>> {
        let mut state = self.lock();
        let mut previous = None;
        'jobs: loop {
            while let Some(job) = state.queue.pop_front() {
                state.running += 1;
                drop(state);
                // Never unwinds: the task catches the closure's panic.
                job.run();
                state = self.lock();
                state.running -= 1;
            }
            if state.shutdown {
                break;
            }
            state.idle += 1;
            let idle_since = Instant::now();
            loop {
                let left = self.keep_alive.saturating_sub(idle_since.elapsed());
                state = match self.job_queued.wait_timeout(state, left) {
                    Ok((state, _)) => state,
                    Err(poisoned) => poisoned.into_inner().0,
                };
                if state.notified > 0 {
                    // The one who notified took this thread out of `idle`.
                    state.notified -= 1;
                    continue 'jobs;
                }
                if state.shutdown {
                    state.idle -= 1;
                    break 'jobs;
                }
                if idle_since.elapsed() >= self.keep_alive {
                    state.idle -= 1;
                    let own = state.handles.remove(&id);
                    previous = std::mem::replace(&mut state.last_exited, own);
                    break 'jobs;
                }
            }
        }
        state.threads -= 1;
        previous
    }
}
