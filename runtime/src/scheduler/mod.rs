//! The multi-threaded, work-stealing scheduler.
//!
//! Every worker thread owns a crossbeam-deque [`Worker`](crossbeam_deque::Worker) run
//! queue whose [`Stealer`] the others hold, one io_uring ring, and one timer queue. All
//! workers share one [`Injector`] for work that comes from outside (`Runtime::spawn`,
//! `block_on`, wakes from foreign threads).
//!
//! # Where a woken task goes
//!
//! * Woken on a worker of its own runtime: onto that worker's local queue (it is hot in
//!   that core's cache, and the local queue is stealable, so nothing is stranded).
//! * Woken anywhere else: onto the injector, and an idle worker is notified.
//! * A `spawn_local` task: onto the local, non-stealable queue of its owner worker, through
//!   that worker's inbox when woken from another thread.
//!
//! # Keeping every core busy
//!
//! When a worker makes stealable work while no worker is searching for work and some are
//! parked, it wakes one parked worker, which steals; the protocol, and why no work is
//! stranded, is in [`idle`].

pub(crate) mod idle;
pub(crate) mod park;
pub(crate) mod registry;
pub(crate) mod worker;

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crossbeam_deque::{Injector, Steal, Stealer};

use crate::block_on::BlockOnThreads;
use crate::context::{self, Current};
use crate::driver::buf_ring::RecvBufferCounters;
use crate::driver::{self, op::Completion, op::OpRef, Selection};
use crate::metrics::{PublishedCounts, WorkerMetrics};
use crate::task::blocking::{self, BlockingPool};
use crate::task::pool::RemotePool;
use crate::task::{Runnable, ANY_WORKER, BLOCKING};
use crate::time::shard::TimerShard;
use idle::Idle;
use park::ParkState;
use registry::TaskRegistry;

/// State shared by all workers of one runtime and every handle to it.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) injector: Injector<Runnable>,
    pub(crate) stealers: Box<[Stealer<Runnable>]>,
    pub(crate) workers: Box<[Arc<WorkerShared>]>,
    pub(crate) registry: TaskRegistry,
    pub(crate) idle: Idle,
    /// Read before every task poll: kept on a cache line of its own, away from the
    /// counters other fields update on every wake.
    shutdown: CacheAligned<AtomicBool>,
    /// Timer deadlines are nanoseconds since this instant.
    pub(crate) epoch: Instant,
    /// Round-robin cursor: which worker takes a timer registered outside the workers,
    /// and where the search for a parked worker to wake starts.
    next_remote: AtomicUsize,
    /// Workers whose loop has not ended yet.
    running_workers: AtomicUsize,
    /// The threads for `spawn_blocking` jobs.
    pub(crate) blocking: BlockingPool,
    /// Threads inside `block_on`, woken when the last worker exits.
    pub(crate) block_on_threads: BlockOnThreads,
    /// The opcodes every worker's ring runs itself (0 on epoll): where a file operation
    /// goes (see `context::ring_runs`).
    pub(crate) ring_opcodes: u64,
    /// How receive streams receive (see `net::RecvStream`).
    pub(crate) recv: RecvSettings,
}

/// What a receive stream needs to know of its runtime.
#[derive(Debug)]
pub(crate) struct RecvSettings {
    /// Which multishot requests the rings run.
    pub(crate) multishot: driver::Multishot,
    /// Bytes per receive buffer (the rings' provided buffers, and the pooled ones of
    /// one-shot receives).
    pub(crate) buffer_size: usize,
    /// The rings' buffer events, for `Runtime::recv_buffer_stats`.
    pub(crate) counters: Arc<RecvBufferCounters>,
}

/// Aligns a value to its own pair of cache lines (the unit adjacent-line prefetchers
/// fetch together), so writes to its neighbours do not evict it.
#[derive(Debug)]
#[repr(align(128))]
pub(crate) struct CacheAligned<T>(pub(crate) T);

/// The part of a worker that other threads reach.
#[derive(Debug)]
pub(crate) struct WorkerShared {
    pub(crate) park: ParkState,
    pub(crate) eventfd: OwnedFd,
    pub(crate) inbox: Mutex<Inbox>,
    /// Set when the inbox is non-empty, so the worker can skip the lock.
    pub(crate) inbox_pending: AtomicBool,
    /// This worker's timing wheel.
    pub(crate) timers: Arc<TimerShard>,
    /// Where other threads return the task memory this worker handed out.
    pub(crate) pool: RemotePool,
    /// The driver's counters as this worker last published them.
    pub(crate) io_counts: PublishedCounts,
}

