//! Timers with microsecond precision: [`sleep`], [`sleep_until`], [`timeout`],
//! [`interval`].
//!
//! Each worker keeps its pending timers in a user-space queue ordered by deadline in
//! nanoseconds (no tick, no rounding) and parks in its io_uring ring with the nearest
//! deadline as the wait's timeout, so the kernel only ever holds one timeout per worker.
//! A timer is registered on the worker that first polls it; a timer first polled outside
//! the workers (in `block_on`) is handed to one of them. A timer never fires before its
//! deadline.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use ringtide::time::{sleep, timeout, Instant};
//!
//! let rt = ringtide::Runtime::new()?;
//! rt.block_on(async {
//!     let start = Instant::now();
//!     sleep(Duration::from_millis(5)).await;
//!     assert!(start.elapsed() >= Duration::from_millis(5));
//!
//!     let slow = sleep(Duration::from_secs(60));
//!     assert!(timeout(Duration::from_millis(1), slow).await.is_err());
//! });
//! # Ok::<(), std::io::Error>(())
//! ```

pub(crate) mod entry;
mod interval;
pub(crate) mod queue;
mod timeout;

pub use interval::{interval, interval_at, Interval, MissedTickBehavior};
pub use std::time::Instant;
pub use timeout::{timeout, timeout_at, Elapsed, Timeout};

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::context::{self, Current};
use crate::coop;
use entry::TimerEntry;

/// Waits until `duration` has elapsed.
///
/// The timer starts when `sleep` is called, not when the future is first polled.
///
/// # Panics
///
/// Polling the future outside a ringtide runtime (a worker or `block_on`) panics.
pub fn sleep(duration: Duration) -> Sleep {
    let now = Instant::now();
    sleep_until(now.checked_add(duration).unwrap_or_else(far_future))
}

/// Waits until `deadline`.
///
/// # Panics
///
/// Polling the future outside a ringtide runtime (a worker or `block_on`) panics.
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep {
        deadline,
        entry: None,
    }
}

/// About 30 years from now: the deadline of a sleep whose duration overflows `Instant`.
fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365 * 30)
}

/// A future that completes at a deadline. Created by [`sleep`] and [`sleep_until`].
///
/// Dropping it cancels the timer. It is `Unpin`: it can be polled through `&mut`.
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct Sleep {
    deadline: Instant,
    entry: Option<Arc<TimerEntry>>,
}

impl Sleep {
    /// The instant this sleep completes at.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Whether the deadline has passed.
    pub fn is_elapsed(&self) -> bool {
        match &self.entry {
            Some(entry) => entry.is_fired(),
            None => Instant::now() >= self.deadline,
        }
    }

    /// Moves the deadline, keeping the future (for use in loops and [`Interval`]).
    pub fn reset(&mut self, deadline: Instant) {
        self.cancel();
        self.deadline = deadline;
    }

    fn cancel(&mut self) {
        if let Some(entry) = self.entry.take() {
            if entry.cancel() {
                // Counting lets the owning worker compact its queue; a sleep dropped
                // outside any runtime is simply collected when its deadline passes.
                context::with_current(|current| match current {
                    Current::Worker(core) if core.index == entry.owner => {
                        core.count_cancelled_timer();
                    }
                    Current::Worker(core) => core.shared.count_remote_cancelled_timer(entry.owner),
                    Current::BlockOn(shared) => shared.count_remote_cancelled_timer(entry.owner),
                    Current::None => {}
                });
            }
        }
    }

    /// First poll: completes at once if the deadline has passed, else registers the
    /// timer with the current worker (or, outside the workers, with one of them).
    fn register(&mut self, cx: &mut Context<'_>) -> bool {
        let entry = context::with_current(|current| match current {
            Current::Worker(core) => {
                let deadline = deadline_nanos(&core.shared.epoch, self.deadline);
                // The worker's cached clock saves a clock read per timer; a deadline it
                // has not reached yet is registered and fired on the worker's next pass.
                if deadline <= core.cached_clock() {
                    return None;
                }
                let entry = core.register_timer(deadline);
                entry.poll_fired(cx.waker());
                Some(entry)
            }
            Current::BlockOn(shared) => {
                if Instant::now() >= self.deadline {
                    return None;
                }
                let deadline = deadline_nanos(&shared.epoch, self.deadline);
                Some(shared.register_remote_timer(deadline, cx.waker()))
            }
            Current::None if Instant::now() >= self.deadline => None,
            Current::None => panic!(
                "a ringtide timer was polled outside a ringtide runtime: await it inside \
                 Runtime::block_on or a task spawned on a ringtide runtime"
            ),
        });
        let fired = entry.is_none();
        self.entry = entry;
        fired
    }
}

/// Nanoseconds from `epoch` to `deadline` (exact: `Instant` counts nanoseconds).
fn deadline_nanos(epoch: &Instant, deadline: Instant) -> u64 {
    let since = deadline.saturating_duration_since(*epoch);
    u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let fired = match &self.entry {
            Some(entry) => entry.poll_fired(cx.waker()),
            None => self.register(cx),
        };
        if fired {
            coop::poll_proceed(cx)
        } else {
            Poll::Pending
        }
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        self.cancel();
    }
}
