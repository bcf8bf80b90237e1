//! Cooperative budget: a task that keeps finding its resources ready must still yield.
//!
//! Every time a worker polls a task it grants the task a budget of [`BUDGET`] units.
//! Runtime resources that complete without waiting (an expired timer, a socket
//! operation) spend one unit; once the budget is spent they return `Pending` after waking
//! the task, so it goes to the back of the run queue and its siblings, timers and
//! completions get their turn.

use std::cell::Cell;
use std::task::{Context, Poll};

/// Units granted per task poll.
pub(crate) const BUDGET: u32 = 128;

thread_local! {
    static REMAINING: Cell<u32> = const { Cell::new(u32::MAX) };
}

/// Runs `f` (one task poll) with a fresh budget, restoring the previous one afterwards.
pub(crate) fn with_budget<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(u32);
    impl Drop for Restore {
        #[inline]
        fn drop(&mut self) {
            REMAINING.with(|r| r.set(self.0));
        }
    }
    let _restore = Restore(REMAINING.with(|r| r.replace(BUDGET)));
    f()
}

/// Spends one unit, or asks the task to yield when the budget is gone.
pub(crate) fn poll_proceed(cx: &mut Context<'_>) -> Poll<()> {
    REMAINING.with(|r| match r.get() {
        0 => {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
        n => {
            r.set(n - 1);
            Poll::Ready(())
        }
    })
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::task::Waker;

    #[test]
    fn budget_runs_out_and_is_restored() {
        let mut cx = Context::from_waker(Waker::noop());
        assert!(poll_proceed(&mut cx).is_ready(), "unlimited outside a task");
        with_budget(|| {
            for _ in 0..BUDGET {
                assert!(poll_proceed(&mut cx).is_ready());
            }
            assert!(poll_proceed(&mut cx).is_pending());
            with_budget(|| assert!(poll_proceed(&mut cx).is_ready()));
            assert!(
                poll_proceed(&mut cx).is_pending(),
                "inner budget restored the outer"
            );
        });
    }
}
