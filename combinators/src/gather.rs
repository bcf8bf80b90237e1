//! [`gather`] and [`try_gather`]: run many futures of one type at once, outputs in input
//! order.
//!
//! # Two paths
//!
//! [`gather`] takes one of two paths, after its input's size hint. Up to 64 children
//! (the hint's upper bound) take the small path ([`crate::small`]): children, outputs,
//! wake-up bits and the awaiting task's waker in one allocation, sized for 4, 16 or 64
//! children, plus the result `Vec`. More children, or an input with no upper bound, take
//! the large path: a [`FutureSet`] and its ready queue, plus the outputs. Both give each
//! child its own waker and poll only woken children, once per poll of the `Gather`, so
//! a wake-up costs O(1) on either; they differ in what a gather costs to make. A few
//! children are gathered often and finish fast, and there the large path's five
//! allocations were most of the cost (three times `futures::future::join_all`'s at ten
//! children); the small path makes two, and touches no atomic read-modify-write when
//! every child is ready at once. An input that yields more than its hint promised
//! (never polled yet, so its children may move) goes to the large path.
//!
//! On the small path the children woken since the last poll are polled in input order;
//! on the large path, in the order they were woken.
//!
//! [`try_gather`] always takes the large path.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::set::FutureSet;
use crate::small::{self, SmallGather};

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
    let futures = futures.into_iter().map(IntoFuture::into_future);
    let inner = match futures.size_hint().1 {
        Some(0..=4) => small(futures, Inner::Small4),
        Some(5..=16) => small(futures, Inner::Small16),
        Some(17..=small::MAX) => small(futures, Inner::Small64),
        _ => large(futures),
    };
    Gather { inner }
}

/// The small path for at most `N` children, or the large one if `futures` yields more
/// than its size hint promised.
#[inline]
fn small<F: Future, const N: usize>(
    mut futures: impl Iterator<Item = F>,
    variant: fn(SmallGather<F, N>) -> Inner<F>,
) -> Inner<F> {
    let gather = SmallGather::new(&mut futures);
    // Only a full gather asks for more: an iterator that has said `None` once may not
    // be asked again.
    let extra = if gather.len() == N {
        futures.next()
    } else {
        None
    };
    match extra {
        None => variant(gather),
        Some(extra) => longer_than_hinted(gather, extra, futures),
    }
}

/// The large path for an input that yields more than its size hint promised: the
/// children were never polled, so they may move.
#[cold]
#[inline(never)]
fn longer_than_hinted<F: Future, const N: usize>(
    gather: SmallGather<F, N>,
    extra: F,
    rest: impl Iterator<Item = F>,
) -> Inner<F> {
    let mut children = gather.into_unpolled();
    children.push(extra);
    large(children.into_iter().chain(rest))
}

fn large<F: Future>(futures: impl Iterator<Item = F>) -> Inner<F> {
    let set = FutureSet::new(futures);
    let outputs = std::iter::repeat_with(|| None).take(set.len()).collect();
    Inner::Large(Box::new(Large { set, outputs }))
}

/// The future returned by [`gather`].
#[must_use = "futures do nothing unless awaited"]
pub struct Gather<F: Future> {
    inner: Inner<F>,
}

/// The small path in one of three sizes (the smallest that fits the input's size hint),
/// or the large one (module docs).
enum Inner<F: Future> {
    Small4(SmallGather<F, 4>),
    Small16(SmallGather<F, 16>),
    Small64(SmallGather<F, { small::MAX }>),
    /// Boxed, so that a `Gather` is two words, cheap to move.
    Large(Box<Large<F>>),
}

/// The large path: the children in a [`FutureSet`], and the outputs so far.
struct Large<F: Future> {
    set: FutureSet<F>,
    outputs: Vec<Option<F::Output>>,
}

// The children are pinned on the heap (inside the set or the small path's allocation),
// and outputs are never pinned.
impl<F: Future> Unpin for Gather<F> {}

impl<F: Future> Future for Gather<F> {
    type Output = Vec<F::Output>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let (set, outputs) = match &mut self.get_mut().inner {
            Inner::Small4(small) => return small.poll(cx),
            Inner::Small16(small) => return small.poll(cx),
            Inner::Small64(small) => return small.poll(cx),
            Inner::Large(large) => (&mut large.set, &mut large.outputs),
        };
        assert_eq!(outputs.len(), set.len(), "Gather polled after it completed");
        if set.live() > 0 {
            set.start_round(cx);
            while let Some((index, output)) = set.next_ready() {
                outputs[index] = Some(output);
            }
            if set.live() > 0 {
                return Poll::Pending;
            }
        }
        let outputs = std::mem::take(outputs);
        Poll::Ready(outputs.into_iter().map(expect_output).collect())
    }
}

impl<F: Future> fmt::Debug for Gather<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (children, running) = match &self.inner {
            Inner::Small4(small) => (small.len(), small.live()),
            Inner::Small16(small) => (small.len(), small.live()),
            Inner::Small64(small) => (small.len(), small.live()),
            Inner::Large(large) => (large.set.len(), large.set.live()),
        };
        f.debug_struct("Gather")
            .field("children", &children)
            .field("running", &running)
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
