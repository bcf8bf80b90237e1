//! [`gather_limited`] and [`as_completed_limited`]: at most `limit` children at once,
//! pulled from an iterator as places free up.
//!
//! Both keep `limit` slots in a [`FutureSet`] and refill a slot from the iterator as
//! soon as its child finishes, so the children alive at once, and the memory they take,
//! are bounded by the limit however long the input is; each slot remembers the input
//! position of its child. A refilled child is polled in the same round, but a round
//! admits at most `limit` new children: past that, the emptied slots wait for the next
//! poll (the awaiting task wakes itself), so a long run of children that finish at once
//! still yields to the executor every `limit` children.
//!
//! [`gather_limited`] keeps the outputs in input order without a slot per input: outputs
//! up to the first child still running are in the result `Vec` already, and those after
//! it wait in a queue indexed from that child.

use std::collections::VecDeque;
use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::{FusedStream, Stream};

use crate::set::FutureSet;

/// The future an input item turns into.
type Child<I> = <<I as Iterator>::Item as IntoFuture>::IntoFuture;
/// What a child of input `I` returns.
type Output<I> = <Child<I> as Future>::Output;

/// Runs the futures `futures` yields, at most `limit` at once, inside the awaiting task,
/// and resolves to their outputs in input order: `asyncio.gather` under an
/// `asyncio.Semaphore(limit)`, without a task per input.
///
/// The iterator is advanced only when a place is free: the first `limit` children are
/// made at once, and each later one when a child finishes. So at most `limit` children
/// exist at a time, and a lazy input of any length takes memory for `limit` children
/// (plus the outputs). Each child is polled when first made and afterwards only when it
/// is woken, as in [`gather`](crate::gather()).
///
/// # Panics
///
/// If `limit` is 0. A child's panic resumes in the awaiting task, as in `gather`.
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::time::Duration;
/// use ringtide::time::sleep;
/// use ringtide_combinators::gather_limited;
///
/// let rt = ringtide::Runtime::new()?;
/// rt.block_on(async {
///     let (running, most) = (AtomicUsize::new(0), AtomicUsize::new(0));
///     let downloads = (0..100u64).map(|page| {
///         let (running, most) = (&running, &most);
///         async move {
///             most.fetch_max(running.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
///             sleep(Duration::from_micros(100 * (page % 7))).await;
///             running.fetch_sub(1, Ordering::SeqCst);
///             page * 2
///         }
///     });
///     // sem = asyncio.Semaphore(8); await asyncio.gather(*(fetch(sem, p) for p in pages))
///     let sizes = gather_limited(downloads, 8).await;
///     assert_eq!(sizes, (0..100).map(|page| page * 2).collect::<Vec<_>>());
///     assert!(most.load(Ordering::SeqCst) <= 8);
/// });
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn gather_limited<I>(futures: I, limit: usize) -> GatherLimited<I::IntoIter>
where
    I: IntoIterator,
    I::Item: IntoFuture,
{
    let window = Window::new(futures.into_iter(), limit);
    let expected = window.set.len() + window.input.size_hint().0;
    GatherLimited {
        window,
        done: Vec::with_capacity(expected),
        waiting: VecDeque::new(),
        completed: false,
    }
}

/// Runs the futures `futures` yields, at most `limit` at once, inside the task that
/// polls the stream, and yields `(index, output)` as each finishes:
/// [`as_completed`](crate::as_completed()) with a limit, pulling its children from the
/// iterator as places free up (see [`gather_limited`]).
///
/// # Panics
///
/// If `limit` is 0.
///
/// # Examples
///
/// ```
/// use futures::StreamExt;
/// use std::time::Duration;
/// use ringtide::time::sleep;
/// use ringtide_combinators::as_completed_limited;
///
/// let rt = ringtide::Runtime::new()?;
/// rt.block_on(async {
///     let children = [5u64, 300, 5, 5].map(|ms| async move {
///         sleep(Duration::from_millis(ms)).await;
///         ms
///     });
///     // Two at a time: the slow child keeps one place, the quick ones take turns at the
///     // other.
///     let order: Vec<_> = as_completed_limited(children, 2).collect().await;
///     assert_eq!(order, [(0, 5), (2, 5), (3, 5), (1, 300)]);
/// });
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn as_completed_limited<I>(futures: I, limit: usize) -> AsCompletedLimited<I::IntoIter>
where
    I: IntoIterator,
    I::Item: IntoFuture,
{
    AsCompletedLimited {
        window: Window::new(futures.into_iter(), limit),
    }
}

/// The children alive at once, in `limit` slots, and the rest of the input.
struct Window<I: Iterator>
where
    I::Item: IntoFuture,
{
    input: I,
    /// The input has said `None` (and is not asked again).
    exhausted: bool,
    set: FutureSet<Child<I>>,
    /// The input position of the child in each slot.
    positions: Box<[usize]>,
    /// The position of the next child the input yields.
    next_position: usize,
    /// Slots emptied after this round admitted its `limit` children.
    vacant: Vec<usize>,
    /// Children admitted since the last round ended.
    admitted: usize,
}

