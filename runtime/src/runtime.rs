//! [`Runtime`]: starting the workers (from a [`Builder`]), `block_on`,
//! shutdown.

use std::fmt;
use std::future::Future;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_deque::Worker;

use crate::builder::Builder;
use crate::context;
use crate::driver::{self, Driver, IoDriver, Selection};
use crate::error::{SetupError, WorkerResource};
use crate::handle::Handle;
use crate::metrics::RuntimeMetrics;
use crate::scheduler::worker::WorkerCore;
use crate::scheduler::Shared;
use crate::task::blocking::{self, BlockingPool};
use crate::task::{self, JoinHandle, ANY_WORKER};

/// Lets workers proceed once every ring is up, or tells them to exit.
struct StartGate {
    go: Mutex<Option<bool>>,
    cond: Condvar,
}

impl StartGate {
    fn open(&self, go: bool) {
        *self.go.lock().unwrap() = Some(go);
        self.cond.notify_all();
    }

    fn wait(&self) -> bool {
        let mut go = self.go.lock().unwrap();
        loop {
            match *go {
                Some(decision) => return decision,
                None => go = self.cond.wait(go).unwrap(),
            }
        }
    }
}

pub(crate) fn start(
    workers: usize,
    pin: bool,
    ring_entries: u32,
    spin_before_park: Duration,
    selection: Selection,
    blocking: BlockingPool,
) -> io::Result<Runtime> {
    let queues: Vec<Worker<_>> = (0..workers).map(|_| Worker::new_fifo()).collect();
    let stealers = queues.iter().map(Worker::stealer).collect();
    let eventfds = (0..workers)
        .map(|index| {
            driver::new_eventfd()
                .map_err(|e| SetupError::creating(WorkerResource::Eventfd, index, e))
        })
        .collect::<io::Result<Vec<_>>>()?;
    let shared = Arc::new(Shared::new(stealers, eventfds, blocking, &selection));
    let cores = if pin {
        core_affinity::get_core_ids().unwrap_or_default()
    } else {
        Vec::new()
    };
    let gate = Arc::new(StartGate {
        go: Mutex::new(None),
        cond: Condvar::new(),
    });
    let (ready_tx, ready_rx) = mpsc::channel();

    let mut threads = Vec::with_capacity(workers);
    let mut first_error = None;
    let mut description = None;
    let selection = Arc::new(selection);
    for (index, queue) in queues.into_iter().enumerate() {
        let shared = shared.clone();
        let gate = gate.clone();
        let ready = ready_tx.clone();
        let selection = selection.clone();
        let core_id = (!cores.is_empty()).then(|| cores[index % cores.len()]);
        let spawned = thread::Builder::new()
            .name(format!("ringtide-worker-{index}"))
            .spawn(move || {
                if let Some(core_id) = core_id {
                    core_affinity::set_for_current(core_id);
                }
                set_timer_slack();
                let eventfd = std::os::fd::AsRawFd::as_raw_fd(&shared.workers[index].eventfd);
                let driver = match IoDriver::new(&selection, ring_entries, eventfd) {
                    Ok(driver) => driver,
                    Err(e) => {
                        let _ = ready.send(Err(e));
                        return;
                    }
                };
                let _ = ready.send(Ok(driver.description()));
                drop(ready);
                if !gate.wait() {
                    return;
                }
                let core = WorkerCore::new(index, shared, queue, driver, spin_before_park);
                let _context = context::enter_worker(&core);
                // Tasks' panics are caught into their handles; one that reaches here is
                // the runtime's own, and the other workers cannot finish a shutdown
                // without this one: stop the process rather than hang its `drop`.
                if catch_unwind(AssertUnwindSafe(|| core.run())).is_err() {
                    eprintln!(
                        "ringtide: worker {index} panicked in runtime code (the message is \
                         above); aborting, since the runtime cannot go on or shut down \
                         without it. This is a bug in ringtide: please report it."
                    );
                    std::process::abort();
                }
            });
        match spawned {
            Ok(handle) => threads.push(handle),
            Err(e) => {
                first_error = Some(SetupError::creating(WorkerResource::Thread, index, e));
                break;
            }
        }
    }
    drop(ready_tx);
    for _ in 0..threads.len() {
        match ready_rx.recv() {
            Ok(Ok(d)) => description = Some(d),
            Ok(Err(e)) => {
                first_error.get_or_insert(e);
            }
            Err(_) => {
                first_error.get_or_insert_with(|| {
                    io::Error::other("a ringtide worker thread exited during start-up")
                });
            }
        }
    }
    if let Some(e) = first_error {
        gate.open(false);
        for thread in threads {
            let _ = thread.join();
        }
        return Err(e);
    }
    gate.open(true);
    Ok(Runtime {
        shared,
        threads,
        shut_down: false,
        driver: selection.driver,
        io_uring_error: selection.io_uring_error.clone(),
        description: description.expect("every worker reported"),
    })
}

