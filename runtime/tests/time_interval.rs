//! Intervals at the edges of time: periods longer than `Instant` can hold, and
//! lateness of many more periods than fit in a `u32`.

mod support;

use std::future::Future;
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use ringtide::time::{interval, interval_at, Instant, MissedTickBehavior};
use support::rt_test;

const BEHAVIOURS: [MissedTickBehavior; 3] = [
    MissedTickBehavior::Burst,
    MissedTickBehavior::Delay,
    MissedTickBehavior::Skip,
];

/// Whether `future` is still pending after one poll.
async fn is_pending(future: impl Future) -> bool {
    let mut future = pin!(future);
    std::future::poll_fn(|cx| Poll::Ready(future.as_mut().poll(cx).is_pending())).await
}

rt_test! {
    fn an_interval_of_duration_max_ticks_once_then_waits(rt) {
        rt.block_on(async {
            for behaviour in BEHAVIOURS {
                let before = Instant::now();
                let mut ticks = interval(Duration::MAX);
                ticks.set_missed_tick_behavior(behaviour);
                let first = ticks.tick().await;
                assert!(first >= before, "{behaviour:?}: the first tick is the start");
                assert!(is_pending(ticks.tick()).await, "{behaviour:?}: the second waits");
            }
        });
    }

    fn resetting_an_interval_of_duration_max_waits(rt) {
        rt.block_on(async {
            let mut ticks = interval(Duration::MAX);
            ticks.reset();
            assert!(is_pending(ticks.tick()).await);
        });
    }

    fn an_interval_late_by_many_periods_skips_to_the_first_tick_after_now(rt) {
        // 5 s behind a 1 ns schedule is 5e9 periods, more than a u32 counts: the next
        // tick must still be after the moment the late one was taken, not a missed one.
        rt.block_on(async {
            let late = Duration::from_secs(5);
            let start = Instant::now().checked_sub(late).expect("the clock is 5 s past boot");
            let period = Duration::from_nanos(1);
            let mut ticks = interval_at(start, period);
            ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
            assert_eq!(ticks.tick().await, start, "the start is due at once");
            let after_the_first = Instant::now();
            let second = ticks.tick().await;
            assert!(
                second > start + late,
                "the tick after a late one skips past the lateness: {:?} after the start",
                second - start
            );
            assert!(second <= after_the_first + period, "and no further than one period");
        });
    }
}
