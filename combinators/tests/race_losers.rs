//! race: the first output wins, and every loser is dropped exactly once before it returns.

mod common;

use std::task::Poll;

use common::{Counters, Gate, Harness};
use futures::executor::block_on;
use ringtide_combinators::{race, EmptyInput};

#[test]
fn every_loser_is_dropped_exactly_once_before_race_returns() {
    let counters = Counters::new();
    let winner = Gate::new();
    let children: Vec<_> = (0..100)
        .map(|i| {
            counters.wrap(if i == 42 {
                winner.pass(i)
            } else {
                Gate::new().pass(i)
            })
        })
        .collect();
    let mut racing = Harness::new(race(children));
    assert!(racing.poll().is_pending());
    winner.open();
    assert_eq!(racing.poll(), Poll::Ready(Ok(42)));
    // The race still exists, but every child is gone already.
    assert_eq!(counters.drops(), 100);
    assert_eq!(counters.polls(), 101);
    drop(racing);
    assert_eq!(counters.drops(), 100);
}

#[test]
fn among_children_ready_at_once_the_first_polled_wins() {
    let counters = Counters::new();
    let children: Vec<_> = (0..3).map(|i| counters.wrap(async move { i })).collect();
    assert_eq!(block_on(race(children)), Ok(0));
    assert_eq!(counters.polls(), 1, "the others were never polled");
    assert_eq!(counters.drops(), 3);
}

#[test]
fn an_empty_input_is_an_error() {
    let none: Vec<std::future::Pending<u8>> = Vec::new();
    assert_eq!(block_on(race(none)), Err(EmptyInput));
}
