//! Spawning, joining, aborting, panics, `spawn_local` and `block_on`.

mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use ringtide::task::yield_now;
use ringtide::time::sleep;
use support::{rt_test, Probe};

rt_test! {
    fn spawn_and_join_many(rt) {
        let sum = rt.block_on(async {
            let handles: Vec<_> = (0..10_000u64).map(|i| ringtide::spawn(async move { i })).collect();
            let mut sum = 0;
            for h in handles {
                sum += h.await.unwrap();
            }
            sum
        });
        assert_eq!(sum, 10_000 * 9_999 / 2);
    }

    fn runtime_spawn_from_outside(rt) {
        let handles: Vec<_> = (0..100u32).map(|i| rt.spawn(async move { i * 2 })).collect();
        for (i, h) in handles.into_iter().enumerate() {
            assert_eq!(rt.block_on(h).unwrap(), i as u32 * 2);
        }
    }

    fn nested_spawns_complete(rt) {
        let total = rt.block_on(async {
            let outer: Vec<_> = (0..50u64)
                .map(|i| {
                    ringtide::spawn(async move {
                        let inner: Vec<_> = (0..50u64).map(|j| ringtide::spawn(async move { i * j })).collect();
                        let mut s = 0;
                        for h in inner {
                            s += h.await.unwrap();
                        }
                        s
                    })
                })
                .collect();
            let mut s = 0;
            for h in outer {
                s += h.await.unwrap();
            }
            s
        });
        assert_eq!(total, (0..50u64).sum::<u64>() * (0..50u64).sum::<u64>());
    }

    fn panic_lands_in_join_handle_and_worker_survives(rt) {
        let err = rt.block_on(rt.spawn(async { panic!("task failed on purpose") })).unwrap_err();
        assert!(err.is_panic());
        assert!(!err.is_cancelled());
        assert!(err.to_string().contains("task failed on purpose"), "{err}");
        assert_eq!(*err.into_panic().downcast::<&str>().unwrap(), "task failed on purpose");
        // Every worker still runs tasks afterwards.
        let results: Vec<_> = (0..64).map(|i| rt.spawn(async move { yield_now().await; i })).collect();
        for (i, h) in results.into_iter().enumerate() {
            assert_eq!(rt.block_on(h).unwrap(), i);
        }
    }

    fn panic_with_string_payload(rt) {
        let code = std::hint::black_box(7);
        let err = rt.block_on(rt.spawn(async move { panic!("code {code}") })).unwrap_err();
        assert_eq!(*err.into_panic().downcast::<String>().unwrap(), "code 7");
    }

    fn panicking_destructor_does_not_take_the_worker_down(rt) {
        struct PanicOnDrop;
        impl Drop for PanicOnDrop {
            fn drop(&mut self) {
                panic!("destructor panicked on purpose");
            }
        }
        // A future whose own destructor panics after it produced its output: the task
        // reports the output, and the panic is contained.
        struct ReadyThenPanicOnDrop(#[allow(dead_code)] PanicOnDrop);
        impl std::future::Future for ReadyThenPanicOnDrop {
            type Output = u32;
            fn poll(self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<u32> {
                std::task::Poll::Ready(7)
            }
        }
        assert_eq!(rt.block_on(rt.spawn(ReadyThenPanicOnDrop(PanicOnDrop))).unwrap(), 7);
        // A local of an async block is dropped inside the last poll: that is a panic of
        // the task itself.
        let handle = rt.spawn(async {
            let _guard = PanicOnDrop;
            7
        });
        assert!(rt.block_on(handle).unwrap_err().is_panic());
        // An aborted task whose destructor panics is still reported as cancelled.
        let handle = rt.spawn(async {
            let _guard = PanicOnDrop;
            std::future::pending::<()>().await
        });
        handle.abort();
        assert!(rt.block_on(handle).unwrap_err().is_cancelled());
        assert_eq!(rt.block_on(rt.spawn(async { 8 })).unwrap(), 8);
    }

    fn abort_idle_task_drops_its_future(rt) {
        let probe = Probe::default();
        let handle = rt.spawn(probe.wrap(sleep(Duration::from_secs(3600))));
        while probe.polls() == 0 {
            std::thread::yield_now();
        }
        handle.abort();
        handle.abort();
        let err = rt.block_on(handle).unwrap_err();
        assert!(err.is_cancelled());
        assert!(!err.is_panic());
        assert_eq!(probe.drops(), 1, "the future was dropped before the handle resolved");
        assert_eq!(probe.polls(), 1, "an aborted task is not polled again");
    }

    fn abort_before_first_poll(rt) {
        let probe = Probe::default();
        // The handle comes out of `block_on` in a tuple: it is the value, not awaited.
        let (handle,) = rt.block_on(async {
            let handle = ringtide::spawn(probe.wrap(async { 1 }));
            handle.abort();
            (handle,)
        });
        let result = rt.block_on(handle);
        // Either the abort won (cancelled, never polled) or the task finished first.
        match result {
            Err(e) => {
                assert!(e.is_cancelled());
                assert_eq!(probe.polls(), 0);
            }
            Ok(v) => assert_eq!(v, 1),
        }
        assert_eq!(probe.drops(), 1);
    }

    fn abort_finished_task_keeps_output(rt) {
        let handle = rt.spawn(async { 5 });
        while !handle.is_finished() {
            std::thread::yield_now();
        }
        handle.abort();
        assert_eq!(rt.block_on(handle).unwrap(), 5);
    }

    fn abort_running_task_from_another_task(rt) {
        let started = Arc::new(AtomicBool::new(false));
        let target = rt.spawn({
            let started = started.clone();
            async move {
                started.store(true, Ordering::SeqCst);
                loop {
                    yield_now().await;
                }
            }
        });
        while !started.load(Ordering::SeqCst) {
            std::thread::yield_now();
        }
        target.abort();
        assert!(rt.block_on(target).unwrap_err().is_cancelled());
    }

    fn abort_during_the_first_poll_still_cancels(rt) {
        // The abort lands while the task is inside its very first poll, before it ever
        // returned Pending: the task must still be cancelled once it goes idle.
        let in_poll = Arc::new(AtomicBool::new(false));
        let aborted = Arc::new(AtomicBool::new(false));
        let probe = Probe::default();
        let handle = rt.spawn(probe.wrap({
            let (in_poll, aborted) = (in_poll.clone(), aborted.clone());
            async move {
                in_poll.store(true, Ordering::SeqCst);
                while !aborted.load(Ordering::SeqCst) {
                    std::thread::yield_now();
                }
                std::future::pending::<()>().await
            }
        }));
        while !in_poll.load(Ordering::SeqCst) {
            std::thread::yield_now();
        }
        handle.abort();
        aborted.store(true, Ordering::SeqCst);
        assert!(rt.block_on(handle).unwrap_err().is_cancelled());
        assert_eq!(probe.drops(), 1);
    }

    fn dropped_handle_detaches(rt) {
        let (tx, rx) = mpsc::channel();
        drop(rt.spawn(async move {
            sleep(Duration::from_millis(2)).await;
            tx.send(42).unwrap();
        }));
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), 42);
    }

    fn is_finished_tracks_completion(rt) {
        let (tx, rx) = futures::channel::oneshot::channel::<()>();
        let handle = rt.spawn(async move { rx.await.unwrap() });
        assert!(!handle.is_finished());
        tx.send(()).unwrap();
        rt.block_on(async {
            while !handle.is_finished() {
                yield_now().await;
            }
        });
        rt.block_on(handle).unwrap();
    }

    fn wake_from_foreign_thread_reaches_parked_worker(rt) {
        for _ in 0..50 {
            let (tx, rx) = futures::channel::oneshot::channel::<u32>();
            let handle = rt.spawn(async move { rx.await.unwrap() + 1 });
            let sender = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(1));
                tx.send(41).unwrap();
            });
            assert_eq!(rt.block_on(handle).unwrap(), 42);
            sender.join().unwrap();
        }
    }

    fn spawn_local_stays_on_its_worker(rt) {
        // The `Rc` lives in a local task of its own; the task `Runtime::spawn` gets is Send.
        let ok = rt.block_on(rt.spawn(async { ringtide::spawn_local(async {
            let home = std::thread::current().id();
            let counter = std::rc::Rc::new(std::cell::Cell::new(0));
            let locals: Vec<_> = (0..100)
                .map(|_| {
                    let counter = counter.clone();
                    ringtide::spawn_local(async move {
                        for _ in 0..10 {
                            assert_eq!(std::thread::current().id(), home);
                            counter.set(counter.get() + 1);
                            yield_now().await;
                        }
                        std::thread::current().id() == home
                    })
                })
                .collect();
            let mut all = true;
            for h in locals {
                all &= h.await.unwrap();
            }
            all && counter.get() == 1000
        }).await }));
        assert!(ok.unwrap().unwrap());
    }

    fn spawn_local_woken_from_another_thread(rt) {
        let value = rt.block_on(rt.spawn(async {
            let (tx, rx) = futures::channel::oneshot::channel::<u32>();
            let home = std::thread::current().id();
            let local = ringtide::spawn_local(async move {
                let v = rx.await.unwrap();
                assert_eq!(std::thread::current().id(), home);
                v
            });
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(2));
                tx.send(9).unwrap();
            });
            local.await.unwrap()
        }));
        assert_eq!(value.unwrap(), 9);
    }

    fn block_on_inside_a_task_panics_with_a_clear_message(rt) {
        let rt = Arc::new(rt);
        let inner = rt.clone();
        let err = rt.block_on(rt.spawn(async move { inner.block_on(async {}) })).unwrap_err();
        let msg = err.into_panic();
        let msg = msg.downcast_ref::<&str>().map(|s| s.to_string())
            .or_else(|| msg.downcast_ref::<String>().cloned())
            .unwrap();
        assert!(msg.contains("block_on called from inside a ringtide runtime"), "{msg}");
        // The task's future (and its clone of the runtime) was dropped before its
        // handle resolved, so the runtime can be unwrapped and dropped here.
        let rt = Arc::try_unwrap(rt).unwrap_or_else(|_| panic!("the finished task still holds the runtime"));
        drop(rt);
    }

    fn yield_now_lets_others_run(rt) {
        let order = rt.block_on(rt.spawn(async {
            let log = Arc::new(std::sync::Mutex::new(Vec::new()));
            let a = ringtide::spawn_local({
                let log = log.clone();
                async move {
                    for i in 0..3 {
                        log.lock().unwrap().push(("a", i));
                        yield_now().await;
                    }
                }
            });
            let b = ringtide::spawn_local({
                let log = log.clone();
                async move {
                    for i in 0..3 {
                        log.lock().unwrap().push(("b", i));
                        yield_now().await;
                    }
                }
            });
            a.await.unwrap();
            b.await.unwrap();
            let log = log.lock().unwrap().clone();
            log
        })).unwrap();
        // Local tasks on one worker interleave at every yield.
        assert_eq!(order, vec![("a", 0), ("b", 0), ("a", 1), ("b", 1), ("a", 2), ("b", 2)]);
    }

    fn coop_budget_keeps_a_busy_task_from_starving_its_siblings(rt) {
        // A task that loops on an always-ready timer never returns Pending on its own;
        // the budget must make it yield so a sibling on the same worker can run.
        let result = rt.block_on(rt.spawn(async {
            let flag = Arc::new(AtomicBool::new(false));
            let setter = ringtide::spawn_local({
                let flag = flag.clone();
                async move { flag.store(true, Ordering::SeqCst) }
            });
            let mut spins = 0u64;
            while !flag.load(Ordering::SeqCst) && spins < 10_000_000 {
                ringtide::time::sleep(Duration::ZERO).await;
                spins += 1;
            }
            setter.await.unwrap();
            spins
        })).unwrap();
        assert!(result < 10_000_000, "the sibling never ran");
    }
}

