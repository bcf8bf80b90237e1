//! TaskGroup cancellation: the token, graceful shutdown with exact reports, nested groups,
//! deadlines, and the limit on running children.
//!
//! `RINGTIDE_COMBINATOR_CHILDREN=1000000 cargo test --release --test task_group_cancel`
//! shuts down a million children rather than a hundred thousand.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::DropFlag;
use ringtide::time::sleep;
use ringtide_combinators::{ChildError, SpawnError, TaskGroup};

/// Children of three kinds: one in ten finishes before the shutdown, one in ten ignores
/// the token (and is aborted after the grace period), and the rest end when the token is
/// cancelled. Every one is reported, in the right list, in spawn order.
#[test]
fn a_graceful_shutdown_reports_every_child_exactly() {
    let n = common::children(100_000);
    let rt = common::runtime();
    let report = rt.block_on(async {
        let group = TaskGroup::<usize, ()>::new();
        for i in 0..n {
            let token = group.token();
            group
                .spawn(async move {
                    match i % 10 {
                        0 => Ok(i),
                        1 => {
                            sleep(Duration::from_secs(3600)).await;
                            Ok(i)
                        }
                        _ => {
                            token.cancelled().await;
                            Ok(i)
                        }
                    }
                })
                .unwrap();
        }
        let quick = n.div_ceil(10);
        common::until("the quick children finished", || {
            group.running() == n - quick
        })
        .await;
        // Long enough for the well-behaved children on a slow machine: the test waits
        // for all of it, because of the children that ignore the token.
        group.shutdown(Duration::from_secs(3)).await
    });
    let kind = |k: usize| (0..n).filter(move |i| i % 10 == k);
    let finished: Vec<_> = kind(0).map(|i| (i, i)).collect();
    let aborted: Vec<_> = kind(1).collect();
    let cancelled: Vec<_> = (0..n).filter(|i| i % 10 >= 2).map(|i| (i, i)).collect();
    assert_eq!(report.finished.len(), finished.len());
    assert_eq!(report.cancelled.len(), cancelled.len());
    assert_eq!(report.aborted.len(), aborted.len());
    assert!(report.finished == finished);
    assert!(report.cancelled == cancelled);
    assert!(report.aborted == aborted);
    assert!(report.errors.is_empty());
}

/// With no child ignoring the token, the shutdown ends as soon as they do, long before
/// the grace period is over.
#[test]
fn a_shutdown_does_not_wait_out_the_grace_period_for_nothing() {
    let rt = common::runtime();
    rt.block_on(async {
        let group = TaskGroup::<(), ()>::new();
        for _ in 0..10 {
            let token = group.token();
            group
                .spawn(async move {
                    token.cancelled().await;
                    Ok(())
                })
                .unwrap();
        }
        let shutdown = group.shutdown(Duration::from_secs(3600));
        let report = ringtide_combinators::wait_for(Duration::from_secs(30), shutdown)
            .await
            .expect("the shutdown waited for the grace period");
        assert_eq!(report.cancelled.len(), 10);
    });
}

#[test]
fn a_child_failing_during_the_grace_period_is_reported_and_aborts_the_rest() {
    let rt = common::runtime();
    let report = rt.block_on(async {
        let group = TaskGroup::<(), &str>::new();
        let token = group.token();
        group
            .spawn(async move {
                token.cancelled().await;
                Err("could not flush")
            })
            .unwrap();
        group
            .spawn(async {
                sleep(Duration::from_secs(3600)).await;
                Ok(())
            })
            .unwrap();
        group.shutdown(Duration::from_secs(3600)).await
    });
    assert!(matches!(
        &report.errors[..],
        [ChildError::Failed {
            index: 0,
            error: "could not flush"
        }]
    ));
    assert_eq!(report.aborted, [1]);
}

#[test]
fn spawning_after_the_grace_period_is_refused() {
    let rt = common::runtime();
    rt.block_on(async {
        let group = TaskGroup::<(), ()>::new();
        let spawner = group.spawner();
        group
            .spawn(async {
                sleep(Duration::from_secs(3600)).await;
                Ok(())
            })
            .unwrap();
        let report = group.shutdown(Duration::from_millis(1)).await;
        assert_eq!(report.aborted, [0]);
        assert_eq!(spawner.spawn(async { Ok(()) }), Err(SpawnError::Finished));
    });
}

