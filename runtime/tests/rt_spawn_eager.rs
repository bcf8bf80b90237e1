//! `spawn_eager`: the first poll runs at spawn; a task that finishes there is never
//! queued, one that waits goes on like any other, and panics land in the handle either
//! way.

mod support;

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::time::Duration;

use support::{rt_test, Probe};

/// Where a task waits until the test lets it go: it keeps the waker of the task's last
/// poll, so the test decides when, and from which thread, the task is woken.
#[derive(Clone, Default)]
struct Gate(Arc<GateState>);

#[derive(Default)]
struct GateState {
    open: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl Gate {
    /// Ready once the gate is open.
    fn wait(&self) -> impl Future<Output = ()> + Send + 'static {
        let gate = self.clone();
        std::future::poll_fn(move |cx| {
            if gate.0.open.load(Ordering::SeqCst) {
                return Poll::Ready(());
            }
            *gate.0.waker.lock().unwrap() = Some(cx.waker().clone());
            // Opened between the check and the store: `open` may have found no waker.
            if gate.0.open.load(Ordering::SeqCst) {
                return Poll::Ready(());
            }
            Poll::Pending
        })
    }

    /// Opens the gate and wakes the waiting task, if any.
    fn open(&self) {
        self.0.open.store(true, Ordering::SeqCst);
        let waker = self.0.waker.lock().unwrap().take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Opens the gate from a thread of its own, which is gone when this returns.
    fn open_from_another_thread(&self) {
        let gate = self.clone();
        std::thread::spawn(move || gate.open()).join().unwrap();
    }

    fn holds_a_waker(&self) -> bool {
        self.0.waker.lock().unwrap().is_some()
    }
}

/// Spawns `future` eagerly from a task on `rt`, and hands its handle out of that task,
/// so that the test's own thread decides what happens next.
fn spawn_eager_in<T: Send + 'static>(
    rt: &ringtide::Runtime,
    future: impl Future<Output = T> + Send + 'static,
) -> ringtide::JoinHandle<T> {
    // The task's output is the handle, awaited later on purpose.
    #[allow(clippy::async_yields_async)]
    let spawner = async move { ringtide::spawn_eager(future) };
    rt.block_on(rt.spawn(spawner)).unwrap()
}

/// A future that keeps a clone of its first poll's waker in `kept`, then finishes with
/// `output` at once (or panics, if `output` is `None`).
fn keep_waker_then_finish<T: Send + 'static>(
    kept: Arc<Mutex<Option<Waker>>>,
    output: Option<T>,
) -> impl Future<Output = T> + Send + 'static {
    let mut output = Some(output);
    std::future::poll_fn(move |cx| {
        *kept.lock().unwrap() = Some(cx.waker().clone());
        match output.take().expect("polled once") {
            Some(output) => Poll::Ready(output),
            None => panic!("finished by panicking, with a waker kept"),
        }
    })
}

/// An output that counts its drops.
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// An output that reports its drop on a channel.
struct Reported(mpsc::Sender<()>);

