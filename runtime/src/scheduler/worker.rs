//! One worker thread: its run queues, timer queue, ring, and loop.
//!
//! # The loop
//!
//! 1. Pop a task from the local queues (every [`MAINTENANCE_INTERVAL`] ticks, first run
//!    maintenance and take one task from the injector, so that neither external work nor
//!    timers starve behind a busy local queue) and run it with a fresh coop budget.
//! 2. With no local work: run maintenance (inbox, due timers, ring completions); if that
//!    made work, go to 1.
//! 3. Steal: a slice of another worker's due timers if it has more due than it fires per
//!    pass (the woken tasks run here, see `TimerShard::help_expire`), else a batch from
//!    the injector, else half of another worker's queue. A worker whose last task was
//!    stolen keeps trying for [`STEAL_SPINS`] attempts first.
//! 4. Park in the ring until the nearest timer deadline, a completion, or a notification
//!    (the protocol is in [`park`](super::park)).
//!
//! # One call into the kernel per round
//!
//! A round is one pass from step 2 to the next: the worker ran out of local work (or
//! reached a maintenance pass). The requests its tasks queued meanwhile reach the kernel
//! in one `io_uring_enter` per round, whichever way the round ends:
//!
//! * Parking: step 2 only takes what the completion queue already holds (shared memory,
//!   no system call), and the park's wait submits the queued requests in the same call
//!   (a wait returns at once when completions are already there).
//! * Not parking (step 2 found work, or a steal did): the queued requests are submitted,
//!   without waiting, before the next task runs.
//! * A maintenance pass (every [`MAINTENANCE_INTERVAL`] tasks of a long local queue)
//!   submits and collects without waiting.
//!
//! Spinning before parking (`Builder::spin_before_park`) is a round per pass of the spin,
//! each entering only when it has something to submit or collect. Making room in a full
//! submission queue and flushing an overflowed completion queue also enter. The driver
//! counts every enter (see [`crate::metrics`]); the worker publishes the counts once per
//! maintenance pass and after each park.
//!
//! # Shutdown
//!
//! Once the runtime is shutting down every task is woken and cancels itself at its next
//! poll; workers keep running the loop (parking at most 1 ms at a time) until the
//! registry says no task is left and no blocking job is running (the jobs may still use
//! the timers and the rings). Then each worker closes its inbox, drops what remains
//! in its queues on its own thread, and drops its ring, which waits for every request in
//! flight before freeing their buffers. The last worker out also empties the injector,
//! whose tasks would otherwise keep the shared state (which they point to) alive, and
//! wakes the threads inside `block_on` (see [`crate::block_on`]).
//!
//! Nothing here needs the thread that dropped the `Runtime`: when that is one of the
//! workers (a task dropped the last reference to it), the drop only starts the shutdown
//! and the workers finish it on their own. Whatever they share is freed with the last
//! reference to it, which every worker holds until its ring is gone: the wake-up
//! eventfds, which a parked ring needs to be woken, outlive every ring.

use std::cell::{Cell, RefCell, RefMut};
use std::collections::VecDeque;
use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::Waker;
use std::time::Duration;

use crossbeam_deque::Steal;

use super::{RingMsg, Shared, WorkerShared};
use crate::coop;
use crate::driver::op::OpRef;
use crate::driver::IoDriver;
use crate::task::pool::LocalPool;
use crate::task::Runnable;
use crate::time::wheel::tick_reached;

/// Ticks between maintenance passes while a worker has local work.
const MAINTENANCE_INTERVAL: u32 = 61;

/// The local queue length a maintenance pass tops up to with fired timers (timers moved
/// down a level count too), so that a large batch does not stall the tasks it wakes, or
/// the timers due meanwhile (see `WorkerCore::fire_timers`).
const TIMER_SLICE: usize = 512;

/// Timers fired per maintenance pass however many tasks are queued, so that timers keep
/// firing on a worker whose queue never empties.
const MIN_TIMER_SLICE: usize = 32;

/// Timers a worker with nothing to do fires per pass for another worker that has more due
/// than it fires at once (it holds that worker's wheel lock meanwhile).
const HELP_TIMER_SLICE: usize = 128;

