//! A child's panic reaches the awaiting task; a child whose `Drop` panics is dropped once.

mod common;

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::{Counters, Gate, Harness, PanicsOnDrop};
use futures::executor::block_on;
use ringtide_combinators::{gather, race};

type Child = Pin<Box<dyn Future<Output = u32> + Send>>;

#[test]
fn a_child_panic_resumes_in_the_awaiting_task_after_every_child_is_dropped() {
    let counters = Counters::new();
    let gate = Gate::new();
    let children: Vec<Child> = vec![
        Box::pin(counters.wrap(gate.pass(1))),
        Box::pin(counters.wrap(async { panic!("child 1 failed") })),
        Box::pin(counters.wrap(gate.pass(3))),
    ];
    let result = catch_unwind(AssertUnwindSafe(|| block_on(gather(children))));
    let payload = result.unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"child 1 failed"));
    assert_eq!(counters.drops(), 3);
    assert_eq!(counters.polls(), 2, "nothing is polled after the panic");
}

#[test]
fn polling_again_after_a_child_panicked_says_so() {
    let children: Vec<Child> = vec![Box::pin(async { panic!("boom") }), Box::pin(async { 2 })];
    let mut gathered = Harness::new(gather(children));
    assert!(catch_unwind(AssertUnwindSafe(|| gathered.poll())).is_err());
    let again = catch_unwind(AssertUnwindSafe(|| gathered.poll())).unwrap_err();
    let message = again.downcast_ref::<&str>().copied().unwrap_or_default();
    assert!(
        message.contains("after one of its children panicked"),
        "{message}"
    );
}

#[test]
fn a_loser_whose_drop_panics_is_dropped_once_and_the_others_still_are() {
    let drops = Arc::new(AtomicUsize::new(0));
    let counters = Counters::new();
    let children: Vec<Child> = vec![
        Box::pin(counters.wrap(Gate::new().pass(0))),
        Box::pin(PanicsOnDrop {
            drops: drops.clone(),
            output: None,
        }),
        Box::pin(counters.wrap(Gate::new().pass(2))),
        Box::pin(counters.wrap(async { 3 })),
    ];
    // The winner makes `race` drop the losers; the second loser's drop panics.
    let result = catch_unwind(AssertUnwindSafe(|| block_on(race(children))));
    assert!(result.is_err());
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    // The loser before it and the winner were dropped by `race`; the one after it by
    // the slots' own drop as the panic unwound through the combinator.
    assert_eq!(counters.drops(), 3);
}

#[test]
fn a_finished_child_whose_drop_panics_is_dropped_once() {
    let drops = Arc::new(AtomicUsize::new(0));
    let counters = Counters::new();
    let children: Vec<Child> = vec![
        Box::pin(PanicsOnDrop {
            drops: drops.clone(),
            output: Some(9),
        }),
        Box::pin(counters.wrap(Gate::new().pass(1))),
    ];
    let mut gathered = Harness::new(gather(children));
    assert!(catch_unwind(AssertUnwindSafe(|| gathered.poll())).is_err());
    drop(gathered);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    assert_eq!(counters.drops(), 1);
}

#[test]
fn a_join_handle_carries_a_spawned_child_panic_as_an_error() {
    let rt = common::runtime();
    rt.block_on(async {
        let tasks = vec![
            ringtide::spawn(async { 1 }),
            ringtide::spawn(async { panic!("in a task") }),
        ];
        let outputs = gather(tasks).await;
        assert_eq!(*outputs[0].as_ref().unwrap(), 1);
        assert!(outputs[1].as_ref().unwrap_err().is_panic());
    });
}
