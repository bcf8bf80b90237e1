//! A task's state word: every transition of the task state machine, with no memory of
//! its own to manage, so that it can be model-checked (the `loom` tests below). The
//! table of bits and who owns what is in [`raw`](super::raw)'s docs.

use crate::loom::sync::atomic::{AtomicUsize, Ordering};

const SCHEDULED: usize = 1 << 0;
const RUNNING: usize = 1 << 1;
const COMPLETE: usize = 1 << 2;
const HANDLE: usize = 1 << 3;
const AWAITER: usize = 1 << 4;
const REF_ONE: usize = 1 << 6;
const FLAGS: usize = REF_ONE - 1;

#[derive(Debug)]
pub(crate) struct State(AtomicUsize);

/// What a poll that returned `Pending` leaves the runner to do.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum AfterPoll {
    /// Woken meanwhile: queue the runnable again (it keeps its reference).
    Reschedule,
    /// Idle; the runnable's reference is dropped.
    Idle,
    /// Idle, and that was the last reference: free the task.
    Dealloc,
}

/// What a wake leaves the waker to do.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum AfterWake {
    /// Queue a runnable, which owns one reference (the waker's, or a new one).
    Schedule,
    Nothing,
    /// The waker's reference was the last: free the task.
    Dealloc,
}

/// What the completer found when it set `COMPLETE`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Completed {
    /// The handle was gone: the output is the completer's to drop.
    pub(crate) detached: bool,
    /// The joiner's waker is stored: the completer wakes it.
    pub(crate) wake_awaiter: bool,
    /// `Some` if the completer's reference was given back in the same write (see
    /// [`State::complete`]), with whether it was the last one.
    pub(crate) released: Option<bool>,
}

impl State {
    /// A spawned task: scheduled, with a handle, and two references (the first runnable's
    /// and the handle's).
    pub(crate) fn new() -> State {
        State(AtomicUsize::new(SCHEDULED | HANDLE | (2 * REF_ONE)))
    }

    /// An eager task at its first poll (`spawn_eager`): the spawner polls it in place
    /// without queueing it first, so it starts `RUNNING` rather than `SCHEDULED`, with
    /// the two references of a new task (the spawner's, which stands for the first
    /// runnable's, and the handle's, which `spawn_eager` will return).
    pub(crate) fn new_running() -> State {
        State(AtomicUsize::new(RUNNING | HANDLE | (2 * REF_ONE)))
    }

    /// For the spawner after an eager first poll that finished: whether nothing but its
    /// own two references is left, that is, no waker the poll cloned is still alive. New
    /// wakers come only from clones of live ones, and the poll's own waker is gone with
    /// the poll, so `true` is final: the spawner owns the task outright and may free it
    /// without another write. Acquire: a waker dropped on another thread read the header
    /// before its release decrement, and must be done with it before the memory is freed.
    pub(crate) fn only_spawner_refs(&self) -> bool {
        self.0.load(Ordering::Acquire) & !FLAGS == 2 * REF_ONE
    }

    /// For the spawner after an eager first poll that finished while wakers it cloned
    /// are still alive: the spawner takes the outcome into the handle it returns (which
    /// then owns no reference), so the task is complete, without a handle, and both
    /// spawner references go in this one write. A wake from then on finds `COMPLETE`;
    /// the last waker dropped frees the task. Returns whether no reference is left (the
    /// wakers were dropped since `only_spawner_refs`): the caller frees the task then.
    pub(crate) fn complete_taken(&self) -> bool {
        self.update(|state| {
            let next = ((state & !(RUNNING | SCHEDULED | HANDLE)) | COMPLETE) - 2 * REF_ONE;
            (next, next & !FLAGS == 0)
        })
    }

    /// The runnable starts a poll: `SCHEDULED` becomes `RUNNING`.
    pub(crate) fn start_run(&self) {
        // A runnable exists only for a scheduled, idle, incomplete task.
        let state = self.0.fetch_xor(SCHEDULED | RUNNING, Ordering::Acquire);
        debug_assert_eq!(state & (SCHEDULED | RUNNING | COMPLETE), SCHEDULED);
    }