/// Steal attempts a worker living off stolen work makes before it parks (a few
/// microseconds of searching).
const STEAL_SPINS: u32 = 64;

/// Tasks woken by one batch of timers above which an idle worker is woken to help.
const SHARE_TIMER_BATCH: usize = 16;

/// Timers a worker's wheel may hold beyond another's before the worker links new ones
/// into that other wheel (see `WorkerCore::timer_wheel`).
const TIMER_IMBALANCE: usize = 1024;

/// Timers a worker links between two looks at where they should go.
const TIMER_BALANCE_INTERVAL: u32 = 16;

/// Registry keys of finished tasks of one shard a worker gathers before removing them
/// under one lock.
const UNREGISTER_BATCH: usize = 64;

/// Longest park while shutting down (the last task may finish on another worker).
const SHUTDOWN_PARK: Duration = Duration::from_millis(1);

/// The worker-thread-only part of a worker. Reached through shared references only
/// (from the worker loop and, via the thread-local context, from wakers and timers that
/// run on this thread), hence the cells.
#[derive(Debug)]
pub(crate) struct WorkerCore {
    /// Declared (so dropped) before `shared`: dropping the ring wakes its own armed
    /// eventfd read and waits for it, and the eventfd lives in `shared`, which this may
    /// be the last reference to (see "Shutdown" in the module docs).
    driver: RefCell<IoDriver>,
    pub(crate) index: usize,
    pub(crate) shared: Arc<Shared>,
    local: crossbeam_deque::Worker<Runnable>,
    /// `spawn_local` tasks: never stolen.
    local_tasks: RefCell<VecDeque<Runnable>>,
    /// Wakers of fired timers and completed operations, collected under the wheel's lock
    /// or the driver's borrow and woken after it.
    fired: RefCell<Vec<Waker>>,
    /// Set while waking a batch of timers: the batch decides once, at its end, whether
    /// another worker should be woken to share it.
    batching_wakes: Cell<bool>,
    /// A small timer batch left tasks queued without telling idle workers; checked after
    /// the next task poll.
    notify_after_task: Cell<bool>,
    /// The clock (nanoseconds since the epoch) as last read by this worker; never ahead
    /// of the real clock, so comparing a deadline with it never fires a timer early.
    clock: Cell<u64>,
    tick: Cell<u32>,
    rng: Cell<u32>,
    /// The last task this worker ran came from another worker's queue (or the injector).
    stealing: Cell<bool>,
    /// How long to look for work before parking (`Builder::spin_before_park`).
    spin_before_park: Duration,
    /// `unregistered[s]`: keys of finished tasks registered in registry shard `s`, to be
    /// removed under one lock (see `unregister`); `unregistered_len` counts them all.
    unregistered: RefCell<Box<[Vec<usize>]>>,
    unregistered_len: Cell<usize>,
    /// Where a batch's wakers wait to be dropped, kept to save an allocation per batch.
    removed: RefCell<Vec<Waker>>,
    /// The memory of the tasks this worker spawns (see `crate::task::pool`).
    pub(crate) pool: LocalPool,
    /// The wheel this worker's new timers go into, and timers linked since it was chosen.
    timer_target: Cell<usize>,
    timers_linked: Cell<u32>,
}

impl WorkerCore {
    pub(crate) fn new(
        index: usize,
        shared: Arc<Shared>,
        local: crossbeam_deque::Worker<Runnable>,
        driver: IoDriver,
        spin_before_park: Duration,
    ) -> WorkerCore {
        let registry_shards = shared.registry.shards();
        WorkerCore {
            index,
            shared,
            local,
            local_tasks: RefCell::new(VecDeque::new()),
            fired: RefCell::new(Vec::new()),
            batching_wakes: Cell::new(false),
            notify_after_task: Cell::new(false),
            clock: Cell::new(0),
            driver: RefCell::new(driver),
            tick: Cell::new(0),
            stealing: Cell::new(false),
            spin_before_park,
            unregistered: RefCell::new(
                (0..registry_shards)
                    .map(|_| Vec::with_capacity(UNREGISTER_BATCH))
                    .collect(),
            ),
            unregistered_len: Cell::new(0),
            removed: RefCell::new(Vec::with_capacity(UNREGISTER_BATCH)),
            pool: LocalPool::new(),
            timer_target: Cell::new(index),
            timers_linked: Cell::new(0),
            rng: Cell::new(0x9E37_79B9 ^ (index as u32).wrapping_mul(0x85EB_CA6B) | 1),
        }
    }

