//! TaskGroup: values in spawn order, sibling cancellation, error aggregation, spawning
//! rules. Ported from CPython's test_taskgroups.py.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::DropFlag;
use ringtide::time::sleep;
use ringtide_combinators::{ChildError, SpawnError, TaskGroup};

#[test]
fn values_come_back_in_spawn_order() {
    let rt = common::runtime();
    let values = rt.block_on(async {
        let group = TaskGroup::<u64, String>::new();
        for ms in [30u64, 10, 20] {
            group
                .spawn(async move {
                    sleep(Duration::from_millis(ms)).await;
                    Ok(ms)
                })
                .unwrap();
        }
        group.join().await
    });
    assert_eq!(values.unwrap(), [30, 10, 20]);
}

/// CPython `test_taskgroup_02`/`_03`: a failure cancels the siblings, the group waits for
/// them, and the cancelled siblings are not errors.
#[test]
fn a_failure_cancels_every_sibling_and_is_returned() {
    let rt = common::runtime();
    rt.block_on(async {
        let cancelled = Arc::new(AtomicBool::new(false));
        let group = TaskGroup::<u32, &'static str>::new();
        let flag = DropFlag(cancelled.clone());
        group
            .spawn(async move {
                let _flag = flag;
                sleep(Duration::from_secs(3600)).await;
                Ok(0)
            })
            .unwrap();
        group
            .spawn(async {
                sleep(Duration::from_millis(5)).await;
                Err("child 1 failed")
            })
            .unwrap();
        let err = group.join().await.unwrap_err();
        assert!(cancelled.load(Ordering::SeqCst));
        assert_eq!(err.errors.len(), 1);
        assert!(matches!(
            err.errors[0],
            ChildError::Failed {
                index: 1,
                error: "child 1 failed"
            }
        ));
        assert_eq!(
            err.to_string(),
            "1 child task(s) failed; child 1: child 1 failed"
        );
    });
}

/// CPython `test_taskgroup_07`-style: children that fail at the same time are all
/// reported, a panic among them.
#[test]
fn every_error_is_returned_a_panic_among_them() {
    let rt = common::runtime();
    rt.block_on(async {
        // Both children wait for each other inside their first poll, so both fail in
        // polls that started before either failure could cancel the other.
        let arrived = Arc::new(AtomicUsize::new(0));
        let meet = move |arrived: Arc<AtomicUsize>| {
            arrived.fetch_add(1, Ordering::SeqCst);
            let give_up = Instant::now() + Duration::from_secs(10);
            while arrived.load(Ordering::SeqCst) < 2 && Instant::now() < give_up {
                std::thread::yield_now();
            }
        };
        let group = TaskGroup::<u32, String>::new();
        let a = arrived.clone();
        group
            .spawn(async move {
                meet(a);
                Err("child 0 failed".to_string())
            })
            .unwrap();
        let b = arrived.clone();
        group
            .spawn(async move {
                meet(b);
                panic!("child 1 panicked")
            })
            .unwrap();
        let err = group.join().await.unwrap_err();
        assert_eq!(err.errors.len(), 2, "{err}");
        assert!(matches!(
            &err.errors[0],
            ChildError::Failed { index: 0, .. }
        ));
        let ChildError::Panicked { index: 1, error } = &err.errors[1] else {
            panic!("child 1 panicked: {err}");
        };
        assert!(error.is_panic());
    });
}

#[test]
fn spawning_into_a_failing_group_is_an_error() {
    let rt = common::runtime();
    rt.block_on(async {
        let group = TaskGroup::<u32, &str>::new();
        group.spawn(async { Err("failed") }).unwrap();
        let give_up = Instant::now() + Duration::from_secs(10);
        loop {
            match group.spawn(async { Ok(1) }) {
                Err(error) => {
                    assert_eq!(error, SpawnError::Failing);
                    break;
                }
                Ok(_) => assert!(Instant::now() < give_up, "the group never failed"),
            }
            sleep(Duration::from_millis(1)).await;
        }
        assert!(group.join().await.is_err());
    });
}

#[test]
fn spawning_into_a_finished_group_is_an_error() {
    let rt = common::runtime();
    rt.block_on(async {
        let group = TaskGroup::<u32, ()>::new();
        let spawner = group.spawner();
        group.spawn(async { Ok(1) }).unwrap();
        assert_eq!(group.join().await.unwrap(), [1]);
        assert_eq!(spawner.spawn(async { Ok(2) }), Err(SpawnError::Finished));
    });
}

/// CPython `test_taskgroup_21`-style: a child may add siblings while the group waits,
/// and the group waits for them too.
#[test]
fn children_spawned_while_joining_are_waited_for() {
    let rt = common::runtime();
    rt.block_on(async {
        let group = TaskGroup::<u32, SpawnError>::new();
        let spawner = group.spawner();
        group
            .spawn(async move {
                sleep(Duration::from_millis(5)).await;
                spawner.spawn(async {
                    sleep(Duration::from_millis(5)).await;
                    Ok(2)
                })?;
                Ok(1)
            })
            .unwrap();
        assert_eq!(group.join().await.unwrap(), [1, 2]);
    });
}

/// CPython `test_taskgroup_cancel_body`-style: dropping the group (or its join future)
/// cancels every child.
#[test]
fn dropping_the_group_cancels_its_children() {
    let rt = common::runtime();
    rt.block_on(async {
        let cancelled = Arc::new(AtomicBool::new(false));
        let group = TaskGroup::<(), ()>::new();
        let flag = DropFlag(cancelled.clone());
        group
            .spawn(async move {
                let _flag = flag;
                sleep(Duration::from_secs(3600)).await;
                Ok(())
            })
            .unwrap();
        let join = group.join();
        // Poll the join once, then drop it, as a timeout around it would.
        assert!(
            ringtide_combinators::wait_for(Duration::from_millis(5), join)
                .await
                .is_err()
        );
        let give_up = Instant::now() + Duration::from_secs(10);
        while !cancelled.load(Ordering::SeqCst) {
            assert!(Instant::now() < give_up, "the child was never cancelled");
            sleep(Duration::from_millis(1)).await;
        }
    });
}
