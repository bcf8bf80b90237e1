//! A hierarchical timing wheel with microsecond ticks and intrusive timers.
//!
//! Each worker owns one wheel (behind a lock, because a timer may be dropped on another
//! thread). A timer is a [`TimerNode`] that lives inside its [`Sleep`](crate::time::Sleep)
//! future, which is pinned. Each slot keeps an array of pointers to its nodes, and each
//! node its position in that array: inserting appends (amortized O(1); the array grows
//! now and then), removing leaves a hole (O(1)).
//!
//! The pieces: the [`geometry`] of levels and ticks, the [`node`] of each timer, the
//! [`slot`] arrays that hold pointers to nodes, and the [`level`]s of slots.
//!
//! The wheel is pure data: no clock, no syscalls, no locking; its caller holds the lock
//! and tells it the time.

mod geometry;
mod level;
mod node;
mod slot;

use std::ptr;

pub(crate) use geometry::{tick_at_or_after, tick_reached};
pub(crate) use node::TimerNode;

use geometry::{level_for, slot_index, LEVELS, LEVEL_BITS, LEVEL_SHIFT, SPAN_MASK};
use level::Level;
use node::{ARRAY_BIT, UNLINKED};
use slot::PREFETCH_AHEAD;

/// The timing wheel of one worker.
///
/// # Safety contract
///
/// Every node passed in must stay valid and pinned until it is unlinked (by
/// [`Wheel::remove`] or by being handed out of [`Wheel::expire`]), and all access to a
/// wheel and to the links of its nodes happens under one lock.
///
/// # Two arrays per level
///
/// Each level below the top has two slot arrays: the current turn's and the next turn's.
/// [`Wheel::precascade`] moves the timers of the *upcoming* slot of level `k + 1` (the
/// one after the slot time is in) into level `k`'s next-turn array, ahead of time and in
/// slices, while the worker has nothing better to do; when time crosses into that slot,
/// the arrays trade roles at no cost. A node records which physical array holds it, so
/// the swap touches no node. Without this, reaching a slot of level `k + 1` would move
/// all its timers at once while the timers due just after its start wait behind them.
///
/// # Reaching a slot late
///
/// A slot remembers the earliest tick placed in it, and a slot is reached at that
/// tick rather than at its start (both are at or before every deadline in it, so nothing
/// fires early). Timers due when the slot is reached fire straight from it; only the
/// others move down. Many timers with one deadline (a burst) thus fire from wherever
/// they were placed, instead of being moved down twice, each move a cache miss in
/// another task's memory, before the first of them can fire; and a parked worker sleeps
/// until the first deadline, not until the start of the slot holding it.
#[derive(Debug)]
pub(crate) struct Wheel {
    /// The tick up to which time has been processed.
    elapsed: u64,
    len: usize,
    /// A reached slot (level, array, slot) whose timers are still being fired or moved
    /// down (see `expire`).
    processing: Option<(usize, usize, usize)>,
    /// `arrays[level][i]`: the two slot arrays of each level (the top level uses one).
    arrays: Box<[[Level; 2]]>,
    /// Which of a level's two arrays holds the current turn.
    current: [usize; LEVELS],
}

// SAFETY: the raw pointers refer to nodes that are `Sync`, and the wheel is only used
// under its lock.
unsafe impl Send for Wheel {}

impl Wheel {
    pub(crate) fn new() -> Wheel {
        Wheel {
            elapsed: 0,
            len: 0,
            processing: None,
            arrays: LEVEL_BITS
                .iter()
                .enumerate()
                .map(|(level, &bits)| {
                    // The top level is never the target of an early move: one array.
                    let next_bits = if level + 1 < LEVELS { bits } else { 0 };
                    [Level::new(bits), Level::new(next_bits)]
                })
                .collect(),
            current: [0; LEVELS],
        }
    }