    /// Queues a woken or spawned task on this worker.
    pub(crate) fn push(&self, runnable: Runnable) {
        // A yielding task goes to the back like any other: the queue is FIFO, so
        // everything already queued runs before it again.
        self.local.push(runnable);
        if !self.batching_wakes.get() {
            self.shared.notify_parked();
        }
    }

    /// Takes the registry key of a task that finished here, to be removed with others of
    /// its shard under one lock, once per [`UNREGISTER_BATCH`] tasks. One removal per
    /// task took that lock per task, and when the other workers were removing too (a
    /// burst of timers fired and run by every worker, whose tasks one worker had
    /// registered), the lock's cache line went back and forth between them, with
    /// waiting. Returns `false` if the caller must remove the key itself.
    ///
    /// A batched task stays registered a little longer: shutdown counts it as live until
    /// the batch is flushed, which every maintenance pass does (and nothing is batched
    /// once shutdown has begun). The registry's waker keeps the task's memory until then.
    pub(crate) fn unregister(&self, key: usize) -> bool {
        // While shutting down, tasks are also dropped as this worker exits, after its
        // last flush: remove them at once.
        if self.shared.is_shutdown() {
            return false;
        }
        let Ok(mut pending) = self.unregistered.try_borrow_mut() else {
            return false;
        };
        let shard = self.shared.registry.shard_of(key);
        pending[shard].push(key);
        self.unregistered_len.set(self.unregistered_len.get() + 1);
        if pending[shard].len() >= UNREGISTER_BATCH {
            self.remove_batch(pending, shard);
        }
        true
    }

    /// Removes every batched registry key (see `unregister`).
    fn flush_unregistered(&self) {
        if self.unregistered_len.get() == 0 {
            return;
        }
        for shard in 0..self.shared.registry.shards() {
            // Busy only if a destructor run by a batch being removed got here.
            let Ok(pending) = self.unregistered.try_borrow_mut() else {
                return;
            };
            if !pending[shard].is_empty() {
                self.remove_batch(pending, shard);
            }
        }
    }

    fn remove_batch(&self, mut pending: RefMut<'_, Box<[Vec<usize>]>>, shard: usize) {
        let mut removed = std::mem::take(&mut *self.removed.borrow_mut());
        let batch = &mut pending[shard];
        self.shared.registry.remove_many(shard, batch, &mut removed);
        self.unregistered_len
            .set(self.unregistered_len.get() - batch.len());
        batch.clear();
        drop(pending);
        // The wakers are dropped outside the lock and the borrow: often the tasks' last
        // references, whose destructors may finish other tasks.
        removed.clear();
        *self.removed.borrow_mut() = removed;
    }

    pub(crate) fn push_local_task(&self, runnable: Runnable) {
        self.local_tasks.borrow_mut().push_back(runnable);
    }

    /// The part of this worker that other threads reach.
    pub(crate) fn worker_shared(&self) -> &Arc<WorkerShared> {
        &self.shared.workers[self.index]
    }

    /// Submits an operation to this worker's ring; returns the ring's owner.
    pub(crate) fn submit_op(&self, op: OpRef) -> Arc<WorkerShared> {
        match self.driver.try_borrow_mut() {
            Ok(mut driver) => {
                if let Err(e) = driver.submit(op) {
                    fatal_ring_error(e);
                }
            }
            // Polled from a waker or destructor running inside the driver: take the
            // request at the next maintenance pass.
            Err(_) => self.queue_ring_msg(RingMsg::Submit(op)),
        }
        self.worker_shared().clone()
    }

    /// The epoch of this worker's readiness driver (see
    /// [`Readiness::seen_not_ready`](crate::driver::op::Readiness)); `None` under a ring,
    /// or while the driver is busy.
    pub(crate) fn readiness_epoch(&self) -> Option<crate::driver::epoll::Epoch> {
        self.driver.try_borrow().ok()?.readiness_epoch()
    }

