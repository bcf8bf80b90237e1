//! Timers with microsecond precision: [`sleep`], [`sleep_until`], [`timeout`](timeout()),
//! [`interval`](interval()).
//!
//! Each worker keeps its pending timers in a hierarchical timing wheel with one-microsecond
//! ticks and parks in its io_uring ring with the nearest deadline as the wait's timeout, so
//! the kernel only ever holds one timeout per worker. A timer lives inside its [`Sleep`]
//! (no allocation of its own) and is linked into the wheel of the worker that first polls
//! it; a timer first polled outside the workers (in `block_on`) is handed to one of them.
//! A timer never fires before its deadline, and at most a microsecond after it for
//! rounding.
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
pub(crate) mod shard;
#[cfg(all(test, not(loom)))]
mod strategies;
mod timeout;
pub(crate) mod wheel;

pub use interval::{interval, interval_at, Interval, MissedTickBehavior};
pub use std::time::Instant;
pub use timeout::{timeout, timeout_at, Elapsed, Timeout};

use std::future::Future;
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::context::{self, Current};
use crate::coop;
use shard::{Inserted, TimerShard};
use wheel::{tick_at_or_after, TimerNode};

/// Waits until `duration` has elapsed.
///
/// The timer starts when `sleep` is called, not when the future is first polled.
///
/// # Panics
///
/// Polling the future outside a ringtide runtime (a worker, `block_on` or a blocking
/// job) panics, and so does polling it once the runtime has shut down (through a
/// [`Handle`](crate::Handle) that outlived it).
pub fn sleep(duration: Duration) -> Sleep {
    let now = Instant::now();
    sleep_until(deadline_after(now, duration, now))
}

/// Waits until `deadline`.
///
/// # Panics
///
/// Polling the future outside a ringtide runtime (a worker, `block_on` or a blocking
/// job) panics, and so does polling it once the runtime has shut down (through a
/// [`Handle`](crate::Handle) that outlived it).
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep::new(deadline)
}

/// How far ahead of now a deadline goes when `Instant` cannot hold it: about 30 years.
/// No timer waits that long in practice, so it is "never"; and unlike the latest
/// `Instant`, a deadline this far out leaves room for arithmetic on it.
const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);

/// `base + duration`, saturating: where `Instant` cannot hold the sum, [`FAR_FUTURE`]
/// after `now`, or `base` if that is later still (a deadline never moves back).
fn deadline_after(base: Instant, duration: Duration, now: Instant) -> Instant {
    base.checked_add(duration).unwrap_or_else(|| {
        now.checked_add(FAR_FUTURE)
            .map_or(base, |far_future| far_future.max(base))
    })
}

/// A future that completes at a deadline. Created by [`sleep`] and [`sleep_until`].
///
/// The timer lives inside the future (the wheel keeps only a pointer to it), so the future
/// must be pinned to be polled: `.await` does that; to poll it by hand, use
/// `std::pin::pin!` or `Box::pin`. Dropping it cancels the timer.
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct Sleep {
    deadline: Instant,
    /// The wheel the node is linked into, once registered. Not reference counted: a
    /// shard outlives the timers linked into it (see `shard`'s module docs).
    shard: Option<NonNull<TimerShard>>,
    node: TimerNode,
}

impl Sleep {
    fn new(deadline: Instant) -> Sleep {
        Sleep {
            deadline,
            shard: None,
            node: TimerNode::new(),
        }
    }

    /// The instant this sleep completes at.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Whether the deadline has passed.
    pub fn is_elapsed(&self) -> bool {
        match &self.shard {
            Some(_) => self.node.entry.is_fired(),
            None => Instant::now() >= self.deadline,
        }
    }

    /// Moves the deadline, keeping the future (for use in loops and [`Interval`]).
    pub fn reset(self: Pin<&mut Self>, deadline: Instant) {
        // SAFETY: the node is not moved; it is unlinked before the fields change.
        let this = unsafe { self.get_unchecked_mut() };
        this.unlink();
        this.node.entry.reset();
        this.deadline = deadline;
    }

