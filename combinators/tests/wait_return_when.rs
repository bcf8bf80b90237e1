//! wait: ReturnWhen, same-round completions, timeouts, empty input, cancellation.
//! Ported from CPython's test_tasks.py (`test_wait*`).

mod common;

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use common::{Counters, Gate, Harness};
use futures::executor::block_on;
use ringtide::time::{sleep, Instant};
use ringtide_combinators::{wait, EmptyInput, ReturnWhen};

type Child<T> = Pin<Box<dyn Future<Output = T> + Send>>;

#[test]
fn all_completed_waits_for_every_child() {
    let gates: Vec<Gate> = (0..3).map(|_| Gate::new()).collect();
    let children: Vec<_> = gates.iter().enumerate().map(|(i, g)| g.pass(i)).collect();
    let mut waiting = Harness::new(wait(children, ReturnWhen::AllCompleted));
    assert!(waiting.poll().is_pending());
    gates[2].open();
    assert!(waiting.poll().is_pending());
    gates[0].open();
    gates[1].open();
    let Poll::Ready(Ok(result)) = waiting.poll() else {
        panic!("all three are done")
    };
    assert_eq!(result.done, [(2, 2), (0, 0), (1, 1)]);
    assert!(result.pending.is_empty());
}

/// CPython `test_wait_really_done`: children finishing in the same wake-up all land in
/// `done`, even with FirstCompleted.
#[test]
fn first_completed_puts_every_child_done_in_the_same_round_in_done() {
    let gates: Vec<Gate> = (0..4).map(|_| Gate::new()).collect();
    let children: Vec<_> = gates.iter().enumerate().map(|(i, g)| g.pass(i)).collect();
    let mut waiting = Harness::new(wait(children, ReturnWhen::FirstCompleted));
    assert!(waiting.poll().is_pending());
    gates[3].open();
    gates[1].open();
    let Poll::Ready(Ok(result)) = waiting.poll() else {
        panic!("two children are done")
    };
    assert_eq!(result.done, [(3, 3), (1, 1)]);
    let pending: Vec<usize> = result.pending.iter().map(|(i, _)| *i).collect();
    assert_eq!(pending, [0, 2]);

    // The pending futures are live: wait on them again.
    gates[0].open();
    gates[2].open();
    let again = block_on(wait(result.into_pending(), ReturnWhen::AllCompleted)).unwrap();
    assert_eq!(again.done, [(0, 0), (1, 2)]);
}

#[test]
fn first_completed_with_children_ready_at_once_returns_them_all() {
    let children: Vec<Child<u8>> = vec![
        Box::pin(async { 0 }),
        Box::pin(std::future::pending()),
        Box::pin(async { 2 }),
    ];
    let result = block_on(wait(children, ReturnWhen::FirstCompleted)).unwrap();
    assert_eq!(result.done, [(0, 0), (2, 2)]);
    assert_eq!(result.pending.len(), 1);
}

#[test]
fn first_error_returns_on_the_first_err_and_not_before() {
    let ok = Gate::new();
    let err = Gate::new();
    let children = vec![
        ok.pass(Ok::<u8, &str>(0)),
        err.pass(Err("failed")),
        Gate::new().pass(Ok(2)),
    ];
    let mut waiting = Harness::new(wait(children, ReturnWhen::FirstError));
    assert!(waiting.poll().is_pending());
    ok.open();
    assert!(waiting.poll().is_pending(), "an Ok is not an error");
    err.open();
    let Poll::Ready(Ok(result)) = waiting.poll() else {
        panic!("the error ends the wait")
    };
    assert_eq!(result.done, [(0, Ok(0)), (1, Err("failed"))]);
    assert_eq!(result.pending.len(), 1);
}

#[test]
fn first_error_without_errors_waits_for_all() {
    let children = [0u8, 1].map(|n| Box::pin(async move { Ok::<_, ()>(n) }));
    let result = block_on(wait(children, ReturnWhen::FirstError)).unwrap();
    assert_eq!(result.done.len(), 2);
}

