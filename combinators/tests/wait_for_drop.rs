//! wait_for: asyncio's guarantees. Ported from CPython's test_waitfor.py.

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use common::{Gate, Harness};
use futures::executor::block_on;
use ringtide::time::{sleep, Instant};
use ringtide_combinators::{timeout, wait_for, wait_for_deadline, TimedOut};

/// Pending forever; its `Drop` takes a while and records that it finished.
struct SlowDrop(Arc<AtomicBool>);

impl Future for SlowDrop {
    type Output = ();

    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        Poll::Pending
    }
}

impl Drop for SlowDrop {
    fn drop(&mut self) {
        std::thread::sleep(Duration::from_millis(20));
        self.0.store(true, Ordering::SeqCst);
    }
}

/// CPython `test_wait_for_waits_for_task_cancellation`: the inner future's cancellation
/// (here, its drop) has finished by the time the timeout error is returned.
#[test]
fn the_inner_future_is_dropped_before_the_timeout_error_is_returned() {
    let rt = common::runtime();
    rt.block_on(async {
        let dropped = Arc::new(AtomicBool::new(false));
        let start = Instant::now();
        let result = wait_for(Duration::from_millis(10), SlowDrop(dropped.clone())).await;
        assert_eq!(result, Err(TimedOut));
        assert!(dropped.load(Ordering::SeqCst));
        assert!(start.elapsed() >= Duration::from_millis(10));
    });
}

/// CPython `test_wait_for_race_condition`: a result ready at the deadline wins.
#[test]
fn a_future_ready_at_the_deadline_wins() {
    let expired = async {};
    assert_eq!(block_on(wait_for_deadline(expired, async { 5 })), Ok(5));
}

#[test]
fn a_future_that_finishes_in_time_gives_its_output() {
    let rt = common::runtime();
    let out = rt.block_on(timeout(Duration::from_secs(10), async {
        sleep(Duration::from_millis(2)).await;
        "done"
    }));
    assert_eq!(out, Ok("done"));
}

/// CPython `test_cancel_wait_for`: cancelling the outer wait cancels the inner future.
#[test]
fn dropping_the_wait_for_drops_the_inner_future() {
    let dropped = Arc::new(AtomicBool::new(false));
    let deadline = Gate::new();
    let mut waiting = Harness::new(wait_for_deadline(
        deadline.pass(()),
        SlowDrop(dropped.clone()),
    ));
    assert!(waiting.poll().is_pending());
    drop(waiting);
    assert!(dropped.load(Ordering::SeqCst));
}
