//! Dropping the runtime: every task is cancelled, nothing hangs, nothing leaks.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ringtide::time::sleep;
use support::{rt_test, Probe};

rt_test! {
    fn drop_cancels_idle_tasks_and_drops_their_futures(rt) {
        let probe = Probe::default();
        let mut handles = Vec::new();
        for i in 0..1000u64 {
            // Some wait on timers, some on nothing that will ever wake them.
            if i % 2 == 0 {
                handles.push(rt.spawn(probe.wrap(async move {
                    sleep(Duration::from_secs(3600)).await;
                })));
            } else {
                handles.push(rt.spawn(probe.wrap(std::future::pending::<()>())));
            }
        }
        while probe.polls() < 1000 {
            std::thread::yield_now();
        }
        drop(rt);
        assert_eq!(probe.drops(), 1000, "every future was dropped by shutdown");
        for h in handles {
            assert!(h.is_finished());
            let err = futures::executor::block_on(h).unwrap_err();
            assert!(err.is_cancelled());
        }
    }

    fn drop_cancels_queued_and_yielding_tasks(rt) {
        let probe = Probe::default();
        for _ in 0..100 {
            drop(rt.spawn(probe.wrap(async {
                loop {
                    ringtide::task::yield_now().await;
                }
            })));
        }
        drop(rt);
        assert_eq!(probe.drops(), 100);
    }

    fn destructors_may_spawn_during_shutdown(rt) {
        struct SpawnOnDrop(Arc<AtomicUsize>);
        impl Drop for SpawnOnDrop {
            fn drop(&mut self) {
                let counter = self.0.clone();
                // Spawning while the runtime shuts down is allowed; the new task is
                // cancelled before it runs.
                drop(ringtide::spawn(async move {
                    counter.fetch_add(100, Ordering::SeqCst);
                }));
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let counter = Arc::new(AtomicUsize::new(0));
        let probe = Probe::default();
        for _ in 0..10 {
            let guard = SpawnOnDrop(counter.clone());
            drop(rt.spawn(probe.wrap(async move {
                let _guard = guard;
                std::future::pending::<()>().await
            })));
        }
        while probe.polls() < 10 {
            std::thread::yield_now();
        }
        drop(rt);
        assert_eq!(counter.load(Ordering::SeqCst), 10, "destructors ran, spawned tasks did not");
    }

    fn drop_while_tasks_finish_on_other_workers(rt) {
        // Tasks registered by one worker and finished by another are unregistered in
        // batches; shutdown must neither hang on a batch nor leak what the tasks owned.
        let owned = Arc::new(());
        let spawner_owned = owned.clone();
        rt.block_on(rt.spawn(async move {
            for i in 0..5000u64 {
                let owned = spawner_owned.clone();
                drop(ringtide::spawn(async move {
                    let _owned = owned;
                    sleep(Duration::from_micros(i % 500)).await;
                    ringtide::task::yield_now().await;
                }));
            }
        }))
        .unwrap();
        std::thread::sleep(Duration::from_micros(300));
        drop(rt);
        assert_eq!(Arc::strong_count(&owned), 1, "no task kept its captures alive");
    }

    fn drop_releases_everything_a_task_owned(rt) {
        let owned = Arc::new(());
        for _ in 0..50 {
            let owned = owned.clone();
            drop(rt.spawn(async move {
                let _owned = owned;
                sleep(Duration::from_secs(60)).await;
            }));
        }
        drop(rt);
        assert_eq!(Arc::strong_count(&owned), 1, "no task kept its captures alive");
    }
}

#[test]
fn many_runtimes_start_and_stop() {
    for workers in [1, 2, 3] {
        for _ in 0..20 {
            let rt = ringtide::Builder::new()
                .worker_threads(workers)
                .pin_workers(false)
                .build()
                .unwrap();
            rt.block_on(async { sleep(Duration::from_micros(50)).await });
        }
    }
}

#[test]
fn fd_count_returns_to_baseline_after_drop() {
    fn open_fds() -> usize {
        std::fs::read_dir("/proc/self/fd").unwrap().count()
    }
    // Warm up anything lazily opened by the test harness itself.
    drop(support::two_workers_pinned());
    let before = open_fds();
    for _ in 0..10 {
        let rt = support::four_workers();
        rt.block_on(async { sleep(Duration::from_micros(10)).await });
        drop(rt);
    }
    // Other tests run in parallel threads of this process and open rings too; retry
    // until the count settles rather than compare a single racy snapshot.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut now_open = open_fds();
    while now_open > before && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
        now_open = open_fds();
    }
    // The count that settled, not a fresh one another test may have raised meanwhile.
    assert!(now_open <= before, "ring and eventfd descriptors leaked");
}
