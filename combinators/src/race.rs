//! [`race`]: the first of many futures to finish wins; the others are dropped.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::set::FutureSet;
use crate::EmptyInput;

/// Polls every future `futures` yields concurrently, inside the awaiting task, and
/// resolves to the first output; every other child is dropped (exactly once, in index
/// order) before `race` returns. An empty input resolves to `Err(EmptyInput)`.
///
/// When several children finish in the same round of polls, the first one polled wins
/// (on the first poll, the lowest index).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use ringtide::time::sleep;
/// use ringtide_combinators::race;
///
/// let rt = ringtide::Runtime::new()?;
/// rt.block_on(async {
///     let children = [3600_000u64, 5].map(|ms| async move {
///         sleep(Duration::from_millis(ms)).await;
///         ms
///     });
///     assert_eq!(race(children).await, Ok(5));
/// });
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn race<I>(futures: I) -> Race<<I::Item as IntoFuture>::IntoFuture>
where
    I: IntoIterator,
    I::Item: IntoFuture,
{
    Race {
        set: FutureSet::new(futures.into_iter().map(IntoFuture::into_future)),
        finished: false,
    }
}

/// The future returned by [`race`].
#[must_use = "futures do nothing unless awaited"]
pub struct Race<F> {
    set: FutureSet<F>,
    finished: bool,
}

impl<F: Future> Future for Race<F> {
    type Output = Result<F::Output, EmptyInput>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if this.set.len() == 0 {
            return Poll::Ready(Err(EmptyInput));
        }
        assert!(!this.finished, "Race polled after it completed");
        this.set.start_round(cx);
        match this.set.next_ready() {
            Some((_, output)) => {
                this.finished = true;
                this.set.clear();
                Poll::Ready(Ok(output))
            }
            None => Poll::Pending,
        }
    }
}

impl<F> fmt::Debug for Race<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Race")
            .field("children", &self.set.len())
            .field("running", &self.set.live())
            .finish()
    }
}