    /// Number of linked timers.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Links `node` to fire at `tick`. Returns `false`, linking nothing, when the tick has
    /// already been reached (the caller treats the timer as fired).
    ///
    /// # Safety
    ///
    /// See the type's safety contract; `node` must not be linked.
    pub(crate) unsafe fn insert(&mut self, node: &TimerNode, tick: u64) -> bool {
        if tick <= self.elapsed {
            return false;
        }
        // SAFETY: the caller holds the lock; the node is not linked anywhere.
        unsafe {
            node.links().tick = tick;
            self.link(node);
        }
        self.len += 1;
        true
    }

    /// Unlinks `node` if it is linked.
    ///
    /// # Safety
    ///
    /// See the type's safety contract; `node` is linked into this wheel or into none.
    pub(crate) unsafe fn remove(&mut self, node: &TimerNode) {
        // SAFETY: the caller holds the lock.
        if unsafe { node.links().level } == UNLINKED {
            return;
        }
        // SAFETY: the node is linked into this wheel, whose lock the caller holds.
        unsafe { self.unlink(node) };
        self.len -= 1;
    }

    /// The tick at which the next timer may be due: the wheel's time while a slot is
    /// being worked off, else the earliest occupied slot's start or its earliest
    /// placement, whichever is later (see "Reaching a slot late"); `None` when no timer
    /// is linked.
    pub(crate) fn next_expiration(&self) -> Option<u64> {
        if self.processing.is_some() {
            return Some(self.elapsed);
        }
        self.next_slot().map(|slot| slot.start)
    }

    /// Unlinks timers whose tick `now` has reached, handing each to `fired` (which must
    /// not touch the wheel), and moves timers of reached higher-level slots down. Stops
    /// after `budget` timers and returns `true` if work remains; call again (the caller
    /// runs the woken tasks in between). Once it returns `false`, the wheel's time is
    /// `now`.
    ///
    /// # Safety
    ///
    /// See the type's safety contract.
    pub(crate) unsafe fn expire(
        &mut self,
        now: u64,
        budget: usize,
        mut fired: impl FnMut(&TimerNode),
    ) -> bool {
        // A clock read before another thread moved the wheel on (a helper firing a slice
        // after the owner read the clock but before it took the lock) is behind the
        // wheel's time: that time was a clock reading too, so it is safe to use, and a
        // node due at it must fire rather than be placed again into the slot being
        // worked off.
        let now = now.max(self.elapsed);
        let mut spent = 0;
        // Whether the first nodes of the slot being worked off have been asked for.
        let mut primed = false;
        loop {
            let (level, array, slot) = match self.processing {
                Some(current) => current,
                None => {
                    let Some(next) = self.next_slot() else {
                        break;
                    };
                    if next.start > now {
                        break;
                    }
                    // Crossing into a new turn may swap a level's arrays, which changes
                    // where the earliest slot is: advance, then look again.
                    if next.start > self.elapsed {
                        self.advance_to(next.start);
                        continue;
                    }
                    // The slot leaves the search (its bit is cleared) but its nodes stay
                    // in place, so `remove` still finds those yet to be moved.
                    // Nothing new is linked into it: relative to its start, every later
                    // deadline belongs to a lower level or a later slot.
                    self.arrays[next.level][next.array].unmark(next.slot);
                    let current = (next.level, next.array, next.slot);
                    self.processing = Some(current);
                    current
                }
            };
            if !primed {
                // Fill the pipeline: ask for the first nodes this call will take.
                let nodes = &self.arrays[level][array].slots[slot];
                (0..PREFETCH_AHEAD).for_each(|ahead| nodes.prefetch(ahead));
                primed = true;
            }
            // The common case, a run of due timers, without looking the slot up again
            // for each one.
            let (fired_now, emptied) = {
                let target = &mut self.arrays[level][array].slots[slot];
                let mut taken = 0;
                while spent < budget {
                    // SAFETY: nodes in a slot are valid (contract) and we hold the lock.
                    let Some(node) = (unsafe { target.pop_last_if(|tick| tick <= now) }) else {
                        break;
                    };
                    spent += 1;
                    taken += 1;
                    // SAFETY: as above; the node was just unlinked.
                    fired(unsafe { &*node });
                }
                (taken, target.emptied_if_empty())
            };
            self.len -= fired_now;
            if emptied {
                self.arrays[level][array].unmark(slot);
                self.processing = None;
                primed = false;
                continue;
            }
            if spent == budget {
                return true;
            }
            // Cascade: the last node's deadline is within this slot's span but not
            // reached; re-place it relative to the slot's start.
            spent += 1;
            // SAFETY: the slot is not empty; its nodes are valid (contract) and we hold
            // the lock. The node is unlinked before it is placed again.
            unsafe {
                let node = &*self.pop_last(level, array, slot);
                self.link(node);
            }
        }
        if now > self.elapsed {
            self.advance_to(now);
        }
        false
    }