#[test]
fn spawn_outside_a_runtime_panics_with_a_clear_message() {
    let err = std::panic::catch_unwind(|| drop(ringtide::spawn(async {}))).unwrap_err();
    let msg = err
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .unwrap_or_default();
    assert!(
        msg.contains("ringtide::spawn called outside a ringtide runtime"),
        "{msg}"
    );
    let err = std::panic::catch_unwind(|| drop(ringtide::spawn_local(async {}))).unwrap_err();
    let msg = err
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .unwrap_or_default();
    assert!(
        msg.contains("spawn_local must be called from a task"),
        "{msg}"
    );
}

#[test]
fn idle_worker_steals_from_a_blocked_one() {
    // A task spawns a child onto its own worker's queue, then blocks that worker's thread
    // until the child has run: only another worker stealing the child can unblock it.
    let rt = support::two_workers_pinned();
    let stolen = rt.block_on(rt.spawn(async {
        let ran = Arc::new(AtomicBool::new(false));
        let child = ringtide::spawn({
            let ran = ran.clone();
            async move { ran.store(true, Ordering::SeqCst) }
        });
        let give_up = std::time::Instant::now() + Duration::from_secs(20);
        while !ran.load(Ordering::SeqCst) && std::time::Instant::now() < give_up {
            std::thread::yield_now();
        }
        let stolen = ran.load(Ordering::SeqCst);
        child.await.unwrap();
        stolen
    }));
    assert!(
        stolen.unwrap(),
        "the child was never stolen by the idle worker"
    );
}