/// Workers sleep to timer deadlines; the default 50 µs slack would make every wake late.
fn set_timer_slack() {
    // SAFETY: PR_SET_TIMERSLACK takes integer arguments and affects only this thread.
    // prctl is variadic and the kernel reads five arguments: pass them all, so that
    // none is whatever a register held.
    unsafe {
        libc::prctl(
            libc::PR_SET_TIMERSLACK,
            1 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        );
    }
}

/// A multi-threaded runtime: one worker thread per core, each with its own I/O driver (an
/// io_uring ring, or epoll where io_uring is blocked), run queue and timers, stealing
/// work from each other when idle.
///
/// Dropping the runtime cancels every task (their futures are dropped on the workers)
/// and every [`spawn_blocking`](crate::task::spawn_blocking) job not started yet, waits
/// for the jobs running and for every operation in flight in the rings, then stops the
/// workers. Dropped from one of its own tasks or jobs, it does not wait: see
/// [`drop`](#method.drop).
///
/// Tasks spawned on a worker take their memory from that worker's pool, which grows in
/// 2 MiB chunks and keeps them until the runtime (and every task, handle and waker
/// still holding it) is gone: a runtime that once held a million tasks keeps their
/// memory, about 300 bytes each for a small task, for the next million.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let rt = ringtide::Runtime::new()?;
/// let handle = rt.spawn(async {
///     ringtide::time::sleep(Duration::from_millis(1)).await;
///     "done"
/// });
/// assert_eq!(rt.block_on(handle).unwrap(), "done");
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Runtime {
    shared: Arc<Shared>,
    threads: Vec<thread::JoinHandle<()>>,
    /// The shutdown has begun (see [`Runtime::shut_down`]).
    shut_down: bool,
    /// `IoUring` or `Epoll`.
    driver: Driver,
    /// Under `Driver::Auto`, why io_uring was not used.
    io_uring_error: Option<String>,
    /// How the workers' drivers were set up.
    description: String,
}

impl Runtime {
    /// A runtime with one pinned worker per CPU available to this process.
    ///
    /// # Errors
    ///
    /// See [`Builder::build`].
    pub fn new() -> io::Result<Runtime> {
        Builder::new().build()
    }

    /// Number of worker threads.
    pub fn worker_threads(&self) -> usize {
        self.threads.len()
    }

    /// Runs `future` to completion on the current thread, with this runtime as the
    /// context: it may `spawn` and use timers, which the workers drive.
    ///
    /// # Panics
    ///
    /// Panics when called from a worker thread or from inside another `block_on`:
    /// blocking there would stall the tasks it waits for. Await the future instead.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        crate::block_on::block_on(&self.shared, future, "Runtime::block_on")
    }

    /// The I/O driver the workers run: [`Driver::IoUring`] or [`Driver::Epoll`] (never
    /// `Auto`, which resolves to one of them when the runtime is built).
    ///
    /// ```
    /// let rt = ringtide::Runtime::new()?;
    /// println!("running on {}", rt.driver());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn driver(&self) -> Driver {
        self.driver
    }

    /// The I/O counters of each worker: calls into the kernel, requests handed over,
    /// completions taken back (see [`RuntimeMetrics`] and [`crate::metrics`]).
    ///
    /// ```
    /// let rt = ringtide::Builder::new().worker_threads(1).build()?;
    /// let before = rt.metrics().total();
    /// let sleep = ringtide::time::sleep(std::time::Duration::from_millis(2));
    /// rt.block_on(rt.spawn(sleep)).unwrap();
    /// let slept = rt.metrics().total().since(&before);
    /// // The worker, which ran the task, waited in the kernel at least once.
    /// assert!(slept.io_enters >= 1, "{slept:?}");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn metrics(&self) -> RuntimeMetrics {
        RuntimeMetrics::new(self.driver, self.shared.io_metrics())
    }

    /// Under [`Driver::Auto`], why the runtime runs on epoll: the error io_uring's setup
    /// gave (a seccomp filter, `kernel.io_uring_disabled`, an old kernel). `None` when it
    /// runs on io_uring or epoll was asked for.
    pub fn io_uring_error(&self) -> Option<&str> {
        self.io_uring_error.as_deref()
    }

    /// What the workers' receive buffer rings have been through so far (see
    /// [`Builder::recv_buffers`]); all zero where receives are one-shot (epoll, or a
    /// kernel without multishot receive).
    pub fn recv_buffer_stats(&self) -> crate::net::RecvBufferStats {
        crate::net::RecvBufferStats::read(&self.shared.recv.counters)
    }

    /// Spawns a task onto the runtime; a worker will run it.
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        task::spawn(&self.shared, future, ANY_WORKER)
    }

    /// Runs `f` on a thread of this runtime's blocking pool; see
    /// [`spawn_blocking`](crate::task::spawn_blocking) for the pool, cancellation and
    /// shutdown.
    ///
    /// ```
    /// let rt = ringtide::Runtime::new()?;
    /// let job = rt.spawn_blocking(|| std::fs::metadata("/").map(|m| m.is_dir()));
    /// assert!(rt.block_on(job).unwrap()?);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn spawn_blocking<F, R>(&self, f: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        blocking::spawn_blocking_on(&self.shared, f)
    }

    /// A [`Handle`] to this runtime, to spawn onto it and run futures in it from other
    /// threads.
    ///
    /// ```
    /// let rt = ringtide::Runtime::new()?;
    /// let handle = rt.handle();
    /// let answer = std::thread::spawn(move || handle.block_on(handle.spawn(async { 42 })))
    ///     .join()
    ///     .unwrap();
    /// assert_eq!(answer.unwrap(), 42);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn handle(&self) -> Handle {
        Handle::new(self.shared.clone())
    }
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("worker_threads", &self.threads.len())
            .field("tasks", &self.shared.registry.len())
            .field("driver", &self.description)
            .field("io_uring_error", &self.io_uring_error)
            .finish()
    }
}