    /// Cancels an operation of this worker's ring.
    pub(crate) fn cancel_op(&self, op: OpRef) {
        match self.driver.try_borrow_mut() {
            Ok(mut driver) => {
                if let Err(e) = driver.cancel(&op) {
                    fatal_ring_error(e);
                }
            }
            Err(_) => self.queue_ring_msg(RingMsg::Cancel(op)),
        }
    }

    /// Closes a descriptor through this worker's ring; `false` if the ring is busy (the
    /// caller then closes it with a syscall).
    pub(crate) fn close_fd(&self, fd: std::os::fd::RawFd) -> bool {
        match self.driver.try_borrow_mut() {
            Ok(mut driver) => driver.close(fd).is_ok(),
            Err(_) => false,
        }
    }

    fn queue_ring_msg(&self, msg: RingMsg) {
        let worker = self.worker_shared();
        worker.inbox.lock().unwrap().ring.push(msg);
        worker.inbox_pending.store(true, Ordering::Release);
    }

    /// The clock as this worker last read it: a lower bound of the current time that
    /// costs no clock read.
    pub(crate) fn cached_clock(&self) -> u64 {
        self.clock.get()
    }

    pub(crate) fn run(&self) {
        loop {
            if let Some(task) = self.next_local() {
                self.run_task(task);
                continue;
            }
            // Out of local work: what the driver has is taken by the park below if no
            // other work turns up first (or by the next pass of `next_local`).
            if self.maintain_with(DriverPoll::IfFree) {
                self.submit_queued();
                continue;
            }
            if let Some(task) = self.steal(1) {
                self.submit_queued();
                self.stealing.set(true);
                self.run_task(task);
                continue;
            }
            // A worker that has been living off stolen work keeps looking for a moment
            // before it parks: while it searches, the worker feeding it pushes without
            // a wake-up syscall, and it picks the next batch up without a context switch.
            if self.stealing.replace(false) {
                if let Some(task) = self.steal(STEAL_SPINS) {
                    self.submit_queued();
                    self.stealing.set(true);
                    self.run_task(task);
                    continue;
                }
            }
            if self.shared.is_shutdown() && self.shutdown_complete() {
                break;
            }
            if self.spin_for_work() {
                continue;
            }
            self.park();
        }
        self.finish();
    }

    /// Keeps looking for work for up to `spin_before_park`; returns whether it found some
    /// (and has run the task it stole, if that is what it found).
    fn spin_for_work(&self) -> bool {
        if self.spin_before_park.is_zero() || self.shared.is_shutdown() {
            return false;
        }
        let until = std::time::Instant::now() + self.spin_before_park;
        loop {
            // Without queued submissions or deferred completions this makes no syscall.
            if self.maintain() {
                return true;
            }
            if let Some(task) = self.steal(1) {
                self.stealing.set(true);
                self.run_task(task);
                return true;
            }
            if std::time::Instant::now() >= until {
                return false;
            }
            std::hint::spin_loop();
        }
    }

    /// Hands the kernel what this round's tasks queued, for a round that does not park
    /// (see "One call into the kernel per round").
    fn submit_queued(&self) {
        if let Err(e) = self.driver.borrow_mut().submit_queued() {
            fatal_ring_error(e);
        }
        self.wake_completions();
    }

    /// Copies the driver's counters where [`crate::Runtime::metrics`] reads them.
    fn publish_counts(&self) {
        let counts = self.driver.borrow().counts();
        self.shared.workers[self.index].io_counts.publish(counts);
    }

    fn run_task(&self, task: Runnable) {
        coop::with_budget(|| task.run());
        if self.notify_after_task.replace(false) && !self.local.is_empty() {
            self.shared.notify_parked();
        }
    }

    fn next_local(&self) -> Option<Runnable> {
        let tick = self.tick.get().wrapping_add(1);
        self.tick.set(tick);
        if tick % MAINTENANCE_INTERVAL == 0 {
            self.maintain();
            if let Some(task) = steal_one(|| self.shared.injector.steal()) {
                return Some(task);
            }
        }
        // Alternate between the two local queues so neither starves the other.
        if tick & 1 == 0 {
            self.local
                .pop()
                .or_else(|| self.local_tasks.borrow_mut().pop_front())
        } else {
            let local = self.local_tasks.borrow_mut().pop_front();
            local.or_else(|| self.local.pop())
        }
    }