/// What other threads hand to one particular worker.
#[derive(Debug, Default)]
pub(crate) struct Inbox {
    /// `spawn_local` tasks of this worker, woken from another thread.
    pub(crate) local_tasks: Vec<Runnable>,
    /// Requests for this worker's ring, in the order they were made.
    pub(crate) ring: Vec<RingMsg>,
    /// The worker has exited; nothing may be handed to it any more.
    pub(crate) closed: bool,
}

/// A request for a worker's ring from another thread: only the ring's own thread may
/// submit to it.
#[derive(Debug)]
pub(crate) enum RingMsg {
    /// Submit an operation polled outside the workers (in `block_on`).
    Submit(OpRef),
    /// Cancel an operation of this ring whose future was dropped on another thread.
    Cancel(OpRef),
}

impl WorkerShared {
    /// Wakes this worker if it is parked; costs no syscall if it is running.
    pub(crate) fn unpark(&self) {
        if self.park.notify() {
            driver::wake_eventfd(self.eventfd.as_raw_fd());
        }
    }

    /// Hands an operation to this worker's ring from another thread.
    pub(crate) fn send_submit(&self, op: OpRef) {
        if let Err(RingMsg::Submit(op)) = self.send(RingMsg::Submit(op)) {
            // The worker has exited with its ring: the request can never run.
            if let Some(waker) = op.complete(Completion {
                result: -libc::ECANCELED,
                flags: 0,
            }) {
                waker.wake();
            }
        }
    }

    /// Cancels an operation of this worker's ring, whose future was just dropped.
    pub(crate) fn cancel(self: &Arc<Self>, op: OpRef) {
        let op = context::with_current(|current| match current {
            Current::Worker(core) if Arc::ptr_eq(core.worker_shared(), self) => {
                core.cancel_op(op);
                None
            }
            _ => Some(op),
        });
        if let Some(op) = op {
            // Once the worker has exited, its ring cancelled everything in flight.
            let _ = self.send(RingMsg::Cancel(op));
        }
    }

    /// Queues a message for this worker's ring; gives it back if the worker has exited.
    pub(crate) fn send(&self, msg: RingMsg) -> Result<(), RingMsg> {
        let mut inbox = self.inbox.lock().unwrap();
        if inbox.closed {
            return Err(msg);
        }
        inbox.ring.push(msg);
        self.inbox_pending.store(true, Ordering::Release);
        drop(inbox);
        self.unpark();
        Ok(())
    }
}

impl Shared {
    pub(crate) fn new(
        stealers: Vec<Stealer<Runnable>>,
        eventfds: Vec<OwnedFd>,
        blocking: BlockingPool,
        selection: &Selection,
    ) -> Shared {
        let workers: Box<[Arc<WorkerShared>]> = eventfds
            .into_iter()
            .map(|eventfd| {
                Arc::new(WorkerShared {
                    park: ParkState::new(),
                    eventfd,
                    inbox: Mutex::new(Inbox::default()),
                    inbox_pending: AtomicBool::new(false),
                    timers: TimerShard::new(),
                    pool: RemotePool::new(),
                    io_counts: PublishedCounts::default(),
                })
            })
            .collect();
        Shared {
            injector: Injector::new(),
            stealers: stealers.into_boxed_slice(),
            registry: TaskRegistry::new(workers.len()),
            running_workers: AtomicUsize::new(workers.len()),
            workers,
            idle: Idle::new(),
            shutdown: CacheAligned(AtomicBool::new(false)),
            epoch: Instant::now(),
            next_remote: AtomicUsize::new(0),
            blocking,
            block_on_threads: BlockOnThreads::default(),
            ring_opcodes: selection.ring_opcodes,
            recv: RecvSettings {
                multishot: selection.multishot,
                buffer_size: selection.recv_buffers.size as usize,
                counters: selection.recv_buffers.counters.clone(),
            },
        }
    }

    /// Each worker's I/O counters as it last published them.
    pub(crate) fn io_metrics(&self) -> Vec<WorkerMetrics> {
        self.workers.iter().map(|w| w.io_counts.read()).collect()
    }

    #[inline]
    pub(crate) fn is_shutdown(&self) -> bool {
        self.shutdown.0.load(Ordering::Acquire)
    }

    /// Starts shutdown: every task is woken so that its next poll cancels it, and every
    /// worker is woken to run those polls.
    pub(crate) fn begin_shutdown(&self) {
        self.shutdown.0.store(true, Ordering::SeqCst);
        for waker in self.registry.wakers() {
            waker.wake();
        }
        for index in 0..self.workers.len() {
            self.unpark(index);
        }
    }