impl Drop for Runtime {
    /// Shuts the runtime down: every task is cancelled (its future dropped on a worker),
    /// every operation in flight in the rings is cancelled and waited for before the
    /// memory it uses is freed, and the workers exit, closing their rings.
    ///
    /// On any thread but the runtime's own workers and blocking threads this waits for
    /// all of it to be done.
    ///
    /// # Blocking jobs
    ///
    /// First, the [`spawn_blocking`](crate::task::spawn_blocking) jobs that have not
    /// started are cancelled: they never run, their closures are dropped here, and their
    /// handles yield a cancelled [`JoinError`](crate::JoinError). Jobs already running
    /// cannot be interrupted: the drop waits for them to return, however long that
    /// takes. Until they have, the workers keep driving timers and I/O for them, so a job
    /// may still [`Handle::block_on`] a sleep or a socket; but the tasks are cancelled
    /// meanwhile, as are tasks and jobs spawned from then on, so a job waiting for
    /// something from a task (a message on a channel) sees that task's side dropped.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use std::sync::{mpsc, Arc};
    /// use std::time::Duration;
    ///
    /// let rt = ringtide::Builder::new().max_blocking_threads(1).build()?;
    /// let (started, start) = mpsc::channel();
    /// let finished = Arc::new(AtomicBool::new(false));
    /// let running = rt.spawn_blocking({
    ///     let finished = finished.clone();
    ///     move || {
    ///         started.send(()).unwrap();
    ///         std::thread::sleep(Duration::from_millis(20));
    ///         finished.store(true, Ordering::SeqCst);
    ///     }
    /// });
    /// // The pool's one thread is busy: this job waits in the queue.
    /// let queued = rt.spawn_blocking(|| unreachable!("cancelled before it started"));
    /// start.recv().unwrap();
    /// drop(rt);
    /// assert!(finished.load(Ordering::SeqCst), "the drop waited for the running job");
    /// assert!(futures::executor::block_on(running).is_ok());
    /// assert!(futures::executor::block_on(queued).unwrap_err().is_cancelled());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Dropped from one of its own tasks
    ///
    /// When the last reference to the runtime goes on one of its workers (typically an
    /// `Arc<Runtime>` captured by a task, after `main` dropped its copy), waiting would
    /// never end: the workers cannot finish while the task that is dropping the runtime
    /// is still running, and a worker cannot join its own thread. So the drop starts the
    /// shutdown and returns at once, and the worker threads are detached: the workers
    /// finish the shutdown on their own, exactly as above, and the last one out releases
    /// what they shared. The task that dropped the runtime goes on until it next returns
    /// `Pending`, then it is cancelled like every other task.
    ///
    /// The same holds wherever on a worker the last reference goes: in a task's code,
    /// with its future when it completes or is aborted, with an output nobody awaits, in
    /// any destructor those run; and on one of the runtime's blocking threads, in a job
    /// (which the workers wait for, so they finish after it returns). Only then does the
    /// drop not wait; to know when the shutdown is complete, drop the runtime from a
    /// thread of your own (for example `main`).
    ///
    /// ```
    /// use std::sync::{mpsc, Arc};
    ///
    /// let rt = Arc::new(ringtide::Runtime::new()?);
    /// let (done, dropped) = mpsc::channel();
    /// let task_rt = rt.clone();
    /// drop(rt.spawn(async move {
    ///     ringtide::time::sleep(std::time::Duration::from_millis(1)).await;
    ///     // The last reference, if `main` has dropped its copy by now: shutdown begins
    ///     // and this returns at once.
    ///     drop(task_rt);
    ///     done.send(()).unwrap();
    /// }));
    /// drop(rt);
    /// dropped.recv().unwrap();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    fn drop(&mut self) {
        self.shut_down(None);
    }
}

