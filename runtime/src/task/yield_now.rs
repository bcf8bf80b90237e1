//! [`yield_now`]: give other tasks a turn.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Yields once to the scheduler: the task goes to the back of its worker's run queue, so
/// every task already queued there runs before it polls again.
///
/// # Examples
///
/// ```
/// let rt = ringtide::Runtime::new()?;
/// rt.block_on(async {
///     for _ in 0..3 {
///         ringtide::task::yield_now().await;
///     }
/// });
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn yield_now() -> YieldNow {
    YieldNow { yielded: false }
}

/// The future returned by [`yield_now`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
