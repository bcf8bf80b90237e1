//! CancellationToken: level-triggered under races, no lost wake-ups, down the tree only.

mod common;

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use ringtide_combinators::{gather, wait_for, CancellationToken};

/// Whether `cancelled()` completes on its first poll.
fn cancelled_at_once(token: &CancellationToken) -> bool {
    let waiting = pin!(token.cancelled());
    waiting
        .poll(&mut Context::from_waker(Waker::noop()))
        .is_ready()
}

/// Threads that check the token while another cancels it: a check that comes after the
/// cancellation (ordered by the `announced` flag) always sees it, a child never reads
/// uncancelled after its parent read cancelled, and neither ever goes back.
#[test]
fn a_check_after_the_cancellation_always_sees_it() {
    const ROUNDS: usize = 200;
    const CHECKERS: usize = 3;
    let give_up = Instant::now() + Duration::from_secs(60);
    for _ in 0..ROUNDS {
        let root = CancellationToken::new();
        let child = root.child_token();
        let grandchild = child.child_token();
        let announced = AtomicBool::new(false);
        let start = Barrier::new(CHECKERS + 1);
        std::thread::scope(|s| {
            for _ in 0..CHECKERS {
                s.spawn(|| {
                    start.wait();
                    let mut seen = false;
                    loop {
                        let after = announced.load(Ordering::SeqCst);
                        let parent_cancelled = root.is_cancelled();
                        let leaf_cancelled = grandchild.is_cancelled();
                        assert!(
                            !parent_cancelled || leaf_cancelled,
                            "a parent ahead of its child"
                        );
                        assert!(!seen || leaf_cancelled, "a cancellation went back");
                        seen |= leaf_cancelled;
                        if after {
                            assert!(parent_cancelled && leaf_cancelled && child.is_cancelled());
                            assert!(cancelled_at_once(&grandchild));
                            assert!(grandchild.child_token().is_cancelled());
                            break;
                        }
                        assert!(Instant::now() < give_up, "the cancellation never came");
                    }
                });
            }
            s.spawn(|| {
                start.wait();
                root.cancel();
                announced.store(true, Ordering::SeqCst);
            });
        });
    }
}

/// Children derived, and waiters registered, while the parent is being cancelled: every
/// one of them ends up cancelled and woken.
#[test]
fn nothing_made_during_a_cancellation_is_missed() {
    let n = common::children(10_000);
    let rt = common::runtime();
    rt.block_on(async {
        let root = CancellationToken::new();
        let registered = Arc::new(AtomicUsize::new(0));
        let woken = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..n)
            .map(|i| {
                let parent = root.clone();
                let registered = registered.clone();
                let woken = woken.clone();
                ringtide::spawn(async move {
                    // A fresh child at depth 0 to 2, made from inside the task, so some
                    // are made before the cancellation and some during or after it.
                    let token = (0..i % 3).fold(parent, |token, _| token.child_token());
                    registered.fetch_add(1, Ordering::SeqCst);
                    token.cancelled().await;
                    assert!(token.is_cancelled());
                    woken.fetch_add(1, Ordering::SeqCst);
                })
            })
            .collect();
        // Cancel once some of the tasks are waiting, while others are still starting.
        let give_up = Instant::now() + Duration::from_secs(30);
        while registered.load(Ordering::SeqCst) < n / 2 {
            assert!(Instant::now() < give_up, "the tasks never started");
            ringtide::task::yield_now().await;
        }
        root.cancel();
        let all = wait_for(Duration::from_secs(30), gather(tasks)).await;
        let outcomes = all.expect("a waiter was never woken");
        assert!(outcomes.iter().all(Result::is_ok));
        assert_eq!(woken.load(Ordering::SeqCst), n);
    });
}

/// A waiter that is polled, and dropped, on threads racing the cancellation.
#[test]
fn waiters_dropped_during_a_cancellation_are_harmless() {
    for _ in 0..100 {
        let token = CancellationToken::new();
        let start = Barrier::new(3);
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    start.wait();
                    for _ in 0..200 {
                        let mut waiting = Box::pin(token.cancelled());
                        let poll = waiting
                            .as_mut()
                            .poll(&mut Context::from_waker(Waker::noop()));
                        if poll == Poll::Ready(()) {
                            assert!(token.is_cancelled());
                        }
                    }
                });
            }
            s.spawn(|| {
                start.wait();
                token.cancel();
            });
        });
        assert!(cancelled_at_once(&token));
    }
}

#[test]
fn cancelling_a_child_leaves_its_parent_and_siblings() {
    let parent = CancellationToken::new();
    let first = parent.child_token();
    let second = parent.child_token();
    let nephew = second.child_token();
    first.cancel();
    assert!(first.is_cancelled() && cancelled_at_once(&first));
    assert!(!parent.is_cancelled() && !cancelled_at_once(&parent));
    assert!(!second.is_cancelled() && !nephew.is_cancelled());
    parent.cancel();
    assert!(second.is_cancelled() && nephew.is_cancelled());
    assert!(cancelled_at_once(&nephew));
}

#[test]
fn run_until_cancelled_drops_the_work_on_cancellation() {
    struct Flag(Arc<AtomicBool>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let rt = common::runtime();
    rt.block_on(async {
        let token = CancellationToken::new();
        let dropped = Arc::new(AtomicBool::new(false));
        let flag = Flag(dropped.clone());
        let work = ringtide::spawn({
            let token = token.clone();
            async move {
                token
                    .run_until_cancelled(async move {
                        let _flag = flag;
                        std::future::pending::<()>().await
                    })
                    .await
            }
        });
        ringtide::time::sleep(Duration::from_millis(2)).await;
        token.cancel();
        assert_eq!(work.await.unwrap(), None);
        assert!(dropped.load(Ordering::SeqCst));
        // Already cancelled: the work is not even polled.
        let polled = AtomicBool::new(false);
        let never = token.run_until_cancelled(async {
            polled.store(true, Ordering::SeqCst);
        });
        assert_eq!(never.await, None);
        assert!(!polled.load(Ordering::SeqCst));
    });
}