    /// Drains the inbox, fires due timers and reaps completions. Returns whether any of
    /// it produced runnable work.
    fn maintain(&self) -> bool {
        self.maintain_with(DriverPoll::Always)
    }

    fn maintain_with(&self, driver_poll: DriverPoll) -> bool {
        let worker = &self.shared.workers[self.index];
        self.flush_unregistered();
        // Read before swapping: a swap takes the line exclusive on every pass.
        if worker.inbox_pending.load(Ordering::Relaxed)
            && worker.inbox_pending.swap(false, Ordering::AcqRel)
        {
            let (tasks, msgs) = {
                let mut inbox = worker.inbox.lock().unwrap();
                let tasks = std::mem::take(&mut inbox.local_tasks);
                (tasks, std::mem::take(&mut inbox.ring))
            };
            self.local_tasks.borrow_mut().extend(tasks);
            self.handle_ring_msgs(msgs);
        }
        let more_timers = self.fire_timers();
        let polled = match driver_poll {
            DriverPoll::Always => self.driver.borrow_mut().poll(),
            DriverPoll::IfFree => self.driver.borrow_mut().poll_if_free(),
        };
        if let Err(e) = polled {
            fatal_ring_error(e);
        }
        self.publish_counts();
        self.wake_completions();
        more_timers || !self.local.is_empty() || !self.local_tasks.borrow().is_empty()
    }

    fn handle_ring_msgs(&self, msgs: Vec<RingMsg>) {
        let mut driver = self.driver.borrow_mut();
        for msg in msgs {
            let result = match msg {
                // A future dropped before its request reached the ring: nothing to run.
                RingMsg::Submit(op) if op.is_dropped() => Ok(()),
                RingMsg::Submit(op) => driver.submit(op),
                RingMsg::Cancel(op) => driver.cancel(&op),
            };
            if let Err(e) = result {
                fatal_ring_error(e);
            }
        }
    }

    /// Wakes the tasks whose operations completed in the last poll or park.
    fn wake_completions(&self) {
        let mut fired = self.fired.borrow_mut();
        self.driver.borrow_mut().take_woken(&mut fired);
        drop(fired);
        self.wake_batch();
    }

    fn now(&self) -> u64 {
        let now = self.shared.epoch.elapsed().as_nanos() as u64;
        self.clock.set(now);
        now
    }

    /// Fires due timers, a slice at a time; returns whether more are due.
    ///
    /// The slice tops the local queue up to [`TIMER_SLICE`] tasks rather than adding
    /// that many to it: a woken task waits behind those already queued, and firing far
    /// more than the worker runs before its next pass (every [`MAINTENANCE_INTERVAL`]
    /// tasks) would let a burst's tasks pile up in the queue, each touched when woken
    /// and again, after its memory has left the cache, when run.
    fn fire_timers(&self) -> bool {
        let shard = &self.shared.workers[self.index].timers;
        if shard.is_empty() {
            return false;
        }
        let budget = TIMER_SLICE
            .saturating_sub(self.local.len())
            .max(MIN_TIMER_SLICE);
        let now = tick_reached(self.now());
        let more = shard.expire(now, budget, &mut self.fired.borrow_mut());
        self.wake_batch();
        more
    }

    /// Wakes the wakers collected in `fired`, then shares the woken tasks with idle
    /// workers if there are enough of them.
    fn wake_batch(&self) {
        if self.fired.borrow().is_empty() {
            return;
        }
        // Wakers are arbitrary code: run them with no borrow held.
        let mut batch = std::mem::take(&mut *self.fired.borrow_mut());
        let woken = batch.len();
        self.batching_wakes.set(true);
        for waker in batch.drain(..) {
            waker.wake();
        }
        self.batching_wakes.set(false);
        *self.fired.borrow_mut() = batch;
        // The first woken task runs here sooner than another worker could wake up (tens
        // of microseconds) to steal it. A large batch is worth sharing at once; a small
        // one is shared only if tasks are still queued once the first has run (see
        // `run_task`), so a long-running task cannot strand the rest.
        if woken > SHARE_TIMER_BATCH {
            self.shared.notify_parked();
        } else if woken > 1 {
            self.notify_after_task.set(true);
        }
    }

