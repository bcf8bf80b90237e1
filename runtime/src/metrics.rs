//! What the workers' I/O drivers did: calls into the kernel, requests handed over,
//! completions taken back, per worker ([`Runtime::metrics`](crate::Runtime::metrics)).
//!
//! ```
//! let rt = ringtide::Builder::new().worker_threads(1).build()?;
//! let before = rt.metrics();
//! rt.block_on(async {
//!     let listener = ringtide::net::TcpListener::bind("127.0.0.1:0")?;
//!     let addr = listener.local_addr()?;
//!     let client = ringtide::spawn(ringtide::net::TcpStream::connect(addr));
//!     let (_server, _) = listener.accept().await?;
//!     client.await.expect("connect task").map(drop)
//! })?;
//! let io = rt.metrics().total().since(&before.total());
//! // An accept and a connect: at least two requests, two completions and one wait.
//! assert!(io.io_submitted >= 2 && io.io_completions >= 2 && io.io_enters >= 1);
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # How they are counted
//!
//! 1. Each worker's driver counts in plain integers that only that worker's thread
//!    touches: counting costs an add, not an atomic operation, on the I/O path.
//! 2. After each maintenance pass (every 61 tasks, and while it spins for work) and each
//!    park, the worker copies them into atomics of its own cache line with relaxed
//!    stores.
//! 3. [`Runtime::metrics`](crate::Runtime::metrics) reads those copies. A figure may thus
//!    lag the worker by one round: a worker waiting in the kernel right now has
//!    published everything but that wait. Each counter only grows, so the difference of
//!    two snapshots ([`WorkerMetrics::since`]) is what happened between them.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::driver::{Driver, IoCounts};

/// The I/O counters of every worker of a runtime, read at one moment
/// ([`Runtime::metrics`](crate::Runtime::metrics)).
///
/// ```
/// let rt = ringtide::Builder::new().worker_threads(2).build()?;
/// let metrics = rt.metrics();
/// assert_eq!(metrics.num_workers(), 2);
/// assert_eq!(metrics.driver(), rt.driver());
/// let total = metrics.total();
/// assert_eq!(
///     total.io_enters,
///     metrics.workers().iter().map(|w| w.io_enters).sum::<u64>()
/// );
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeMetrics {
    driver: Driver,
    workers: Vec<WorkerMetrics>,
}

impl RuntimeMetrics {
    pub(crate) fn new(driver: Driver, workers: Vec<WorkerMetrics>) -> RuntimeMetrics {
        RuntimeMetrics { driver, workers }
    }

    /// The driver the counters come from ([`Driver::IoUring`] or [`Driver::Epoll`]),
    /// which says what each of them counts (see [`WorkerMetrics`]).
    pub fn driver(&self) -> Driver {
        self.driver
    }

    /// Number of worker threads.
    pub fn num_workers(&self) -> usize {
        self.workers.len()
    }

    /// The counters of each worker, by worker index.
    pub fn workers(&self) -> &[WorkerMetrics] {
        &self.workers
    }

    /// The counters of worker `index`, or `None` past the last worker.
    pub fn worker(&self, index: usize) -> Option<WorkerMetrics> {
        self.workers.get(index).copied()
    }

    /// The counters of all workers added up.
    pub fn total(&self) -> WorkerMetrics {
        self.workers
            .iter()
            .fold(WorkerMetrics::default(), |sum, w| WorkerMetrics {
                io_enters: sum.io_enters + w.io_enters,
                io_submitted: sum.io_submitted + w.io_submitted,
                io_completions: sum.io_completions + w.io_completions,
                io_syscalls: sum.io_syscalls + w.io_syscalls,
            })
    }
}

/// What one worker's I/O driver did since the runtime was built. Every counter only
/// grows.
///
/// ```
/// use ringtide::metrics::WorkerMetrics;
///
/// let rt = ringtide::Builder::new().worker_threads(1).build()?;
/// let worker: WorkerMetrics = rt.metrics().worker(0).expect("one worker");
/// // Waiting for anything at all enters the kernel; the rest depends on the driver.
/// assert!(worker.io_syscalls >= worker.io_enters);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkerMetrics {
    /// Calls into the kernel that hand over requests or wait for and collect
    /// completions: `io_uring_enter` on io_uring; `epoll_wait` (or `epoll_pwait2`) on
    /// epoll. A worker makes at most one per scheduler round, besides those needed to
    /// make room in a full submission queue or to flush an overflowed completion queue,
    /// and one per `O_DIRECT` file request, handed to the kernel at once so that the
    /// device starts on it.
    pub io_enters: u64,
    /// Requests handed to the driver: on io_uring, submission queue entries (the
    /// driver's own included: the armed eventfd read, wait timeouts, cancellations,
    /// closes); on epoll, requests started.
    pub io_submitted: u64,
    /// Completions taken back: on io_uring, completion queue entries reaped; on epoll,
    /// requests completed.
    pub io_completions: u64,
    /// Every system call the driver made, [`io_enters`](Self::io_enters) included: on
    /// epoll also each attempted read, write, accept or connect, `epoll_ctl` and close;
    /// on io_uring the direct attempts of operations the kernel's ring lacks.
    pub io_syscalls: u64,
}

impl WorkerMetrics {
    /// What happened between `earlier` (a snapshot of the same worker, or a total of the
    /// same runtime) and `self`.
    ///
    /// ```
    /// let rt = ringtide::Builder::new().worker_threads(1).build()?;
    /// let before = rt.metrics().total();
    /// let sleep = ringtide::time::sleep(std::time::Duration::from_millis(1));
    /// rt.block_on(rt.spawn(sleep)).unwrap();
    /// let after = rt.metrics().total();
    /// let waited = after.since(&before);
    /// assert_eq!(waited.io_enters, after.io_enters - before.io_enters);
    /// assert!(waited.io_enters >= 1, "the worker waited for the timer");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn since(&self, earlier: &WorkerMetrics) -> WorkerMetrics {
        WorkerMetrics {
            io_enters: self.io_enters.saturating_sub(earlier.io_enters),
            io_submitted: self.io_submitted.saturating_sub(earlier.io_submitted),
            io_completions: self.io_completions.saturating_sub(earlier.io_completions),
            io_syscalls: self.io_syscalls.saturating_sub(earlier.io_syscalls),
        }
    }
}

/// Where a worker publishes its driver's counters for other threads: written by the
/// worker only, once per round, read by [`Runtime::metrics`](crate::Runtime::metrics).
/// On its own pair of cache lines, so the stores never disturb a line other threads
/// write.
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct PublishedCounts {
    enters: AtomicU64,
    submitted: AtomicU64,
    completions: AtomicU64,
    syscalls: AtomicU64,
}

impl PublishedCounts {
    /// Stores `counts`; by the worker that owns the driver.
    pub(crate) fn publish(&self, counts: IoCounts) {
        // Relaxed: each is a monotone figure on its own; nothing is published through
        // them.
        self.enters.store(counts.enters, Ordering::Relaxed);
        self.submitted.store(counts.submitted, Ordering::Relaxed);
        self.completions
            .store(counts.completions, Ordering::Relaxed);
        self.syscalls.store(counts.syscalls, Ordering::Relaxed);
    }

    /// The counters as last published.
    pub(crate) fn read(&self) -> WorkerMetrics {
        WorkerMetrics {
            io_enters: self.enters.load(Ordering::Relaxed),
            io_submitted: self.submitted.load(Ordering::Relaxed),
            io_completions: self.completions.load(Ordering::Relaxed),
            io_syscalls: self.syscalls.load(Ordering::Relaxed),
        }
    }
}
