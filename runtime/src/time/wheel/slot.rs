//! A slot of the wheel: an array of pointers to the nodes placed in it.
//!
//! # Why arrays and not linked lists
//!
//! A slot's nodes live in the memory of as many tasks, and with many tasks each is a
//! cache miss. Walking a linked list, the address of the next node is only known once
//! the current one has arrived, so the misses happen one after the other: a burst of
//! 50,000 timers due together cost milliseconds of waiting for memory alone. Walking an
//! array, the walk asks for nodes several places ahead ([`PREFETCH_AHEAD`]) and the
//! misses overlap.
//!
//! # Removal
//!
//! Removing a node (a cancelled timer) nulls its pointer and touches no other node,
//! where unlinking from a list writes both neighbours, and moving the slot's last
//! pointer into the hole writes that node's position: either is a cache miss in another
//! task's memory per cancelled timer. The walk skips holes; a slot that empties drops
//! them all at once; a full array that is at least half holes is closed up before it
//! grows, each move paid for by the removals that made the holes.

use std::ptr;

use super::node::{TimerNode, UNLINKED};

/// How many nodes ahead of the one being handled a slot walk asks for.
pub(super) const PREFETCH_AHEAD: usize = 8;

/// Capacity a slot keeps when it empties (pointers); larger arrays are freed, so that a
/// burst does not pin its peak memory in the slots it passed through.
pub(super) const RETAINED_CAPACITY: usize = 32;

#[derive(Debug)]
pub(super) struct Slot {
    /// Pointers to the slot's nodes, in no particular order, with a null pointer where a
    /// node was removed (see "Removal" in the module docs); each node's `index` is its
    /// position.
    pub(super) nodes: Vec<*const TimerNode>,
    /// Nodes in `nodes` (pointers that are not null).
    pub(super) live: usize,
    /// A lower bound of the ticks at which the slot's timers were placed: the earliest
    /// placement since the slot was last empty (removals leave it as it is). See
    /// "Reaching a slot late" in [`Wheel`](super::Wheel)'s docs.
    pub(super) earliest: u64,
}

impl Slot {
    pub(super) fn new() -> Slot {
        Slot {
            nodes: Vec::new(),
            live: 0,
            earliest: u64::MAX,
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Appends `node`, placed at tick `when`; returns its position.
    ///
    /// # Safety
    ///
    /// The wheel's lock is held, and every node in the slot is valid.
    pub(super) unsafe fn push(&mut self, node: &TimerNode, when: u64) -> u32 {
        if self.live == 0 {
            self.nodes.clear();
            self.earliest = when;
        } else {
            self.earliest = self.earliest.min(when);
        }
        if self.nodes.len() == self.nodes.capacity() && self.live <= self.nodes.len() / 2 {
            // Full, and at least half holes: close them up rather than grow. Each node
            // moved costs a visit, but at least as many removals came before.
            let mut kept = 0;
            for read in 0..self.nodes.len() {
                let moved = self.nodes[read];
                if !moved.is_null() {
                    self.nodes[kept] = moved;
                    // SAFETY: the slot's nodes are valid, and the caller holds the lock.
                    unsafe { (*moved).links().index = kept as u32 };
                    kept += 1;
                }
            }
            self.nodes.truncate(kept);
        }
        self.live += 1;
        self.nodes.push(node);
        // A slot holding 2^32 timers would hold at least 2^32 pinned futures (hundreds
        // of GiB), so the position always fits.
        (self.nodes.len() - 1) as u32
    }

    /// Takes the node at `index` out, leaving a hole (or shortening the array, if it was
    /// the last). Returns whether the slot is empty now.
    pub(super) fn remove(&mut self, index: usize) -> bool {
        self.nodes[index] = ptr::null();
        if index + 1 == self.nodes.len() {
            self.nodes.pop();
        }
        self.live -= 1;
        self.emptied_if_empty()
    }

    /// Takes out the last node if `take` accepts its tick, and marks it unlinked. First
    /// asks for the node [`PREFETCH_AHEAD`] places before it: walks take a slot's nodes
    /// from the end, so each is in the cache when its turn comes.
    ///
    /// # Safety
    ///
    /// The wheel's lock is held, and every node in the slot is valid.
    pub(super) unsafe fn pop_last_if(
        &mut self,
        take: impl FnOnce(u64) -> bool,
    ) -> Option<*const TimerNode> {
        while self.nodes.last().is_some_and(|node| node.is_null()) {
            self.nodes.pop();
        }
        let &last = self.nodes.last()?;
        // SAFETY: the slot's nodes are valid, and the caller holds the lock.
        let links = unsafe { (*last).links() };
        if !take(links.tick) {
            return None;
        }
        self.prefetch(PREFETCH_AHEAD);
        self.nodes.pop();
        self.live -= 1;
        links.level = UNLINKED;
        Some(last)
    }

    /// Once the last node has left: drops the holes, and the array if it is large, so
    /// that a burst does not pin its peak memory in the slots it passed through. Returns
    /// whether the slot is empty.
    pub(super) fn emptied_if_empty(&mut self) -> bool {
        if self.live != 0 {
            return false;
        }
        if self.nodes.capacity() > RETAINED_CAPACITY {
            self.nodes = Vec::new();
        } else {
            self.nodes.clear();
        }
        true
    }

    /// Asks for the node `ahead` places before the last (the walk takes the last first).
    pub(super) fn prefetch(&self, ahead: usize) {
        if let Some(&node) = self
            .nodes
            .len()
            .checked_sub(1 + ahead)
            .and_then(|i| self.nodes.get(i))
        {
            if !node.is_null() {
                prefetch_node(node);
            }
        }
    }
}

/// Asks for both cache lines a node may span.
fn prefetch_node(node: *const TimerNode) {
    crate::prefetch::prefetch(node);
    crate::prefetch::prefetch(
        node.cast::<u8>()
            .wrapping_add(std::mem::size_of::<TimerNode>() - 1),
    );
}
