//! [`as_completed`]: a stream of outputs in completion order.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_core::{FusedStream, Stream};
use pin_project_lite::pin_project;
use ringtide::time::Sleep;

use crate::set::FutureSet;
use crate::TimedOut;

/// Polls every future `futures` yields concurrently, inside the task that polls the
/// stream, and yields `(index, output)` as each finishes: asyncio's `as_completed`, with
/// the input position attached so that outputs need not carry their own.
///
/// A stream ([`futures_core::Stream`]), so it works on any executor; it ends once every
/// child has been yielded (and yields nothing for an empty input). For a deadline, see
/// [`AsCompleted::timeout`] and [`AsCompleted::deadline`].
///
/// Dropping the stream drops the children still running (a `JoinHandle` child detaches
/// its task); [`AsCompleted::into_pending`] hands them back instead.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use futures::StreamExt;
/// use ringtide::time::sleep;
/// use ringtide_combinators::as_completed;
///
/// let rt = ringtide::Runtime::new()?;
/// rt.block_on(async {
///     let children = [30u64, 10, 20].map(|ms| async move {
///         sleep(Duration::from_millis(ms)).await;
///         ms
///     });
///     let order: Vec<_> = as_completed(children).collect().await;
///     assert_eq!(order, [(1, 10), (2, 20), (0, 30)]);
/// });
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn as_completed<I>(futures: I) -> AsCompleted<<I::Item as IntoFuture>::IntoFuture>
where
    I: IntoIterator,
    I::Item: IntoFuture,
{
    AsCompleted {
        set: FutureSet::new(futures.into_iter().map(IntoFuture::into_future)),
    }
}

/// The stream returned by [`as_completed`].
#[must_use = "streams do nothing unless polled"]
pub struct AsCompleted<F> {
    set: FutureSet<F>,
}

impl<F> AsCompleted<F> {
    /// Ends the stream with one `Err(TimedOut)` at most `duration` from now (ringtide's
    /// timer: poll it inside a ringtide runtime). The children still running at the
    /// deadline are not cancelled: [`AsCompletedUntil::into_pending`] returns them. The
    /// timer is boxed so that the stream stays `Unpin`, as `StreamExt::next` wants.
    ///
    /// ```
    /// use std::time::Duration;
    /// use futures::StreamExt;
    /// use ringtide::time::sleep;
    /// use ringtide_combinators::{as_completed, TimedOut};
    ///
    /// let rt = ringtide::Runtime::new()?;
    /// rt.block_on(async {
    ///     let children = [1u64, 3600_000].map(|ms| Box::pin(sleep(Duration::from_millis(ms))));
    ///     let mut stream = as_completed(children).timeout(Duration::from_millis(20));
    ///     assert_eq!(stream.next().await, Some(Ok((0, ()))));
    ///     assert_eq!(stream.next().await, Some(Err(TimedOut)));
    ///     assert_eq!(stream.next().await, None);
    ///     assert_eq!(stream.into_pending().len(), 1);
    /// });
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn timeout(self, duration: Duration) -> AsCompletedUntil<F, Pin<Box<Sleep>>> {
        self.deadline(Box::pin(ringtide::time::sleep(duration)))
    }

    /// Ends the stream with one `Err(TimedOut)` when `deadline` completes; any future will
    /// do, from any executor's timer. Cancels nothing.
    pub fn deadline<D: Future>(self, deadline: D) -> AsCompletedUntil<F, D> {
        AsCompletedUntil {
            inner: self,
            deadline,
            timed_out: false,
        }
    }

    /// The children that have not finished, with their indices, in index order.
    pub fn into_pending(mut self) -> Vec<(usize, F)>
    where
        F: Unpin,
    {
        self.set.take_pending()
    }

    /// How many children have not been yielded yet.
    pub fn len(&self) -> usize {
        self.set.live()
    }

    /// Whether every child has been yielded.
    pub fn is_empty(&self) -> bool {
        self.set.live() == 0
    }
}

impl<F: Future> Stream for AsCompleted<F> {
    type Item = (usize, F::Output);

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let set = &mut self.get_mut().set;
        if set.live() == 0 {
            return Poll::Ready(None);
        }
        set.start_round(cx);
        match set.next_ready() {
            Some(item) => Poll::Ready(Some(item)),
            None => Poll::Pending,
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.set.live(), Some(self.set.live()))
    }
}

impl<F: Future> FusedStream for AsCompleted<F> {
    fn is_terminated(&self) -> bool {
        self.set.live() == 0
    }
}

impl<F> fmt::Debug for AsCompleted<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsCompleted")
            .field("children", &self.set.len())
            .field("running", &self.set.live())
            .finish()
    }
}

pin_project! {
    /// The stream returned by [`AsCompleted::timeout`] and [`AsCompleted::deadline`]:
    /// yields `Ok((index, output))` in completion order, then `Err(TimedOut)` once if the
    /// deadline comes first, and then ends.
    #[must_use = "streams do nothing unless polled"]
    pub struct AsCompletedUntil<F, D> {
        inner: AsCompleted<F>,
        #[pin]
        deadline: D,
        timed_out: bool,
    }
}

impl<F, D> AsCompletedUntil<F, D> {
    /// The children that have not finished, with their indices, in index order.
    pub fn into_pending(self) -> Vec<(usize, F)>
    where
        F: Unpin,
    {
        self.inner.into_pending()
    }
}

impl<F: Future, D: Future> Stream for AsCompletedUntil<F, D> {
    type Item = Result<(usize, F::Output), TimedOut>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.project();
        if *this.timed_out {
            return Poll::Ready(None);
        }
        match Pin::new(this.inner).poll_next(cx) {
            Poll::Ready(item) => return Poll::Ready(item.map(Ok)),
            Poll::Pending => {}
        }
        match this.deadline.poll(cx) {
            Poll::Ready(_) => {
                *this.timed_out = true;
                Poll::Ready(Some(Err(TimedOut)))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<F: Future, D: Future> FusedStream for AsCompletedUntil<F, D> {
    fn is_terminated(&self) -> bool {
        self.timed_out || self.inner.is_terminated()
    }
}

impl<F, D> fmt::Debug for AsCompletedUntil<F, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsCompletedUntil")
            .field("inner", &self.inner)
            .field("timed_out", &self.timed_out)
            .finish_non_exhaustive()
    }
}
