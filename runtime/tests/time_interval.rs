//! Intervals at the edges of time: periods longer than `Instant` can hold.

mod support;

use std::future::Future;
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use ringtide::time::{interval, Instant, MissedTickBehavior};
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
}
