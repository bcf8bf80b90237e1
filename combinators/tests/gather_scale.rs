//! O(1) per wake-up: every child is polled at most twice when it wakes once, and a child
//! that keeps waking itself starves neither its siblings nor the executor.
//!
//! `RINGTIDE_COMBINATOR_CHILDREN=1000000 cargo test --release --test gather_scale` runs
//! the counting tests with a million children.

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use common::{Counters, Gate, Harness, Spinner};
use futures::executor::block_on;
use ringtide::task::yield_now;
use ringtide_combinators::{as_completed, gather, race, wait, ReturnWhen};

/// A child that counts its polls in a shared counter (one per child would be as good;
/// one counter keeps a million children small).
struct CountPolls<F> {
    inner: F,
    polls: Arc<AtomicUsize>,
}

impl<F: Future + Unpin> Future for CountPolls<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.polls.fetch_add(1, Ordering::Relaxed);
        Pin::new(&mut self.inner).poll(cx)
    }
}

#[test]
fn children_that_wake_themselves_once_are_polled_exactly_twice() {
    let n = common::children(100_000);
    let polls = Arc::new(AtomicUsize::new(0));
    let children = (0..n).map(|i| {
        let polls = polls.clone();
        async move {
            CountPolls {
                inner: Box::pin(yield_now()),
                polls,
            }
            .await;
            i
        }
    });
    let outputs = block_on(gather(children));
    assert_eq!(outputs.len(), n);
    assert!(outputs.iter().enumerate().all(|(i, &o)| i == o));
    assert_eq!(polls.load(Ordering::Relaxed), 2 * n);
}

/// A future woken from outside, once: its waker goes into a shared list.
struct WokenLater {
    wakers: Arc<Mutex<Vec<Waker>>>,
    parked: bool,
    polls: Arc<AtomicUsize>,
}

impl Future for WokenLater {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.polls.fetch_add(1, Ordering::Relaxed);
        if self.parked {
            return Poll::Ready(());
        }
        self.parked = true;
        self.wakers.lock().unwrap().push(cx.waker().clone());
        Poll::Pending
    }
}

#[test]
fn children_woken_once_by_others_are_polled_at_most_twice() {
    let n = common::children(100_000);
    let wakers = Arc::new(Mutex::new(Vec::with_capacity(n)));
    let polls = Arc::new(AtomicUsize::new(0));
    let children = (0..n).map(|_| WokenLater {
        wakers: wakers.clone(),
        parked: false,
        polls: polls.clone(),
    });
    let mut gathered = Harness::new(gather(children));
    assert!(gathered.poll().is_pending());
    assert_eq!(polls.load(Ordering::Relaxed), n);
    let all: Vec<Waker> = std::mem::take(&mut *wakers.lock().unwrap());
    // Wake each twice, from another thread: the second wake-up of a queued child is free.
    std::thread::spawn(move || {
        for waker in &all {
            waker.wake_by_ref();
        }
        for waker in all {
            waker.wake();
        }
    })
    .join()
    .unwrap();
    // The stack went from empty to non-empty once: one wake-up of the awaiting task.
    assert_eq!(gathered.wakes(), 1);
    assert!(gathered.poll().is_ready());
    assert_eq!(polls.load(Ordering::Relaxed), 2 * n);
}

/// Only the woken children are polled: waking one of many polls one.
#[test]
fn a_wake_up_polls_only_the_child_it_woke() {
    let counters = Counters::new();
    let gates: Vec<Gate> = (0..1000).map(|_| Gate::new()).collect();
    let children: Vec<_> = gates.iter().map(|g| counters.wrap(g.pass(()))).collect();
    let mut waiting = Harness::new(wait(children, ReturnWhen::AllCompleted));
    assert!(waiting.poll().is_pending());
    assert_eq!(counters.polls(), 1000);
    gates[500].open();
    assert!(waiting.poll().is_pending());
    assert_eq!(counters.polls(), 1001);
    gates.iter().for_each(Gate::open);
    let Poll::Ready(Ok(result)) = waiting.poll() else {
        panic!("every child is done");
    };
    assert_eq!(result.done.len(), 1000);
    assert_eq!(counters.polls(), 2000);
}

#[test]
fn a_child_that_keeps_waking_itself_is_polled_once_per_poll() {
    let polls = Arc::new(AtomicUsize::new(0));
    let gate = Gate::new();
    let spinner: Pin<Box<dyn Future<Output = usize> + Send>> = Box::pin(Spinner {
        polls: polls.clone(),
    });
    let sibling: Pin<Box<dyn Future<Output = usize> + Send>> = Box::pin(gate.pass(7));
    let mut racing = Harness::new(race([spinner, sibling]));
    for round in 1..=5 {
        // Each poll returns (the executor gets its turn back) after polling the spinner
        // once, and asks to be polled again.
        assert!(racing.poll().is_pending());
        assert_eq!(polls.load(Ordering::Relaxed), round);
        assert!(racing.wakes() >= round);
    }
    gate.open();
    assert_eq!(racing.poll(), Poll::Ready(Ok(7)));
}

#[test]
fn a_spinning_child_does_not_starve_the_executor_or_its_siblings() {
    let rt = common::runtime();
    let polls = Arc::new(AtomicUsize::new(0));
    let spinner: Pin<Box<dyn Future<Output = usize> + Send>> = Box::pin(Spinner {
        polls: polls.clone(),
    });
    let sibling: Pin<Box<dyn Future<Output = usize> + Send>> = Box::pin(async {
        ringtide::time::sleep(std::time::Duration::from_millis(5)).await;
        5
    });
    let first = rt.block_on(async {
        use futures::StreamExt;
        as_completed([spinner, sibling]).next().await
    });
    assert_eq!(first, Some((1, 5)));
    assert!(polls.load(Ordering::Relaxed) > 1);
}
