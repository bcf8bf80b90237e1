//! [`shield`]: asyncio's `shield`, a future that cancelling its awaiter does not cancel.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::task::{Context, Poll};

use ringtide::{JoinError, JoinHandle};

/// Runs `future` to completion on the ringtide runtime whatever becomes of the task that
/// awaits it: asyncio's `shield`.
///
/// `future` is spawned as a task at once, and the returned [`Shield`] awaits it. If the
/// awaiting task is aborted, or the `Shield` is dropped (by a timeout, a
/// [`race`](crate::race()), a [`TaskGroup`](crate::TaskGroup) shutting down), the task
/// is detached and runs on to the end; if the awaiter survives, it gets the output. The
/// output is the task's: `Ok(output)`, or a [`JoinError`] if `future` panicked or the
/// runtime shut down first.
///
/// `Shield` is `Unpin`, so `&mut shield` is a future too: a timeout around it leaves
/// the shield in place, to await again later (see the second example).
///
/// # Panics
///
/// Outside a ringtide runtime, as [`ringtide::spawn`] does.
///
/// # Examples
///
/// A save that completes even though the request handler awaiting it is aborted:
///
/// ```
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::sync::Arc;
/// use std::time::Duration;
/// use ringtide::time::sleep;
/// use ringtide_combinators::shield;
///
/// let rt = ringtide::Runtime::new()?;
/// rt.block_on(async {
///     let saved = Arc::new(AtomicBool::new(false));
///     let handler = ringtide::spawn({
///         let saved = saved.clone();
///         async move {
///             // await asyncio.shield(save())
///             shield(async move {
///                 sleep(Duration::from_millis(20)).await;
///                 saved.store(true, Ordering::SeqCst);
///             })
///             .await
///         }
///     });
///     sleep(Duration::from_millis(5)).await;
///     handler.abort(); // the handler is cancelled mid-save...
///     assert!(handler.await.unwrap_err().is_cancelled());
///     sleep(Duration::from_millis(50)).await;
///     assert!(saved.load(Ordering::SeqCst)); // ...and the save still finished
/// });
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// A timeout that stops waiting but not the work:
///
/// ```
/// use std::time::Duration;
/// use ringtide::time::sleep;
/// use ringtide_combinators::{shield, wait_for};
///
/// let rt = ringtide::Runtime::new()?;
/// rt.block_on(async {
///     let mut report = shield(async {
///         sleep(Duration::from_millis(20)).await;
///         "report"
///     });
///     assert!(wait_for(Duration::from_millis(1), &mut report).await.is_err());
///     assert_eq!(report.await.unwrap(), "report"); // it kept running
/// });
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn shield<F>(future: F) -> Shield<<F::IntoFuture as Future>::Output>
where
    F: IntoFuture,
    F::IntoFuture: Send + 'static,
    <F::IntoFuture as Future>::Output: Send + 'static,
{
    Shield {
        task: ringtide::spawn(future.into_future()),
    }
}

/// The future returned by [`shield`]: dropping it detaches the shielded task.
#[must_use = "the shielded future runs anyway; await this for its output"]
pub struct Shield<T> {
    task: JoinHandle<T>,
}

impl<T> Shield<T> {
    /// Whether the shielded future has ended.
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }
}

impl<T> Future for Shield<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.task).poll(cx)
    }
}

impl<T> fmt::Debug for Shield<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shield")
            .field("finished", &self.is_finished())
            .finish()
    }
}