/// CPython `test_wait_first_exception_in_wait`/`test_wait_first_exception`: a task that
/// has already failed when the wait starts ends it at once.
#[test]
fn first_error_with_a_task_that_already_failed_returns_at_once() {
    let rt = common::runtime();
    rt.block_on(async {
        let failed = ringtide::spawn(async { panic!("failed before the wait") });
        while !failed.is_finished() {
            ringtide::task::yield_now().await;
        }
        let slow = ringtide::spawn(async {
            sleep(Duration::from_secs(3600)).await;
        });
        let result = wait([slow, failed], ReturnWhen::FirstError).await.unwrap();
        assert_eq!(result.done.len(), 1);
        assert_eq!(result.done[0].0, 1);
        assert!(result.done[0].1.as_ref().unwrap_err().is_panic());
        assert_eq!(result.pending.len(), 1);
        result.pending[0].1.abort();
    });
}

/// CPython `test_wait_with_timeout`: at the deadline, `wait` returns what is done and
/// leaves the rest running, untouched.
#[test]
fn a_timeout_returns_what_is_done_and_leaves_the_rest_running() {
    let rt = common::runtime();
    rt.block_on(async {
        let start = Instant::now();
        // The slow task finishes only when let go, after the wait: however loaded the
        // machine, it is still pending at the deadline.
        let (let_go, gate) = futures::channel::oneshot::channel::<()>();
        let tasks = [
            ringtide::spawn(async { 5u64 }),
            ringtide::spawn(async move {
                gate.await.unwrap();
                100
            }),
        ];
        let result = wait(tasks, ReturnWhen::AllCompleted)
            .timeout(Duration::from_millis(50))
            .await
            .unwrap();
        assert!(start.elapsed() >= Duration::from_millis(50));
        assert_eq!(result.done.len(), 1);
        assert_eq!(*result.done[0].1.as_ref().unwrap(), 5);
        // The slow task was not cancelled: it still finishes.
        let (index, slow) = result.pending.into_iter().next().unwrap();
        assert_eq!(index, 1);
        let_go.send(()).unwrap();
        assert_eq!(slow.await.unwrap(), 100);
    });
}

#[test]
fn a_deadline_future_works_on_any_executor() {
    let deadline = Gate::new();
    let counters = Counters::new();
    let children = vec![counters.wrap(Gate::new().pass(0))];
    let mut waiting =
        Harness::new(wait(children, ReturnWhen::AllCompleted).deadline(deadline.pass(())));
    assert!(waiting.poll().is_pending());
    deadline.open();
    let Poll::Ready(Ok(result)) = waiting.poll() else {
        panic!("the deadline passed")
    };
    assert!(result.done.is_empty());
    assert_eq!(result.pending.len(), 1);
    assert_eq!(counters.drops(), 0, "the deadline cancels nothing");
    drop(result);
    assert_eq!(counters.drops(), 1);
}

#[test]
fn an_empty_input_is_an_error() {
    let none: Vec<Child<u8>> = Vec::new();
    let result = block_on(wait(none, ReturnWhen::AllCompleted));
    assert!(matches!(result, Err(EmptyInput)));
}

/// CPython `test_wait` cancellation: cancelling the wait cancels no task; the tasks of
/// `JoinHandle` children keep running when the `Wait` is dropped.
#[test]
fn dropping_the_wait_cancels_no_task() {
    common::assert_dropping_detaches(|task| wait([task], ReturnWhen::AllCompleted));
}

/// Children that run inside the wait (not spawned) are dropped with it, once each.
#[test]
fn dropping_the_wait_drops_the_children_it_holds() {
    let counters = Counters::new();
    let children: Vec<_> = (0..3).map(|i| counters.wrap(Gate::new().pass(i))).collect();
    let mut waiting = Harness::new(wait(children, ReturnWhen::FirstCompleted));
    assert!(waiting.poll().is_pending());
    drop(waiting);
    assert_eq!(counters.drops(), 3);
}
