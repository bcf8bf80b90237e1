//! gather_limited and as_completed_limited: never more than `limit` children alive, input
//! order kept, lazy input, a round that admits at most `limit` new children.
//!
//! The scale tests use `RINGTIDE_COMBINATOR_CHILDREN` children (a million by default).

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use common::Harness;
use futures::executor::block_on;
use futures::StreamExt;
use ringtide::task::yield_now;
use ringtide_combinators::{as_completed_limited, gather_limited};

/// Counts the children alive (made and not yet dropped), and the most ever alive at once.
#[derive(Debug, Default)]
struct Census {
    alive: AtomicUsize,
    most: AtomicUsize,
    made: AtomicUsize,
}

/// Held by a child from the moment the input makes it until it is dropped.
struct Alive(Arc<Census>);

impl Alive {
    fn new(census: &Arc<Census>) -> Alive {
        let now = census.alive.fetch_add(1, Ordering::SeqCst) + 1;
        census.most.fetch_max(now, Ordering::SeqCst);
        census.made.fetch_add(1, Ordering::SeqCst);
        Alive(census.clone())
    }
}

impl Drop for Alive {
    fn drop(&mut self) {
        self.0.alive.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Child `i` yields `i % 3` times, so children finish out of input order.
fn child(census: &Arc<Census>, i: usize) -> impl Future<Output = usize> {
    let alive = Alive::new(census);
    async move {
        let _alive = alive;
        for _ in 0..i % 3 {
            yield_now().await;
        }
        i
    }
}

#[test]
fn gather_limited_keeps_at_most_the_limit_alive_and_the_input_order() {
    const LIMIT: usize = 1000;
    let n = common::children(1_000_000);
    let census = Arc::new(Census::default());
    let outputs = block_on(gather_limited((0..n).map(|i| child(&census, i)), LIMIT));
    assert_eq!(outputs.len(), n);
    assert!(outputs.iter().enumerate().all(|(i, &output)| i == output));
    assert_eq!(census.made.load(Ordering::SeqCst), n);
    assert_eq!(census.most.load(Ordering::SeqCst), LIMIT.min(n));
    assert_eq!(census.alive.load(Ordering::SeqCst), 0);
}

#[test]
fn as_completed_limited_keeps_at_most_the_limit_alive_and_yields_every_child() {
    const LIMIT: usize = 1000;
    let n = common::children(1_000_000) / 10;
    let census = Arc::new(Census::default());
    let stream = as_completed_limited((0..n).map(|i| child(&census, i)), LIMIT);
    let mut seen = vec![false; n];
    let mut in_order = true;
    block_on(stream.enumerate().for_each(|(k, (index, output))| {
        assert_eq!(index, output);
        assert!(!std::mem::replace(&mut seen[index], true));
        in_order &= k == index;
        async {}
    }));
    assert!(seen.iter().all(|&seen| seen));
    assert!(
        !in_order || n < 3,
        "children that yield finish out of input order"
    );
    assert_eq!(census.most.load(Ordering::SeqCst), LIMIT.min(n));
}

/// The input is only asked for a child when a place is free.
#[test]
fn the_input_is_pulled_only_as_places_free_up() {
    let gates: Vec<common::Gate> = (0..10).map(|_| common::Gate::new()).collect();
    let pulled = AtomicUsize::new(0);
    let children = gates.iter().enumerate().map(|(i, gate)| {
        pulled.fetch_add(1, Ordering::SeqCst);
        gate.pass(i)
    });
    let mut gathering = Harness::new(gather_limited(children, 3));
    assert_eq!(pulled.load(Ordering::SeqCst), 3);
    assert!(gathering.poll().is_pending());
    assert_eq!(pulled.load(Ordering::SeqCst), 3);
    gates[1].open(); // finishes out of order: its place goes to child 3
    assert!(gathering.poll().is_pending());
    assert_eq!(pulled.load(Ordering::SeqCst), 4);
    gates.iter().for_each(common::Gate::open);
    // Three new children a poll at most (see the next test).
    let outputs = (0..10).find_map(|_| match gathering.poll() {
        Poll::Ready(outputs) => Some(outputs),
        Poll::Pending => None,
    });
    assert_eq!(outputs, Some((0..10).collect()));
}

/// A child that is ready at once: counts its polls.
struct ReadyChild {
    polls: Arc<AtomicUsize>,
    value: usize,
}

impl Future for ReadyChild {
    type Output = usize;

    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<usize> {
        self.polls.fetch_add(1, Ordering::SeqCst);
        Poll::Ready(self.value)
    }
}

/// Children that finish at once do not keep one poll busy for the whole input: each
/// poll admits at most `limit` new children, then yields, asking to be polled again.
#[test]
fn a_poll_admits_at_most_the_limit_of_new_children() {
    const LIMIT: usize = 10;
    let polls = Arc::new(AtomicUsize::new(0));
    let children = (0..100).map(|value| ReadyChild {
        polls: polls.clone(),
        value,
    });
    let mut gathering = Harness::new(gather_limited(children, LIMIT));
    let mut rounds = 0;
    let outputs = loop {
        let before = polls.load(Ordering::SeqCst);
        let wakes = gathering.wakes();
        match gathering.poll() {
            Poll::Ready(outputs) => break outputs,
            Poll::Pending => {
                assert!(polls.load(Ordering::SeqCst) - before <= 2 * LIMIT);
                assert_eq!(
                    gathering.wakes(),
                    wakes + 1,
                    "a yield asks to be polled again"
                );
            }
        }
        rounds += 1;
        assert!(rounds <= 100, "the gather never finished");
    };
    assert_eq!(outputs, (0..100).collect::<Vec<_>>());
    assert!(rounds >= 100 / (2 * LIMIT) - 1);
}

#[test]
fn short_and_empty_inputs() {
    let nothing: Vec<std::future::Ready<u8>> = Vec::new();
    assert!(block_on(gather_limited(nothing, 4)).is_empty());
    let few = [3u8, 1, 2].map(std::future::ready);
    assert_eq!(block_on(gather_limited(few, 100)), [3, 1, 2]);
    let nothing: Vec<std::future::Ready<u8>> = Vec::new();
    assert_eq!(block_on(as_completed_limited(nothing, 4).count()), 0);
}

#[test]
#[should_panic(expected = "a limit of 0")]
fn a_limit_of_zero_panics() {
    drop(gather_limited([std::future::ready(1)], 0));
}
