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
//!
//! # Cancellation
//!
//! Each group owns a [`CancellationToken`]: the cooperative way to stop its children,
//! who hold clones of it ([`TaskGroup::token`]). [`TaskGroup::cancel`], the deadline of
//! [`TaskGroup::cancel_at`] and [`TaskGroup::shutdown`] cancel it; so do a failure (step
//! 1, with the aborts) and dropping a group that has not finished (step 4), so that
//! anything else watching the token hears of it. A nested group's token is a child of
//! its parent's ([`TaskGroup::with_token`]), so cancelling a group cancels its
//! descendants; aborting a child drops its nested groups, which aborts theirs.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use ringtide::time::Instant;
use ringtide::{JoinError, JoinHandle};

use crate::admission::{Admission, Limit};
use crate::member::{Ended, Member};
use crate::set::FutureSet;
use crate::{CancellationToken, ChildError, GroupError};

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
    pub(crate) shared: Arc<Shared<T, E>>,
}

/// A handle that spawns into a [`TaskGroup`] from elsewhere (for example from one of its
/// children) without owning it: spawning through it fails once the group is dropped.
pub struct Spawner<T, E> {
    shared: Weak<Shared<T, E>>,
}

pub(crate) struct Shared<T, E> {
    state: Mutex<State<T, E>>,
    pub(crate) token: CancellationToken,
    /// The places of a group made with a limit.
    limit: Option<Arc<Limit>>,
    /// Children whose future has neither returned nor been dropped.
    running: AtomicUsize,
}

struct State<T, E> {
    handles: Vec<JoinHandle<Ended<T, E>>>,
    status: Status,
    /// The task that cancels the token at the deadline of [`TaskGroup::cancel_at`].
    deadline: Option<JoinHandle<()>>,
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
    /// The group has been joined, shut down or dropped.
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
    pub(crate) fn fail(&self, index: usize) {
        let mut state = self.lock();
        if state.status == Status::Running {
            state.status = Status::Failing;
        }
        self.close_limit();
        for (sibling, handle) in state.handles.iter().enumerate() {
            if sibling != index {
                handle.abort();
            }
        }
        drop(state);
        self.token.cancel();
    }

    /// A child's future returned or was dropped.
    pub(crate) fn child_ended(&self) {
        self.running.fetch_sub(1, Ordering::Release);
    }

    /// Aborts every child that has not ended, and refuses new ones.
    pub(crate) fn abort_all(&self) {
        let mut state = self.lock();
        state.status = Status::Finished;
        self.close_limit();
        for handle in &state.handles {
            handle.abort();
        }
    }

    /// Step 5 of the admission protocol: no child waiting for a place starts once its
    /// siblings are being aborted.
    fn close_limit(&self) {
        if let Some(limit) = &self.limit {
            limit.close();
        }
    }

