//! [`gather`] and [`try_gather`]: run many futures of one type at once, outputs in input
//! order.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::set::FutureSet;

/// Runs every future `futures` yields concurrently, inside the awaiting task, and
/// resolves to their outputs in input order: asyncio's `gather`.
///
/// Each child is polled once at first and afterwards only when its own waker fires, so a
/// wake-up costs O(1) however many children there are. An empty input resolves at once to
/// an empty `Vec`. For children of different types, see [`gather!`](crate::gather!); to
/// stop at the first error, see [`try_gather`].
///
/// Children run concurrently but not in parallel: they share the awaiting task. For
/// parallelism, gather the [`JoinHandle`](ringtide::JoinHandle)s of spawned tasks, which
/// resolve to `Result<T, JoinError>`.
///
/// # Cancellation
///
/// Dropping the `Gather` drops every child still running (for a `JoinHandle` that
/// detaches its task rather than cancelling it; use a [`TaskGroup`](crate::TaskGroup) to
/// cancel spawned tasks).
///
/// # Panics
///
/// A child's panic resumes in the awaiting task, once the panicking child has been
/// dropped; the other children are dropped with the `Gather`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use ringtide::time::{sleep, Instant};
/// use ringtide_combinators::gather;
///
/// let rt = ringtide::Runtime::new()?;
/// rt.block_on(async {
///     let start = Instant::now();
///     let children = [30u64, 10, 20].map(|ms| async move {
///         sleep(Duration::from_millis(ms)).await;
///         ms
///     });
///     // Input order, whatever the order of completion; about 30 ms in all, not 60.
///     assert_eq!(gather(children).await, [30, 10, 20]);
///     assert!(start.elapsed() >= Duration::from_millis(30));
/// });
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn gather<I>(futures: I) -> Gather<<I::Item as IntoFuture>::IntoFuture>
where
    I: IntoIterator,
    I::Item: IntoFuture,
{
    let set = FutureSet::new(futures.into_iter().map(IntoFuture::into_future));
    let outputs = std::iter::repeat_with(|| None).take(set.len()).collect();
    Gather { set, outputs }
}

/// The future returned by [`gather`].
#[must_use = "futures do nothing unless awaited"]
pub struct Gather<F: Future> {
    set: FutureSet<F>,
    outputs: Vec<Option<F::Output>>,
}

// The children are pinned on the heap inside the set, and outputs are never pinned.
impl<F: Future> Unpin for Gather<F> {}

impl<F: Future> Future for Gather<F> {
    type Output = Vec<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        assert_eq!(
            this.outputs.len(),
            this.set.len(),
            "Gather polled after it completed"
        );
        if this.set.live() > 0 {
            this.set.start_round(cx);
            while let Some((index, output)) = this.set.next_ready() {
                this.outputs[index] = Some(output);
            }
            if this.set.live() > 0 {
                return Poll::Pending;
            }
        }
        let outputs = std::mem::take(&mut this.outputs);
        Poll::Ready(outputs.into_iter().map(expect_output).collect())
    }
}

impl<F: Future> fmt::Debug for Gather<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gather")
            .field("children", &self.set.len())
            .field("running", &self.set.live())
            .finish()
    }
}

/// Like [`gather`] for children that can fail: resolves to every `Ok` value in input
/// order, or to the first `Err`, in which case every other child still running is
/// dropped (cancelled) before the error is returned.
///
/// `JoinHandle`s qualify: their output is `Result<T, JoinError>`, so the first task to
/// panic (or be cancelled) ends the wait. Dropping a `JoinHandle` detaches its task.
///
/// # Examples
///
/// ```
/// use ringtide_combinators::try_gather;
///
/// let all_ok = [1, 2, 3].map(|n| async move { Ok::<_, String>(n * 10) });
/// assert_eq!(futures::executor::block_on(try_gather(all_ok)), Ok(vec![10, 20, 30]));
///
/// let one_fails = [1, 2, 3].map(|n| async move {
///     if n == 2 { Err(format!("child {n} failed")) } else { Ok(n) }
/// });
/// assert_eq!(
///     futures::executor::block_on(try_gather(one_fails)),
///     Err("child 2 failed".to_string())
/// );
/// ```
pub fn try_gather<I, T, E>(futures: I) -> TryGather<<I::Item as IntoFuture>::IntoFuture, T>
where
    I: IntoIterator,
    I::Item: IntoFuture<Output = Result<T, E>>,
{
    let set = FutureSet::new(futures.into_iter().map(IntoFuture::into_future));
    let outputs = std::iter::repeat_with(|| None).take(set.len()).collect();
    TryGather { set, outputs }
}

/// The future returned by [`try_gather`].
#[must_use = "futures do nothing unless awaited"]
pub struct TryGather<F, T> {
    set: FutureSet<F>,
    outputs: Vec<Option<T>>,
}

// The children are pinned on the heap inside the set, and outputs are never pinned.
impl<F, T> Unpin for TryGather<F, T> {}

impl<F, T, E> Future for TryGather<F, T>
where
    F: Future<Output = Result<T, E>>,
{
    type Output = Result<Vec<T>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        assert_eq!(
            this.outputs.len(),
            this.set.len(),
            "TryGather polled after it completed"
        );
        if this.set.live() > 0 {
            this.set.start_round(cx);
            while let Some((index, output)) = this.set.next_ready() {
                match output {
                    Ok(value) => this.outputs[index] = Some(value),
                    Err(err) => {
                        this.outputs.clear();
                        this.set.clear();
                        return Poll::Ready(Err(err));
                    }
                }
            }
            if this.set.live() > 0 {
                return Poll::Pending;
            }
        }
        let outputs = std::mem::take(&mut this.outputs);
        Poll::Ready(Ok(outputs.into_iter().map(expect_output).collect()))
    }
}

impl<F, T> fmt::Debug for TryGather<F, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TryGather")
            .field("children", &self.set.len())
            .field("running", &self.set.live())
            .finish()
    }
}

fn expect_output<T>(output: Option<T>) -> T {
    output.expect("every child finished, so every output is present")
}