    /// The poll returned `Pending`.
    pub(crate) fn end_run(&self) -> AfterPoll {
        self.update(|state| {
            if state & SCHEDULED != 0 {
                (state & !RUNNING, AfterPoll::Reschedule)
            } else {
                let next = (state & !RUNNING) - REF_ONE;
                let after = if next & !FLAGS == 0 {
                    AfterPoll::Dealloc
                } else {
                    AfterPoll::Idle
                };
                (next, after)
            }
        })
    }

    /// The runner stored the output (or, with `output_dropped`, found the handle gone
    /// and dropped it at once): the task is complete (a wake during the last poll no
    /// longer matters). The runner still holds its reference, unless the handle is gone
    /// and the output already dropped: then nothing is left for it to do, and its
    /// reference is given back in the same write (`Completed::released`), which saves a
    /// read-modify-write per detached task.
    pub(crate) fn complete(&self, output_dropped: bool) -> Completed {
        self.update(|state| {
            let detached = state & HANDLE == 0;
            let mut next = (state & !(RUNNING | SCHEDULED)) | COMPLETE;
            let release = detached && output_dropped;
            if release {
                next -= REF_ONE;
            }
            let completed = Completed {
                detached,
                wake_awaiter: state & (HANDLE | AWAITER) == HANDLE | AWAITER,
                released: release.then_some(next & !FLAGS == 0),
            };
            (next, completed)
        })
    }

    /// For the runner about to store the output: whether the handle still exists (once
    /// gone, it never comes back).
    pub(crate) fn has_handle(&self) -> bool {
        self.0.load(Ordering::Acquire) & HANDLE != 0
    }

    /// A wake through an owned waker, whose reference this consumes.
    pub(crate) fn wake_by_val(&self) -> AfterWake {
        self.update(|state| {
            if state & (COMPLETE | SCHEDULED) != 0 {
                let next = state - REF_ONE;
                let after = if next & !FLAGS == 0 {
                    AfterWake::Dealloc
                } else {
                    AfterWake::Nothing
                };
                (next, after)
            } else if state & RUNNING != 0 {
                // The runner queues it again after its poll; its reference keeps the
                // count above zero.
                ((state | SCHEDULED) - REF_ONE, AfterWake::Nothing)
            } else {
                // The waker's reference becomes the runnable's.
                (state | SCHEDULED, AfterWake::Schedule)
            }
        })
    }

    /// A wake through a borrowed waker: `true` if the caller must queue a runnable (for
    /// which a reference was added).
    pub(crate) fn wake_by_ref(&self) -> bool {
        self.transition(|state| {
            if state & COMPLETE != 0 {
                Err(Complete)
            } else if state & SCHEDULED != 0 {
                // Already queued (or to be queued again): nothing changes, but the write
                // still publishes what the waker did before waking to the next poll,
                // whose `start_run` reads this word with acquire ordering.
                Ok((state, false))
            } else if state & RUNNING != 0 {
                Ok((state | SCHEDULED, false))
            } else {
                Ok(((state | SCHEDULED) + REF_ONE, true))
            }
        })
        .unwrap_or(false)
    }

    /// A new reference (a waker clone).
    pub(crate) fn ref_inc(&self) {
        let state = self.0.fetch_add(REF_ONE, Ordering::Relaxed);
        if state > isize::MAX as usize {
            // As `Arc` does: a count this high means clones are being leaked in a loop.
            std::process::abort();
        }
    }

    /// Drops a reference: `true` if it was the last.
    pub(crate) fn ref_dec(&self) -> bool {
        let state = self.0.fetch_sub(REF_ONE, Ordering::AcqRel);
        state & !FLAGS == REF_ONE
    }

    /// The handle goes away (its reference is dropped separately): `true` if the task was
    /// already complete, so that the output is the handle's to drop.
    pub(crate) fn drop_handle(&self) -> bool {
        self.0.fetch_and(!HANDLE, Ordering::AcqRel) & COMPLETE != 0
    }