    /// Step 4: no more children, and every child is cancelled.
    fn close(&self) {
        let mut state = self.lock();
        let unfinished = state.status != Status::Finished;
        state.status = Status::Finished;
        self.close_limit();
        for handle in &state.handles {
            handle.abort();
        }
        let deadline = state.deadline.take();
        drop(state);
        if let Some(deadline) = deadline {
            deadline.abort();
        }
        if unfinished {
            self.token.cancel();
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
        let admission = Admission::new(self.limit.clone());
        let member = Member::new(future, Arc::downgrade(self), index, admission);
        self.running.fetch_add(1, Ordering::Relaxed);
        state.handles.push(ringtide::spawn(member));
        Ok(index)
    }
}

impl<T, E> TaskGroup<T, E>
where
    T: Send + 'static,
    E: Send + 'static,
{
    /// An empty group, with a token of its own and no limit.
    pub fn new() -> TaskGroup<T, E> {
        TaskGroup::build(CancellationToken::new(), None)
    }

    /// An empty group whose token is `token`: cancelling `token` cancels the group.
    ///
    /// For a group nested in another, pass a [child](CancellationToken::child_token) of
    /// the outer group's token, so that cancelling the outer group cancels the inner one
    /// but not the other way round.
    ///
    /// ```
    /// use ringtide_combinators::TaskGroup;
    ///
    /// let rt = ringtide::Runtime::new()?;
    /// rt.block_on(async {
    ///     let outer = TaskGroup::<(), ()>::new();
    ///     let token = outer.token();
    ///     outer.spawn(async move {
    ///         let inner = TaskGroup::<(), ()>::with_token(token.child_token());
    ///         let token = inner.token();
    ///         inner.spawn(async move {
    ///             token.cancelled().await;
    ///             Ok(())
    ///         }).unwrap();
    ///         inner.join().await.map(drop).map_err(drop)
    ///     }).unwrap();
    ///     outer.cancel(); // reaches the inner group's child
    ///     assert!(outer.join().await.is_ok());
    /// });
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn with_token(token: CancellationToken) -> TaskGroup<T, E> {
        TaskGroup::build(token, None)
    }

    /// An empty group that runs at most `limit` children at once.
    ///
    /// Spawning never waits: a child past the limit is spawned as a task at once, but
    /// that task waits, in line in spawn order, for a running sibling to end before it
    /// polls the child's future for the first time. So the futures of at most `limit` children
    /// have started, while every child has its task (for inputs too large to spawn at
    /// once, [`gather_limited`](crate::gather_limited) pulls its children from an
    /// iterator as places free up). Join, cancellation and shutdown treat waiting
    /// children like running ones; an aborted child gives its place up at once.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use ringtide_combinators::TaskGroup;
    ///
    /// let rt = ringtide::Runtime::new()?;
    /// rt.block_on(async {
    ///     let group = TaskGroup::<(), ()>::with_limit(2);
    ///     let (running, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    ///     for _ in 0..10 {
    ///         let (running, most) = (running.clone(), most.clone());
    ///         group.spawn(async move {
    ///             most.fetch_max(running.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
    ///             ringtide::time::sleep(Duration::from_millis(1)).await;
    ///             running.fetch_sub(1, Ordering::SeqCst);
    ///             Ok(())
    ///         }).unwrap();
    ///     }
    ///     assert_eq!(group.join().await.unwrap().len(), 10);
    ///     assert!(most.load(Ordering::SeqCst) <= 2);
    /// });
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Panics
    ///
    /// If `limit` is 0.
    pub fn with_limit(limit: usize) -> TaskGroup<T, E> {
        TaskGroup::with_token_and_limit(CancellationToken::new(), limit)
    }

    /// An empty group whose token is `token` (see [`with_token`](TaskGroup::with_token))
    /// and that runs at most `limit` children at once (see
    /// [`with_limit`](TaskGroup::with_limit)).
    ///
    /// ```
    /// use ringtide_combinators::{CancellationToken, TaskGroup};
    ///
    /// let parent = CancellationToken::new();
    /// let group = TaskGroup::<u8, ()>::with_token_and_limit(parent.child_token(), 4);
    /// parent.cancel();
    /// assert!(group.token().is_cancelled());
    /// ```
    ///
    /// # Panics
    ///
    /// If `limit` is 0.
    pub fn with_token_and_limit(token: CancellationToken, limit: usize) -> TaskGroup<T, E> {
        assert!(limit > 0, "a TaskGroup's limit must be at least 1");
        TaskGroup::build(token, Some(Arc::new(Limit::new(limit))))
    }

    fn build(token: CancellationToken, limit: Option<Arc<Limit>>) -> TaskGroup<T, E> {
        TaskGroup {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    handles: Vec::new(),
                    status: Status::Running,
                    deadline: None,
                }),
                token,
                limit,
                running: AtomicUsize::new(0),
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

    /// The group's cancellation token, for its children to watch: they should end soon
    /// after it is cancelled, returning what they have.
    ///
    /// ```
    /// use ringtide_combinators::TaskGroup;
    ///
    /// let rt = ringtide::Runtime::new()?;
    /// rt.block_on(async {
    ///     let group = TaskGroup::<&str, ()>::new();
    ///     let token = group.token();
    ///     group.spawn(async move {
    ///         token.cancelled().await;
    ///         Ok("stopped cleanly")
    ///     }).unwrap();
    ///     group.cancel();
    ///     assert_eq!(group.join().await.unwrap(), ["stopped cleanly"]);
    /// });
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn token(&self) -> CancellationToken {
        self.shared.token.clone()
    }

    /// Cancels the group's token (and so every nested group's): trio's
    /// `cancel_scope.cancel()`. Nothing is aborted; children that watch the token end
    /// themselves, and [`join`](TaskGroup::join) still waits for every child. To abort
    /// those that do not, see [`shutdown`](TaskGroup::shutdown).
    ///
    /// ```
    /// use ringtide_combinators::TaskGroup;
    ///
    /// let group = TaskGroup::<(), ()>::new();
    /// let token = group.token();
    /// group.cancel();
    /// assert!(token.is_cancelled());
    /// ```
    pub fn cancel(&self) {
        self.shared.token.cancel();
    }

    /// Cancels the group's token at `deadline`, unless the group finishes first: trio's
    /// `move_on_at`. A later call replaces the deadline.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ringtide::time::Instant;
    /// use ringtide_combinators::TaskGroup;
    ///
    /// let rt = ringtide::Runtime::new()?;
    /// rt.block_on(async {
    ///     let group = TaskGroup::<u32, ()>::new();
    ///     let token = group.token();
    ///     group.spawn(async move {
    ///         let mut rounds = 0;
    ///         while token.run_until_cancelled(ringtide::time::sleep(Duration::from_millis(1))).await.is_some() {
    ///             rounds += 1;
    ///         }
    ///         Ok(rounds)
    ///     }).unwrap();
    ///     group.cancel_at(Instant::now() + Duration::from_millis(20));
    ///     assert!(group.join().await.unwrap()[0] >= 1);
    /// });
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Panics
    ///
    /// Outside a ringtide runtime: the deadline is kept by a task of its own.
    pub fn cancel_at(&self, deadline: Instant) {
        let token = self.shared.token.clone();
        let timer = ringtide::spawn(async move {
            ringtide::time::sleep_until(deadline).await;
            token.cancel();
        });
        let mut state = self.shared.lock();
        let replaced = if state.status == Status::Finished {
            Some(timer)
        } else {
            state.deadline.replace(timer)
        };
        drop(state);
        if let Some(replaced) = replaced {
            replaced.abort();
        }
    }

    /// Cancels the group's token once `duration` has passed, unless the group finishes
    /// first: trio's `move_on_after`. See [`cancel_at`](TaskGroup::cancel_at).
    ///
    /// ```
    /// use std::time::Duration;
    /// use ringtide_combinators::TaskGroup;
    ///
    /// let rt = ringtide::Runtime::new()?;
    /// rt.block_on(async {
    ///     let group = TaskGroup::<Option<u32>, ()>::new();
    ///     let token = group.token();
    ///     group.spawn(async move {
    ///         let slow = ringtide::time::sleep(Duration::from_secs(3600));
    ///         Ok(token.run_until_cancelled(slow).await.map(|()| 1))
    ///     }).unwrap();
    ///     group.cancel_after(Duration::from_millis(5));
    ///     assert_eq!(group.join().await.unwrap(), [None]); // gave up cleanly
    /// });
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Panics
    ///
    /// Outside a ringtide runtime.
    pub fn cancel_after(&self, duration: Duration) {
        let deadline = Instant::now()
            .checked_add(duration)
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(86_400 * 365 * 30));
        self.cancel_at(deadline);
    }

