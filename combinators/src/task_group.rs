//! [`TaskGroup`]: structured concurrency over spawned tasks, like asyncio's `TaskGroup`
//! and trio's nursery.
//!
//! # Failure protocol
//!
//! 1. Every child runs inside a `Member` wrapper that knows its group (weakly) and its
//!    index. When the child returns `Err` or panics, the wrapper locks the group, marks it
//!    failing, and aborts every sibling's task, then returns the error (or resumes the
//!    panic, which the runtime turns into the child's `JoinError`).
//! 2. [`TaskGroup::spawn`] checks the group's status and pushes the new child's
//!    `JoinHandle` under the same lock, so a child that fails before its own handle is
//!    stored still finds it (it waits for the lock), and no child can join a group that
//!    is failing or finished.
//! 3. [`TaskGroup::join`] waits for every child, including those spawned (through a
//!    [`Spawner`]) while it waits, then marks the group finished under the lock.
//! 4. Dropping the group (or the `join` future, which owns it) marks it finished and
//!    aborts every child.

use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use ringtide::{JoinError, JoinHandle};

use crate::set::FutureSet;

/// A group of spawned tasks that succeed or fail together.
///
/// [`spawn`](TaskGroup::spawn) starts each child on the ringtide runtime (children run
/// in parallel on its workers); [`join`](TaskGroup::join) waits for all of them and
/// resolves to their values in spawn order. When a child fails (returns `Err` or
/// panics), every sibling is cancelled at once, `join` still waits for all of them to
/// end, and then resolves to a [`GroupError`] with every error (a sibling cancelled by
/// the group is not an error). Spawning into a failing or finished group returns a
/// [`SpawnError`]. Dropping the group, or the `join` future, cancels every child: like
/// asyncio, no task outlives its group.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use ringtide::time::sleep;
/// use ringtide_combinators::{ChildError, TaskGroup};
///
/// let rt = ringtide::Runtime::new()?;
/// rt.block_on(async {
///     let group = TaskGroup::new();
///     for n in 1..=3u64 {
///         group.spawn(async move {
///             sleep(Duration::from_millis(n)).await;
///             Ok::<_, String>(n * 10)
///         }).unwrap();
///     }
///     assert_eq!(group.join().await.unwrap(), [10, 20, 30]);
///
///     // A failure cancels the siblings, and every error comes back. (The failing child
///     // is spawned last: spawning into a group that is already failing is an error.)
///     let group = TaskGroup::new();
///     group.spawn(async {
///         sleep(Duration::from_secs(3600)).await;
///         Ok(1)
///     }).unwrap();
///     group.spawn(async { Err::<u64, _>("broken".to_string()) }).unwrap();
///     let err = group.join().await.unwrap_err();
///     assert!(matches!(
///         &err.errors[..],
///         [ChildError::Failed { index: 1, error }] if error == "broken"
///     ));
/// });
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct TaskGroup<T, E> {
    shared: Arc<Shared<T, E>>,
}

/// A handle that spawns into a [`TaskGroup`] from elsewhere (for example from one of its
/// children) without owning it: spawning through it fails once the group is dropped.
pub struct Spawner<T, E> {
    shared: Weak<Shared<T, E>>,
}

struct Shared<T, E> {
    state: Mutex<State<T, E>>,
}

struct State<T, E> {
    handles: Vec<JoinHandle<Result<T, E>>>,
    status: Status,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    /// Children may be spawned.
    Running,
    /// A child failed; its siblings have been aborted.
    Failing,
    /// `join` returned, or the group was dropped.
    Finished,
}

/// Why [`TaskGroup::spawn`] refused a child (the child is dropped, never started).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpawnError {
    /// A child has failed and the group is cancelling the others.
    Failing,
    /// The group has been joined or dropped.
    Finished,
}

impl fmt::Display for SpawnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SpawnError::Failing => "the task group is failing: a child failed",
            SpawnError::Finished => "the task group has finished",
        })
    }
}

impl std::error::Error for SpawnError {}

impl<T, E> Shared<T, E> {
    fn lock(&self) -> MutexGuard<'_, State<T, E>> {
        // A poisoned lock means a panic while holding it, which only `JoinHandle::abort`
        // or `poll` could cause; the state itself stays consistent.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Step 1 of the failure protocol: child `index` failed.
    fn fail(&self, index: usize) {
        let mut state = self.lock();
        if state.status == Status::Running {
            state.status = Status::Failing;
        }
        for (sibling, handle) in state.handles.iter().enumerate() {
            if sibling != index {
                handle.abort();
            }
        }
    }

