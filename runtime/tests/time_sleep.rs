//! Timers: never early, `timeout`, `interval`, cancellation.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ringtide::time::{
    interval, interval_at, sleep, sleep_until, timeout, Instant, MissedTickBehavior,
};
use support::{rt_test, Rng};

rt_test! {
    fn no_sleep_ever_wakes_early(rt) {
        let early = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..2000u64)
            .map(|i| {
                let early = early.clone();
                let mut rng = Rng::new(i);
                rt.spawn(async move {
                    for _ in 0..3 {
                        let d = Duration::from_micros(rng.below(3000));
                        let deadline = Instant::now() + d;
                        sleep_until(deadline).await;
                        if Instant::now() < deadline {
                            early.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                })
            })
            .collect();
        for h in handles {
            rt.block_on(h).unwrap();
        }
        assert_eq!(early.load(Ordering::SeqCst), 0, "a sleep woke before its deadline");
    }

    fn sleep_in_block_on_is_never_early(rt) {
        rt.block_on(async {
            for us in [0u64, 1, 10, 100, 1000, 5000] {
                let start = Instant::now();
                sleep(Duration::from_micros(us)).await;
                assert!(start.elapsed() >= Duration::from_micros(us));
            }
        });
    }

    fn an_earlier_timer_from_outside_wakes_a_worker_asleep_until_a_later_one(rt) {
        // Timers registered in `block_on` go to the workers in turn: a minute-long
        // timer for each, so that every worker sleeps until a minute from now. A short
        // timer registered next lands in one of those wheels and must wake its worker.
        rt.block_on(async {
            let mut long: Vec<_> = (0..4).map(|_| Box::pin(sleep(Duration::from_secs(60)))).collect();
            for sleep in &mut long {
                assert!(futures::poll!(sleep.as_mut()).is_pending());
            }
            // Let every worker go to sleep with its minute-long deadline.
            std::thread::sleep(Duration::from_millis(20));
            for _ in 0..4 {
                let start = Instant::now();
                sleep(Duration::from_millis(2)).await;
                assert!(
                    start.elapsed() < Duration::from_secs(30),
                    "a 2 ms timer waited for a worker's next deadline"
                );
            }
        });
    }

    fn sleep_until_the_past_is_ready(rt) {
        rt.block_on(async {
            let past = Instant::now();
            std::thread::sleep(Duration::from_millis(1));
            sleep_until(past).await;
            assert!(sleep_until(past).is_elapsed());
        });
    }

    fn timeout_returns_elapsed_for_a_future_that_never_completes(rt) {
        rt.block_on(rt.spawn(async {
            let start = Instant::now();
            let err = timeout(Duration::from_millis(3), std::future::pending::<()>()).await.unwrap_err();
            assert!(start.elapsed() >= Duration::from_millis(3));
            assert_eq!(err.to_string(), "deadline has elapsed");
            let io: std::io::Error = err.into();
            assert_eq!(io.kind(), std::io::ErrorKind::TimedOut);
        })).unwrap();
    }

    fn timeout_returns_the_output_of_a_future_that_completes(rt) {
        rt.block_on(async {
            assert_eq!(timeout(Duration::from_secs(10), async { 5 }).await, Ok(5));
            let slow_but_in_time = async {
                sleep(Duration::from_millis(1)).await;
                6
            };
            assert_eq!(timeout(Duration::from_secs(10), slow_but_in_time).await, Ok(6));
        });
    }

    fn timeout_drops_the_inner_future(rt) {
        let probe = support::Probe::default();
        rt.block_on(async {
            let inner = probe.wrap(std::future::pending::<()>());
            assert!(timeout(Duration::from_millis(1), inner).await.is_err());
        });
        assert_eq!(probe.drops(), 1);
    }

    fn interval_does_not_drift(rt) {
        rt.block_on(rt.spawn(async {
            let period = Duration::from_millis(2);
            let start = Instant::now();
            let mut ticks = interval_at(start, period);
            for k in 0..50u32 {
                let scheduled = ticks.tick().await;
                assert_eq!(scheduled, start + period * k, "tick {k} is on the schedule");
                assert!(Instant::now() >= scheduled, "tick {k} fired early");
                // Work that takes part of the period must not shift later ticks.
                std::thread::sleep(Duration::from_micros(300));
            }
            // 50 ticks span 49 periods from the start, plus whatever the last was late.
            assert!(start.elapsed() >= period * 49);
        })).unwrap();
    }

    fn interval_missed_tick_behaviours(rt) {
        rt.block_on(async {
            let period = Duration::from_millis(1);
            for behaviour in [MissedTickBehavior::Burst, MissedTickBehavior::Delay, MissedTickBehavior::Skip] {
                let start = Instant::now();
                let mut ticks = interval_at(start, period);
                ticks.set_missed_tick_behavior(behaviour);
                assert_eq!(ticks.tick().await, start);
                std::thread::sleep(Duration::from_millis(5));
                let second = ticks.tick().await;
                assert_eq!(second, start + period, "the missed tick is reported first");
                let third = ticks.tick().await;
                match behaviour {
                    MissedTickBehavior::Burst => assert_eq!(third, start + period * 2),
                    MissedTickBehavior::Delay => assert!(third >= start + period * 6),
                    MissedTickBehavior::Skip => {
                        assert!(third >= start + period * 6);
                        assert_eq!((third - start).as_nanos() % period.as_nanos(), 0, "stays in phase");
                    }
                }
            }
        });
    }

    fn interval_first_tick_is_immediate(rt) {
        rt.block_on(async {
            let before = Instant::now();
            let mut ticks = interval(Duration::from_secs(3600));
            let first = ticks.tick().await;
            assert!(first >= before && first <= Instant::now());
        });
    }

    fn dropped_sleeps_cancel_their_timers(rt) {
        rt.block_on(rt.spawn(async {
            // Register many long timers and drop them; the runtime must stay responsive
            // and a short sleep must still fire.
            for _ in 0..10 {
                let mut sleeps: Vec<_> = (0..10_000u64).map(|i| Box::pin(sleep(Duration::from_secs(100 + i)))).collect();
                for s in &mut sleeps {
                    assert!(futures::poll!(s.as_mut()).is_pending());
                }
                drop(sleeps);
            }
            let start = Instant::now();
            sleep(Duration::from_millis(1)).await;
            assert!(start.elapsed() >= Duration::from_millis(1));
        })).unwrap();
    }

    fn sleep_reset_moves_the_deadline(rt) {
        rt.block_on(async {
            let start = Instant::now();
            let mut s = std::pin::pin!(sleep(Duration::from_secs(3600)));
            assert!(futures::poll!(s.as_mut()).is_pending());
            s.as_mut().reset(start + Duration::from_millis(2));
            s.await;
            assert!(start.elapsed() >= Duration::from_millis(2));
            assert!(start.elapsed() < Duration::from_secs(3600));
        });
    }

    fn a_burst_of_identical_deadlines_wakes_every_task_once_and_never_early(rt) {
        // Every timer goes into the wheel of the worker that runs the spawner (tasks are
        // polled first where they are queued, unless stolen), far more than one pass
        // fires: idle workers fire slices of that wheel too. Each task must wake exactly
        // once, never early, whichever worker fires it.
        let woken = Arc::new(AtomicUsize::new(0));
        let early = Arc::new(AtomicUsize::new(0));
        let tasks = 20_000;
        let (w, e) = (woken.clone(), early.clone());
        rt.block_on(rt.spawn(async move {
            let deadline = Instant::now() + Duration::from_millis(50);
            let handles: Vec<_> = (0..tasks)
                .map(|_| {
                    let (w, e) = (w.clone(), e.clone());
                    ringtide::spawn(async move {
                        sleep_until(deadline).await;
                        if Instant::now() < deadline {
                            e.fetch_add(1, Ordering::SeqCst);
                        }
                        w.fetch_add(1, Ordering::SeqCst);
                    })
                })
                .collect();
            for h in handles {
                h.await.unwrap();
            }
        }))
        .unwrap();
        assert_eq!(woken.load(Ordering::SeqCst), tasks);
        assert_eq!(early.load(Ordering::SeqCst), 0, "a sleep woke before its deadline");
    }

    fn a_registered_sleep_may_outlive_its_runtime(rt) {
        // A timer still linked when the runtime goes away keeps its wheel alive, so
        // dropping the `Sleep` afterwards unlinks it safely (valgrind or a crash would
        // show it otherwise). One sleep per worker wheel, and one that fired.
        let sleeps = rt.block_on(async {
            let mut sleeps = Vec::new();
            for i in 0..8u64 {
                let mut s = Box::pin(sleep(Duration::from_secs(3600 + i)));
                assert!(futures::poll!(s.as_mut()).is_pending());
                sleeps.push(s);
            }
            let mut fired = Box::pin(sleep(Duration::from_micros(10)));
            (&mut fired).await;
            sleeps.push(fired);
            sleeps
        });
        drop(rt);
        assert!(!sleeps[0].is_elapsed());
        drop(sleeps);
    }

    fn sleep_survives_being_stolen(rt) {
        // Timers registered on one worker wake tasks that moved to another.
        let handles: Vec<_> = (0..200u64)
            .map(|i| rt.spawn(async move {
                for j in 0..5 {
                    sleep(Duration::from_micros(50 * ((i + j) % 7))).await;
                    ringtide::task::yield_now().await;
                }
                i
            }))
            .collect();
        for (i, h) in handles.into_iter().enumerate() {
            assert_eq!(rt.block_on(h).unwrap(), i as u64);
        }
    }
}

#[test]
fn sleep_outside_a_runtime_panics_with_a_clear_message() {
    let err =
        std::panic::catch_unwind(|| futures::executor::block_on(sleep(Duration::from_millis(1))))
            .unwrap_err();
    let msg = err
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .unwrap_or_default();
    assert!(msg.contains("outside a ringtide runtime"), "{msg}");
}

#[test]
#[should_panic(expected = "interval period must be non-zero")]
fn zero_period_interval_panics() {
    let _ = interval(Duration::ZERO);
}