    pub(crate) fn is_complete(&self) -> bool {
        self.0.load(Ordering::Acquire) & COMPLETE != 0
    }

    /// For the handle: whether its waker is published (the slot is then not the handle's
    /// to touch until `unset_awaiter` succeeds).
    pub(crate) fn has_awaiter(&self) -> bool {
        self.0.load(Ordering::Acquire) & AWAITER != 0
    }

    /// For the handle: takes the waker slot back before replacing the waker. `Err` if the
    /// task completed first (the output is ready).
    pub(crate) fn unset_awaiter(&self) -> Result<(), Complete> {
        self.update_awaiter(|state| state & !AWAITER)
    }

    /// For the handle: publishes the waker it wrote. `Err` if the task completed first
    /// (the output is ready, and the waker will not be woken).
    pub(crate) fn set_awaiter(&self) -> Result<(), Complete> {
        self.update_awaiter(|state| state | AWAITER)
    }

    fn update_awaiter(&self, f: impl Fn(usize) -> usize) -> Result<(), Complete> {
        self.transition(|state| {
            if state & COMPLETE != 0 {
                return Err(Complete);
            }
            Ok((f(state), ()))
        })
    }

    /// Applies a transition that always happens: `f` maps the current word to the next
    /// one and a result (see `transition`).
    fn update<R>(&self, mut f: impl FnMut(usize) -> (usize, R)) -> R {
        match self.transition(|state| Ok::<_, std::convert::Infallible>(f(state))) {
            Ok(result) => result,
            Err(never) => match never {},
        }
    }

    /// Applies one transition: `f` maps the current word to the next one and a result,
    /// or refuses with an error (nothing is written), and is called again whenever
    /// another thread changed the word first.
    fn transition<R, E>(&self, mut f: impl FnMut(usize) -> Result<(usize, R), E>) -> Result<R, E> {
        let mut state = self.0.load(Ordering::Acquire);
        loop {
            let (next, result) = f(state)?;
            match self
                .0
                .compare_exchange_weak(state, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return Ok(result),
                Err(actual) => state = actual,
            }
        }
    }
}

