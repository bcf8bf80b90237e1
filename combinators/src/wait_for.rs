//! [`wait_for`] (also exported as [`timeout`](crate::timeout)): asyncio's `wait_for`.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;
use ringtide::time::{Instant, Sleep};

use crate::TimedOut;

/// Requires `future` to finish within `duration`: asyncio's `wait_for`.
///
/// Resolves to `Ok(output)`, or to `Err(TimedOut)` once `duration` has passed. As asyncio
/// guarantees, the inner future has been dropped, and its `Drop` has run to the end,
/// before `Err(TimedOut)` is returned; and a future that is ready at the deadline wins
/// (it is polled first). Dropping the `WaitFor` drops the inner future (cancelling the
/// outer wait cancels the inner one, as in asyncio).
///
/// Uses ringtide's timer, so poll it inside a ringtide runtime; [`wait_for_deadline`]
/// takes any deadline future instead. (`ringtide::time::timeout` differs in that it keeps
/// the inner future until the `Timeout` itself is dropped.)
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use ringtide::time::sleep;
/// use ringtide_combinators::{wait_for, TimedOut};
///
/// let rt = ringtide::Runtime::new()?;
/// rt.block_on(async {
///     assert_eq!(wait_for(Duration::from_secs(5), async { 7 }).await, Ok(7));
///     let slow = sleep(Duration::from_secs(3600));
///     assert_eq!(wait_for(Duration::from_millis(2), slow).await, Err(TimedOut));
/// });
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn wait_for<F: IntoFuture>(duration: Duration, future: F) -> WaitFor<F::IntoFuture, Sleep> {
    wait_for_deadline(ringtide::time::sleep(duration), future)
}

/// Requires `future` to finish before `deadline`: see [`wait_for`].
pub fn wait_for_at<F: IntoFuture>(deadline: Instant, future: F) -> WaitFor<F::IntoFuture, Sleep> {
    wait_for_deadline(ringtide::time::sleep_until(deadline), future)
}

/// Requires `future` to finish before the future `deadline` does: [`wait_for`] for any
/// executor and any timer.
///
/// ```
/// use ringtide_combinators::{wait_for_deadline, TimedOut};
///
/// let never = std::future::pending::<()>();
/// let expired = async {};
/// assert_eq!(futures::executor::block_on(wait_for_deadline(expired, never)), Err(TimedOut));
/// ```
pub fn wait_for_deadline<F: IntoFuture, D: Future>(
    deadline: D,
    future: F,
) -> WaitFor<F::IntoFuture, D> {
    WaitFor {
        future: Some(future.into_future()),
        deadline,
    }
}

pin_project! {
    /// The future returned by [`wait_for`], [`wait_for_at`] and [`wait_for_deadline`].
    #[must_use = "futures do nothing unless awaited"]
    pub struct WaitFor<F, D> {
        #[pin]
        future: Option<F>,
        #[pin]
        deadline: D,
    }
}

impl<F: Future, D: Future> Future for WaitFor<F, D> {
    type Output = Result<F::Output, TimedOut>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let future = this
            .future
            .as_mut()
            .as_pin_mut()
            .expect("WaitFor polled after it completed");
        if let Poll::Ready(output) = future.poll(cx) {
            this.future.set(None);
            return Poll::Ready(Ok(output));
        }
        match this.deadline.poll(cx) {
            Poll::Ready(_) => {
                // Dropped in place, and its drop finished, before the error is returned.
                this.future.set(None);
                Poll::Ready(Err(TimedOut))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<F, D> fmt::Debug for WaitFor<F, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitFor")
            .field("running", &self.future.is_some())
            .finish_non_exhaustive()
    }
}