    /// Step 4: no more children, and every child is cancelled.
    fn close(&self) {
        let mut state = self.lock();
        state.status = Status::Finished;
        for handle in &state.handles {
            handle.abort();
        }
    }
}

impl<T, E> Shared<T, E>
where
    T: Send + 'static,
    E: Send + 'static,
{
    /// Step 2 of the failure protocol.
    fn spawn<F>(self: &Arc<Self>, future: F) -> Result<usize, SpawnError>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
    {
        let mut state = self.lock();
        match state.status {
            Status::Running => {}
            Status::Failing => return Err(SpawnError::Failing),
            Status::Finished => return Err(SpawnError::Finished),
        }
        let index = state.handles.len();
        let member = Member {
            future,
            group: Arc::downgrade(self),
            index,
        };
        state.handles.push(ringtide::spawn(member));
        Ok(index)
    }
}

impl<T, E> TaskGroup<T, E>
where
    T: Send + 'static,
    E: Send + 'static,
{
    /// An empty group.
    pub fn new() -> TaskGroup<T, E> {
        TaskGroup {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    handles: Vec::new(),
                    status: Status::Running,
                }),
            }),
        }
    }

    /// Spawns `future` as a child of the group on the current ringtide runtime, and
    /// returns its index: its position in the output of [`join`](TaskGroup::join).
    ///
    /// # Errors
    ///
    /// [`SpawnError::Failing`] once a child has failed, [`SpawnError::Finished`] once
    /// the group has finished; `future` is dropped without being polled.
    ///
    /// # Panics
    ///
    /// Outside a ringtide runtime, as [`ringtide::spawn`] does.
    pub fn spawn<F>(&self, future: F) -> Result<usize, SpawnError>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
    {
        self.shared.spawn(future)
    }

    /// A handle to spawn into this group from elsewhere, for example from a child.
    pub fn spawner(&self) -> Spawner<T, E> {
        Spawner {
            shared: Arc::downgrade(&self.shared),
        }
    }

    /// Waits for every child (also those spawned while it waits) and resolves to their
    /// values in spawn order, or to every error if any child failed.
    ///
    /// Dropping the returned future drops the group, which cancels every child.
    pub fn join(self) -> Join<T, E> {
        Join {
            group: self,
            set: None,
            outcomes: Vec::new(),
        }
    }
}

impl<T, E> Default for TaskGroup<T, E>
where
    T: Send + 'static,
    E: Send + 'static,
{
    fn default() -> Self {
        TaskGroup::new()
    }
}

impl<T, E> Drop for TaskGroup<T, E> {
    fn drop(&mut self) {
        self.shared.close();
    }
}

impl<T, E> fmt::Debug for TaskGroup<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.lock();
        f.debug_struct("TaskGroup")
            .field("children", &state.handles.len())
            .field("status", &state.status)
            .finish()
    }
}

impl<T, E> Spawner<T, E>
where
    T: Send + 'static,
    E: Send + 'static,
{
    /// Spawns `future` into the group: see [`TaskGroup::spawn`].
    ///
    /// # Errors
    ///
    /// As [`TaskGroup::spawn`]; also [`SpawnError::Finished`] once the group is dropped.
    pub fn spawn<F>(&self, future: F) -> Result<usize, SpawnError>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
    {
        match self.shared.upgrade() {
            Some(shared) => shared.spawn(future),
            None => Err(SpawnError::Finished),
        }
    }
}

impl<T, E> Clone for Spawner<T, E> {
    fn clone(&self) -> Self {
        Spawner {
            shared: self.shared.clone(),
        }
    }
}

impl<T, E> fmt::Debug for Spawner<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Spawner").finish_non_exhaustive()
    }
}

pin_project! {
    /// A child's future, wrapped to fail its group (step 1 of the failure protocol).
    struct Member<F, T, E> {
        #[pin]
        future: F,
        group: Weak<Shared<T, E>>,
        index: usize,
    }
}

impl<F, T, E> Future for Member<F, T, E>
where
    F: Future<Output = Result<T, E>>,
{
    type Output = Result<T, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let future = this.future;
        match catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
            Ok(Poll::Ready(Err(error))) => {
                fail(this.group, *this.index);
                Poll::Ready(Err(error))
            }
            Ok(poll) => poll,
            Err(panic) => {
                fail(this.group, *this.index);
                resume_unwind(panic)
            }
        }
    }
}

fn fail<T, E>(group: &Weak<Shared<T, E>>, index: usize) {
    if let Some(group) = group.upgrade() {
        group.fail(index);
    }
}

/// The join handle of child `index`, polled through the group's lock.
struct Child<T, E> {
    shared: Arc<Shared<T, E>>,
    index: usize,
}