/// The task completed: its output is ready for the handle.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Complete;

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_wake_during_a_poll_reschedules_once() {
        let state = State::new();
        state.start_run();
        assert!(
            !state.wake_by_ref(),
            "the runner reschedules, not the waker"
        );
        assert!(!state.wake_by_ref());
        assert_eq!(state.end_run(), AfterPoll::Reschedule);
        state.start_run();
        assert_eq!(state.end_run(), AfterPoll::Idle);
    }

    #[test]
    fn an_idle_task_is_scheduled_by_one_wake_only() {
        let state = State::new();
        state.start_run();
        assert_eq!(state.end_run(), AfterPoll::Idle);
        state.ref_inc(); // a waker
        assert!(state.wake_by_ref());
        assert!(!state.wake_by_ref(), "already scheduled");
        state.start_run();
        let completed = state.complete(false);
        assert_eq!(
            completed,
            Completed {
                detached: false,
                wake_awaiter: false,
                released: None,
            }
        );
        assert!(!state.ref_dec(), "the handle and the waker remain");
        assert_eq!(state.wake_by_val(), AfterWake::Nothing);
        assert!(state.drop_handle());
        assert!(state.ref_dec(), "the handle's reference is the last");
    }

    #[test]
    fn the_last_waker_of_a_complete_detached_task_frees_it() {
        let state = State::new();
        assert!(!state.drop_handle());
        assert!(!state.ref_dec());
        state.ref_inc(); // a waker
        state.start_run();
        assert_eq!(
            state.complete(false),
            Completed {
                detached: true,
                wake_awaiter: false,
                released: None,
            }
        );
        assert!(!state.ref_dec());
        assert_eq!(state.wake_by_val(), AfterWake::Dealloc);
    }

    #[test]
    fn a_detached_completer_gives_its_reference_back_with_complete() {
        let state = State::new();
        assert!(!state.drop_handle());
        assert!(!state.ref_dec());
        state.ref_inc(); // a waker
        state.start_run();
        assert!(!state.has_handle());
        assert_eq!(
            state.complete(true),
            Completed {
                detached: true,
                wake_awaiter: false,
                released: Some(false),
            },
            "the waker's reference remains"
        );
        assert_eq!(state.wake_by_val(), AfterWake::Dealloc);

        let state = State::new();
        assert!(!state.drop_handle());
        assert!(!state.ref_dec());
        state.start_run();
        assert_eq!(
            state.complete(true).released,
            Some(true),
            "the last reference"
        );
    }

    #[test]
    fn an_eager_first_poll_owns_the_task_unless_a_waker_survives() {
        let state = State::new_running();
        assert!(state.only_spawner_refs());

        let state = State::new_running();
        state.ref_inc(); // a waker cloned during the poll
        assert!(!state.wake_by_ref(), "running: the runner would reschedule");
        assert!(!state.only_spawner_refs());
        assert!(!state.complete_taken(), "the waker's reference remains");
        assert!(state.is_complete());
        assert!(!state.has_handle());
        assert!(!state.wake_by_ref(), "a complete task is not queued");
        assert_eq!(state.wake_by_val(), AfterWake::Dealloc);

        // Waiting: the task goes on as any other, queued again if woken meanwhile.
        let state = State::new_running();
        state.ref_inc();
        assert_eq!(state.wake_by_val(), AfterWake::Nothing);
        assert_eq!(state.end_run(), AfterPoll::Reschedule);
    }

    #[test]
    fn an_awaiter_is_woken_only_if_published_before_completion() {
        let state = State::new();
        assert_eq!(state.set_awaiter(), Ok(()));
        assert!(state.has_awaiter());
        assert_eq!(state.unset_awaiter(), Ok(()));
        assert_eq!(state.set_awaiter(), Ok(()));
        state.start_run();
        assert!(state.complete(false).wake_awaiter);
        assert_eq!(state.unset_awaiter(), Err(Complete));
        assert_eq!(state.set_awaiter(), Err(Complete));
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    //! The data the state word guards (the output and the joiner's waker) is modelled
    //! with loom's cells, so that loom reports any access the protocol fails to order.

    use super::*;
    use loom::cell::UnsafeCell;
    use loom::sync::atomic::AtomicUsize as Counter;
    use loom::sync::Arc;
    use loom::thread;

    struct Task {
        state: State,
        output: UnsafeCell<Option<u32>>,
        awaiter: UnsafeCell<Option<u32>>,
        /// Times the task was freed, outputs dropped, awaiters woken, polls started;
        /// polls in progress.
        freed: Counter,
        dropped_outputs: Counter,
        woken: Counter,
        runs: Counter,
        running: Counter,
    }

    impl Task {
        fn new() -> Arc<Task> {
            Task::with_state(State::new())
        }

        /// An eager task at its first poll (see `State::new_running`).
        fn new_running() -> Arc<Task> {
            Task::with_state(State::new_running())
        }

        fn with_state(state: State) -> Arc<Task> {
            Arc::new(Task {
                state,
                output: UnsafeCell::new(None),
                awaiter: UnsafeCell::new(None),
                freed: Counter::new(0),
                dropped_outputs: Counter::new(0),
                woken: Counter::new(0),
                runs: Counter::new(0),
                running: Counter::new(0),
            })
        }

        fn drop_ref(&self) {
            if self.state.ref_dec() {
                self.free();
            }
        }

        /// Frees the task: a write to its memory, which loom checks against every
        /// access that is not ordered before it.
        fn free(&self) {
            self.output.with_mut(|o| unsafe { *o = Some(0) });
            self.freed.fetch_add(1, Ordering::SeqCst);
        }

        /// One run of a runnable: completes on the poll `complete_on` (counting from 1).
        /// Returns whether it must run again.
        fn run(&self, complete_on: usize) -> bool {
            self.state.start_run();
            assert_eq!(
                self.running.fetch_add(1, Ordering::SeqCst),
                0,
                "polled twice at once"
            );
            let run = self.runs.fetch_add(1, Ordering::SeqCst) + 1;
            if run < complete_on {
                self.running.fetch_sub(1, Ordering::SeqCst);
                return match self.state.end_run() {
                    AfterPoll::Reschedule => true,
                    AfterPoll::Idle => false,
                    AfterPoll::Dealloc => {
                        self.freed.fetch_add(1, Ordering::SeqCst);
                        false
                    }
                };
            }
            // As the runtime does: with the handle gone, the output is dropped at once.
            let output_dropped = !self.state.has_handle();
            if output_dropped {
                self.dropped_outputs.fetch_add(1, Ordering::SeqCst);
            } else {
                self.output.with_mut(|o| unsafe { *o = Some(7) });
            }
            self.running.fetch_sub(1, Ordering::SeqCst);
            let completed = self.state.complete(output_dropped);
            if let Some(last) = completed.released {
                if last {
                    self.freed.fetch_add(1, Ordering::SeqCst);
                }
                return false;
            }
            if completed.detached {
                self.drop_output();
            } else if completed.wake_awaiter {
                let awaiter = self.awaiter.with_mut(|w| unsafe { (*w).take() });
                assert!(awaiter.is_some());
                self.woken.fetch_add(1, Ordering::SeqCst);
            }
            self.drop_ref();
            false
        }

        /// One poll of the join handle: the output if complete, else registers `id`.
        fn poll_join(&self, id: u32) -> Option<u32> {
            if self.state.is_complete() {
                return self.output.with_mut(|o| unsafe { (*o).take() });
            }
            if self.state.has_awaiter() {
                if self.state.unset_awaiter().is_err() {
                    return self.output.with_mut(|o| unsafe { (*o).take() });
                }
            }
            self.awaiter.with_mut(|w| unsafe { *w = Some(id) });
            match self.state.set_awaiter() {
                Ok(()) => None,
                Err(Complete) => {
                    self.awaiter.with_mut(|w| unsafe { (*w).take() });
                    self.output.with_mut(|o| unsafe { (*o).take() })
                }
            }
        }

        fn drop_handle(&self) {
            if self.state.drop_handle() {
                self.drop_output();
            }
            self.drop_ref();
        }

        fn drop_output(&self) {
            if self.output.with_mut(|o| unsafe { (*o).take() }).is_some() {
                self.dropped_outputs.fetch_add(1, Ordering::SeqCst);
            }
        }
    }

    /// Runs the task's first runnable on a new thread, where it completes.
    fn complete_on_another_thread(task: &Arc<Task>) -> thread::JoinHandle<()> {
        let task = task.clone();
        thread::spawn(move || {
            task.run(1);
        })
    }

    /// A wake from another thread while the task is queued, polled or idle: the task is
    /// never polled twice at once and is freed exactly once. A wake while it is polled or
    /// idle polls it again (and it completes); a wake while it is still queued merges
    /// into that poll, after which nothing can wake it and it is freed unfinished.
    #[test]
    fn wakes_race_runs() {
        crate::loom::model(|| {
            let task = Task::new();
            task.drop_handle();
            task.state.ref_inc(); // the waker
            let waker = {
                let task = task.clone();
                thread::spawn(move || match task.state.wake_by_val() {
                    AfterWake::Schedule => task.run(2),
                    AfterWake::Nothing => false,
                    AfterWake::Dealloc => {
                        task.freed.fetch_add(1, Ordering::SeqCst);
                        false
                    }
                })
            };
            // The first runnable: completes on the second poll, if woken in between.
            let mut again = task.run(2);
            while again {
                again = task.run(2);
            }
            let mut again = waker.join().unwrap();
            while again {
                again = task.run(2);
            }
            let runs = task.runs.load(Ordering::SeqCst);
            assert!(runs == 1 || runs == 2);
            assert_eq!(task.freed.load(Ordering::SeqCst), 1);
            let completed = usize::from(runs == 2);
            assert_eq!(task.dropped_outputs.load(Ordering::SeqCst), completed);
        });
    }

    /// A wake through a borrowed waker while the task is still queued: the poll that
    /// follows (the queued one, or one more) sees what the waker wrote before waking.
    #[test]
    fn a_wake_of_a_queued_task_is_not_lost() {
        crate::loom::model(|| {
            let task = Task::new();
            let ready = Arc::new(loom::sync::atomic::AtomicBool::new(false));
            let waker = {
                let (task, ready) = (task.clone(), ready.clone());
                thread::spawn(move || {
                    ready.store(true, Ordering::Relaxed);
                    task.state.wake_by_ref()
                })
            };
            // The first runnable, queued at spawn, polled until it goes idle.
            let poll = || {
                let mut seen;
                loop {
                    task.state.start_run();
                    seen = ready.load(Ordering::Relaxed);
                    if task.state.end_run() != AfterPoll::Reschedule {
                        return seen;
                    }
                }
            };
            let mut seen = poll();
            // The wake found the task idle and queued a new runnable: run it.
            if waker.join().unwrap() {
                seen = poll();
            }
            assert!(
                seen,
                "the last poll missed the waker's write: a lost wake-up"
            );
        });
    }

    /// The joiner registers (and re-registers) while the task completes on another
    /// thread: it either sees the output or is woken, and the output is taken or dropped
    /// exactly once.
    #[test]
    fn join_races_completion() {
        crate::loom::model(|| {
            let task = Task::new();
            let runner = complete_on_another_thread(&task);
            let mut output = task.poll_join(1);
            if output.is_none() {
                output = task.poll_join(2);
            }
            runner.join().unwrap();
            let woken = task.woken.load(Ordering::SeqCst);
            if output.is_none() {
                assert_eq!(woken, 1, "a pending joiner must be woken");
                output = task.poll_join(3);
            }
            assert_eq!(output, Some(7));
            task.drop_handle();
            assert_eq!(task.freed.load(Ordering::SeqCst), 1);
            assert_eq!(task.dropped_outputs.load(Ordering::SeqCst), 0);
        });
    }

    /// An eager first poll that finished, against a waker it cloned, woken or dropped on
    /// another thread meanwhile: the task is never queued, and it is freed exactly once,
    /// by the spawner (`only_spawner_refs`, else `complete_taken`) or by the last waker,
    /// never before that waker is done reading it.
    #[test]
    fn eager_completion_races_a_cloned_waker() {
        for wake in [true, false] {
            crate::loom::model(move || {
                let task = Task::new_running();
                task.state.ref_inc(); // a waker the first poll cloned
                let waker = {
                    let task = task.clone();
                    thread::spawn(move || {
                        // What a waker reads of the task before it lets go of it.
                        task.output.with_mut(|o| unsafe { assert_eq!(*o, None) });
                        if !wake {
                            return task.drop_ref();
                        }
                        match task.state.wake_by_val() {
                            AfterWake::Schedule => panic!("an eager task that finished was queued"),
                            AfterWake::Nothing => {}
                            AfterWake::Dealloc => task.free(),
                        }
                    })
                };
                // The poll returned `Ready`: the outcome goes to the handle by value.
                if task.state.only_spawner_refs() || task.state.complete_taken() {
                    task.free();
                }
                waker.join().unwrap();
                assert_eq!(task.freed.load(Ordering::SeqCst), 1);
            });
        }
    }

    /// The handle is dropped while the task completes: the output is dropped exactly once,
    /// by whichever side comes second, and the task is freed exactly once.
    #[test]
    fn handle_drop_races_completion() {
        crate::loom::model(|| {
            let task = Task::new();
            let runner = complete_on_another_thread(&task);
            task.drop_handle();
            runner.join().unwrap();
            assert_eq!(task.dropped_outputs.load(Ordering::SeqCst), 1);
            assert_eq!(task.freed.load(Ordering::SeqCst), 1);
        });
    }
}
