//! gather's small path (up to 64 children in one allocation): outputs in input order,
//! only woken children polled, wakers from other threads and wakers that outlive the
//! gather, panics, drops, and the sizes at the edges of its buckets (4, 16, 64) and past
//! them.

mod common;

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use common::{Counters, Gate, Harness, PanicsOnDrop, Spinner};
use futures::executor::block_on;
use ringtide_combinators::gather;

/// Every bucket edge of the small path, and the first size past it.
const SIZES: [usize; 10] = [1, 2, 4, 5, 10, 16, 17, 63, 64, 65];

#[test]
fn outputs_come_in_input_order_whatever_the_completion_order() {
    for n in SIZES {
        let gates: Vec<Gate> = (0..n).map(|_| Gate::new()).collect();
        let mut gathered = Harness::new(gather(gates.iter().enumerate().map(|(i, g)| g.pass(i))));
        assert!(gathered.poll().is_pending());
        // Odd children first, then even ones, each half in reverse.
        for gate in gates.iter().skip(1).step_by(2).rev() {
            gate.open();
        }
        if n > 1 {
            assert!(gathered.wakes() >= 1, "{n} children");
            assert!(gathered.poll().is_pending(), "{n} children");
        }
        for gate in gates.iter().step_by(2).rev() {
            gate.open();
        }
        assert_eq!(
            gathered.poll(),
            Poll::Ready((0..n).collect()),
            "{n} children"
        );
    }
}

#[test]
fn children_ready_at_once_resolve_on_the_first_poll() {
    for n in SIZES {
        let counters = Counters::new();
        let children = (0..n).map(|i| counters.wrap(async move { i * 2 }));
        let mut gathered = Harness::new(gather(children));
        let expected: Vec<usize> = (0..n).map(|i| i * 2).collect();
        assert_eq!(gathered.poll(), Poll::Ready(expected), "{n} children");
        assert_eq!(gathered.wakes(), 0);
        assert_eq!((counters.polls(), counters.drops()), (n, n), "{n} children");
    }
}

#[test]
fn only_woken_children_are_polled() {
    for n in SIZES {
        let counters: Vec<Counters> = (0..n).map(|_| Counters::new()).collect();
        let gates: Vec<Gate> = (0..n).map(|_| Gate::new()).collect();
        let children = (0..n).map(|i| counters[i].wrap(gates[i].pass(i)));
        let mut gathered = Harness::new(gather(children));
        assert!(gathered.poll().is_pending());
        // Nothing woken: a spurious poll polls nobody.
        assert!(gathered.poll().is_pending());
        let last = n - 1;
        gates[last].open();
        assert!(gathered.poll().is_pending() || n == 1);
        let polls: Vec<usize> = counters.iter().map(Counters::polls).collect();
        let mut expected = vec![1; n];
        expected[last] = 2;
        assert_eq!(polls, expected, "{n} children");
        gates.iter().for_each(Gate::open);
        if n > 1 {
            assert_eq!(gathered.poll(), Poll::Ready((0..n).collect()));
        }
        for (i, c) in counters.iter().enumerate() {
            assert_eq!((c.polls(), c.drops()), (2, 1), "child {i} of {n}");
        }
    }
}

#[test]
fn children_woken_from_other_threads_complete() {
    for n in SIZES {
        let gates: Vec<Gate> = (0..n).map(|_| Gate::new()).collect();
        let children: Vec<_> = gates.iter().enumerate().map(|(i, g)| g.pass(i)).collect();
        let openers: Vec<_> = gates
            .chunks(n.div_ceil(3))
            .map(|chunk| {
                let chunk = chunk.to_vec();
                std::thread::spawn(move || chunk.iter().rev().for_each(Gate::open))
            })
            .collect();
        assert_eq!(block_on(gather(children)), (0..n).collect::<Vec<_>>());
        openers.into_iter().for_each(|t| t.join().unwrap());
    }
}

/// Pending until `open`; keeps a clone of every waker it is polled with.
#[derive(Clone, Default)]
struct Stash {
    wakers: Arc<Mutex<Vec<Waker>>>,
}

impl Future for Stash {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.wakers.lock().unwrap().push(cx.waker().clone());
        Poll::Pending
    }
}

#[test]
fn a_waker_may_outlive_the_gather() {
    for n in SIZES {
        let counters = Counters::new();
        let stash = Stash::default();
        let children = (0..n).map(|_| counters.wrap(stash.clone()));
        let mut gathered = Harness::new(gather(children));
        assert!(gathered.poll().is_pending());
        let wakers = std::mem::take(&mut *stash.wakers.lock().unwrap());
        assert_eq!(wakers.len(), n);
        drop(gathered);
        assert_eq!(
            counters.drops(),
            n,
            "each child dropped once, with the gather"
        );
        // The wakers still work (they wake nothing) and free the allocation at the end,
        // from this thread and from another one.
        let (here, there) = wakers.split_at(n / 2);
        for waker in here {
            waker.wake_by_ref();
            // A counted clone, consumed by waking it.
            let clone = waker.clone();
            clone.wake();
        }
        let there = there.to_vec();
        std::thread::spawn(move || there.into_iter().for_each(Waker::wake))
            .join()
            .unwrap();
        drop(wakers);
        assert_eq!(counters.drops(), n);
    }
}

