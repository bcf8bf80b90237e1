//! [`TaskGroup::shutdown`]: cancel, wait out a grace period, abort the rest, report.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use ringtide::time::Sleep;

use crate::member::Ended;
use crate::task_group::{Collector, Outcome};
use crate::{ChildError, TaskGroup};

impl<T, E> TaskGroup<T, E>
where
    T: Send + 'static,
    E: Send + 'static,
{
    /// Shuts the group down gracefully: cancels its token at once, gives the children
    /// `grace` to end on their own, then aborts those still running, and resolves, once
    /// every child has ended, to a [`ShutdownReport`] of which children finished, which
    /// ended after the cancellation, which were aborted and which failed.
    ///
    /// Children spawned (through a [`Spawner`](crate::Spawner)) during the grace period
    /// are waited for too; after it, spawning fails with
    /// [`SpawnError::Finished`](crate::SpawnError::Finished). A child that fails during
    /// the grace period still fails the group, which aborts the others at once. Dropping
    /// the returned future drops the group, which aborts every child.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use ringtide::time::sleep;
    /// use ringtide_combinators::TaskGroup;
    ///
    /// let rt = ringtide::Runtime::new()?;
    /// rt.block_on(async {
    ///     let group = TaskGroup::<&str, ()>::new();
    ///     group.spawn(async { Ok("quick") }).unwrap();
    ///     let token = group.token();
    ///     group.spawn(async move {
    ///         token.cancelled().await; // a well-behaved child
    ///         Ok("flushed and closed")
    ///     }).unwrap();
    ///     group.spawn(async {
    ///         sleep(Duration::from_secs(3600)).await; // ignores the token
    ///         Ok("never")
    ///     }).unwrap();
    ///     while group.running() > 2 {
    ///         sleep(Duration::from_millis(1)).await; // let the quick one finish
    ///     }
    ///
    ///     let report = group.shutdown(Duration::from_millis(20)).await;
    ///     assert_eq!(report.finished, [(0, "quick")]);
    ///     assert_eq!(report.cancelled, [(1, "flushed and closed")]);
    ///     assert_eq!(report.aborted, [2]);
    ///     assert!(report.errors.is_empty());
    /// });
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn shutdown(self, grace: Duration) -> Shutdown<T, E> {
        self.cancel();
        Shutdown {
            grace: Some(Box::pin(ringtide::time::sleep(grace))),
            group: self,
            collector: Collector::new(),
        }
    }
}

/// The future returned by [`TaskGroup::shutdown`].
#[must_use = "futures do nothing unless awaited; dropping this aborts the group"]
pub struct Shutdown<T, E> {
    group: TaskGroup<T, E>,
    collector: Collector<T, E>,
    /// The rest of the grace period; `None` once it is over and the rest were aborted.
    grace: Option<Pin<Box<Sleep>>>,
}

// The children are spawned tasks, and the timer is boxed; nothing here is pinned.
impl<T, E> Unpin for Shutdown<T, E> {}

impl<T, E> Future for Shutdown<T, E> {
    type Output = ShutdownReport<T, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let shared = &this.group.shared;
        loop {
            if let Poll::Ready((outcomes, _)) = this.collector.poll_collect(shared, cx) {
                return Poll::Ready(ShutdownReport::new(outcomes));
            }
            let Some(grace) = &mut this.grace else {
                return Poll::Pending;
            };
            if grace.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            this.grace = None;
            shared.abort_all();
        }
    }
}

impl<T, E> fmt::Debug for Shutdown<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shutdown")
            .field("group", &self.group)
            .field("in_grace", &self.grace.is_some())
            .finish_non_exhaustive()
    }
}

/// What became of each child of a [`TaskGroup`] that was [shut
/// down](TaskGroup::shutdown). Every child is in exactly one list, each list in spawn
/// order.
#[derive(Debug)]
pub struct ShutdownReport<T, E> {
    /// The children that returned `Ok` before the group's token was cancelled, with
    /// their index and value.
    pub finished: Vec<(usize, T)>,
    /// The children that returned `Ok` after the token was cancelled (the well-behaved
    /// ones), with their index and value.
    pub cancelled: Vec<(usize, T)>,
    /// The children aborted: still running at the end of the grace period, or when a
    /// sibling failed.
    pub aborted: Vec<usize>,
    /// The children that returned `Err` or panicked, before or after the cancellation.
    pub errors: Vec<ChildError<E>>,
}

impl<T, E> ShutdownReport<T, E> {
    fn new(outcomes: Vec<Outcome<T, E>>) -> ShutdownReport<T, E> {
        let mut report = ShutdownReport {
            finished: Vec::new(),
            cancelled: Vec::new(),
            aborted: Vec::new(),
            errors: Vec::new(),
        };
        for (index, outcome) in outcomes.into_iter().enumerate() {
            match outcome {
                Ok(Ended {
                    result: Ok(value),
                    after_cancel: false,
                }) => report.finished.push((index, value)),
                Ok(Ended {
                    result: Ok(value),
                    after_cancel: true,
                }) => report.cancelled.push((index, value)),
                Ok(Ended {
                    result: Err(error), ..
                }) => report.errors.push(ChildError::Failed { index, error }),
                Err(error) if error.is_panic() => {
                    report.errors.push(ChildError::Panicked { index, error })
                }
                Err(_) => report.aborted.push(index),
            }
        }
        report
    }
}