impl<I: Iterator> Window<I>
where
    I::Item: IntoFuture,
{
    fn new(mut input: I, limit: usize) -> Window<I> {
        assert!(limit > 0, "a limit of 0 would never run a child");
        let set = FutureSet::new((&mut input).take(limit).map(IntoFuture::into_future));
        let first = set.len();
        Window {
            input,
            exhausted: first < limit,
            set,
            positions: (0..first).collect(),
            next_position: first,
            vacant: Vec::new(),
            admitted: 0,
        }
    }

    /// The next child to finish, with its input position; `None` once every child has.
    fn poll_next(&mut self, cx: &Context<'_>) -> Poll<Option<(usize, Output<I>)>> {
        self.set.start_round(cx);
        while self.admitted < self.set.len() {
            let Some(slot) = self.vacant.pop() else { break };
            self.refill(slot);
        }
        if let Some((slot, output)) = self.set.next_ready() {
            let position = self.positions[slot];
            self.refill(slot);
            return Poll::Ready(Some((position, output)));
        }
        // The round is over.
        self.admitted = 0;
        if self.vacant.is_empty() || self.exhausted {
            self.vacant.clear();
            if self.set.live() == 0 {
                return Poll::Ready(None);
            }
        } else {
            // Slots are waiting to be refilled: come back for them.
            cx.waker().wake_by_ref();
        }
        Poll::Pending
    }

    /// Gives the empty `slot` the next child of the input, if this round may admit one.
    fn refill(&mut self, slot: usize) {
        if self.exhausted {
            return;
        }
        if self.admitted == self.set.len() {
            self.vacant.push(slot);
            return;
        }
        match self.input.next() {
            Some(child) => {
                self.set.refill(slot, child.into_future());
                self.positions[slot] = self.next_position;
                self.next_position += 1;
                self.admitted += 1;
            }
            None => self.exhausted = true,
        }
    }

    fn is_terminated(&self) -> bool {
        self.set.live() == 0 && (self.exhausted || self.set.len() == 0)
    }
}

/// The future returned by [`gather_limited`].
#[must_use = "futures do nothing unless awaited"]
pub struct GatherLimited<I: Iterator>
where
    I::Item: IntoFuture,
{
    window: Window<I>,
    /// The outputs of positions `0..done.len()`.
    done: Vec<Output<I>>,
    /// The outputs of positions from `done.len()` on, where they have come.
    waiting: VecDeque<Option<Output<I>>>,
    completed: bool,
}

// The children are pinned on the heap inside the set; the input and the outputs are
// never pinned.
impl<I: Iterator> Unpin for GatherLimited<I> where I::Item: IntoFuture {}

impl<I: Iterator> GatherLimited<I>
where
    I::Item: IntoFuture,
{
    /// Files the output of input `position`.
    fn place(&mut self, position: usize, output: Output<I>) {
        let offset = position - self.done.len();
        if offset == 0 && self.waiting.is_empty() {
            self.done.push(output);
            return;
        }
        if self.waiting.len() <= offset {
            self.waiting.resize_with(offset + 1, || None);
        }
        self.waiting[offset] = Some(output);
        while let Some(Some(_)) = self.waiting.front() {
            let next = self.waiting.pop_front().flatten();
            self.done.extend(next);
        }
    }
}

impl<I: Iterator> Future for GatherLimited<I>
where
    I::Item: IntoFuture,
{
    type Output = Vec<Output<I>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        assert!(!this.completed, "GatherLimited polled after it completed");
        loop {
            match this.window.poll_next(cx) {
                Poll::Ready(Some((position, output))) => this.place(position, output),
                Poll::Ready(None) => {
                    debug_assert!(this.waiting.is_empty());
                    this.completed = true;
                    return Poll::Ready(std::mem::take(&mut this.done));
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl<I: Iterator> fmt::Debug for GatherLimited<I>
where
    I::Item: IntoFuture,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GatherLimited")
            .field("limit", &self.window.set.len())
            .field("running", &self.window.set.live())
            .field(
                "finished",
                &(self.window.next_position - self.window.set.live()),
            )
            .finish_non_exhaustive()
    }
}

/// The stream returned by [`as_completed_limited`].
#[must_use = "streams do nothing unless polled"]
pub struct AsCompletedLimited<I: Iterator>
where
    I::Item: IntoFuture,
{
    window: Window<I>,
}

// As for `GatherLimited`: nothing here is pinned.
impl<I: Iterator> Unpin for AsCompletedLimited<I> where I::Item: IntoFuture {}

impl<I: Iterator> Stream for AsCompletedLimited<I>
where
    I::Item: IntoFuture,
{
    type Item = (usize, Output<I>);

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let window = &mut self.get_mut().window;
        if window.is_terminated() {
            return Poll::Ready(None);
        }
        window.poll_next(cx)
    }
}

impl<I: Iterator> FusedStream for AsCompletedLimited<I>
where
    I::Item: IntoFuture,
{
    fn is_terminated(&self) -> bool {
        self.window.is_terminated()
    }
}

impl<I: Iterator> fmt::Debug for AsCompletedLimited<I>
where
    I::Item: IntoFuture,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsCompletedLimited")
            .field("limit", &self.window.set.len())
            .field("running", &self.window.set.live())
            .finish_non_exhaustive()
    }
}