impl<T, E> Future for Child<T, E> {
    type Output = Result<Result<T, E>, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.shared.lock();
        Pin::new(&mut state.handles[self.index]).poll(cx)
    }
}

/// The future returned by [`TaskGroup::join`].
#[must_use = "futures do nothing unless awaited; dropping this cancels the group"]
pub struct Join<T, E> {
    group: TaskGroup<T, E>,
    /// The children being waited for: those from `outcomes.len()` before this round.
    set: Option<(usize, FutureSet<Child<T, E>>)>,
    outcomes: Vec<Option<Result<Result<T, E>, JoinError>>>,
}

// The group's children are spawned tasks; nothing here is pinned.
impl<T, E> Unpin for Join<T, E> {}

impl<T, E> Future for Join<T, E> {
    type Output = Result<Vec<T>, GroupError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        loop {
            if let Some((base, set)) = &mut this.set {
                set.start_round(cx);
                while let Some((index, outcome)) = set.next_ready() {
                    this.outcomes[*base + index] = Some(outcome);
                }
                if set.live() > 0 {
                    return Poll::Pending;
                }
                this.set = None;
            }
            // Step 3: children spawned while we waited get a set of their own.
            let mut state = this.group.shared.lock();
            let spawned = state.handles.len();
            let base = this.outcomes.len();
            if base == spawned {
                let failing = state.status == Status::Failing;
                state.status = Status::Finished;
                drop(state);
                return Poll::Ready(collect(std::mem::take(&mut this.outcomes), failing));
            }
            drop(state);
            this.outcomes.resize_with(spawned, || None);
            let shared = &this.group.shared;
            let children = (base..spawned).map(|index| Child {
                shared: shared.clone(),
                index,
            });
            this.set = Some((base, FutureSet::new(children)));
        }
    }
}

impl<T, E> fmt::Debug for Join<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Join")
            .field("group", &self.group)
            .finish_non_exhaustive()
    }
}

/// Turns every child's outcome into the group's result.
fn collect<T, E>(
    outcomes: Vec<Option<Result<Result<T, E>, JoinError>>>,
    failing: bool,
) -> Result<Vec<T>, GroupError<E>> {
    let mut values = Vec::with_capacity(outcomes.len());
    let mut errors = Vec::new();
    for (index, outcome) in outcomes.into_iter().enumerate() {
        match outcome.expect("every child was waited for") {
            Ok(Ok(value)) => values.push(value),
            Ok(Err(error)) => errors.push(ChildError::Failed { index, error }),
            Err(error) if error.is_panic() => errors.push(ChildError::Panicked { index, error }),
            // Cancelled by the group because a sibling failed: not an error of its own.
            Err(_) if failing => {}
            Err(error) => errors.push(ChildError::Cancelled { index, error }),
        }
    }
    if errors.is_empty() {
        Ok(values)
    } else {
        Err(GroupError { errors })
    }
}

/// Every failure in a [`TaskGroup`]: asyncio's `ExceptionGroup`.
#[derive(Debug)]
pub struct GroupError<E> {
    /// The failed children, in spawn order.
    pub errors: Vec<ChildError<E>>,
}

/// How one child of a [`TaskGroup`] failed.
#[derive(Debug)]
pub enum ChildError<E> {
    /// The child returned `Err(error)`.
    Failed {
        /// The child's index (its spawn order).
        index: usize,
        /// What it returned.
        error: E,
    },
    /// The child panicked; `error.into_panic()` gives the payload.
    Panicked {
        /// The child's index (its spawn order).
        index: usize,
        /// The task's error, which carries the panic.
        error: JoinError,
    },
    /// The child was cancelled while no sibling had failed (the runtime shut down).
    Cancelled {
        /// The child's index (its spawn order).
        index: usize,
        /// The task's error.
        error: JoinError,
    },
}

impl<E> ChildError<E> {
    /// The failed child's index (its spawn order).
    pub fn index(&self) -> usize {
        match self {
            ChildError::Failed { index, .. }
            | ChildError::Panicked { index, .. }
            | ChildError::Cancelled { index, .. } => *index,
        }
    }
}

impl<E: fmt::Display> fmt::Display for GroupError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} child task(s) failed", self.errors.len())?;
        for error in &self.errors {
            match error {
                ChildError::Failed { index, error } => write!(f, "; child {index}: {error}")?,
                ChildError::Panicked { index, .. } => write!(f, "; child {index} panicked")?,
                ChildError::Cancelled { index, .. } => write!(f, "; child {index} was cancelled")?,
            }
        }
        Ok(())
    }
}

impl<E: fmt::Debug + fmt::Display> std::error::Error for GroupError<E> {}