    /// Looks for work in the injector and the other workers' queues, `attempts` times
    /// (with a short pause between attempts), while counted as searching.
    fn steal(&self, attempts: u32) -> Option<Runnable> {
        let shared = &*self.shared;
        shared.idle.begin_search();
        let mut found = None;
        for attempt in 0..attempts {
            if attempt > 0 {
                for _ in 0..32 {
                    std::hint::spin_loop();
                }
            }
            found = self
                .help_expire()
                .or_else(|| steal_one(|| shared.injector.steal_batch_and_pop(&self.local)));
            found = found.or_else(|| {
                let n = shared.stealers.len();
                let start = self.next_random() as usize % n;
                (0..n)
                    .map(|i| (start + i) % n)
                    .filter(|&i| i != self.index)
                    .find_map(|i| steal_one(|| shared.stealers[i].steal_batch_and_pop(&self.local)))
            });
            if found.is_some() {
                break;
            }
        }
        shared.idle.end_search();
        // While this worker searched, pushers did not wake anyone, trusting the searcher
        // to find their work. Having taken one task (which may run for a long time), it
        // hands the search on if anything is left: in its own queue (a batch came over),
        // the injector, or another worker's queue.
        if found.is_some() && (!self.local.is_empty() || shared.has_stealable_work()) {
            shared.notify_parked();
        }
        found
    }

    /// Fires a slice of another worker's due timers, if one has more due than it fires
    /// per pass, and takes the first task that woke.
    fn help_expire(&self) -> Option<Runnable> {
        let workers = &self.shared.workers;
        let n = workers.len();
        for i in (1..n).map(|i| (self.index + i) % n) {
            let fired = workers[i].timers.help_expire(
                || tick_reached(self.now()),
                HELP_TIMER_SLICE,
                &mut self.fired.borrow_mut(),
            );
            if fired {
                self.wake_batch();
                return self.local.pop();
            }
        }
        None
    }

    /// The worker whose wheel a timer registered here goes into: normally this one's.
    ///
    /// A task's timers go where it is polled, and freshly spawned tasks are usually all
    /// polled by the one worker that steals them from a busy spawner: left alone, one
    /// wheel ends up with nearly every timer, and its worker alone fires them (100k
    /// deadlines spread over a second wake that worker 100k times, while the other waits
    /// for stolen work). Once this worker's wheel holds [`TIMER_IMBALANCE`] more timers
    /// than another's, new timers go into that one; its owner fires them and runs their
    /// tasks. Every [`TIMER_BALANCE_INTERVAL`] timers, the choice is made again against
    /// one other worker, picked at random, so that the counters other workers write are
    /// read rarely.
    pub(crate) fn timer_wheel(&self) -> usize {
        let linked = self.timers_linked.get().wrapping_add(1);
        self.timers_linked.set(linked);
        if linked % TIMER_BALANCE_INTERVAL == 0 {
            self.timer_target.set(self.pick_timer_wheel());
        }
        self.timer_target.get()
    }

    fn pick_timer_wheel(&self) -> usize {
        let workers = &self.shared.workers;
        let own = workers[self.index].timers.len();
        if own < TIMER_IMBALANCE || workers.len() == 1 {
            return self.index;
        }
        let others = workers.len() - 1;
        let other = (self.index + 1 + self.next_random() as usize % others) % workers.len();
        if workers[other].timers.len() + TIMER_IMBALANCE < own {
            other
        } else {
            self.index
        }
    }

    fn next_random(&self) -> u32 {
        // xorshift32
        let mut x = self.rng.get();
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.rng.set(x);
        x
    }

