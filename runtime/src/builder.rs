//! [`Builder`]: a runtime's settings, checked before any thread starts.

use std::io;
use std::thread;
use std::time::Duration;

use crate::driver::buf_ring::{RecvBufferConfig, MAX_BUFFERS as MAX_RECV_BUFFERS};
use crate::driver::{self, Driver};
use crate::runtime::{start, Runtime};
use crate::task::blocking::{self, BlockingPool};

/// Largest ring the builder accepts (the kernel's limit for submission entries).
const MAX_RING_ENTRIES: u32 = 32_768;
/// Largest receive buffer the builder accepts.
const MAX_RECV_BUFFER_SIZE: usize = 1 << 20;

/// Configures and builds a [`Runtime`].
///
/// # Examples
///
/// ```
/// let rt = ringtide::Builder::new()
///     .worker_threads(2)
///     .pin_workers(false)
///     .ring_entries(128)
///     .build()?;
/// assert_eq!(rt.block_on(async { 1 + 1 }), 2);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Builder {
    worker_threads: Option<usize>,
    pin_workers: bool,
    ring_entries: u32,
    spin_before_park: Duration,
    driver: Driver,
    max_blocking_threads: usize,
    thread_keep_alive: Duration,
    recv_buffer_size: usize,
    recv_buffers: (usize, usize),
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}

impl Builder {
    /// One worker per CPU this process may run on, pinned, 256-entry rings.
    pub fn new() -> Builder {
        let recv = RecvBufferConfig::default();
        Builder {
            worker_threads: None,
            pin_workers: true,
            ring_entries: 256,
            spin_before_park: Duration::ZERO,
            driver: Driver::Auto,
            max_blocking_threads: blocking::DEFAULT_MAX_THREADS,
            thread_keep_alive: blocking::DEFAULT_KEEP_ALIVE,
            recv_buffer_size: recv.size as usize,
            recv_buffers: (recv.initial.into(), recv.max.into()),
        }
    }

    /// Number of worker threads (default: the CPUs available to this process).
    pub fn worker_threads(&mut self, n: usize) -> &mut Self {
        self.worker_threads = Some(n);
        self
    }

    /// Whether worker `i` is pinned to the `i`-th available CPU (default: `true`).
    ///
    /// Turn it off when several runtimes or other busy threads share the machine.
    pub fn pin_workers(&mut self, pin: bool) -> &mut Self {
        self.pin_workers = pin;
        self
    }

    /// Submission queue size of each worker's io_uring ring (default: 256; the
    /// completion queue is four times larger). Must be between 1 and 32768. The epoll
    /// driver has no such limit and ignores it.
    pub fn ring_entries(&mut self, entries: u32) -> &mut Self {
        self.ring_entries = entries;
        self
    }