    /// Moves up to `budget` timers of upcoming slots into the next-turn arrays (see the
    /// type's docs). Returns `true` if there is more to move.
    ///
    /// # Safety
    ///
    /// See the type's safety contract.
    pub(crate) unsafe fn precascade(&mut self, budget: usize) -> bool {
        if self.processing.is_some() {
            return false;
        }
        let mut spent = 0;
        for target in 0..LEVELS - 1 {
            let source = target + 1;
            let upcoming = slot_index(source, self.elapsed) + 1;
            if upcoming >> LEVEL_BITS[source] != 0 {
                // The upcoming slot starts a new turn of the source level too; its
                // timers (if any) are placed one level higher and move later.
                continue;
            }
            let source_array = self.current[source];
            let next_array = 1 - self.current[target];
            let nodes = &self.arrays[source][source_array].slots[upcoming];
            (0..PREFETCH_AHEAD).for_each(|ahead| nodes.prefetch(ahead));
            while !self.arrays[source][source_array].slots[upcoming].is_empty() {
                if spent == budget {
                    return true;
                }
                spent += 1;
                // SAFETY: the slot is not empty; its nodes are valid (contract) and we
                // hold the lock. The node is unlinked before it is placed again.
                unsafe {
                    let node = &*self.pop_last(source, source_array, upcoming);
                    let tick = node.links().tick;
                    self.push(node, target, next_array, slot_index(target, tick), tick);
                }
            }
        }
        false
    }

    /// Moves the wheel's time forward to `to`, swapping a level's arrays when `to` enters
    /// the next turn of that level.
    fn advance_to(&mut self, to: u64) {
        for level in 0..LEVELS - 1 {
            let shift = LEVEL_SHIFT[level + 1];
            if to >> shift == self.elapsed >> shift {
                continue;
            }
            let next = 1 - self.current[level];
            if self.arrays[level][next].occupied_slots > 0 {
                debug_assert_eq!(
                    self.arrays[level][self.current[level]].occupied_slots, 0,
                    "a turn ended with timers left in it"
                );
                debug_assert_eq!((to >> shift) - (self.elapsed >> shift), 1);
                self.current[level] = next;
            }
        }
        self.elapsed = to;
    }

    /// # Safety
    ///
    /// Lock held; `node` valid and unlinked, with `tick > self.elapsed`.
    unsafe fn link(&mut self, node: &TimerNode) {
        // SAFETY: the caller holds the lock.
        let tick = unsafe { node.links().tick };
        // A deadline beyond the end of the current turn of the top level waits at that
        // end (or, exactly at a turn's last tick, one tick on) and is re-placed then.
        let end_of_turn = self.elapsed | SPAN_MASK;
        let when = if tick <= end_of_turn {
            tick
        } else if end_of_turn > self.elapsed {
            end_of_turn
        } else {
            self.elapsed + 1
        };
        let level = level_for(self.elapsed, when);
        // SAFETY: as above.
        unsafe {
            self.push(
                node,
                level,
                self.current[level],
                slot_index(level, when),
                when,
            )
        };
    }