impl Runtime {
    /// Shuts the runtime down as dropping it does, but waits at most `timeout` for the
    /// workers and the running blocking jobs to finish. Returns whether they did; if not,
    /// their threads are left to finish on their own, and the last one out frees what
    /// the runtime shared.
    ///
    /// Either way, once this returns every task has been cancelled or is being
    /// cancelled: pending timers are dropped with their tasks (none fires after), and
    /// operations in flight are cancelled, their buffers kept until the kernel lets go
    /// of them. What cannot be cut short is a blocking job already running (a thread
    /// cannot be interrupted) or a task's own code that does not return: those are what
    /// the timeout bounds. Jobs not yet started never run.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let rt = ringtide::Runtime::new()?;
    /// rt.spawn_blocking(|| std::thread::sleep(Duration::from_secs(3)));
    /// rt.spawn(ringtide::time::sleep(Duration::from_secs(3600)));
    /// // The job outlasts the timeout: its thread is left to finish alone.
    /// # std::thread::sleep(Duration::from_millis(50)); // let the job start
    /// assert!(!rt.shutdown_timeout(Duration::from_millis(10)));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn shutdown_timeout(mut self, timeout: Duration) -> bool {
        self.shut_down(Some(Instant::now() + timeout))
    }

    /// Starts the shutdown and returns at once, without waiting for the workers or the
    /// blocking jobs: they finish it on their own, as after a
    /// [`shutdown_timeout`](Runtime::shutdown_timeout) that timed out. For a runtime
    /// dropped in a context where waiting is not allowed (another runtime's task).
    ///
    /// ```
    /// let rt = ringtide::Runtime::new()?;
    /// rt.spawn(ringtide::time::sleep(std::time::Duration::from_secs(3600)));
    /// rt.shutdown_background();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn shutdown_background(mut self) {
        self.shut_down(Some(Instant::now()));
    }

    /// The shutdown of [`Drop`] and the two methods above: waits for the threads until
    /// `deadline` (`None`: for as long as they take). Returns whether they finished. Runs
    /// once; later calls (the drop after a method) do nothing.
    fn shut_down(&mut self, deadline: Option<Instant>) -> bool {
        if self.shut_down {
            return true;
        }
        self.shut_down = true;
        // Before the tasks are cancelled, so that no job starts once they are (see
        // "Shutdown" in `task::blocking`).
        let blocking_threads = self.shared.blocking.shutdown();
        self.shared.begin_shutdown();
        let shared = Arc::as_ptr(&self.shared);
        let on_own_thread = context::with_worker_of(shared, |core| core.is_some())
            || context::on_blocking_thread_of(shared);
        if on_own_thread {
            // Detached, the blocking threads too: see the docs above.
            self.threads.clear();
            return false;
        }
        let mut threads: Vec<_> = self.threads.drain(..).collect();
        // The workers wait for the running jobs; their threads exit right after.
        threads.extend(blocking_threads);
        if let Some(deadline) = deadline {
            while !threads.iter().all(thread::JoinHandle::is_finished) {
                let now = Instant::now();
                if now >= deadline {
                    return false; // detached: the last thread out frees what is shared
                }
                thread::sleep((deadline - now).min(Duration::from_millis(1)));
            }
        }
        for thread in threads {
            let _ = thread.join();
        }
        // Every task is gone; anything still queued is an empty shell.
        self.shared.empty_injector();
        true
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    /// A runtime with `workers` unpinned workers.
    fn runtime(workers: usize) -> crate::Runtime {
        crate::Builder::new()
            .worker_threads(workers)
            .pin_workers(false)
            .build()
            .unwrap()
    }

    /// Timers registered by one worker spread over the wheels once its own holds far
    /// more than another's, so that both workers fire them.
    #[test]
    fn timers_from_one_worker_spread_over_the_wheels() {
        let rt = runtime(2);
        const TIMERS: usize = 5_000;
        let sleeps = rt
            .block_on(rt.spawn(async {
                let mut sleeps: Vec<_> = (0..TIMERS)
                    .map(|_| Box::pin(crate::time::sleep(Duration::from_secs(3600))))
                    .collect();
                // Polled once each, from this one task on one worker: registered.
                let waker = std::task::Waker::noop();
                let mut cx = std::task::Context::from_waker(waker);
                for sleep in &mut sleeps {
                    assert!(std::future::Future::poll(sleep.as_mut(), &mut cx).is_pending());
                }
                sleeps
            }))
            .unwrap();
        let lens: Vec<usize> = rt.shared.workers.iter().map(|w| w.timers.len()).collect();
        assert_eq!(lens.iter().sum::<usize>(), TIMERS);
        assert!(
            lens.iter().all(|&len| len >= 1_000),
            "timers stayed on one wheel: {lens:?}"
        );
        drop(sleeps);
        assert!(rt.shared.workers.iter().all(|w| w.timers.is_empty()));
    }

    /// A handle dropped after its task finished drops the output; when that destructor
    /// panics, the handle's reference still goes, so the task (which holds the runtime)
    /// is freed.
    #[test]
    fn a_panicking_output_destructor_leaks_nothing() {
        struct Bomb;
        impl Drop for Bomb {
            fn drop(&mut self) {
                panic!("output dropped");
            }
        }
        let rt = runtime(1);
        let shared = Arc::downgrade(&rt.shared);
        let handle = rt.spawn(async { Bomb });
        let start = std::time::Instant::now();
        while !handle.is_finished() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "the task never ran"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(handle)));
        assert!(dropped.is_err(), "the output's destructor ran and panicked");
        drop(rt);
        assert!(shared.upgrade().is_none(), "the task outlived its runtime");
    }

    /// A detached task's output is dropped by the worker as soon as the task finishes
    /// (once, even if its destructor panics); the worker survives the panic, and the task
    /// and the runtime are freed.
    #[test]
    fn a_detached_tasks_output_is_dropped_once_when_it_finishes() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static DROPS: AtomicUsize = AtomicUsize::new(0);
        struct Bomb;
        impl Drop for Bomb {
            fn drop(&mut self) {
                DROPS.fetch_add(1, Ordering::SeqCst);
                panic!("output dropped");
            }
        }
        let rt = runtime(1);
        let shared = Arc::downgrade(&rt.shared);
        let (go, wait) = std::sync::mpsc::channel::<()>();
        let handle = rt.spawn(async move {
            let _ = wait.recv();
            Bomb
        });
        drop(handle);
        go.send(()).unwrap();
        let start = std::time::Instant::now();
        while DROPS.load(Ordering::SeqCst) == 0 {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "the output was never dropped"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(
            rt.block_on(rt.spawn(async { 5 })).unwrap(),
            5,
            "the worker lives"
        );
        drop(rt);
        assert_eq!(DROPS.load(Ordering::SeqCst), 1);
        assert!(shared.upgrade().is_none(), "the task outlived its runtime");
    }

    /// Tasks spawned on one worker (from its memory pool) and finished on another: none
    /// may be left behind, holding the runtime, once it is dropped.
    #[test]
    fn tasks_finished_on_another_worker_are_all_freed() {
        let rt = runtime(2);
        let shared = Arc::downgrade(&rt.shared);
        let sum = rt
            .block_on(rt.spawn(async {
                let handles: Vec<_> = (0..20_000u64)
                    .map(|i| {
                        crate::spawn(async move {
                            crate::time::sleep(Duration::from_micros(i % 700)).await;
                            i
                        })
                    })
                    .collect();
                let mut sum = 0;
                for handle in handles {
                    sum += handle.await.unwrap();
                }
                sum
            }))
            .unwrap();
        assert_eq!(sum, (0..20_000u64).sum::<u64>());
        // Some tasks stay idle and detached, to be cancelled by the shutdown.
        rt.block_on(rt.spawn(async {
            for _ in 0..1_000 {
                drop(crate::spawn(crate::time::sleep(Duration::from_secs(3600))));
            }
        }))
        .unwrap();
        drop(rt);
        assert!(shared.upgrade().is_none(), "a task outlived its runtime");
    }
}
