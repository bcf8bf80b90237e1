//! [`FutureSet`]: the children of one combinator, polled only when woken.
//!
//! The children live in a boxed slice that is never reallocated or moved out of while a
//! child is in it, which is what lets `!Unpin` children be polled in place. A finished
//! child's slot becomes `None` (its future is dropped in place first). The set itself is
//! `Unpin` whatever the children are, because they live on the heap.
//!
//! A poll of the combinator is one *round*: [`FutureSet::start_round`] registers the
//! awaiting task's waker and takes every child woken since the last round; then
//! [`FutureSet::next_ready`] polls those children one by one and hands back each output.
//! Children woken during a round wait for the next one, so a child that keeps waking
//! itself cannot starve its siblings or the executor: a round polls each child at most
//! once, and the awaiting task yields to its executor between rounds.
//!
//! A slot emptied by a finished child may be [refilled](FutureSet::refill) with a new
//! child, which is polled first thing in the round (the combinators that pull children
//! lazily from an iterator keep a fixed set of slots this way). A waker of the slot's
//! earlier child may still wake the slot: that costs the new child one spurious poll.
//!
//! # Panics in children
//!
//! A child whose `poll` panics is dropped in place at once, the set is marked poisoned
//! (polling it again panics with a message that says so), and the panic resumes in the
//! awaiting task. The other children stay in their slots and are dropped with the set.
//! Every drop of a child goes through [`vacate`], which leaves the slot empty even if
//! the child's `Drop` panics, so no child is ever dropped twice.

use std::future::Future;
use std::mem::ManuallyDrop;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::ptr;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::queue::{Batch, ReadyQueue, EMPTY};

/// The children of one combinator, with the queue that says which of them to poll.
#[derive(Debug)]
pub(crate) struct FutureSet<F> {
    /// `Some` while the child is running. Never reallocated: children are pinned here.
    slots: Box<[Option<F>]>,
    queue: Arc<ReadyQueue>,
    /// Children below this index have had their first poll (protocol step 4 in
    /// [`crate::queue`]).
    first_polls: usize,
    /// Children taken from the queue and not yet polled.
    batch: Option<Batch>,
    /// Refilled slots whose new child has not had its first poll.
    fresh: Vec<usize>,
    /// How many slots are still `Some`.
    live: usize,
    /// Whether a child panicked inside [`FutureSet::next_ready`].
    poisoned: bool,
}

impl<F> FutureSet<F> {
    /// A set of the futures `iter` yields, indexed in that order.
    pub(crate) fn new(iter: impl IntoIterator<Item = F>) -> FutureSet<F> {
        let slots: Box<[Option<F>]> = iter.into_iter().map(Some).collect();
        let live = slots.len();
        FutureSet {
            queue: ReadyQueue::new(live),
            slots,
            first_polls: 0,
            batch: None,
            fresh: Vec::new(),
            live,
            poisoned: false,
        }
    }

    /// How many children the set was made with.
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// How many children have not finished.
    pub(crate) fn live(&self) -> usize {
        self.live
    }

    /// Drops every child still running, in index order.
    pub(crate) fn clear(&mut self) {
        for slot in self.slots.iter_mut() {
            vacate(slot, None);
        }
        self.live = 0;
    }

    /// Takes the children still running out of the set, with their indices.
    pub(crate) fn take_pending(&mut self) -> Vec<(usize, F)>
    where
        F: Unpin,
    {
        self.live = 0;
        self.slots
            .iter_mut()
            .enumerate()
            .filter_map(|(index, slot)| slot.take().map(|future| (index, future)))
            .collect()
    }
}

impl<F: Future> FutureSet<F> {
    /// Starts a round: registers `cx`'s waker and takes the children woken since the
    /// last round (see the module docs).
    ///
    /// # Panics
    ///
    /// If a child panicked during an earlier round.
    pub(crate) fn start_round(&mut self, cx: &Context<'_>) {
        assert!(
            !self.poisoned,
            "a combinator was polled again after one of its children panicked"
        );
        self.queue.register(cx.waker());
        if let Some(woken) = self.queue.take_all() {
            self.batch = Some(self.queue.append(self.batch, woken));
        }
    }

    /// Polls the children due in this round until one finishes, and returns its index and
    /// output; `None` once every child due in this round has been polled.
    pub(crate) fn next_ready(&mut self) -> Option<(usize, F::Output)> {
        loop {
            let index = self.next_due()?;
            self.queue.unqueue(index);
            let Some(future) = self.slots[index].as_mut() else {
                // A finished child that was woken after it finished.
                continue;
            };
            // SAFETY: the child lives in `self.slots`, which is never reallocated, and it
            // is never moved out of its slot unless it is `Unpin` (`take_pending`); it is
            // dropped in place by `vacate`.
            let future = unsafe { Pin::new_unchecked(future) };
            let waker = self.queue.waker(index);
            let mut cx = Context::from_waker(&waker);
            match catch_unwind(AssertUnwindSafe(|| future.poll(&mut cx))) {
                Ok(Poll::Pending) => {}
                Ok(Poll::Ready(output)) => {
                    vacate(&mut self.slots[index], None);
                    self.live -= 1;
                    return Some((index, output));
                }
                Err(panic) => {
                    self.poisoned = true;
                    self.live -= 1;
                    vacate(&mut self.slots[index], None);
                    resume_unwind(panic);
                }
            }
        }
    }

    /// Puts `future` in the empty slot `index`, to be polled in this round: before the
    /// children woken since it started.
    ///
    /// # Panics
    ///
    /// If the slot is not empty.
    pub(crate) fn refill(&mut self, index: usize, future: F) {
        let slot = &mut self.slots[index];
        assert!(slot.is_none(), "only an empty slot can be refilled");
        *slot = Some(future);
        self.live += 1;
        // Protocol step 1 in `crate::queue`: if a waker of the slot's earlier child has
        // queued it already, the queue will bring it round; otherwise it is ours to poll.
        if self.queue.requeue(index) {
            self.fresh.push(index);
        }
    }

    fn next_due(&mut self) -> Option<usize> {
        if self.first_polls < self.slots.len() {
            let index = self.first_polls;
            self.first_polls += 1;
            return Some(index);
        }
        if let Some(index) = self.fresh.pop() {
            return Some(index);
        }
        let batch = self.batch?;
        let next = self.queue.next_in_batch(batch.head);
        self.batch = (next != EMPTY).then_some(Batch {
            head: next,
            tail: batch.tail,
        });
        Some(batch.head)
    }
}

/// Drops what `slot` holds in place and leaves `vacant` there: also when that `Drop`
/// panics, so that nothing drops it a second time. A pinned child may be dropped this way
/// (in place), never moved out.
pub(crate) fn vacate<T>(slot: &mut T, vacant: T) {
    struct Refill<'a, T> {
        slot: &'a mut T,
        vacant: ManuallyDrop<T>,
    }
    impl<T> Drop for Refill<'_, T> {
        fn drop(&mut self) {
            // SAFETY: what the slot held was just dropped in place; writing over it
            // without dropping it again is what is wanted. `vacant` is taken once, here.
            unsafe { ptr::write(self.slot, ManuallyDrop::take(&mut self.vacant)) };
        }
    }
    let refill = Refill {
        slot,
        vacant: ManuallyDrop::new(vacant),
    };
    // SAFETY: dropped in place (pinning allows that) exactly once: `refill` writes
    // `vacant` over it on return and on unwind alike.
    unsafe { ptr::drop_in_place(ptr::from_mut(refill.slot)) };
}
