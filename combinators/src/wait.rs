//! [`wait`]: wait for some of many futures, asyncio's `wait` with `return_when` and
//! `timeout`.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;

use crate::set::FutureSet;
use crate::EmptyInput;

/// When [`wait`] returns: `ReturnWhen::AllCompleted`, `ReturnWhen::FirstCompleted` or
/// `ReturnWhen::FirstError`, asyncio's `return_when` values.
///
/// Each is a constant of its own type (in [`when`]), so that the compiler
/// checks the choice: `ReturnWhen::FirstError` is accepted only where the children's
/// outputs can fail (they implement [`Fallible`]: `Result`s, and so `JoinHandle`
/// outputs), and waiting for the first error of futures that cannot fail is a type error
/// rather than a silent `AllCompleted`.
///
/// ```compile_fail
/// use ringtide_combinators::{wait, ReturnWhen};
/// // `u32` cannot be an error: this does not compile.
/// let _ = wait([std::future::ready(1u32)], ReturnWhen::FirstError);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct ReturnWhen;

#[allow(non_upper_case_globals)] // Spelled like the enum variants they stand for.
impl ReturnWhen {
    /// Return when every child has finished (or at the deadline).
    pub const AllCompleted: AllCompleted = AllCompleted;
    /// Return as soon as any child finishes (or at the deadline).
    pub const FirstCompleted: FirstCompleted = FirstCompleted;
    /// Return as soon as any child finishes with an error, or when all have finished
    /// (or at the deadline).
    pub const FirstError: FirstError = FirstError;
}

/// The conditions [`ReturnWhen`] names, one type each.
pub mod when {
    /// See [`ReturnWhen::AllCompleted`](crate::ReturnWhen::AllCompleted).
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
    pub struct AllCompleted;
    /// See [`ReturnWhen::FirstCompleted`](crate::ReturnWhen::FirstCompleted).
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
    pub struct FirstCompleted;
    /// See [`ReturnWhen::FirstError`](crate::ReturnWhen::FirstError).
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
    pub struct FirstError;
}

use when::{AllCompleted, FirstCompleted, FirstError};

/// An output that may be an error: what [`ReturnWhen::FirstError`] looks for.
///
/// Implemented for `Result<T, E>`, which covers a [`JoinHandle`](ringtide::JoinHandle)'s
/// `Result<T, JoinError>` (a panicked or cancelled task is an error).
pub trait Fallible {
    /// Whether this output is an error.
    fn is_failure(&self) -> bool;
}

impl<T, E> Fallible for Result<T, E> {
    fn is_failure(&self) -> bool {
        self.is_err()
    }
}

/// A condition that ends a [`wait`] early, given each output as its child finishes.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot decide when to stop waiting for outputs of type `{O}`",
    note = "`ReturnWhen::FirstError` needs outputs that can fail: a `Result`, such as a \
            `JoinHandle`'s output"
)]
pub trait Condition<O> {
    /// Whether [`wait`] should return once the current round of polls is over, now that a
    /// child finished with `output`.
    fn is_met(&self, output: &O) -> bool;
}

impl<O> Condition<O> for AllCompleted {
    fn is_met(&self, _: &O) -> bool {
        false
    }
}

impl<O> Condition<O> for FirstCompleted {
    fn is_met(&self, _: &O) -> bool {
        true
    }
}

impl<O: Fallible> Condition<O> for FirstError {
    fn is_met(&self, output: &O) -> bool {
        output.is_failure()
    }
}

/// A deadline that never comes: the deadline of a [`Wait`] without a timeout.
pub type NoDeadline = std::future::Pending<()>;

/// Polls every future `futures` yields concurrently, inside the awaiting task, until
/// `when` says to return: asyncio's `asyncio.wait(tasks, return_when=...)`.
///
/// Resolves to a [`WaitResult`] with `done` (index and output of every child that
/// finished) and `pending` (index and future of every child still running, untouched and
/// live: wait on them again, or drop them). Children that finish in the same round of
/// polls (the same wake-up) all land in `done`, so `FirstCompleted` may return several.
/// An empty input resolves to `Err(EmptyInput)`, as asyncio raises `ValueError`.
///
/// [`Wait::timeout`] (ringtide's timer) and [`Wait::deadline`] (any future, for other
/// executors) bound the wait: at the deadline it returns what is done, and cancels
/// nothing.
///
/// Children must be `Unpin` so that `pending` can hand them back by value: pass
/// [`JoinHandle`](ringtide::JoinHandle)s (the asyncio way, where children are tasks) or
/// `Box::pin` the futures. Dropping the `Wait` drops the children still running, which
/// for `JoinHandle`s detaches their tasks: like `asyncio.wait`, cancelling the wait
/// cancels no task.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use ringtide::time::sleep;
/// use ringtide_combinators::{wait, ReturnWhen};
///
/// let rt = ringtide::Runtime::new()?;
/// rt.block_on(async {
///     let tasks: Vec<_> = [5u64, 3600_000]
///         .into_iter()
///         .map(|ms| ringtide::spawn(async move {
///             sleep(Duration::from_millis(ms)).await;
///             ms
///         }))
///         .collect();
///     let result = wait(tasks, ReturnWhen::FirstCompleted).await.unwrap();
///     assert_eq!(result.done.len(), 1);
///     assert_eq!(result.done[0].0, 0);
///     assert_eq!(*result.done[0].1.as_ref().unwrap(), 5);
///     // The slow task still runs; abort it, as nothing else will.
///     let (index, slow) = &result.pending[0];
///     assert_eq!(*index, 1);
///     slow.abort();
/// });
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn wait<I, C>(futures: I, when: C) -> Wait<<I::Item as IntoFuture>::IntoFuture, C>
where
    I: IntoIterator,
    I::Item: IntoFuture,
    <I::Item as IntoFuture>::IntoFuture: Unpin,
    C: Condition<<I::Item as IntoFuture>::Output>,
{
    Wait {
        set: FutureSet::new(futures.into_iter().map(IntoFuture::into_future)),
        done: Vec::new(),
        when,
        deadline: std::future::pending(),
    }
}