/// Stashes its waker and wakes itself on its first poll; ready on its second.
struct StashThenReady {
    stash: Stash,
    polled: bool,
}

impl Future for StashThenReady {
    type Output = bool;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<bool> {
        if self.polled {
            return Poll::Ready(true);
        }
        self.polled = true;
        self.stash.wakers.lock().unwrap().push(cx.waker().clone());
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[test]
fn a_waker_may_outlive_a_finished_gather() {
    for n in SIZES {
        let stash = Stash::default();
        let children = (0..n).map(|_| StashThenReady {
            stash: stash.clone(),
            polled: false,
        });
        assert_eq!(block_on(gather(children)), vec![true; n]);
        let wakers = std::mem::take(&mut *stash.wakers.lock().unwrap());
        assert_eq!(wakers.len(), n);
        wakers.into_iter().for_each(Waker::wake);
    }
}

#[test]
fn dropping_the_gather_drops_each_child_exactly_once() {
    for n in SIZES {
        let counters = Counters::new();
        let gate = Gate::new();
        // Every third child finishes; its output waits in its slot.
        let children = (0..n).map(|i| {
            counters.wrap(if i % 3 == 1 {
                gate.pass(Some(Arc::new(i)))
            } else {
                Gate::new().pass(None)
            })
        });
        let mut gathered = Harness::new(gather(children));
        assert!(gathered.poll().is_pending());
        gate.open();
        assert!(gathered.poll().is_pending() || n == 1);
        drop(gathered);
        assert_eq!(counters.drops(), n, "{n} children");
    }
}

/// Counts its drops; panics when polled if `panic_on_poll`, and in `Drop` if
/// `panic_on_drop`.
struct Faulty {
    drops: Arc<AtomicUsize>,
    ready: bool,
    panic_on_poll: bool,
    panic_on_drop: bool,
}

impl Future for Faulty {
    type Output = u32;

    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<u32> {
        if self.panic_on_poll {
            panic!("child failed");
        }
        if self.ready {
            Poll::Ready(1)
        } else {
            Poll::Pending
        }
    }
}

impl Drop for Faulty {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
        if self.panic_on_drop {
            panic!("drop failed");
        }
    }
}

fn faulty(
    drops: &Arc<AtomicUsize>,
    ready: bool,
    panic_on_poll: bool,
    panic_on_drop: bool,
) -> Faulty {
    Faulty {
        drops: drops.clone(),
        ready,
        panic_on_poll,
        panic_on_drop,
    }
}

#[test]
fn a_panicking_child_is_dropped_once_and_the_panic_resumes() {
    for n in SIZES {
        let drops = Arc::new(AtomicUsize::new(0));
        let failing = n / 2;
        let children = (0..n).map(|i| faulty(&drops, i % 2 == 0, i == failing, false));
        let mut gathered = Harness::new(gather(children));
        let payload = catch_unwind(AssertUnwindSafe(|| gathered.poll())).unwrap_err();
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"child failed"));
        // The panicking child was dropped before the panic resumed; so were the ready
        // children before it. The others are dropped with the gather.
        let before = failing.div_ceil(2);
        assert_eq!(drops.load(Ordering::SeqCst), before + 1, "{n} children");
        let again = catch_unwind(AssertUnwindSafe(|| gathered.poll())).unwrap_err();
        let message = again.downcast_ref::<&str>().copied().unwrap_or_default();
        assert!(message.contains("after one of its children panicked"));
        drop(gathered);
        assert_eq!(drops.load(Ordering::SeqCst), n, "{n} children");
    }
}

#[test]
fn a_child_whose_drop_panics_is_dropped_once() {
    for n in SIZES {
        for ready in [true, false] {
            let drops = Arc::new(AtomicUsize::new(0));
            let failing = n / 2;
            let children =
                (0..n).map(|i| faulty(&drops, ready && i == failing, false, i == failing));
            let mut gathered = Harness::new(gather(children));
            let first = catch_unwind(AssertUnwindSafe(|| gathered.poll()));
            if ready {
                // It finished, and its `Drop` panicked as the gather dropped it.
                assert!(first.is_err(), "{n} children");
                assert_eq!(drops.load(Ordering::SeqCst), 1);
            } else {
                assert!(first.unwrap().is_pending());
            }
            let dropped = catch_unwind(AssertUnwindSafe(|| drop(gathered)));
            // A pending child's `Drop` panics while the gather drops it; the children
            // after it are dropped all the same.
            assert_eq!(dropped.is_err(), !ready, "{n} children");
            assert_eq!(drops.load(Ordering::SeqCst), n, "{n} children");
        }
    }
}

