//! The ready queue: one waker per child, feeding a lock-free list of woken children.
//!
//! Every combinator in this crate polls its children inside the task that awaits it. To
//! cost O(1) per wake-up, each child gets its own waker, and waking it pushes the child's
//! index onto a shared list that the combinator drains on its next poll; children that
//! were not woken are never polled.
//!
//! # Layout
//!
//! One allocation, made once: an `Arc<ReadyQueue>` holding a [`Node`] per child. A child's
//! waker is a pointer to its node plus a reference count on the whole `ReadyQueue`, so
//! cloning or dropping a waker is one atomic increment or decrement, and a waker outlives
//! the combinator safely. The queue never holds the children themselves (they may borrow
//! from the awaiting task and are not `'static`); it holds only indices.
//!
//! # The list
//!
//! A Treiber stack of node indices, linked through `Node::next`, with one consumer that
//! takes the whole stack at once (`swap(EMPTY)`) and reverses it into wake-up order. With
//! push-by-CAS and take-all-by-swap there is no ABA problem: a push only ever links its
//! node in front of whatever the head is at the moment its CAS succeeds.
//!
//! # Protocol
//!
//! 1. A node's `queued` flag is true while its index is on the stack or in the consumer's
//!    current batch. Waking sets it; only the waker that turns it from false to true
//!    pushes, so an index is on the list at most once and a child woken many times
//!    between two polls is polled once.
//! 2. The consumer registers the awaiting task's waker in `parent` *before* it takes the
//!    stack. A push that finds the stack empty wakes `parent` after its CAS; pushes onto a
//!    non-empty stack do not, because the push that made it non-empty already did, and
//!    the consumer takes everything on its next poll. So nothing pushed is left unseen:
//!    either the consumer's swap sees the node, or the push happened after the swap,
//!    found the stack empty, and woke the waker registered before it.
//! 3. The consumer reads a node's `next` before it clears `queued` (after that, a waker
//!    may push the node again and overwrite `next`), and clears `queued` before it polls
//!    the child, so that a wake-up during or after that poll queues the child again.
//! 4. Every node starts with `queued` set: the first poll of a combinator polls every
//!    child in index order without going through the stack (step 3 applies to each).

use std::mem::ManuallyDrop;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{RawWaker, RawWakerVTable, Waker};

use atomic_waker::AtomicWaker;

/// The index that marks the end of a list (and an empty stack).
pub(crate) const EMPTY: usize = usize::MAX;

/// The shared half of a combinator: the wake-up stack, the awaiting task's waker, and one
/// node per child.
#[derive(Debug)]
pub(crate) struct ReadyQueue {
    /// Top of the stack of woken children, or [`EMPTY`].
    head: AtomicUsize,
    /// The waker of the task that awaits the combinator.
    parent: AtomicWaker,
    nodes: Box<[Node]>,
}

/// A child's entry in the [`ReadyQueue`]; a pointer to it is the data of the child's waker.
#[derive(Debug)]
struct Node {
    /// The next index on the stack (or in the consumer's batch), or [`EMPTY`].
    next: AtomicUsize,
    /// Whether this index is on the stack or in the consumer's batch (protocol step 1).
    queued: AtomicBool,
    /// The queue that owns this node; wakers keep it alive through its reference count.
    queue: *const ReadyQueue,
}

// SAFETY: `queue` is only dereferenced by wakers, which hold a strong count on that very
// `ReadyQueue`; everything else in a node is atomic.
unsafe impl Send for Node {}
// SAFETY: as above; shared access only touches atomics and the `Sync` `ReadyQueue`.
unsafe impl Sync for Node {}

/// A list of woken children taken from the stack, in wake-up order.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Batch {
    pub(crate) head: usize,
    pub(crate) tail: usize,
}

impl ReadyQueue {
    /// A queue for `len` children, all marked queued for their first poll (step 4).
    pub(crate) fn new(len: usize) -> Arc<ReadyQueue> {
        let nodes = (0..len)
            .map(|_| Node {
                next: AtomicUsize::new(EMPTY),
                queued: AtomicBool::new(true),
                queue: std::ptr::null(),
            })
            .collect();
        let mut queue = Arc::new(ReadyQueue {
            head: AtomicUsize::new(EMPTY),
            parent: AtomicWaker::new(),
            nodes,
        });
        let this = Arc::as_ptr(&queue);
        let unique = Arc::get_mut(&mut queue).expect("the queue was just created");
        for node in unique.nodes.iter_mut() {
            node.queue = this;
        }
        queue
    }

    /// Registers the awaiting task's waker (step 2: before [`ReadyQueue::take_all`]).
    pub(crate) fn register(&self, waker: &Waker) {
        self.parent.register(waker);
    }

    /// Takes every woken child off the stack, oldest wake-up first.
    pub(crate) fn take_all(&self) -> Option<Batch> {
        let mut index = self.head.swap(EMPTY, Ordering::Acquire);
        if index == EMPTY {
            return None;
        }
        // The stack is newest first: reverse it in place. The nodes are ours until their
        // `queued` flag is cleared (step 3), so plain loads and stores suffice.
        let tail = index;
        let mut reversed = EMPTY;
        while index != EMPTY {
            let node = &self.nodes[index];
            let next = node.next.load(Ordering::Relaxed);
            node.next.store(reversed, Ordering::Relaxed);
            reversed = index;
            index = next;
        }
        Some(Batch {
            head: reversed,
            tail,
        })
    }

