//! Task management for ringtide, after Python's asyncio: [`gather`](gather()), [`wait`](wait()),
//! [`as_completed`](as_completed()), [`race`](race()), [`wait_for`](wait_for()) and [`TaskGroup`], typed and panic-aware;
//! and past asyncio, after trio: [`CancellationToken`]s, a group's
//! [`cancel`](TaskGroup::cancel), deadline and graceful [`shutdown`](TaskGroup::shutdown),
//! [`TaskGroup::start`], [`shield`](shield()), and bounded concurrency with
//! [`TaskGroup::with_limit`], [`gather_limited`](gather_limited()) and
//! [`as_completed_limited`](as_completed_limited()).
//!
//! ```
//! use std::time::Duration;
//! use ringtide::time::{sleep, Instant};
//! use ringtide_combinators::{gather, wait, ReturnWhen};
//!
//! async fn task_one() -> &'static str {
//!     sleep(Duration::from_millis(20)).await;
//!     "one"
//! }
//!
//! async fn task_two() -> &'static str {
//!     sleep(Duration::from_millis(30)).await;
//!     "two"
//! }
//!
//! let rt = ringtide::Runtime::new()?;
//! rt.block_on(async {
//!     // results = await asyncio.gather(task_one(), task_two())
//!     let start = Instant::now();
//!     let (one, two) = gather!(task_one(), task_two()).await; // concurrent, in order
//!     assert_eq!((one, two), ("one", "two"));
//!     assert!(start.elapsed() >= Duration::from_millis(30)); // not 50 ms
//!
//!     // done, pending = await asyncio.wait(tasks, return_when=FIRST_COMPLETED)
//!     let tasks = [ringtide::spawn(task_one()), ringtide::spawn(task_two())];
//!     let result = wait(tasks, ReturnWhen::FirstCompleted).await.unwrap();
//!     assert_eq!(result.done.len(), 1);
//!     assert_eq!(result.done[0].0, 0);
//!     assert_eq!(result.pending.len(), 1);
//! });
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # How it works
//!
//! [`gather`](gather()), [`try_gather`], [`gather!`], [`wait`](wait()), [`as_completed`](as_completed()) and [`race`](race()) poll
//! their children inside the task that awaits them, on any executor (they need no
//! ringtide runtime; only the [`Wait::timeout`]-style deadlines use ringtide's timer, and
//! each has a variant that takes any deadline future). Each child has its own waker,
//! allocated once with its siblings'; waking it pushes its index onto a lock-free list,
//! and the combinator polls only the children on that list, so a wake-up costs O(1)
//! whatever the number of children. A poll of the combinator polls each woken child at
//! most once: a child that keeps waking itself is polled again only on the combinator's
//! next poll, after its siblings and after the executor has had its turn.
//!
//! Children run concurrently, not in parallel. For parallelism, spawn tasks and pass
//! their [`JoinHandle`](ringtide::JoinHandle)s (`Result<T, JoinError>` outputs, so a
//! task's panic arrives as an error), or use a [`TaskGroup`], which also cancels the
//! siblings of a child that fails.
//!
//! # Cancellation
//!
//! Dropping a combinator drops the children it still holds. A future child is cancelled
//! by that; a `JoinHandle` child's task is detached and keeps running (as with asyncio's
//! `wait`, `as_completed` and a `wait_for` around a shielded task). [`wait`](wait()) and the
//! deadline variants of [`as_completed`](as_completed()) cancel nothing at their deadline and hand the
//! unfinished children back. [`race`](race()) and [`try_gather`] drop the losers before they
//! return. [`wait_for`](wait_for()) drops its future before it reports a timeout. Dropping a
//! [`TaskGroup`] or its `join` future aborts its tasks.
//!
//! Aborting is the forceful way; a [`CancellationToken`] is the cooperative one: tasks
//! watch it and end themselves cleanly. Each [`TaskGroup`] owns one, and
//! [`TaskGroup::shutdown`] combines both: it cancels the token, gives the children a
//! grace period, then aborts the rest. [`shield`](shield()) runs a future as a task of
//! its own, which neither kind of cancellation of its awaiter reaches.
//!
//! # Panics
//!
//! A child that panics while polled is dropped, and the panic resumes in the task that
//! awaits the combinator; the other children are dropped with the combinator. A child
//! whose `Drop` panics is never dropped a second time. A combinator polled again after a
//! child's panic (through `catch_unwind`) panics with a message that says so.

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    clippy::undocumented_unsafe_blocks
)]