    fn unlink(&mut self) {
        let Some(shard) = self.shard else {
            return;
        };
        if self.node.entry.is_released() {
            // Fired (the common case when a sleep ends): nothing left to undo.
            self.shard = None;
            return;
        }
        self.unlink_linked(shard);
    }

    /// `unlink` of a timer that had not fired when `unlink` looked.
    #[inline(never)]
    fn unlink_linked(&mut self, shard: NonNull<TimerShard>) {
        let emptied = self
            .with_linked_shard(|wheel| {
                // SAFETY: the node was inserted into this shard and is still linked there
                // (not released), or was unlinked by its worker since; it is pinned here.
                unsafe { wheel.remove(&self.node) }
            })
            .unwrap_or(false);
        self.shard = None;
        if emptied {
            // SAFETY: our removal emptied the wheel; the shard is not used again.
            unsafe { TimerShard::release_self(shard) };
        }
    }

    /// Runs `f` on the shard the timer is linked into, unless it has fired: a fired
    /// timer was unlinked by its worker, which will not touch it again, so there is no
    /// need for the lock (which another worker may be holding to fire a batch), nor for
    /// the shard, which may be gone. See `shard::SHARD_USE` for why the check and `f`
    /// run under that lock on threads outside the shard's runtime.
    fn with_linked_shard<R>(&self, f: impl FnOnce(&TimerShard) -> R) -> Option<R> {
        let shard = self.shard?;
        if self.node.entry.is_released() {
            // The common case, checked first: no look at the thread's runtime.
            return None;
        }
        let on_its_runtime = context::with_current(|current| match current {
            Current::Worker(core) => core.shared.owns_timer_shard(shard),
            Current::BlockOn(shared) => shared.owns_timer_shard(shard),
            Current::None => false,
        });
        let _in_use =
            (!on_its_runtime).then(|| shard::SHARD_USE.read().unwrap_or_else(|e| e.into_inner()));
        if self.node.entry.is_released() {
            return None;
        }
        // SAFETY: the timer is linked (not released), so the shard is alive, and stays
        // so while `f` runs: its runtime holds it, or its destructor waits for
        // `SHARD_USE`.
        Some(f(unsafe { shard.as_ref() }))
    }

    /// First poll: completes at once if the deadline has passed, else links the timer
    /// into the current worker's wheel (or another's, when the current one holds far
    /// more timers: see `WorkerCore::timer_wheel`), or, outside the workers, into one of
    /// theirs.
    fn register(&mut self, cx: &mut Context<'_>) -> bool {
        context::with_current(|current| {
            let (shared, owner, deadline) = match current {
                Current::Worker(core) => {
                    // The worker's cached clock saves a clock read per timer; a deadline
                    // it has not reached yet is linked and fired on the worker's next pass.
                    let deadline = deadline_nanos(&core.shared.epoch, self.deadline);
                    if deadline <= core.cached_clock() {
                        return true;
                    }
                    (&core.shared, core.timer_wheel(), deadline)
                }
                Current::BlockOn(shared) => {
                    if Instant::now() >= self.deadline {
                        return true;
                    }
                    let deadline = deadline_nanos(&shared.epoch, self.deadline);
                    (shared, shared.next_timer_worker(), deadline)
                }
                Current::None if Instant::now() >= self.deadline => return true,
                Current::None => panic!(
                    "a ringtide timer was polled outside a ringtide runtime: await it inside \
                     Runtime::block_on or a task spawned on a ringtide runtime"
                ),
            };
            let shard = &shared.workers[owner].timers;
            let tick = tick_at_or_after(deadline);
            // Register the waker before the node becomes visible to the worker.
            self.node.entry.register(cx.waker());
            // SAFETY: `self` is pinned (we are in `poll`), the node is linked nowhere,
            // and `Drop`/`reset` unlink it before it moves or is freed.
            let inserted = unsafe { shard.insert(&self.node, tick) };
            match inserted {
                Inserted::Due => return true,
                Inserted::Closed => runtime_shut_down(),
                Inserted::Linked | Inserted::LinkedWakeOwner => {}
            }
            self.shard = Some(NonNull::from(&**shard));
            if inserted == Inserted::LinkedWakeOwner
                && !matches!(current, Current::Worker(core) if core.index == owner)
            {
                // The owner may be asleep until after this deadline: let it look again.
                // (Waking it for every timer cost it a wake-up, and the caller a system
                // call, per timer registered into another worker's wheel.)
                shared.unpark(owner);
            }
            false
        })
    }
}