    /// Links `second` after `first`, returning the joined batch.
    pub(crate) fn append(&self, first: Option<Batch>, second: Batch) -> Batch {
        match first {
            None => second,
            Some(first) => {
                self.nodes[first.tail]
                    .next
                    .store(second.head, Ordering::Relaxed);
                Batch {
                    head: first.head,
                    tail: second.tail,
                }
            }
        }
    }

    /// The index after `index` in a batch ([`EMPTY`] at the end). Must be read before
    /// [`ReadyQueue::unqueue`] releases the node (step 3).
    pub(crate) fn next_in_batch(&self, index: usize) -> usize {
        self.nodes[index].next.load(Ordering::Relaxed)
    }

    /// Clears the `queued` flag of `index` just before its child is polled (step 3).
    pub(crate) fn unqueue(&self, index: usize) {
        self.nodes[index].queued.store(false, Ordering::SeqCst);
    }

    /// Sets the `queued` flag of `index` for a new child in its slot, as step 4 does for
    /// the first children; false if a waker set it first (and so pushed the index).
    pub(crate) fn requeue(&self, index: usize) -> bool {
        !self.nodes[index].queued.swap(true, Ordering::AcqRel)
    }

    /// The waker of child `index`, borrowed for one poll: creating it touches no
    /// reference count, and clones of it are ordinary counted wakers.
    pub(crate) fn waker(&self, index: usize) -> ManuallyDrop<Waker> {
        let data = &self.nodes[index] as *const Node as *const ();
        // SAFETY: `data` points at a node of a live `ReadyQueue` (the caller holds an
        // `Arc` to it for as long as it uses this waker), which is what the vtable
        // expects. The waker is never dropped (`ManuallyDrop`), so it releases no count
        // it did not take.
        ManuallyDrop::new(unsafe { Waker::from_raw(RawWaker::new(data, &VTABLE)) })
    }

    fn push(&self, node: &Node) {
        let index = self.index_of(node);
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            node.next.store(head, Ordering::Relaxed);
            match self
                .head
                .compare_exchange_weak(head, index, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(actual) => head = actual,
            }
        }
        if head == EMPTY {
            // Step 2: the push that makes the stack non-empty wakes the consumer.
            self.parent.wake();
        }
    }

    fn index_of(&self, node: &Node) -> usize {
        // SAFETY: `node` is an element of `self.nodes` (wakers are only made from
        // `self.nodes` and point at their own queue), so both pointers are in bounds of
        // one allocation and the offset is a whole number of nodes.
        let offset = unsafe { (node as *const Node).offset_from(self.nodes.as_ptr()) };
        offset as usize
    }
}

impl Node {
    /// Wakes this node's child: queues it unless it is already queued (step 1).
    fn wake(&self) {
        if self.queued.swap(true, Ordering::AcqRel) {
            return;
        }
        // SAFETY: the waker that called this holds a strong count on the queue.
        let queue = unsafe { &*self.queue };
        queue.push(self);
    }
}

static VTABLE: RawWakerVTable =
    RawWakerVTable::new(clone_waker, wake_waker, wake_by_ref_waker, drop_waker);

/// # Safety
///
/// `data` must point at a `Node` of a `ReadyQueue` that is kept alive by a strong count
/// the caller holds (its own waker's, or the combinator's `Arc`).
unsafe fn clone_waker(data: *const ()) -> RawWaker {
    // SAFETY: guaranteed by the caller.
    let node = unsafe { &*(data as *const Node) };
    // SAFETY: `node.queue` came from `Arc::as_ptr` of a live `Arc<ReadyQueue>`; the new
    // waker owns the count taken here.
    unsafe { Arc::increment_strong_count(node.queue) };
    RawWaker::new(data, &VTABLE)
}

/// # Safety
///
/// `data` must be the data of a waker made by [`clone_waker`], which this call consumes.
unsafe fn wake_waker(data: *const ()) {
    // SAFETY: the waker's own count keeps the node alive until `drop_waker` below.
    unsafe {
        wake_by_ref_waker(data);
        drop_waker(data);
    }
}

/// # Safety
///
/// As for [`clone_waker`].
unsafe fn wake_by_ref_waker(data: *const ()) {
    // SAFETY: guaranteed by the caller.
    let node = unsafe { &*(data as *const Node) };
    node.wake();
}

/// # Safety
///
/// `data` must be the data of a waker made by [`clone_waker`], whose count this releases.
unsafe fn drop_waker(data: *const ()) {
    // SAFETY: the node is alive until the count owned by this waker is released, and its
    // `queue` pointer is read before that.
    unsafe {
        let queue = (*(data as *const Node)).queue;
        Arc::decrement_strong_count(queue);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wakes_are_deduplicated_and_come_out_in_order() {
        let queue = ReadyQueue::new(4);
        for i in 0..4 {
            queue.unqueue(i);
        }
        let wakers: Vec<Waker> = (0..4).map(|i| (*queue.waker(i)).clone()).collect();
        wakers[2].wake_by_ref();
        wakers[0].wake_by_ref();
        wakers[2].wake_by_ref();
        let owned = wakers[3].clone();
        owned.wake();
        let batch = queue.take_all().expect("three children were woken");
        let mut order = Vec::new();
        let mut index = batch.head;
        while index != EMPTY {
            order.push(index);
            index = queue.next_in_batch(index);
        }
        assert_eq!(order, [2, 0, 3]);
        assert_eq!(batch.tail, 3);
        assert!(queue.take_all().is_none());
        drop(wakers);
        assert_eq!(Arc::strong_count(&queue), 1);
    }

    #[test]
    fn a_waker_outlives_the_queue_owner() {
        let queue = ReadyQueue::new(1);
        let waker = (*queue.waker(0)).clone();
        drop(queue);
        waker.wake_by_ref();
        waker.wake();
    }
}