mod admission;
mod as_completed;
mod cancel;
mod error;
mod gather;
mod group_error;
mod limited;
mod member;
mod queue;
mod race;
mod set;
mod shield;
mod shutdown;
mod slab;
mod small;
mod start;
mod task_group;
mod tuple;
mod wait;
mod wait_for;

pub use as_completed::{as_completed, AsCompleted, AsCompletedUntil};
pub use cancel::{CancellationToken, Cancelled, CancelledOwned, RunUntilCancelled};
pub use error::{EmptyInput, TimedOut};
pub use gather::{gather, try_gather, Gather, TryGather};
pub use group_error::{ChildError, GroupError};
pub use limited::{as_completed_limited, gather_limited, AsCompletedLimited, GatherLimited};
pub use race::{race, Race};
pub use shield::{shield, Shield};
pub use shutdown::{Shutdown, ShutdownReport};
pub use start::{Start, StartError, Started};
pub use task_group::{Join, SpawnError, Spawner, TaskGroup};
pub use wait::{wait, when, Condition, Fallible, NoDeadline, ReturnWhen, Wait, WaitResult};
pub use wait_for::{wait_for, wait_for_at, wait_for_deadline, WaitFor};

/// Another name for [`wait_for`](wait_for()), after asyncio's `timeout`.
pub use wait_for::wait_for as timeout;

#[doc(hidden)]
pub mod __private {
    //! Used by the expansion of [`gather!`](crate::gather!); not public API.
    pub use crate::tuple::{GatherTuple, Slot, Slots};
}

/// Compile-time checks that the combinators are `Send` and `Sync` when their children
/// are.
#[allow(dead_code)]
fn _assert_send_sync() {
    fn send_sync<T: Send + Sync>() {}
    type Child = std::pin::Pin<Box<dyn std::future::Future<Output = u8> + Send + Sync>>;
    send_sync::<Gather<Child>>();
    send_sync::<TryGather<std::future::Ready<Result<u8, ()>>, u8>>();
    send_sync::<Wait<Child, when::FirstCompleted>>();
    send_sync::<AsCompleted<Child>>();
    send_sync::<Race<Child>>();
    send_sync::<WaitFor<Child, ringtide::time::Sleep>>();
    send_sync::<TaskGroup<u8, String>>();
    send_sync::<Join<u8, String>>();
    send_sync::<Spawner<u8, String>>();
    send_sync::<CancellationToken>();
    send_sync::<Shutdown<u8, String>>();
    send_sync::<Start<u8>>();
    send_sync::<Shield<u8>>();
    send_sync::<GatherLimited<std::iter::Map<std::ops::Range<u8>, fn(u8) -> Child>>>();
    send_sync::<AsCompletedLimited<std::vec::IntoIter<Child>>>();
    send_sync::<Started<u8>>();
    send_sync::<Cancelled<'static>>();
    send_sync::<CancelledOwned>();
}

/// A [`Gather`] is `Send` only if its children and their outputs are: wakers may run on
/// any thread, but the children and outputs stay with the gather. Neither of these
/// compiles, for a few children (kept in one allocation with their wakers' state) as for
/// many:
///
/// ```compile_fail
/// fn send<T: Send>(_: T) {}
/// // Children that hold an `Rc` across an await.
/// send(ringtide_combinators::gather((0..3).map(|i| async move {
///     let shared = std::rc::Rc::new(i);
///     std::future::ready(()).await;
///     *shared
/// })));
/// ```
///
/// ```compile_fail
/// fn send<T: Send>(_: T) {}
/// // `Send` children whose outputs are not.
/// send(ringtide_combinators::gather((0..3).map(|i| async move { std::rc::Rc::new(i) })));
/// ```
#[cfg(doctest)]
pub struct GatherIsSendOnlyWithSendChildren;