/// A nested group's token is a child of its parent's: cancelling the outer group ends the
/// inner group's well-behaved children, and aborting the outer child (at the end of the
/// grace period) drops the inner group, which aborts the rest.
#[test]
fn a_nested_group_is_cancelled_through_its_parent() {
    let rt = common::runtime();
    rt.block_on(async {
        let outer = TaskGroup::<usize, ()>::new();
        let inner_ended = Arc::new(AtomicUsize::new(0));
        let stubborn_dropped = Arc::new(AtomicBool::new(false));
        let (token, ended) = (outer.token(), inner_ended.clone());
        outer
            .spawn(async move {
                let inner = TaskGroup::<(), ()>::with_token(token.child_token());
                for _ in 0..3 {
                    let (token, ended) = (inner.token(), ended.clone());
                    inner
                        .spawn(async move {
                            token.cancelled().await;
                            ended.fetch_add(1, Ordering::SeqCst);
                            Ok(())
                        })
                        .unwrap();
                }
                Ok(inner.join().await.unwrap().len())
            })
            .unwrap();
        let (token, flag) = (outer.token(), DropFlag(stubborn_dropped.clone()));
        outer
            .spawn(async move {
                let inner = TaskGroup::<(), ()>::with_token(token.child_token());
                inner
                    .spawn(async move {
                        let _flag = flag;
                        sleep(Duration::from_secs(3600)).await;
                        Ok(())
                    })
                    .unwrap();
                inner.join().await.map_err(drop)?;
                Ok(1)
            })
            .unwrap();
        let report = outer.shutdown(Duration::from_millis(50)).await;
        assert_eq!(inner_ended.load(Ordering::SeqCst), 3);
        assert_eq!(report.cancelled, [(0, 3)]);
        assert_eq!(report.aborted, [1]);
        common::until_set("the stubborn inner child was dropped", &stubborn_dropped).await;
    });
}

#[test]
fn cancel_after_cancels_the_token_at_the_deadline() {
    let rt = common::runtime();
    rt.block_on(async {
        let group = TaskGroup::<Duration, ()>::new();
        let token = group.token();
        let start = Instant::now();
        group
            .spawn(async move {
                token.cancelled().await;
                Ok(start.elapsed())
            })
            .unwrap();
        group.cancel_after(Duration::from_secs(3600));
        group.cancel_after(Duration::from_millis(10)); // replaces the first
        let waited = group.join().await.unwrap()[0];
        assert!(waited >= Duration::from_millis(10));
    });
}

#[test]
fn a_failure_or_a_drop_cancels_the_token() {
    let rt = common::runtime();
    rt.block_on(async {
        let group = TaskGroup::<(), ()>::new();
        let token = group.token();
        group.spawn(async { Err(()) }).unwrap();
        assert!(group.join().await.is_err());
        assert!(token.is_cancelled());

        let group = TaskGroup::<(), ()>::new();
        let token = group.token();
        drop(group);
        assert!(token.is_cancelled());

        // A group that finished normally leaves its token alone.
        let group = TaskGroup::<(), ()>::new();
        let token = group.token();
        group.spawn(async { Ok(()) }).unwrap();
        group.join().await.unwrap();
        assert!(!token.is_cancelled());
    });
}

/// At most `limit` children run at once, they are let in in spawn order, and a waiting
/// child that is aborted gives up its place in line.
#[test]
fn a_limited_group_runs_at_most_its_limit_in_spawn_order() {
    let rt = common::runtime();
    rt.block_on(async {
        for limit in [1, 4] {
            let group = TaskGroup::<(), ()>::with_limit(limit);
            let running = Arc::new(AtomicUsize::new(0));
            let most = Arc::new(AtomicUsize::new(0));
            let order = Arc::new(std::sync::Mutex::new(Vec::new()));
            for i in 0..200 {
                let (running, most, order) = (running.clone(), most.clone(), order.clone());
                group
                    .spawn(async move {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        order.lock().unwrap().push(i);
                        ringtide::task::yield_now().await;
                        running.fetch_sub(1, Ordering::SeqCst);
                        Ok(())
                    })
                    .unwrap();
            }
            assert_eq!(group.join().await.unwrap().len(), 200);
            assert!(most.load(Ordering::SeqCst) <= limit);
            if limit == 1 {
                // One at a time, so the order they ran in is the order they were let in.
                assert_eq!(*order.lock().unwrap(), (0..200).collect::<Vec<_>>());
            }
        }

        // One place, held by a child that ignores the token: the shutdown aborts it and
        // the child waiting behind it, which never started.
        let group = TaskGroup::<(), ()>::with_limit(1);
        let started = Arc::new(AtomicBool::new(false));
        group
            .spawn(async {
                sleep(Duration::from_secs(3600)).await;
                Ok(())
            })
            .unwrap();
        let flag = started.clone();
        group
            .spawn(async move {
                flag.store(true, Ordering::SeqCst);
                Ok(())
            })
            .unwrap();
        common::until("the first child started", || group.running() == 2).await;
        let report = group.shutdown(Duration::from_millis(5)).await;
        assert_eq!(report.aborted, [0, 1]);
        assert!(!started.load(Ordering::SeqCst));
    });
}
