//! as_completed: completion order, indices, timeouts that cancel nothing.
//! Ported from CPython's test_tasks.py (`test_as_completed*`).

mod common;

use std::task::Poll;
use std::time::Duration;

use common::{Counters, Gate, Harness};
use futures::executor::block_on;
use futures::StreamExt;
use ringtide::time::sleep;
use ringtide_combinators::{as_completed, TimedOut};

#[test]
fn outputs_come_in_completion_order_with_their_indices() {
    let gates: Vec<Gate> = (0..3).map(|_| Gate::new()).collect();
    let children: Vec<_> = gates
        .iter()
        .enumerate()
        .map(|(i, g)| g.pass(i * 10))
        .collect();
    let mut stream = as_completed(children);
    let mut next = Harness::new(async move {
        let mut seen = Vec::new();
        while let Some(item) = stream.next().await {
            seen.push(item);
        }
        seen
    });
    assert!(next.poll().is_pending());
    gates[1].open();
    assert!(next.poll().is_pending());
    gates[2].open();
    gates[0].open();
    assert_eq!(next.poll(), Poll::Ready(vec![(1, 10), (2, 20), (0, 0)]));
}

#[test]
fn an_empty_input_ends_at_once() {
    let mut stream = as_completed(Vec::<std::future::Ready<u8>>::new());
    assert_eq!(block_on(stream.next()), None);
    assert!(stream.is_empty());
}

/// CPython `test_as_completed_with_timeout`: after the deadline the stream yields one
/// timeout error; the children still running are not cancelled.
#[test]
fn a_timeout_yields_one_error_and_cancels_nothing() {
    let rt = common::runtime();
    rt.block_on(async {
        let counters = Counters::new();
        let children = [1u64, 150].map(|ms| {
            Box::pin(counters.wrap(async move {
                sleep(Duration::from_millis(ms)).await;
                ms
            }))
        });
        let mut stream = as_completed(children).timeout(Duration::from_millis(50));
        assert_eq!(stream.next().await, Some(Ok((0, 1))));
        assert_eq!(stream.next().await, Some(Err(TimedOut)));
        assert_eq!(stream.next().await, None);
        let pending = stream.into_pending();
        assert_eq!(counters.drops(), 1, "only the finished child was dropped");
        let (index, slow) = pending.into_iter().next().unwrap();
        assert_eq!(index, 1);
        assert_eq!(slow.await, 150);
    });
}

#[test]
fn dropping_the_stream_drops_the_children_still_running() {
    let counters = Counters::new();
    type Child = std::pin::Pin<Box<dyn std::future::Future<Output = i32>>>;
    let children: Vec<Child> = (0..4)
        .map(|i| Box::pin(counters.wrap(async move { i })) as Child)
        .chain((4..6).map(|i| Box::pin(counters.wrap(Gate::new().pass(i))) as Child))
        .collect();
    let mut stream = as_completed(children);
    assert_eq!(block_on(stream.next()), Some((0, 0)));
    // The stream stops polling as soon as it has an item: one poll, one drop so far.
    assert_eq!((counters.polls(), counters.drops()), (1, 1));
    assert_eq!(block_on(stream.next()), Some((1, 1)));
    assert_eq!((counters.polls(), counters.drops()), (2, 2));
    drop(stream);
    assert_eq!(counters.drops(), 6);
    assert_eq!(counters.polls(), 2);
}