pin_project! {
    /// The future returned by [`wait`].
    #[must_use = "futures do nothing unless awaited"]
    pub struct Wait<F: Future, C, D = NoDeadline> {
        set: FutureSet<F>,
        done: Vec<(usize, F::Output)>,
        when: C,
        #[pin]
        deadline: D,
    }
}

impl<F: Future, C> Wait<F, C> {
    /// Returns at most `duration` from now, with whatever is done by then (ringtide's
    /// timer: poll it inside a ringtide runtime).
    ///
    /// ```
    /// use std::time::Duration;
    /// use ringtide::time::sleep;
    /// use ringtide_combinators::{wait, ReturnWhen};
    ///
    /// let rt = ringtide::Runtime::new()?;
    /// rt.block_on(async {
    ///     let children = [1u64, 3600_000].map(|ms| Box::pin(sleep(Duration::from_millis(ms))));
    ///     let result = wait(children, ReturnWhen::AllCompleted)
    ///         .timeout(Duration::from_millis(20))
    ///         .await
    ///         .unwrap();
    ///     assert_eq!(result.done.len(), 1);
    ///     assert_eq!(result.pending.len(), 1);
    /// });
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn timeout(self, duration: Duration) -> Wait<F, C, ringtide::time::Sleep> {
        self.deadline(ringtide::time::sleep(duration))
    }

    /// Returns when `deadline` completes, with whatever is done by then. Any future will
    /// do, from any executor's timer.
    ///
    /// ```
    /// use ringtide_combinators::{wait, ReturnWhen};
    ///
    /// let never = Box::pin(std::future::pending::<()>());
    /// let result = futures::executor::block_on(
    ///     wait([never], ReturnWhen::AllCompleted).deadline(async {}),
    /// )
    /// .unwrap();
    /// assert!(result.done.is_empty());
    /// assert_eq!(result.pending.len(), 1);
    /// ```
    pub fn deadline<D: Future>(self, deadline: D) -> Wait<F, C, D> {
        Wait {
            set: self.set,
            done: self.done,
            when: self.when,
            deadline,
        }
    }
}

impl<F, C, D> Future for Wait<F, C, D>
where
    F: Future + Unpin,
    C: Condition<F::Output>,
    D: Future,
{
    type Output = Result<WaitResult<F>, EmptyInput>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if this.set.len() == 0 {
            return Poll::Ready(Err(EmptyInput));
        }
        let mut met = false;
        if this.set.live() > 0 {
            this.set.start_round(cx);
            while let Some((index, output)) = this.set.next_ready() {
                met |= this.when.is_met(&output);
                this.done.push((index, output));
            }
        }
        if met || this.set.live() == 0 || this.deadline.poll(cx).is_ready() {
            return Poll::Ready(Ok(WaitResult {
                done: std::mem::take(this.done),
                pending: this.set.take_pending(),
            }));
        }
        Poll::Pending
    }
}

impl<F: Future, C: fmt::Debug, D> fmt::Debug for Wait<F, C, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wait")
            .field("children", &self.set.len())
            .field("running", &self.set.live())
            .field("when", &self.when)
            .finish_non_exhaustive()
    }
}

/// What [`wait`] resolves to: asyncio's `(done, pending)`.
pub struct WaitResult<F: Future> {
    /// Each finished child's index (its position in the input) and output, in the order
    /// they finished.
    pub done: Vec<(usize, F::Output)>,
    /// Each unfinished child's index and future, in index order: still live, never
    /// cancelled, ready to be waited on again.
    pub pending: Vec<(usize, F)>,
}

impl<F: Future> WaitResult<F> {
    /// The pending futures without their indices, to pass to another [`wait`].
    pub fn into_pending(self) -> impl Iterator<Item = F> {
        self.pending.into_iter().map(|(_, future)| future)
    }
}

impl<F> fmt::Debug for WaitResult<F>
where
    F: Future + fmt::Debug,
    F::Output: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitResult")
            .field("done", &self.done)
            .field("pending", &self.pending)
            .finish()
    }
}