/// A timer of a runtime whose workers have exited was polled: it would never fire.
fn runtime_shut_down() -> ! {
    panic!("a ringtide timer was polled after its runtime shut down; nothing will ever fire it")
}

/// Nanoseconds from `epoch` to `deadline` (exact: `Instant` counts nanoseconds).
fn deadline_nanos(epoch: &Instant, deadline: Instant) -> u64 {
    let since = deadline.saturating_duration_since(*epoch);
    u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
}

// SAFETY: the shard pointer is only used to reach a `TimerShard`, which is `Sync`, while
// the timer is linked into it; every other field is `Send` and `Sync`.
unsafe impl Send for Sleep {}
// SAFETY: as above; `&Sleep` reads the fired flag and the deadline only.
unsafe impl Sync for Sleep {}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // SAFETY: the node is never moved out of the pinned future.
        let this = unsafe { self.get_unchecked_mut() };
        let fired = match this.shard {
            Some(_) => {
                let fired = this.node.entry.poll_fired(cx.waker());
                if !fired && this.with_linked_shard(TimerShard::is_closed) == Some(true) {
                    runtime_shut_down();
                }
                fired
            }
            None => this.register(cx),
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
        self.unlink();
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use proptest::prelude::*;

    use super::strategies::{any_duration, config, offset};
    use super::wheel::tick_reached;
    use super::*;

    #[test]
    fn a_deadline_past_what_instant_holds_is_the_far_future() {
        let now = Instant::now();
        assert_eq!(deadline_after(now, Duration::MAX, now), now + FAR_FUTURE);
        let second = Duration::from_secs(1);
        assert_eq!(deadline_after(now, second, now), now + second);
    }

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn a_deadline_after_any_duration_is_exact_or_saturates_forward(
            base in offset(),
            duration in any_duration(),
            now in offset(),
        ) {
            let anchor = Instant::now();
            let (base, now) = (anchor + base, anchor + now);
            let deadline = deadline_after(base, duration, now);
            match base.checked_add(duration) {
                Some(exact) => prop_assert_eq!(deadline, exact),
                None => {
                    prop_assert!(deadline >= base, "a deadline never moves back");
                    prop_assert!(deadline >= now + FAR_FUTURE, "it waits for ever");
                }
            }
        }

        #[test]
        fn a_deadline_becomes_the_first_tick_at_or_after_it(
            later in offset(),
            earlier in offset(),
            jitter in -2000i64..2000,
        ) {
            // Deadlines on either side of the epoch, up to 2^62 s after it.
            let epoch = Instant::now();
            let deadline = (epoch + later).checked_sub(earlier);
            prop_assume!(deadline.is_some());
            let deadline = deadline.unwrap();
            let nanos = deadline_nanos(&epoch, deadline);
            let tick = tick_at_or_after(nanos);
            let exact = deadline.saturating_duration_since(epoch).as_nanos();
            // A clock reading (u64 nanoseconds since the epoch) fires the timer once it
            // reaches the tick: the first such reading is the tick's start, if a u64
            // holds it.
            match u64::try_from(u128::from(tick) * 1000) {
                Ok(first_reading) => {
                    prop_assert!(u128::from(first_reading) >= exact, "never early");
                    prop_assert!(
                        u128::from(first_reading) < exact + 1000,
                        "at most a microsecond late"
                    );
                    prop_assert!(tick_reached(first_reading) >= tick);
                    if first_reading > 0 {
                        prop_assert!(tick_reached(first_reading - 1) < tick);
                    }
                }
                // 584 years after the epoch: no reading reaches it, so it never fires.
                Err(_) => prop_assert!(tick_reached(u64::MAX) < tick),
            }
            // And directly: a reading near the deadline reaches the tick only once it
            // has reached the deadline.
            let reading = nanos.saturating_add_signed(jitter);
            if tick_reached(reading) >= tick {
                prop_assert!(u128::from(reading) >= exact, "never early");
            }
        }
    }
}
