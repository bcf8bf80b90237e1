//! `spawn_eager`: the first poll runs at spawn; a task that finishes there is never
//! queued, one that waits goes on like any other, and panics land in the handle either
//! way.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use support::rt_test;

/// Spawns `depth` eager tasks, each from the one before, and returns how many ran.
fn nest(depth: usize, ran: Arc<AtomicUsize>) -> ringtide::JoinHandle<()> {
    ringtide::spawn_eager(async move {
        ran.fetch_add(1, Ordering::SeqCst);
        if depth > 1 {
            nest(depth - 1, ran).await.unwrap();
        }
    })
}

rt_test! {
    fn a_task_ready_at_once_finishes_before_spawn_returns(rt) {
        rt.block_on(rt.spawn(async {
            let polls = Arc::new(AtomicUsize::new(0));
            let counted = polls.clone();
            let handle = ringtide::spawn_eager(async move {
                counted.fetch_add(1, Ordering::SeqCst);
                7
            });
            // Polled and finished inline: no worker had to run it.
            assert_eq!(polls.load(Ordering::SeqCst), 1);
            assert!(handle.is_finished());
            assert_eq!(handle.await.unwrap(), 7);
        }))
        .unwrap();
    }

    fn a_task_that_waits_is_polled_once_then_runs_like_any_other(rt) {
        rt.block_on(rt.spawn(async {
            let polls = Arc::new(AtomicUsize::new(0));
            let counted = polls.clone();
            let handle = ringtide::spawn_eager(async move {
                counted.fetch_add(1, Ordering::SeqCst);
                ringtide::time::sleep(Duration::from_millis(2)).await;
                counted.fetch_add(1, Ordering::SeqCst);
                "woke"
            });
            assert_eq!(polls.load(Ordering::SeqCst), 1, "the first poll ran at spawn");
            assert!(!handle.is_finished());
            assert_eq!(handle.await.unwrap(), "woke");
            assert_eq!(polls.load(Ordering::SeqCst), 2);
        }))
        .unwrap();
    }

    fn a_panic_in_the_first_poll_or_later_is_a_join_error(rt) {
        rt.block_on(rt.spawn(async {
            let at_once = ringtide::spawn_eager(async { panic!("in the first poll") });
            assert!(at_once.is_finished());
            assert!(at_once.await.unwrap_err().is_panic());
            let later = ringtide::spawn_eager(async {
                ringtide::time::sleep(Duration::from_millis(1)).await;
                panic!("after waiting")
            });
            assert!(later.await.unwrap_err().is_panic());
        }))
        .unwrap();
    }

    fn eager_tasks_spawning_eagerly_do_not_overflow_the_stack(rt) {
        let ran = Arc::new(AtomicUsize::new(0));
        let counted = ran.clone();
        rt.block_on(rt.spawn(async move { nest(10_000, counted).await.unwrap() }))
            .unwrap();
        assert_eq!(ran.load(Ordering::SeqCst), 10_000);
    }

    fn from_block_on_the_task_is_queued_and_runs(rt) {
        let value = rt.block_on(async {
            let handle = ringtide::spawn_eager(async { 5 });
            handle.await.unwrap()
        });
        assert_eq!(value, 5);
    }

    fn an_aborted_eager_task_reports_cancellation(rt) {
        rt.block_on(rt.spawn(async {
            let handle = ringtide::spawn_eager(std::future::pending::<()>());
            handle.abort();
            assert!(handle.await.unwrap_err().is_cancelled());
        }))
        .unwrap();
    }
}

#[test]
fn spawn_eager_outside_a_runtime_panics_with_a_clear_message() {
    let err = std::panic::catch_unwind(|| ringtide::spawn_eager(async {})).unwrap_err();
    let message = support::panic_message(&*err);
    assert!(message.contains("outside a ringtide runtime"), "{message}");
}