    /// Counts out a worker whose loop has ended; returns whether it was the last one.
    pub(crate) fn worker_exited(&self) -> bool {
        // AcqRel: the last one out sees what every other worker did before it left.
        self.running_workers.fetch_sub(1, Ordering::AcqRel) == 1
    }

    /// The scheduling function of every task: called whenever a task is woken (or
    /// spawned) and must be queued.
    pub(crate) fn schedule(runnable: Runnable) {
        let meta = runnable.metadata();
        if meta.owner != ANY_WORKER {
            if meta.owner == BLOCKING {
                return blocking::schedule(runnable);
            }
            let shared = meta.shared.clone();
            let owner = meta.owner;
            return shared.schedule_local(owner, runnable);
        }
        let pushed = context::with_worker_of(Arc::as_ptr(&meta.shared), |core| match core {
            Some(core) => {
                core.push(runnable);
                None
            }
            None => Some(runnable),
        });
        if let Some(runnable) = pushed {
            let shared = runnable.metadata().shared.clone();
            shared.injector.push(runnable);
            shared.notify_parked();
            shared.empty_injector_if_workers_exited();
        }
    }

    /// After a push onto the injector: once every worker has exited, nobody else will
    /// take the task (a `Handle` spawning after the runtime was dropped), so it is
    /// dropped here, which cancels it: its handle yields a cancelled error instead of
    /// waiting forever.
    ///
    /// Either this sees the last worker gone, or that worker's final sweep of the
    /// injector sees the push: the push, this fence and the read here, against the
    /// worker's decrement, its fence and its sweep (see `WorkerCore::finish`).
    fn empty_injector_if_workers_exited(&self) {
        fence(Ordering::SeqCst);
        if self.running_workers.load(Ordering::Relaxed) != 0 {
            return;
        }
        self.empty_injector();
    }

    /// Drops (so cancels) every task in the injector, until it is empty: a dropped
    /// task's destructor may queue another.
    pub(crate) fn empty_injector(&self) {
        loop {
            match self.injector.steal() {
                Steal::Success(task) => drop(task),
                Steal::Empty => return,
                Steal::Retry => std::hint::spin_loop(),
            }
        }
    }

    fn schedule_local(&self, owner: usize, runnable: Runnable) {
        let on_owner = context::with_worker_of(self as *const Shared, |core| match core {
            Some(core) if core.index == owner => {
                core.push_local_task(runnable);
                None
            }
            _ => Some(runnable),
        });
        let Some(runnable) = on_owner else { return };
        let worker = &self.workers[owner];
        let mut inbox = worker.inbox.lock().unwrap();
        if inbox.closed {
            // The owner thread is gone and a local task may be polled or dropped only
            // there: leak it rather than break that promise. This happens only when a
            // waker outlives a runtime that was shut down while the task was being woken.
            std::mem::forget(runnable);
            return;
        }
        inbox.local_tasks.push(runnable);
        worker.inbox_pending.store(true, Ordering::Release);
        drop(inbox);
        self.unpark(owner);
    }

    /// Whether `shard` is one of this runtime's timer wheels (compared by address).
    pub(crate) fn owns_timer_shard(
        &self,
        shard: std::ptr::NonNull<crate::time::shard::TimerShard>,
    ) -> bool {
        self.workers
            .iter()
            .any(|worker| std::ptr::eq(Arc::as_ptr(&worker.timers), shard.as_ptr()))
    }

    /// The worker whose wheel takes the next timer registered outside the workers.
    pub(crate) fn next_timer_worker(&self) -> usize {
        self.next_remote.fetch_add(1, Ordering::Relaxed) % self.workers.len()
    }

    /// Wakes worker `index` if it is parked; costs no syscall if it is running.
    pub(crate) fn unpark(&self, index: usize) {
        self.workers[index].unpark();
    }

    /// After publishing stealable work: makes sure some worker will pick it up.
    pub(crate) fn notify_parked(&self) {
        if !self.idle.should_notify() {
            return;
        }
        let start = self.next_remote.fetch_add(1, Ordering::Relaxed);
        let n = self.workers.len();
        for i in 0..n {
            let worker = &self.workers[(start + i) % n];
            if worker.park.notify_if_parked() {
                driver::wake_eventfd(worker.eventfd.as_raw_fd());
                return;
            }
        }
    }

    /// Whether any stealable queue has work (used by a worker about to park).
    pub(crate) fn has_stealable_work(&self) -> bool {
        !self.injector.is_empty() || self.stealers.iter().any(|s| !s.is_empty())
    }
}