#[test]
fn every_worker_runs_tasks() {
    let rt = support::four_workers();
    let threads = Arc::new(std::sync::Mutex::new(std::collections::HashSet::new()));
    let busy = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let threads = threads.clone();
            let busy = busy.clone();
            rt.spawn(async move {
                threads.lock().unwrap().insert(std::thread::current().id());
                // Hold this worker until all four tasks run at once.
                busy.fetch_add(1, Ordering::SeqCst);
                let give_up = std::time::Instant::now() + Duration::from_secs(20);
                while busy.load(Ordering::SeqCst) < 4 && std::time::Instant::now() < give_up {
                    std::thread::yield_now();
                }
            })
        })
        .collect();
    for h in handles {
        rt.block_on(h).unwrap();
    }
    assert_eq!(threads.lock().unwrap().len(), 4);
}

#[test]
fn builder_rejects_bad_arguments() {
    let err = ringtide::Builder::new()
        .worker_threads(0)
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("worker_threads"), "{err}");
    let err = ringtide::Builder::new()
        .ring_entries(0)
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("ring_entries"), "{err}");
    let err = ringtide::Builder::new()
        .ring_entries(1 << 20)
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("32768"), "{err}");
}

#[test]
fn default_runtime_has_one_worker_per_cpu() {
    let rt = ringtide::Runtime::new().unwrap();
    let cpus = std::thread::available_parallelism().unwrap().get();
    assert_eq!(rt.worker_threads(), cpus);
}

