//! [`interval`]: ticks at a fixed period without drift.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use super::{deadline_after, sleep_until, Instant, Sleep};

/// What an [`Interval`] does when ticks were missed (the task was busy past a deadline).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MissedTickBehavior {
    /// Fire the missed ticks at once, one per call, until caught up; the schedule keeps
    /// its original phase (`start + k * period`). The default.
    #[default]
    Burst,
    /// Restart the schedule one period after the late tick.
    Delay,
    /// Drop the missed ticks and fire at the next point of the original schedule.
    Skip,
}

impl MissedTickBehavior {
    /// The deadline of the tick after the one scheduled at `scheduled`, which was taken
    /// at `now`. Past what `Instant` can hold, it saturates (see [`deadline_after`]).
    fn next_tick(self, scheduled: Instant, period: Duration, now: Instant) -> Instant {
        let on_schedule = deadline_after(scheduled, period, now);
        match self {
            MissedTickBehavior::Burst => on_schedule,
            MissedTickBehavior::Delay if now > on_schedule => deadline_after(now, period, now),
            MissedTickBehavior::Delay => on_schedule,
            MissedTickBehavior::Skip => {
                // The first `scheduled + k * period`, k >= 1, after `now`, in u128
                // nanoseconds: a u32 count of periods runs out 4.3 s behind a 1 ns
                // schedule, while here the product is at most the lateness plus a
                // period, each below 2^94 ns.
                let behind = now.saturating_duration_since(scheduled).as_nanos();
                let period = period.as_nanos();
                let ahead = (behind / period + 1) * period;
                deadline_after(scheduled, saturating_duration_from_nanos(ahead), now)
            }
        }
    }
}

/// `nanos` as a `Duration`, or `Duration::MAX` where it does not fit.
fn saturating_duration_from_nanos(nanos: u128) -> Duration {
    const NANOS_PER_SEC: u128 = 1_000_000_000;
    match u64::try_from(nanos / NANOS_PER_SEC) {
        // The remainder is below 10^9, so it fits a u32.
        Ok(secs) => Duration::new(secs, (nanos % NANOS_PER_SEC) as u32),
        Err(_) => Duration::MAX,
    }
}

/// Ticks every `period`, starting now: the first tick completes immediately.
///
/// Deadlines are computed from the schedule (`start + k * period`), never from when a
/// tick was observed, so lateness does not accumulate.
///
/// # Long periods
///
/// A tick that would fall past what [`Instant`] can hold (with `interval(Duration::MAX)`,
/// say) is scheduled about 30 years after the tick before it was taken, as
/// [`sleep`](super::sleep) does with a duration that overflows: in practice it never
/// comes, and nothing panics.
///
/// # Panics
///
/// Panics if `period` is zero.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// let rt = ringtide::Runtime::new()?;
/// rt.block_on(async {
///     let mut ticks = ringtide::time::interval(Duration::from_millis(2));
///     let first = ticks.tick().await;
///     let second = ticks.tick().await;
///     assert_eq!(second - first, Duration::from_millis(2));
/// });
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn interval(period: Duration) -> Interval {
    interval_at(Instant::now(), period)
}

/// Ticks every `period`, the first tick at `start`. A tick past what [`Instant`] can hold
/// waits for ever, as with [`interval`].
///
/// # Panics
///
/// Panics if `period` is zero.
pub fn interval_at(start: Instant, period: Duration) -> Interval {
    assert!(!period.is_zero(), "interval period must be non-zero");
    Interval {
        period,
        sleep: Box::pin(sleep_until(start)),
        missed: MissedTickBehavior::default(),
    }
}

/// A schedule of ticks. Created by [`interval`] and [`interval_at`].
#[derive(Debug)]
pub struct Interval {
    period: Duration,
    /// Boxed so that `Interval` is `Unpin`; allocated once, reset for every tick.
    sleep: Pin<Box<Sleep>>,
    missed: MissedTickBehavior,
}

impl Interval {
    /// Waits for the next tick and returns the instant it was scheduled for.
    pub async fn tick(&mut self) -> Instant {
        poll_fn(|cx| self.poll_tick(cx)).await
    }

    /// Polls for the next tick; returns the instant it was scheduled for.
    pub fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Instant> {
        if self.sleep.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        let scheduled = self.sleep.deadline();
        let next = self
            .missed
            .next_tick(scheduled, self.period, Instant::now());
        self.sleep.as_mut().reset(next);
        Poll::Ready(scheduled)
    }

    /// Restarts the schedule: the next tick is one period from now.
    pub fn reset(&mut self) {
        let now = Instant::now();
        self.sleep
            .as_mut()
            .reset(deadline_after(now, self.period, now));
    }

    /// The period between ticks.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// What happens to missed ticks.
    pub fn missed_tick_behavior(&self) -> MissedTickBehavior {
        self.missed
    }

    /// Sets what happens to missed ticks.
    pub fn set_missed_tick_behavior(&mut self, behavior: MissedTickBehavior) {
        self.missed = behavior;
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::time::FAR_FUTURE;

    const BEHAVIOURS: [MissedTickBehavior; 3] = [
        MissedTickBehavior::Burst,
        MissedTickBehavior::Delay,
        MissedTickBehavior::Skip,
    ];

    #[test]
    fn a_period_of_duration_max_saturates_for_every_behaviour() {
        let now = Instant::now();
        for behaviour in BEHAVIOURS {
            let next = behaviour.next_tick(now, Duration::MAX, now);
            assert_eq!(next, now + FAR_FUTURE, "{behaviour:?}");
        }
    }

    #[test]
    fn skip_far_behind_a_nanosecond_schedule_lands_just_after_now() {
        // 5e9 periods behind: more than a u32 counts.
        let scheduled = Instant::now();
        let now = scheduled + Duration::from_secs(5);
        let next = MissedTickBehavior::Skip.next_tick(scheduled, Duration::from_nanos(1), now);
        assert_eq!(next, now + Duration::from_nanos(1));
    }
}
