//! [`TaskGroup::start`]: spawn a child and wait until it says it is ready, like trio's
//! `nursery.start`.
//!
//! The child's future is wrapped in [`Starting`], which shares a [`Slot`] with the
//! [`Start`] future and the child's [`Started`] handle. Whichever comes first settles
//! the slot: the child's `started(value)`, or the wrapper seeing the child end, fail,
//! panic, run on after dropping its handle, or be dropped itself (aborted). Later
//! settlements are ignored, so `start` reports exactly one of them.

use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use pin_project_lite::pin_project;

use crate::{SpawnError, TaskGroup};

impl<T, E> TaskGroup<T, E>
where
    T: Send + 'static,
    E: Send + 'static,
{
    /// Spawns the child that `f` makes, handing it a [`Started`], and resolves to the
    /// value the child passes to [`Started::started`]: trio's `nursery.start`. For
    /// example a server child binds its listener, reports the address, and then serves;
    /// the caller gets the address once the server is ready.
    ///
    /// The child is a member of the group from the start, like any spawned child: its
    /// output goes to [`join`](TaskGroup::join), and a failure before `started` fails
    /// the group. Dropping the returned future leaves the child running.
    ///
    /// # Errors
    ///
    /// A [`StartError`] if the child ends, fails, panics or is aborted before it calls
    /// `started`, if it drops its `Started` without calling it and keeps running, or if
    /// the group refuses the child.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringtide::net::TcpListener;
    /// use ringtide_combinators::TaskGroup;
    ///
    /// let rt = ringtide::Runtime::new()?;
    /// rt.block_on(async {
    ///     let group = TaskGroup::<(), std::io::Error>::new();
    ///     let token = group.token();
    ///     let addr = group.start(|started| async move {
    ///         let listener = TcpListener::bind("127.0.0.1:0")?;
    ///         started.started(listener.local_addr()?);
    ///         token.run_until_cancelled(listener.accept()).await.transpose()?;
    ///         Ok(())
    ///     }).await.unwrap();
    ///     assert!(addr.ip().is_loopback() && addr.port() != 0);
    ///     group.cancel();
    ///     group.join().await.unwrap();
    /// });
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn start<V, F, Fut>(&self, f: F) -> Start<V>
    where
        V: Send + 'static,
        F: FnOnce(Started<V>) -> Fut,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
    {
        let slot = Arc::new(Slot {
            state: Mutex::new(SlotState::Waiting(None)),
            handle_dropped: AtomicBool::new(false),
        });
        let child = f(Started { slot: slot.clone() });
        let starting = Starting {
            future: child,
            guard: Guard(slot.clone()),
        };
        if let Err(error) = self.spawn(starting) {
            // The refused child was dropped, and its guard settled the slot as aborted;
            // nobody has seen that yet, and this is the true reason.
            *slot.lock() = SlotState::Settled(Err(StartError::Spawn(error)));
        }
        Start { slot }
    }
}

/// The handle a child made by [`TaskGroup::start`] uses to say it is ready.
pub struct Started<V> {
    slot: Arc<Slot<V>>,
}

impl<V> Started<V> {
    /// Hands `value` to the [`start`](TaskGroup::start) call: it resolves to `Ok(value)`.
    pub fn started(self, value: V) {
        self.slot.settle(Ok(value));
    }
}

impl<V> Drop for Started<V> {
    fn drop(&mut self) {
        // Read by the child's wrapper after its next poll: the child running on without
        // its handle can never call `started`.
        self.slot.handle_dropped.store(true, Ordering::Release);
    }
}

impl<V> fmt::Debug for Started<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Started").finish_non_exhaustive()
    }
}

