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
    use proptest::prelude::*;

    use super::*;
    use crate::time::strategies::{any_duration, any_period, config, offset};
    use crate::time::FAR_FUTURE;

    const BEHAVIOURS: [MissedTickBehavior; 3] = [
        MissedTickBehavior::Burst,
        MissedTickBehavior::Delay,
        MissedTickBehavior::Skip,
    ];

    fn any_behaviour() -> impl Strategy<Value = MissedTickBehavior> {
        proptest::sample::select(&BEHAVIOURS[..])
    }

    /// A tick scheduled at `scheduled` on a schedule of `period`, taken `late` after it
    /// (at `now`).
    #[derive(Debug)]
    struct LateTick {
        scheduled: Instant,
        late: Duration,
        now: Instant,
        period: Duration,
    }

    impl LateTick {
        fn next(&self, behaviour: MissedTickBehavior) -> Instant {
            behaviour.next_tick(self.scheduled, self.period, self.now)
        }
    }

    fn a_late_tick() -> impl Strategy<Value = LateTick> {
        (offset(), offset(), any_period()).prop_map(|(scheduled, late, period)| {
            let scheduled = Instant::now() + scheduled;
            LateTick {
                scheduled,
                late,
                now: scheduled + late,
                period,
            }
        })
    }

    /// `scheduled + nanos`, exactly, where `Instant` can hold it.
    fn exactly_after(scheduled: Instant, nanos: u128) -> Option<Instant> {
        let duration = saturating_duration_from_nanos(nanos);
        (duration.as_nanos() == nanos)
            .then_some(duration)
            .and_then(|duration| scheduled.checked_add(duration))
    }

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

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn nanoseconds_become_a_duration_exactly_or_the_largest(
            nanos in prop_oneof![
                any::<u64>().prop_map(u128::from),
                (0..=Duration::MAX.as_nanos() + 1),
                any::<u128>(),
            ],
        ) {
            let duration = saturating_duration_from_nanos(nanos);
            prop_assert_eq!(duration.as_nanos(), nanos.min(Duration::MAX.as_nanos()));
        }

        #[test]
        fn burst_keeps_the_schedule(tick in a_late_tick()) {
            let next = tick.next(MissedTickBehavior::Burst);
            match tick.scheduled.checked_add(tick.period) {
                Some(on_schedule) => prop_assert_eq!(next, on_schedule),
                None => prop_assert!(next >= tick.now + FAR_FUTURE),
            }
        }

        #[test]
        fn delay_restarts_a_period_after_a_late_tick(tick in a_late_tick()) {
            let next = tick.next(MissedTickBehavior::Delay);
            let expected = match tick.scheduled.checked_add(tick.period) {
                Some(on_schedule) if tick.now <= on_schedule => Some(on_schedule),
                Some(_) => tick.now.checked_add(tick.period),
                None => None,
            };
            match expected {
                Some(expected) => prop_assert_eq!(next, expected),
                None => prop_assert!(next >= tick.now + FAR_FUTURE),
            }
        }

        #[test]
        fn skip_takes_the_first_tick_of_the_schedule_after_now(tick in a_late_tick()) {
            let next = tick.next(MissedTickBehavior::Skip);
            prop_assert!(next > tick.now);
            let (behind, period) = (tick.late.as_nanos(), tick.period.as_nanos());
            match exactly_after(tick.scheduled, (behind / period + 1) * period) {
                Some(expected) => {
                    prop_assert_eq!(next, expected);
                    let ahead = (next - tick.scheduled).as_nanos();
                    prop_assert_eq!(ahead % period, 0, "on the schedule");
                    prop_assert!(ahead - period <= behind, "the tick before is not after now");
                }
                None => prop_assert!(next >= tick.now + FAR_FUTURE),
            }
        }

        #[test]
        fn no_behaviour_panics_or_goes_back_whatever_the_clock_says(
            behaviour in any_behaviour(),
            scheduled in offset(),
            now in offset(),
            late in any_duration(),
            period in any_period(),
        ) {
            // `now` anywhere, even before the tick (a stale reading), or as late as
            // `Instant` allows.
            let anchor = Instant::now();
            let scheduled = anchor + scheduled;
            for now in [Some(anchor + now), scheduled.checked_add(late)].into_iter().flatten() {
                let next = behaviour.next_tick(scheduled, period, now);
                if now >= scheduled {
                    prop_assert!(next > scheduled);
                } else {
                    prop_assert!(next >= scheduled);
                }
            }
        }
    }
}