    /// How long a worker that runs out of work keeps looking for more (its queues, the
    /// other workers' queues, its timers and its ring) before it sleeps in the kernel
    /// (default: zero, no spinning).
    ///
    /// Spinning burns the CPU for up to that long each time a worker runs dry. In return
    /// the worker is awake when the next completion or task arrives: nobody pays for
    /// waking it (a context switch, and on virtual machines an inter-processor interrupt
    /// for whichever thread delivers the event). Worth it on cores dedicated to the
    /// runtime, such as a load generator's or a latency-critical server's.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let rt = ringtide::Builder::new()
    ///     .worker_threads(1)
    ///     .spin_before_park(Duration::from_micros(200))
    ///     .build()?;
    /// assert_eq!(rt.block_on(async { 7 }), 7);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn spin_before_park(&mut self, spin: Duration) -> &mut Self {
        self.spin_before_park = spin;
        self
    }

    /// Which I/O driver the workers use (default: [`Driver::Auto`], io_uring where it is
    /// available, epoll elsewhere). The environment variable `RINGTIDE_DRIVER`
    /// (`io_uring`, `epoll` or `auto`) overrides this for every runtime of the process.
    ///
    /// ```
    /// use ringtide::{Builder, Driver};
    ///
    /// let rt = Builder::new().worker_threads(1).driver(Driver::Epoll).build()?;
    /// # if std::env::var_os("RINGTIDE_DRIVER").is_none() {
    /// assert_eq!(rt.driver(), Driver::Epoll);
    /// # }
    /// assert_eq!(rt.block_on(async { 7 }), 7);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn driver(&mut self, driver: Driver) -> &mut Self {
        self.driver = driver;
        self
    }

    /// Most threads the runtime's blocking pool runs at once, for
    /// [`spawn_blocking`](crate::task::spawn_blocking) jobs (default: 512); further jobs
    /// wait in a queue, in order, for a thread to finish its own. Must be at least 1.
    ///
    /// The threads start only when jobs need them, and are not workers: they run one job
    /// at a time and do not count in [`worker_threads`](Self::worker_threads).
    ///
    /// ```
    /// let rt = ringtide::Builder::new().max_blocking_threads(2).build()?;
    /// let jobs: Vec<_> = (0..8u64).map(|i| rt.spawn_blocking(move || i * i)).collect();
    /// let sum: u64 = jobs.into_iter().map(|job| rt.block_on(job).unwrap()).sum();
    /// assert_eq!(sum, 140);
    ///
    /// let zero = ringtide::Builder::new().max_blocking_threads(0).build();
    /// assert_eq!(zero.unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn max_blocking_threads(&mut self, n: usize) -> &mut Self {
        self.max_blocking_threads = n;
        self
    }

    /// How long a blocking-pool thread without a job waits for one before it exits
    /// (default: 10 seconds). A job spawned after that starts a new thread.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let rt = ringtide::Builder::new()
    ///     .thread_keep_alive(Duration::from_millis(100))
    ///     .build()?;
    /// assert_eq!(rt.block_on(rt.spawn_blocking(|| 3)).unwrap(), 3);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn thread_keep_alive(&mut self, keep_alive: Duration) -> &mut Self {
        self.thread_keep_alive = keep_alive;
        self
    }

    /// Bytes in each buffer a [receive stream](crate::net::RecvStream) hands out: the
    /// most one [`RecvBuf`](crate::net::RecvBuf) holds (default: 4096, at most 1 MiB).
    pub fn recv_buffer_size(&mut self, bytes: usize) -> &mut Self {
        self.recv_buffer_size = bytes;
        self
    }

    /// How many receive buffers each worker's ring provides to multishot receives at
    /// first, and the most it grows to when they run out (default: 128 and 4096; at most
    /// 32768). Buffers a receive stream hands out go back when dropped; a ring found
    /// empty grows by doubling up to `max` (see [`RecvBufferStats`](crate::net::RecvBufferStats)).
    ///
    /// ```
    /// let rt = ringtide::Builder::new()
    ///     .recv_buffer_size(16 * 1024)
    ///     .recv_buffers(64, 1024)
    ///     .build()?;
    /// assert_eq!(rt.recv_buffer_stats().enobufs, 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn recv_buffers(&mut self, initial: usize, max: usize) -> &mut Self {
        self.recv_buffers = (initial, max);
        self
    }

    /// Starts the workers.
    ///
    /// # Errors
    ///
    /// * `InvalidInput` for zero workers, zero blocking threads, an out-of-range ring
    ///   size or receive buffer setting, or a `RINGTIDE_DRIVER` value other than `io_uring`, `epoll` or `auto`.
    /// * With [`Driver::IoUring`], when io_uring cannot be set up, an error wrapping a
    ///   [`SetupError`](crate::SetupError) that names the cause (seccomp filter,
    ///   `kernel.io_uring_disabled`, old kernel, `RLIMIT_MEMLOCK`) and what to do. With
    ///   [`Driver::Auto`] the runtime uses epoll there instead, and fails only if epoll
    ///   fails too, with an error naming both causes.
    /// * When a worker's wake-up eventfd or thread cannot be created, an error wrapping a
    ///   [`SetupError`](crate::SetupError) that names what was being created, for which
    ///   worker, and what to do (such as raising `ulimit -n`). The error keeps the OS
    ///   error's [`kind`](io::Error::kind); [`SetupError::raw_os_error`](crate::SetupError::raw_os_error)
    ///   gives its number.
    pub fn build(&self) -> io::Result<Runtime> {
        let workers = match self.worker_threads {
            Some(0) => {
                return Err(invalid_input(
                    "worker_threads must be at least 1".to_string(),
                ))
            }
            Some(n) => n,
            None => thread::available_parallelism().map_or(1, |n| n.get()),
        };
        if self.max_blocking_threads == 0 {
            return Err(invalid_input(
                "max_blocking_threads must be at least 1".to_string(),
            ));
        }
        if self.ring_entries == 0 || self.ring_entries > MAX_RING_ENTRIES {
            return Err(invalid_input(format!(
                "ring_entries must be between 1 and {MAX_RING_ENTRIES}, got {}",
                self.ring_entries
            )));
        }
        let (initial, max) = self.recv_buffers;
        if initial == 0 || initial > max || max > usize::from(MAX_RECV_BUFFERS) {
            return Err(invalid_input(format!(
                "recv_buffers must satisfy 1 <= initial <= max <= {MAX_RECV_BUFFERS}, \
                 got ({initial}, {max})"
            )));
        }
        if self.recv_buffer_size == 0 || self.recv_buffer_size > MAX_RECV_BUFFER_SIZE {
            return Err(invalid_input(format!(
                "recv_buffer_size must be between 1 and {MAX_RECV_BUFFER_SIZE}, got {}",
                self.recv_buffer_size
            )));
        }
        let mut selection = driver::select(self.driver, self.ring_entries)?;
        selection.recv_buffers = RecvBufferConfig {
            size: self.recv_buffer_size as u32,
            initial: initial as u16,
            max: max as u16,
            counters: Default::default(),
        };
        start(
            workers,
            self.pin_workers,
            self.ring_entries,
            self.spin_before_park,
            selection,
            BlockingPool::new(self.max_blocking_threads, self.thread_keep_alive),
        )
    }
}

fn invalid_input(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}