/// Why [`TaskGroup::start`] got no value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartError {
    /// The child returned `Ok` without calling [`Started::started`]; its value goes to
    /// the group's [`join`](TaskGroup::join).
    Ended,
    /// The child returned `Err` or panicked first; the error goes to the group's
    /// [`join`](TaskGroup::join), and the group is failing.
    Failed,
    /// The child was aborted first: a sibling failed, or the group was shut down or
    /// dropped.
    Aborted,
    /// The child dropped its [`Started`] without calling it, and kept running.
    Dropped,
    /// The group refused the child.
    Spawn(SpawnError),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Ended => f.write_str("the child ended before it started"),
            StartError::Failed => f.write_str("the child failed before it started"),
            StartError::Aborted => f.write_str("the child was aborted before it started"),
            StartError::Dropped => f.write_str("the child dropped its Started handle"),
            StartError::Spawn(error) => write!(f, "the child was not spawned: {error}"),
        }
    }
}

impl std::error::Error for StartError {}

/// Where a started child's value, or the reason there is none, waits for [`Start`].
struct Slot<V> {
    state: Mutex<SlotState<V>>,
    handle_dropped: AtomicBool,
}

enum SlotState<V> {
    /// Not settled; the waker of the task awaiting [`Start`], once it has polled.
    Waiting(Option<Waker>),
    Settled(Result<V, StartError>),
    /// The result went to [`Start`].
    Taken,
}

impl<V> Slot<V> {
    fn lock(&self) -> MutexGuard<'_, SlotState<V>> {
        // Nothing panics under this lock but an allocation failure.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Settles the slot, unless it is settled already.
    fn settle(&self, result: Result<V, StartError>) {
        let mut state = self.lock();
        let SlotState::Waiting(waker) = &mut *state else {
            return;
        };
        let waker = waker.take();
        *state = SlotState::Settled(result);
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// Settles the slot with [`StartError::Aborted`] if the child is dropped unsettled.
struct Guard<V>(Arc<Slot<V>>);

impl<V> Drop for Guard<V> {
    fn drop(&mut self) {
        self.0.settle(Err(StartError::Aborted));
    }
}

pin_project! {
    /// A child made by [`TaskGroup::start`], watched until it settles its slot.
    struct Starting<F, V> {
        #[pin]
        future: F,
        guard: Guard<V>,
    }
}

impl<F, V, T, E> Future for Starting<F, V>
where
    F: Future<Output = Result<T, E>>,
{
    type Output = Result<T, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let slot = &this.guard.0;
        let future = this.future;
        match catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
            Ok(Poll::Ready(Ok(value))) => {
                slot.settle(Err(StartError::Ended));
                Poll::Ready(Ok(value))
            }
            Ok(Poll::Ready(Err(error))) => {
                slot.settle(Err(StartError::Failed));
                Poll::Ready(Err(error))
            }
            Ok(Poll::Pending) => {
                if slot.handle_dropped.load(Ordering::Acquire) {
                    slot.settle(Err(StartError::Dropped));
                }
                Poll::Pending
            }
            Err(panic) => {
                slot.settle(Err(StartError::Failed));
                resume_unwind(panic)
            }
        }
    }
}

/// The future returned by [`TaskGroup::start`].
#[must_use = "the child runs anyway; await this for the value it starts with"]
pub struct Start<V> {
    slot: Arc<Slot<V>>,
}

impl<V> Future for Start<V> {
    type Output = Result<V, StartError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.slot.lock();
        match std::mem::replace(&mut *state, SlotState::Taken) {
            SlotState::Waiting(mut waker) => {
                match &mut waker {
                    Some(waker) => waker.clone_from(cx.waker()),
                    None => waker = Some(cx.waker().clone()),
                }
                *state = SlotState::Waiting(waker);
                Poll::Pending
            }
            SlotState::Settled(result) => Poll::Ready(result),
            SlotState::Taken => panic!("Start polled after it completed"),
        }
    }
}

impl<V> fmt::Debug for Start<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let settled = !matches!(*self.slot.lock(), SlotState::Waiting(_));
        f.debug_struct("Start").field("settled", &settled).finish()
    }
}