impl Drop for Reported {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

/// Spawns `depth` eager tasks, each from the one before, and returns how many ran.
fn nest(depth: usize, ran: Arc<AtomicUsize>) -> ringtide::JoinHandle<()> {
    ringtide::spawn_eager(async move {
        ran.fetch_add(1, Ordering::SeqCst);
        if depth > 1 {
            nest(depth - 1, ran).await.unwrap();
        }
    })
}

rt_test! {
    fn a_task_ready_at_once_finishes_before_spawn_returns(rt) {
        rt.block_on(rt.spawn(async {
            let polls = Arc::new(AtomicUsize::new(0));
            let counted = polls.clone();
            let handle = ringtide::spawn_eager(async move {
                counted.fetch_add(1, Ordering::SeqCst);
                7
            });
            // Polled and finished inline: no worker had to run it.
            assert_eq!(polls.load(Ordering::SeqCst), 1);
            assert!(handle.is_finished());
            assert_eq!(handle.await.unwrap(), 7);
        }))
        .unwrap();
    }

    fn a_task_that_waits_is_polled_once_then_runs_like_any_other(rt) {
        rt.block_on(rt.spawn(async {
            let polls = Arc::new(AtomicUsize::new(0));
            let counted = polls.clone();
            let handle = ringtide::spawn_eager(async move {
                counted.fetch_add(1, Ordering::SeqCst);
                ringtide::time::sleep(Duration::from_millis(2)).await;
                counted.fetch_add(1, Ordering::SeqCst);
                "woke"
            });
            assert_eq!(polls.load(Ordering::SeqCst), 1, "the first poll ran at spawn");
            assert!(!handle.is_finished());
            assert_eq!(handle.await.unwrap(), "woke");
            assert_eq!(polls.load(Ordering::SeqCst), 2);
        }))
        .unwrap();
    }

    fn a_panic_in_the_first_poll_or_later_is_a_join_error(rt) {
        rt.block_on(rt.spawn(async {
            let at_once = ringtide::spawn_eager(async { panic!("in the first poll") });
            assert!(at_once.is_finished());
            assert!(at_once.await.unwrap_err().is_panic());
            let later = ringtide::spawn_eager(async {
                ringtide::time::sleep(Duration::from_millis(1)).await;
                panic!("after waiting")
            });
            assert!(later.await.unwrap_err().is_panic());
        }))
        .unwrap();
    }

    fn eager_tasks_spawning_eagerly_do_not_overflow_the_stack(rt) {
        let ran = Arc::new(AtomicUsize::new(0));
        let counted = ran.clone();
        rt.block_on(rt.spawn(async move { nest(10_000, counted).await.unwrap() }))
            .unwrap();
        assert_eq!(ran.load(Ordering::SeqCst), 10_000);
    }

    fn from_block_on_the_task_is_queued_and_runs(rt) {
        let value = rt.block_on(async {
            let handle = ringtide::spawn_eager(async { 5 });
            handle.await.unwrap()
        });
        assert_eq!(value, 5);
    }

    fn a_task_woken_through_its_first_waker_after_spawn_returns_runs_again(rt) {
        let probe = Probe::default();
        let gate = Gate::default();
        let waited = gate.clone();
        let handle = spawn_eager_in(&rt, probe.wrap(async move {
            waited.wait().await;
            9
        }));
        assert_eq!(probe.polls(), 1);
        assert!(gate.holds_a_waker(), "the first poll handed its waker out");
        assert!(!handle.is_finished());
        // Woken from a thread outside the runtime, long after `spawn_eager` returned.
        gate.open_from_another_thread();
        assert_eq!(rt.block_on(handle).unwrap(), 9);
        assert_eq!(probe.polls(), 2);
        assert_eq!(probe.drops(), 1);
    }

    fn a_task_woken_from_another_thread_during_its_first_poll_runs_again(rt) {
        let probe = Probe::default();
        let value = rt.block_on(rt.spawn({
            let probe = probe.clone();
            async move {
                let mut woken = false;
                let handle = ringtide::spawn_eager(probe.wrap(std::future::poll_fn(move |cx| {
                    if woken {
                        return Poll::Ready(11);
                    }
                    woken = true;
                    // The wake lands before this poll returns `Pending`, so before the
                    // task could be queued.
                    let waker = cx.waker().clone();
                    std::thread::spawn(move || waker.wake()).join().unwrap();
                    Poll::Pending
                })));
                handle.await.unwrap()
            }
        }))
        .unwrap();
        assert_eq!(value, 11);
        assert_eq!(probe.polls(), 2);
        assert_eq!(probe.drops(), 1);
    }

    fn a_task_that_wakes_itself_in_its_first_poll_is_queued_again(rt) {
        rt.block_on(rt.spawn(async {
            let polls = Arc::new(AtomicUsize::new(0));
            let returned = Arc::new(AtomicBool::new(false));
            let (counted, spawner) = (polls.clone(), returned.clone());
            let handle = ringtide::spawn_eager(async move {
                counted.fetch_add(1, Ordering::SeqCst);
                let inline = !spawner.load(Ordering::SeqCst);
                // Wakes the task inside its first poll, then returns `Pending`.
                ringtide::task::yield_now().await;
                counted.fetch_add(1, Ordering::SeqCst);
                inline
            });
            returned.store(true, Ordering::SeqCst);
            // Another worker may already have run the rest: only the end is certain.
            assert!(handle.await.unwrap(), "the first poll ran before spawn_eager returned");
            assert_eq!(polls.load(Ordering::SeqCst), 2);
        }))
        .unwrap();
    }

    fn a_task_that_waits_on_its_first_waker_then_panics_is_a_join_error(rt) {
        let gate = Gate::default();
        let waited = gate.clone();
        let handle = spawn_eager_in(&rt, async move {
            waited.wait().await;
            panic!("after the gate opened")
        });
        gate.open_from_another_thread();
        let err = rt.block_on(handle).unwrap_err();
        assert!(err.is_panic());
        assert_eq!(support::panic_message(&*err.into_panic()), "after the gate opened");
    }

    fn a_waker_kept_past_an_inline_finish_neither_polls_nor_leaks(rt) {
        let kept = Arc::new(Mutex::new(None));
        let drops = Arc::new(AtomicUsize::new(0));
        let probe = Probe::default();
        let output = Counted(drops.clone());
        let handle = spawn_eager_in(&rt, probe.wrap(keep_waker_then_finish(kept.clone(), Some(output))));
        assert!(handle.is_finished());
        assert_eq!(probe.drops(), 1, "the future is gone with the first poll");
        // The waker outlives the task: waking it (from another thread) finds it complete.
        let waker = kept.lock().unwrap().take().expect("the first poll kept its waker");
        std::thread::spawn(move || waker.wake()).join().unwrap();
        assert_eq!(probe.polls(), 1);
        let output = rt.block_on(handle).unwrap();
        assert_eq!(drops.load(Ordering::SeqCst), 0);
        drop(output);
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    }

    fn a_waker_kept_past_an_inline_panic_neither_polls_nor_leaks(rt) {
        let kept = Arc::new(Mutex::new(None));
        let handle = spawn_eager_in(&rt, keep_waker_then_finish::<u8>(kept.clone(), None));
        assert!(handle.is_finished());
        let waker = kept.lock().unwrap().take().expect("the first poll kept its waker");
        // Dropped unwoken, by another thread, before the handle is read.
        std::thread::spawn(move || drop(waker)).join().unwrap();
        assert!(rt.block_on(handle).unwrap_err().is_panic());
    }

    fn a_waker_kept_past_an_inline_finish_may_be_dropped_by_the_task(rt) {
        // The waker dies in the spawner's own code, right after `spawn_eager` returned.
        rt.block_on(rt.spawn(async {
            let kept = Arc::new(Mutex::new(None));
            let handle = ringtide::spawn_eager(keep_waker_then_finish(kept.clone(), Some(3)));
            kept.lock().unwrap().take().expect("kept").wake_by_ref();
            drop(kept);
            assert_eq!(handle.await.unwrap(), 3);
        }))
        .unwrap();
    }

    fn aborting_an_eager_task_that_finished_inline_keeps_its_outcome(rt) {
        rt.block_on(rt.spawn(async {
            let value = ringtide::spawn_eager(async { 7u32 });
            value.abort();
            value.abort();
            assert!(value.is_finished());
            assert_eq!(value.await.unwrap(), 7);
            let panicked = ringtide::spawn_eager(async { panic!("inline") });
            panicked.abort();
            assert!(panicked.await.unwrap_err().is_panic());
        }))
        .unwrap();
    }

    fn aborting_an_eager_task_waiting_on_its_first_waker_drops_its_future(rt) {
        let probe = Probe::default();
        let gate = Gate::default();
        let handle = spawn_eager_in(&rt, probe.wrap(gate.wait()));
        assert!(gate.holds_a_waker());
        handle.abort();
        assert!(rt.block_on(handle).unwrap_err().is_cancelled());
        assert_eq!(probe.drops(), 1);
        assert_eq!(probe.polls(), 1, "cancelled without another poll");
        // The waker the first poll handed out still works, and finds the task gone.
        gate.open_from_another_thread();
    }

    fn a_dropped_handle_detaches_an_eager_task_that_waits(rt) {
        let gate = Gate::default();
        let (report, reported) = mpsc::channel();
        let probe = Probe::default();
        rt.block_on(rt.spawn({
            let (probe, gate) = (probe.clone(), gate.clone());
            async move {
                let handle = ringtide::spawn_eager(probe.wrap(async move {
                    gate.wait().await;
                    Reported(report)
                }));
                drop(handle);
            }
        }))
        .unwrap();
        assert!(reported.try_recv().is_err(), "still waiting");
        gate.open_from_another_thread();
        // Finished with nobody to read its output, which it drops.
        reported
            .recv_timeout(Duration::from_secs(10))
            .expect("the detached task finished and dropped its output");
        assert_eq!(probe.polls(), 2);
    }

    fn outputs_in_the_handle_are_dropped_once_read_or_not(rt) {
        let drops = Arc::new(AtomicUsize::new(0));
        rt.block_on(rt.spawn({
            let drops = drops.clone();
            async move {
                let unread = ringtide::spawn_eager({
                    let drops = drops.clone();
                    async move { Counted(drops) }
                });
                assert!(unread.is_finished());
                drop(unread);
                assert_eq!(drops.load(Ordering::SeqCst), 1);
                let read = ringtide::spawn_eager({
                    let drops = drops.clone();
                    async move { Counted(drops) }
                });
                let output = read.await.unwrap();
                assert_eq!(drops.load(Ordering::SeqCst), 1);
                drop(output);
                assert_eq!(drops.load(Ordering::SeqCst), 2);
            }
        }))
        .unwrap();
    }

    fn outputs_of_every_size_and_alignment_come_back_whole(rt) {
        rt.block_on(rt.spawn(async {
            // Two words fit in the handle; more, or a stricter alignment, stay in the task.
            ringtide::spawn_eager(async {}).await.unwrap();
            assert_eq!(ringtide::spawn_eager(async { (1u64, 2u64) }).await.unwrap(), (1, 2));
            let long = ringtide::spawn_eager(async { [7u64; 64] });
            assert!(long.is_finished());
            assert_eq!(long.await.unwrap(), [7u64; 64]);
            let text = ringtide::spawn_eager(async { String::from("more than two words") });
            assert_eq!(text.await.unwrap(), "more than two words");
            #[repr(align(32))]
            #[derive(Debug, PartialEq)]
            struct Aligned(u8);
            assert_eq!(ringtide::spawn_eager(async { Aligned(5) }).await.unwrap(), Aligned(5));
            // Dropped unread, in the task: the output's destructor runs.
            let drops = Arc::new(AtomicUsize::new(0));
            let large = ringtide::spawn_eager({
                let drops = drops.clone();
                async move { (Counted(drops), [0u64; 8]) }
            });
            drop(large);
            assert_eq!(drops.load(Ordering::SeqCst), 1);
        }))
        .unwrap();
    }

    fn an_eager_task_waiting_at_shutdown_is_cancelled(rt) {
        let probe = Probe::default();
        let gate = Gate::default();
        let handle = spawn_eager_in(&rt, probe.wrap(gate.wait()));
        // Nothing would ever wake it but the gate: shutdown reaches it all the same.
        drop(rt);
        assert_eq!(probe.drops(), 1);
        assert!(futures::executor::block_on(handle).unwrap_err().is_cancelled());
        gate.open_from_another_thread();
    }

    fn an_aborted_eager_task_reports_cancellation(rt) {
        rt.block_on(rt.spawn(async {
            let handle = ringtide::spawn_eager(std::future::pending::<()>());
            handle.abort();
            assert!(handle.await.unwrap_err().is_cancelled());
        }))
        .unwrap();
    }
}

#[test]
fn spawn_eager_outside_a_runtime_panics_with_a_clear_message() {
    let err = std::panic::catch_unwind(|| ringtide::spawn_eager(async {})).unwrap_err();
    let message = support::panic_message(&*err);
    assert!(message.contains("outside a ringtide runtime"), "{message}");
}