/// A waker that counts its wakes; its `Arc`'s strong count tells whether a task still
/// holds a clone.
struct CountingWaker(AtomicUsize);

impl std::task::Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn poll_once<F: std::future::Future + Unpin>(
    future: &mut F,
    waker: &Arc<CountingWaker>,
) -> std::task::Poll<F::Output> {
    let waker = std::task::Waker::from(waker.clone());
    std::pin::Pin::new(future).poll(&mut std::task::Context::from_waker(&waker))
}

/// Waits (bounded) until `done` holds.
fn eventually(what: &str, done: impl Fn() -> bool) {
    let start = std::time::Instant::now();
    while !done() {
        assert!(start.elapsed() < Duration::from_secs(10), "{what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn a_finished_task_wakes_and_releases_its_joiners_waker() {
    let rt = ringtide::Builder::new().worker_threads(1).build().unwrap();
    let (tx, rx) = futures::channel::oneshot::channel::<u32>();
    let mut handle = rt.spawn(async move { rx.await.unwrap() });
    let waker = Arc::new(CountingWaker(AtomicUsize::new(0)));
    assert!(poll_once(&mut handle, &waker).is_pending());
    // Polled again with the same waker: still registered once.
    assert!(poll_once(&mut handle, &waker).is_pending());
    assert_eq!(Arc::strong_count(&waker), 2, "the task holds one clone");
    tx.send(7).unwrap();
    eventually("the joiner was never woken", || {
        waker.0.load(Ordering::SeqCst) == 1
    });
    // The handle is still alive and unread, but the task no longer holds the waker.
    assert_eq!(Arc::strong_count(&waker), 1);
    assert_eq!(
        poll_once(&mut handle, &waker).map(Result::unwrap),
        std::task::Poll::Ready(7)
    );
}

#[test]
fn dropping_a_polled_handle_releases_the_joiners_waker() {
    let rt = ringtide::Builder::new().worker_threads(1).build().unwrap();
    let (_tx, rx) = futures::channel::oneshot::channel::<u32>();
    let mut handle = rt.spawn(async move { rx.await.unwrap_or(0) });
    let waker = Arc::new(CountingWaker(AtomicUsize::new(0)));
    assert!(poll_once(&mut handle, &waker).is_pending());
    assert_eq!(Arc::strong_count(&waker), 2);
    drop(handle);
    assert_eq!(
        Arc::strong_count(&waker),
        1,
        "the detached task kept the waker"
    );
}

/// A waker that panics when woken.
struct PanickingWaker;

impl std::task::Wake for PanickingWaker {
    fn wake(self: Arc<Self>) {
        panic!("waker panicked");
    }
}

#[test]
fn a_panicking_joiner_waker_does_not_take_the_worker_down() {
    let rt = ringtide::Builder::new().worker_threads(1).build().unwrap();
    let (tx, rx) = futures::channel::oneshot::channel::<u32>();
    let mut handle = rt.spawn(async move { rx.await.unwrap() });
    let waker = std::task::Waker::from(Arc::new(PanickingWaker));
    let mut cx = std::task::Context::from_waker(&waker);
    assert!(std::future::Future::poll(std::pin::Pin::new(&mut handle), &mut cx).is_pending());
    tx.send(5).unwrap();
    eventually("the task never finished", || handle.is_finished());
    // The worker is still there to run the next task.
    let (sent, received) = mpsc::channel();
    drop(rt.spawn(async move { sent.send(6).unwrap() }));
    let next = received.recv_timeout(Duration::from_secs(10));
    assert_eq!(next, Ok(6), "the worker died with the waker's panic");
    assert_eq!(rt.block_on(handle).unwrap(), 5);
}