    /// Time until the nearest timer, or `None` when there is none.
    fn park_timeout(&self) -> Option<Duration> {
        let next = self.shared.workers[self.index]
            .timers
            .next_expiration_before_sleep();
        let timeout = next.map(|tick| {
            let deadline = tick.saturating_mul(1000);
            Duration::from_nanos(deadline.saturating_sub(self.now()))
        });
        if self.shared.is_shutdown() {
            return Some(timeout.map_or(SHUTDOWN_PARK, |t| t.min(SHUTDOWN_PARK)));
        }
        timeout
    }

    fn park(&self) {
        let shared = &*self.shared;
        let worker = &shared.workers[self.index];
        if !worker.park.begin_park() {
            return;
        }
        shared.idle.begin_park();
        let has_work = !self.local.is_empty()
            || !self.local_tasks.borrow().is_empty()
            || worker.inbox_pending.load(Ordering::SeqCst)
            || shared.has_stealable_work();
        if !has_work {
            let timeout = self.park_timeout();
            let parked = self.driver.borrow_mut().park(timeout);
            if let Err(e) = parked {
                fatal_ring_error(e);
            }
        }
        shared.idle.end_park();
        worker.park.end_park();
        self.publish_counts();
        self.wake_completions();
    }

    fn shutdown_complete(&self) -> bool {
        self.shared.registry.len() == 0
            && self.local.is_empty()
            && self.local_tasks.borrow().is_empty()
            && self.shared.injector.is_empty()
            // Their timers and I/O still need the workers.
            && !self.shared.blocking.has_running_jobs()
    }

    /// Last steps on the worker thread; see "Shutdown" in the module docs.
    fn finish(&self) {
        self.flush_unregistered();
        let worker = &self.shared.workers[self.index];
        let (leftovers, msgs) = {
            let mut inbox = worker.inbox.lock().unwrap();
            inbox.closed = true;
            (
                std::mem::take(&mut inbox.local_tasks),
                std::mem::take(&mut inbox.ring),
            )
        };
        // Last cancellations from other threads; the ring cancels the rest when dropped.
        self.handle_ring_msgs(msgs);
        self.publish_counts();
        worker.timers.close();
        drop(leftovers);
        self.drop_queued(false);
        if self.shared.worker_exited() {
            // Pairs with the fence of a thread pushing onto the injector (see
            // `Shared::empty_injector_if_workers_exited`): this sweep sees its task, or
            // it sees this worker gone and drops the task itself.
            std::sync::atomic::fence(Ordering::SeqCst);
            self.drop_queued(true);
            // Every wheel is closed now: a thread in `block_on` waiting on a timer would
            // wait forever (see `crate::block_on`).
            self.shared.block_on_threads.wake_all();
        }
    }

    /// Drops (so cancels) what is left in this worker's queues, and in the injector if
    /// `injector`, until all are empty: a dropped task's destructor may queue another.
    fn drop_queued(&self, injector: bool) {
        loop {
            let task = self
                .local
                .pop()
                .or_else(|| self.local_tasks.borrow_mut().pop_front())
                .or_else(|| {
                    injector
                        .then(|| steal_one(|| self.shared.injector.steal()))
                        .flatten()
                });
            match task {
                // No borrow is held while its destructor runs.
                Some(task) => drop(task),
                None => return,
            }
        }
    }
}

/// Whether a maintenance pass asks the driver for completions.
#[derive(Debug, Clone, Copy)]
enum DriverPoll {
    Always,
    /// Only where that costs no system call (a ring's completion queue is shared
    /// memory; epoll must be asked): for a worker about to park, whose park asks anyway
    /// (see "One call into the kernel per round").
    IfFree,
}

/// Retries a steal until it gives a definite answer.
fn steal_one(mut steal: impl FnMut() -> Steal<Runnable>) -> Option<Runnable> {
    loop {
        match steal() {
            Steal::Success(task) => return Some(task),
            Steal::Empty => return None,
            Steal::Retry => std::hint::spin_loop(),
        }
    }
}

/// An `io_uring_enter` failure that is not transient means the ring is unusable (a
/// kernel or runtime bug). Unwinding would free memory the kernel may still write, and
/// carrying on would hang every task on this worker, so the process stops.
fn fatal_ring_error(e: io::Error) -> ! {
    eprintln!("ringtide: io_uring_enter failed on a worker ring, aborting: {e}");
    std::process::abort();
}