/// Yields `len` futures but claims to yield at most `hint`.
struct Lying<I> {
    inner: I,
    hint: usize,
}

impl<I: Iterator> Iterator for Lying<I> {
    type Item = I::Item;

    fn next(&mut self) -> Option<I::Item> {
        self.inner.next()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.hint))
    }
}

#[test]
fn an_input_longer_than_its_size_hint_is_gathered_whole() {
    for (len, hint) in [(5, 4), (17, 16), (65, 64), (100, 3), (3, 10), (0, 4)] {
        let counters = Counters::new();
        let children = Lying {
            inner: (0..len).map(|i| counters.wrap(async move { i })),
            hint,
        };
        assert_eq!(block_on(gather(children)), (0..len).collect::<Vec<_>>());
        assert_eq!((counters.polls(), counters.drops()), (len, len));
    }
}

#[test]
fn an_iterator_that_panics_leaves_nothing_behind() {
    for n in SIZES {
        for failing in [0, n / 2, n - 1] {
            let counters = Counters::new();
            let children = (0..n).map(|i| {
                assert_ne!(i, failing, "the input failed");
                counters.wrap(async move { i })
            });
            let result = catch_unwind(AssertUnwindSafe(|| gather(children)));
            assert!(result.is_err());
            // The children made before the panic were dropped, none was polled.
            assert_eq!(
                (counters.polls(), counters.drops()),
                (0, failing),
                "{n} children, failing at {failing}"
            );
        }
    }
}

/// Yields `0..first`, then `None`, then `100`, then `None` for good: an iterator that is
/// not fused.
struct Unfused {
    first: usize,
    calls: usize,
}

impl Iterator for Unfused {
    type Item = std::future::Ready<usize>;

    fn next(&mut self) -> Option<Self::Item> {
        let call = self.calls;
        self.calls += 1;
        match call {
            _ if call < self.first => Some(std::future::ready(call)),
            _ if call == self.first + 1 => Some(std::future::ready(100)),
            _ => None,
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.first))
    }
}

#[test]
fn the_input_ends_at_its_first_none() {
    for first in [0, 1, 3, 4, 10, 16, 60, 64] {
        let mut input = Unfused { first, calls: 0 };
        let outputs = block_on(gather(&mut input));
        assert_eq!(outputs, (0..first).collect::<Vec<_>>());
        assert_eq!(input.calls, first + 1, "asked again after its `None`");
    }
}

#[test]
fn a_child_that_keeps_waking_itself_is_polled_once_per_poll() {
    for n in SIZES {
        let polls: Vec<Arc<AtomicUsize>> = (0..n).map(|_| Arc::default()).collect();
        let spinners = polls.iter().map(|polls| Spinner {
            polls: polls.clone(),
        });
        let mut gathered = Harness::new(gather(spinners));
        for round in 1..=4 {
            // Each poll of the gather polls every child once, and asks to be polled again.
            assert!(gathered.poll().is_pending());
            for (i, polls) in polls.iter().enumerate() {
                assert_eq!(polls.load(Ordering::SeqCst), round, "child {i} of {n}");
            }
            assert!(gathered.wakes() >= round, "{n} children");
        }
    }
}

#[test]
fn outputs_in_the_result_are_dropped_when_a_later_child_panics() {
    // Children 0 and 1 finish in input order (their outputs go into the result), child
    // 2's `Drop` panics as it finishes; the outputs already gathered are dropped once.
    let drops = Arc::new(AtomicUsize::new(0));
    let outputs: Vec<Arc<AtomicUsize>> = (0..2).map(|_| Arc::default()).collect();
    let first = std::future::ready(outputs[0].clone());
    let second = std::future::ready(outputs[1].clone());
    let children: Vec<Pin<Box<dyn Future<Output = Arc<AtomicUsize>>>>> = vec![
        Box::pin(first),
        Box::pin(second),
        Box::pin(PanicsOnDrop {
            drops: drops.clone(),
            output: Some(Arc::default()),
        }),
    ];
    let mut gathered = Harness::new(gather(children));
    assert!(catch_unwind(AssertUnwindSafe(|| gathered.poll())).is_err());
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    assert_eq!(Arc::strong_count(&outputs[0]), 2, "held by the gather");
    drop(gathered);
    assert_eq!(Arc::strong_count(&outputs[0]), 1);
    assert_eq!(Arc::strong_count(&outputs[1]), 1);
}