    /// Appends `node` to a slot; `when` is the tick it is placed at (its deadline, or
    /// where a deadline beyond the span waits).
    ///
    /// # Safety
    ///
    /// Lock held; `node` valid and unlinked.
    unsafe fn push(
        &mut self,
        node: &TimerNode,
        level: usize,
        array: usize,
        slot: usize,
        when: u64,
    ) {
        let target = &mut self.arrays[level][array].slots[slot];
        // SAFETY: the caller holds the lock; the slot's nodes are valid (contract).
        let index = unsafe { target.push(node, when) };
        // SAFETY: the caller holds the lock.
        let links = unsafe { node.links() };
        links.level = level as u8 | if array == 1 { ARRAY_BIT } else { 0 };
        links.slot = slot as u16;
        links.index = index;
        self.arrays[level][array].mark(slot);
    }

    /// # Safety
    ///
    /// Lock held; `node` linked into this wheel.
    unsafe fn unlink(&mut self, node: &TimerNode) {
        // SAFETY: the caller holds the lock.
        let links = unsafe { node.links() };
        let (level, array, slot) = links.place();
        let index = links.index as usize;
        links.level = UNLINKED;
        let target = &mut self.arrays[level][array].slots[slot];
        debug_assert!(
            ptr::eq(target.nodes[index], node),
            "a node's index is stale"
        );
        if target.remove(index) {
            self.arrays[level][array].unmark(slot);
        }
    }

    /// Unlinks and returns the last node of a slot (see
    /// [`Slot::pop_last_if`](slot::Slot::pop_last_if)).
    ///
    /// # Safety
    ///
    /// Lock held; the slot is not empty.
    unsafe fn pop_last(&mut self, level: usize, array: usize, slot: usize) -> *const TimerNode {
        let target = &mut self.arrays[level][array].slots[slot];
        // SAFETY: the slot's nodes are valid (contract); the caller holds the lock.
        let node = unsafe { target.pop_last_if(|_| true) }.expect("pop_last of an empty slot");
        if target.emptied_if_empty() {
            self.arrays[level][array].unmark(slot);
        }
        node
    }

    /// The occupied slot with the earliest start, over both arrays of every level.
    fn next_slot(&self) -> Option<NextSlot> {
        let mut best: Option<NextSlot> = None;
        for level in 0..LEVELS {
            let shift = LEVEL_SHIFT[level];
            let turn_mask = (1u64 << (shift + LEVEL_BITS[level])) - 1;
            let turn_start = self.elapsed & !turn_mask;
            let current = self.current[level];
            let position = slot_index(level, self.elapsed);
            let mut candidate = None;
            // A slot is reached at its earliest placement, not before its start.
            let reached = |array: usize, slot: usize, start: u64| {
                start.max(self.arrays[level][array].slots[slot].earliest)
            };
            if let Some(slot) = self.arrays[level][current].next_occupied(position) {
                let mut start = turn_start + ((slot as u64) << shift);
                if slot < position {
                    // Slots before `position` belong to the next turn of this level.
                    start += turn_mask + 1;
                }
                candidate = Some((current, slot, reached(current, slot, start)));
            }
            if level + 1 < LEVELS {
                let next = 1 - current;
                if let Some(slot) = self.arrays[level][next].next_occupied(0) {
                    let start = turn_start + turn_mask + 1 + ((slot as u64) << shift);
                    let start = reached(next, slot, start);
                    if candidate.is_none_or(|(_, _, s)| start < s) {
                        candidate = Some((next, slot, start));
                    }
                }
            }
            if let Some((array, slot, start)) = candidate {
                if best.is_none_or(|b| start < b.start) {
                    best = Some(NextSlot {
                        level,
                        array,
                        slot,
                        start,
                    });
                }
            }
        }
        best
    }
}

#[derive(Debug, Clone, Copy)]
struct NextSlot {
    level: usize,
    array: usize,
    slot: usize,
    start: u64,
}

#[cfg(all(test, not(loom)))]
mod tests;
