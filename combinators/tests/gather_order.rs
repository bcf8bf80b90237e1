//! gather, gather! and try_gather: outputs in input order, empty input, cancellation.
//! Ported from CPython's test_tasks.py (`test_gather*`, `GatherTestsBase`).

mod common;

use std::task::Poll;
use std::time::Duration;

use common::{Counters, Gate, Harness};
use futures::executor::block_on;
use ringtide::time::{sleep, Instant};
use ringtide_combinators::{gather, try_gather};

#[test]
fn outputs_come_in_input_order_whatever_the_completion_order() {
    let gates: Vec<Gate> = (0..4).map(|_| Gate::new()).collect();
    let mut gather = Harness::new(gather(gates.iter().enumerate().map(|(i, g)| g.pass(i))));
    assert!(gather.poll().is_pending());
    for gate in gates.iter().rev() {
        gate.open();
        if gather.wakes() < 1 {
            panic!("opening a gate must wake the gather");
        }
    }
    assert_eq!(gather.poll(), Poll::Ready(vec![0, 1, 2, 3]));
}

#[test]
fn an_empty_input_resolves_at_once_to_an_empty_vec() {
    let mut gather = Harness::new(gather(Vec::<std::future::Ready<u8>>::new()));
    assert_eq!(gather.poll(), Poll::Ready(vec![]));
    let mut try_gather = Harness::new(try_gather(Vec::<std::future::Ready<Result<u8, ()>>>::new()));
    assert_eq!(try_gather.poll(), Poll::Ready(Ok(vec![])));
}

#[test]
fn the_macro_gathers_futures_of_different_types() {
    let gate = Gate::new();
    let mut both = Harness::new(gather!(async { "text" }, gate.pass(7u8), async { 2.5f64 }));
    assert!(both.poll().is_pending());
    gate.open();
    assert_eq!(both.poll(), Poll::Ready(("text", 7, 2.5)));
}

#[test]
fn the_macro_polls_only_the_woken_child() {
    let counters: Vec<Counters> = (0..3).map(|_| Counters::new()).collect();
    let gates: Vec<Gate> = (0..3).map(|_| Gate::new()).collect();
    let mut three = Harness::new(gather!(
        counters[0].wrap(gates[0].pass(0)),
        counters[1].wrap(gates[1].pass(1)),
        counters[2].wrap(gates[2].pass(2)),
    ));
    assert!(three.poll().is_pending());
    gates[1].open();
    assert!(three.poll().is_pending());
    let polls: Vec<usize> = counters.iter().map(Counters::polls).collect();
    assert_eq!(polls, [1, 2, 1]);
    gates[0].open();
    gates[2].open();
    assert_eq!(three.poll(), Poll::Ready((0, 1, 2)));
    assert!(counters.iter().all(|c| c.polls() == 2 && c.drops() == 1));
}

#[test]
fn children_run_concurrently_on_ringtide() {
    let rt = common::runtime();
    rt.block_on(async {
        let start = Instant::now();
        let children = [30u64, 20, 10].map(|ms| async move {
            sleep(Duration::from_millis(ms)).await;
            ms
        });
        assert_eq!(gather(children).await, [30, 20, 10]);
        // A lower bound only: the pair never finishes before its slowest child.
        assert!(start.elapsed() >= Duration::from_millis(30));
    });
}

#[test]
fn children_woken_from_other_threads_complete_on_any_executor() {
    let gates: Vec<Gate> = (0..64).map(|_| Gate::new()).collect();
    let children: Vec<_> = gates.iter().enumerate().map(|(i, g)| g.pass(i)).collect();
    let openers: Vec<_> = gates
        .chunks(16)
        .map(|chunk| {
            let chunk = chunk.to_vec();
            std::thread::spawn(move || chunk.iter().rev().for_each(Gate::open))
        })
        .collect();
    assert_eq!(block_on(gather(children)), (0..64).collect::<Vec<_>>());
    openers.into_iter().for_each(|t| t.join().unwrap());
}

#[test]
fn try_gather_returns_every_value_when_all_succeed() {
    let children = [3, 1, 2].map(|n| async move { Ok::<_, String>(n) });
    assert_eq!(block_on(try_gather(children)), Ok(vec![3, 1, 2]));
}

#[test]
fn try_gather_drops_every_other_child_before_returning_the_first_error() {
    let counters = Counters::new();
    let gate = Gate::new();
    let failing = Gate::new();
    let mut children = Vec::new();
    for i in 0..5 {
        let pass = if i == 3 {
            failing.pass(Err(i))
        } else {
            gate.pass(Ok(i))
        };
        children.push(counters.wrap(pass));
    }
    let mut gathered = Harness::new(try_gather(children));
    assert!(gathered.poll().is_pending());
    failing.open();
    assert_eq!(gathered.poll(), Poll::Ready(Err(3)));
    // Every child, the failed one included, was dropped exactly once before the error
    // came back, although the future itself still exists.
    assert_eq!(counters.drops(), 5);
    assert_eq!(counters.polls(), 6);
    drop(gathered);
    assert_eq!(counters.drops(), 5);
}

#[test]
fn try_gather_of_join_handles_stops_at_a_panicked_task() {
    let rt = common::runtime();
    rt.block_on(async {
        let tasks = vec![
            ringtide::spawn(async {
                sleep(Duration::from_secs(3600)).await;
                1
            }),
            ringtide::spawn(async { panic!("task failed") }),
        ];
        let err = try_gather(tasks).await.unwrap_err();
        assert!(err.is_panic());
    });
}

/// CPython `test_cancel_gather_1`/`_2`: cancelling the outer future cancels the children
/// that run inside it (each is dropped exactly once, and never polled again).
#[test]
fn dropping_the_gather_drops_its_children_once() {
    let counters = Counters::new();
    let gate = Gate::new();
    let children: Vec<_> = (0..10)
        .map(|i| {
            counters.wrap(if i < 4 {
                Gate::new().pass(i)
            } else {
                gate.pass(i)
            })
        })
        .collect();
    let mut gathered = Harness::new(gather(children));
    assert!(gathered.poll().is_pending());
    gate.open();
    assert!(gathered.poll().is_pending());
    // Six finished (and were dropped as they finished); four still run.
    assert_eq!(counters.drops(), 6);
    drop(gathered);
    assert_eq!(counters.drops(), 10);
    assert_eq!(counters.polls(), 16);
}

/// Gathering `JoinHandle`s and dropping the gather detaches the tasks, which keep
/// running: cancellation of spawned tasks is the `TaskGroup`'s job.
#[test]
fn dropping_a_gather_of_join_handles_detaches_the_tasks() {
    common::assert_dropping_detaches(|task| gather([task]));
}
