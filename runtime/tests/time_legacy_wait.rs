//! Timers on the wait path of kernels before 5.11, where a parked worker's timeout is a
//! `TIMEOUT` request in its ring (replaced on every park) instead of a wait argument.

use std::sync::{mpsc, Once};
use std::time::Duration;

use ringtide::time::{sleep, sleep_until, timeout, Instant};

/// A runtime whose rings wait as on a kernel before 5.11. Every test of this binary runs
/// on such rings: the variable is set once, before any runtime reads it.
fn legacy_runtime(workers: usize) -> ringtide::Runtime {
    static LEGACY: Once = Once::new();
    LEGACY.call_once(|| std::env::set_var("RINGTIDE_IO_URING_WITHOUT", "ext_arg"));
    ringtide::Builder::new()
        .worker_threads(workers)
        .pin_workers(false)
        .driver(ringtide::Driver::IoUring)
        .build()
        .expect("runtime")
}

#[test]
fn sleeps_are_never_early_while_timeouts_are_replaced() {
    let rt = legacy_runtime(2);
    // A far timer keeps a long timeout armed; the short ones below replace it park after
    // park.
    drop(rt.spawn(sleep(Duration::from_secs(3600))));
    let handles: Vec<_> = (0..200u64)
        .map(|i| {
            rt.spawn(async move {
                let mut early = 0;
                for k in 0..5 {
                    let deadline =
                        Instant::now() + Duration::from_micros(50 + (i * 37 + k * 101) % 3000);
                    sleep_until(deadline).await;
                    if Instant::now() < deadline {
                        early += 1;
                    }
                }
                early
            })
        })
        .collect();
    for h in handles {
        assert_eq!(
            rt.block_on(h).unwrap(),
            0,
            "a sleep woke before its deadline"
        );
    }
    rt.block_on(async {
        assert!(
            timeout(Duration::from_millis(2), std::future::pending::<()>())
                .await
                .is_err()
        );
    });
}

#[test]
fn shutdown_does_not_wait_for_long_timeouts() {
    // Every worker parks with hour-long timeouts armed, replaced a few times; dropping
    // the runtime must cancel them instead of waiting for them to expire.
    let rt = legacy_runtime(2);
    for _ in 0..4 {
        drop(rt.spawn(sleep(Duration::from_secs(3600))));
    }
    rt.block_on(async {
        for _ in 0..20 {
            sleep(Duration::from_micros(200)).await;
        }
    });
    let (done, dropped) = mpsc::channel();
    std::thread::spawn(move || {
        drop(rt);
        let _ = done.send(());
    });
    // A hang guard, not a speed check: the old behaviour blocked for an hour.
    dropped
        .recv_timeout(Duration::from_secs(60))
        .expect("dropping the runtime waited for its armed timeouts");
}