    /// How many children have not ended yet: spawned, and neither returned nor been
    /// aborted.
    ///
    /// ```
    /// use ringtide_combinators::TaskGroup;
    ///
    /// let rt = ringtide::Runtime::new()?;
    /// rt.block_on(async {
    ///     let group = TaskGroup::<(), ()>::new();
    ///     let token = group.token();
    ///     group.spawn(async move {
    ///         token.cancelled().await;
    ///         Ok(())
    ///     }).unwrap();
    ///     assert_eq!(group.running(), 1);
    ///     group.cancel();
    ///     assert!(group.join().await.is_ok());
    /// });
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn running(&self) -> usize {
        self.shared.running.load(Ordering::Acquire)
    }

    /// Waits for every child (also those spawned while it waits) and resolves to their
    /// values in spawn order, or to every error if any child failed.
    ///
    /// Dropping the returned future drops the group, which cancels every child.
    pub fn join(self) -> Join<T, E> {
        Join {
            group: self,
            collector: Collector::new(),
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

/// The join handle of child `index`, polled through the group's lock.
struct Child<T, E> {
    shared: Arc<Shared<T, E>>,
    index: usize,
}

impl<T, E> Future for Child<T, E> {
    type Output = Outcome<T, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.shared.lock();
        Pin::new(&mut state.handles[self.index]).poll(cx)
    }
}

/// How a child's task ended.
pub(crate) type Outcome<T, E> = Result<Ended<T, E>, JoinError>;

/// Waits for every child of a group, also those spawned while it waits (step 3 of the
/// failure protocol).
pub(crate) struct Collector<T, E> {
    /// The children being waited for: those from `outcomes.len()` before this round.
    set: Option<(usize, FutureSet<Child<T, E>>)>,
    outcomes: Vec<Option<Outcome<T, E>>>,
}

impl<T, E> Collector<T, E> {
    pub(crate) fn new() -> Collector<T, E> {
        Collector {
            set: None,
            outcomes: Vec::new(),
        }
    }

    /// Ready once every child has ended, with every outcome in spawn order and whether a
    /// child failed; the group is then finished, so no child can join it any more.
    pub(crate) fn poll_collect(
        &mut self,
        shared: &Arc<Shared<T, E>>,
        cx: &Context<'_>,
    ) -> Poll<(Vec<Outcome<T, E>>, bool)> {
        loop {
            if let Some((base, set)) = &mut self.set {
                set.start_round(cx);
                while let Some((index, outcome)) = set.next_ready() {
                    self.outcomes[*base + index] = Some(outcome);
                }
                if set.live() > 0 {
                    return Poll::Pending;
                }
                self.set = None;
            }
            // Children spawned while we waited get a set of their own.
            let mut state = shared.lock();
            let spawned = state.handles.len();
            let base = self.outcomes.len();
            if base == spawned {
                let failing = state.status == Status::Failing;
                state.status = Status::Finished;
                let deadline = state.deadline.take();
                drop(state);
                if let Some(deadline) = deadline {
                    deadline.abort();
                }
                let outcomes = std::mem::take(&mut self.outcomes);
                let outcomes = outcomes
                    .into_iter()
                    .map(|outcome| outcome.expect("every child was waited for"));
                return Poll::Ready((outcomes.collect(), failing));
            }
            drop(state);
            self.outcomes.resize_with(spawned, || None);
            let children = (base..spawned).map(|index| Child {
                shared: shared.clone(),
                index,
            });
            self.set = Some((base, FutureSet::new(children)));
        }
    }
}

/// The future returned by [`TaskGroup::join`].
#[must_use = "futures do nothing unless awaited; dropping this cancels the group"]
pub struct Join<T, E> {
    group: TaskGroup<T, E>,
    collector: Collector<T, E>,
}

// The group's children are spawned tasks; nothing here is pinned.
impl<T, E> Unpin for Join<T, E> {}

impl<T, E> Future for Join<T, E> {
    type Output = Result<Vec<T>, GroupError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let (outcomes, failing) =
            std::task::ready!(this.collector.poll_collect(&this.group.shared, cx));
        Poll::Ready(collect(outcomes, failing))
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
fn collect<T, E>(outcomes: Vec<Outcome<T, E>>, failing: bool) -> Result<Vec<T>, GroupError<E>> {
    let mut values = Vec::with_capacity(outcomes.len());
    let mut errors = Vec::new();
    for (index, outcome) in outcomes.into_iter().enumerate() {
        match outcome.map(|ended| ended.result) {
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
