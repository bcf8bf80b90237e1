//! A hierarchical timing wheel with microsecond ticks and intrusive timers.
//!
//! Each worker owns one wheel (behind a lock, because a timer may be dropped on another
//! thread). A timer is a [`TimerNode`] that lives inside its [`Sleep`](crate::time::Sleep)
//! future, which is pinned. Each slot keeps an array of pointers to its nodes, and each
//! node its position in that array: inserting appends (amortized O(1); the array grows
//! now and then), removing leaves a hole (O(1)).
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
//!
//! # Geometry
//!
//! [`LEVELS`] levels; level `k` indexes bits `LEVEL_SHIFT[k]..LEVEL_SHIFT[k] + LEVEL_BITS[k]`
//! of the tick (microseconds). Levels 0 and 1 have 64 slots of 1 µs and 64 µs; levels 2 to
//! 4 have 4096 slots of 4.1 ms, 16.8 s and 19.1 h; the wheel spans 2^48 µs (8.9 years). A
//! timer goes to the level holding the highest bit in which its deadline differs from the
//! wheel's current time (`elapsed`), so all timers of a lower level expire before any of
//! a higher one. When time reaches a slot of level `k > 0`, its timers move down to the
//! level that now fits them ("cascading"); each timer moves at most `LEVELS - 1` times.
//! Deadlines further out than the wheel spans wait at the end of its current turn and
//! are re-placed when it is reached.
//!
//! The upper levels are wide on purpose: moving a slot's timers down touches each of
//! them (each in its own task's memory), and a timer due just after a slot starts waits
//! until it is reached in that slot. With 4096 slots a slot holds few enough
//! timers (4 ms of deadlines) that this costs microseconds, not the milliseconds a
//! 64-slot level holding a quarter second of deadlines would; the work is also done in
//! slices (see [`Wheel::expire`]).
//!
//! # Never early
//!
//! A deadline in nanoseconds becomes the tick `ceil(ns / 1000)`, and a timer fires only
//! when the tick of the current time (`floor(now / 1000)`) has reached it, so a timer is
//! at most one microsecond late for rounding and never early.
//!
//! The wheel is pure data: no clock, no syscalls, no locking; its caller holds the lock
//! and tells it the time.

use std::cell::UnsafeCell;
use std::marker::PhantomPinned;
use std::ptr;

use super::entry::TimerEntry;

/// Levels of the wheel.
pub(crate) const LEVELS: usize = 5;
/// Tick bits indexed by each level (its number of slots is `2^bits`).
const LEVEL_BITS: [u32; LEVELS] = [6, 6, 12, 12, 12];
/// Lowest tick bit indexed by each level. (A slot index must fit the `u16` in `Links`.)
const LEVEL_SHIFT: [u32; LEVELS] = [0, 6, 12, 24, 36];
/// Ticks covered by the whole wheel.
const SPAN_MASK: u64 = (1 << 48) - 1;

// Slot indices are stored as `u16`, and the levels must tile the span exactly.
const _: () = {
    let mut level = 0;
    while level < LEVELS {
        assert!(LEVEL_BITS[level] <= 16);
        if level + 1 < LEVELS {
            assert!(LEVEL_SHIFT[level] + LEVEL_BITS[level] == LEVEL_SHIFT[level + 1]);
        }
        level += 1;
    }
    assert!(LEVEL_SHIFT[LEVELS - 1] + LEVEL_BITS[LEVELS - 1] == 48);
};
/// Marks a node that is in no slot.
const UNLINKED: u8 = u8::MAX;

/// How many nodes ahead of the one being handled a slot walk asks for.
const PREFETCH_AHEAD: usize = 8;

/// Capacity a slot keeps when it empties (pointers); larger arrays are freed, so that a
/// burst does not pin its peak memory in the slots it passed through.
const RETAINED_CAPACITY: usize = 32;

/// The tick (microsecond) at or after a deadline in nanoseconds.
pub(crate) fn tick_at_or_after(nanos: u64) -> u64 {
    nanos.div_ceil(1000)
}

/// The tick that a clock reading in nanoseconds has reached.
pub(crate) fn tick_reached(nanos: u64) -> u64 {
    nanos / 1000
}

/// One timer: the links the wheel owns and the entry shared with the future.
#[derive(Debug)]
pub(crate) struct TimerNode {
    /// Read and written only by the wheel, with its lock held.
    links: UnsafeCell<Links>,
    pub(crate) entry: TimerEntry,
    _pinned: PhantomPinned,
}

#[derive(Debug)]
struct Links {
    tick: u64,
    /// Position in its slot's array.
    index: u32,
    slot: u16,
    level: u8,
}

impl Links {
    /// Where a linked node is: (level, array, slot).
    fn place(&self) -> (usize, usize, usize) {
        let level = (self.level & !ARRAY_BIT) as usize;
        let array = usize::from(self.level & ARRAY_BIT != 0);
        (level, array, self.slot as usize)
    }
}

// SAFETY: `links` is only accessed by the wheel the node is linked into, under that
// wheel's lock (see `Wheel`'s safety contract); `entry` is made of atomics.
unsafe impl Send for TimerNode {}
// SAFETY: as above.
unsafe impl Sync for TimerNode {}

impl TimerNode {
    pub(crate) fn new() -> TimerNode {
        TimerNode {
            links: UnsafeCell::new(Links {
                tick: 0,
                index: 0,
                slot: 0,
                level: UNLINKED,
            }),
            entry: TimerEntry::new(),
            _pinned: PhantomPinned,
        }
    }

    /// # Safety
    ///
    /// The caller holds the lock of the wheel this node is linked into (or the node is
    /// linked nowhere and is not shared).
    #[allow(clippy::mut_from_ref)]
    unsafe fn links(&self) -> &mut Links {
        // SAFETY: the caller guarantees exclusive access through the wheel's lock.
        unsafe { &mut *self.links.get() }
    }
}

#[derive(Debug)]
struct Slot {
    /// Pointers to the slot's nodes, in no particular order, with a null pointer where a
    /// node was removed (see "Removal" in [`Wheel`]'s docs); each node's `index` is its
    /// position.
    nodes: Vec<*const TimerNode>,
    /// Nodes in `nodes` (pointers that are not null).
    live: usize,
    /// A lower bound of the ticks at which the slot's timers were placed: the earliest
    /// placement since the slot was last empty (removals leave it as it is). See
    /// "Reaching a slot late" in [`Wheel`]'s docs.
    earliest: u64,
}

impl Slot {
    fn new() -> Slot {
        Slot {
            nodes: Vec::new(),
            live: 0,
            earliest: u64::MAX,
        }
    }

    fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Appends `node`, placed at tick `when`; returns its position.
    ///
    /// # Safety
    ///
    /// The wheel's lock is held, and every node in the slot is valid.
    unsafe fn push(&mut self, node: &TimerNode, when: u64) -> u32 {
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
    fn remove(&mut self, index: usize) -> bool {
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
    unsafe fn pop_last_if(&mut self, take: impl FnOnce(u64) -> bool) -> Option<*const TimerNode> {
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
    fn emptied_if_empty(&mut self) -> bool {
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
    fn prefetch(&self, ahead: usize) {
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

#[derive(Debug)]
struct Level {
    /// One bit per slot: set when the slot holds a node, except for the slot being worked
    /// off (`Wheel::processing`), which has left the search.
    occupied: Box<[u64]>,
    /// Number of set bits in `occupied`, so empty levels are skipped at once.
    occupied_slots: usize,
    slots: Box<[Slot]>,
}

impl Level {
    fn new(bits: u32) -> Level {
        let slots = 1usize << bits;
        Level {
            occupied: vec![0; slots.div_ceil(64)].into_boxed_slice(),
            occupied_slots: 0,
            slots: (0..slots).map(|_| Slot::new()).collect(),
        }
    }

    fn mark(&mut self, slot: usize) {
        let (word, bit) = (slot / 64, 1u64 << (slot % 64));
        if self.occupied[word] & bit == 0 {
            self.occupied[word] |= bit;
            self.occupied_slots += 1;
        }
    }

    fn unmark(&mut self, slot: usize) {
        let (word, bit) = (slot / 64, 1u64 << (slot % 64));
        if self.occupied[word] & bit != 0 {
            self.occupied[word] &= !bit;
            self.occupied_slots -= 1;
        }
    }

    /// The first occupied slot at or after `position`, wrapping around.
    fn next_occupied(&self, position: usize) -> Option<usize> {
        if self.occupied_slots == 0 {
            return None;
        }
        let words = self.occupied.len();
        let (start_word, start_bit) = (position / 64, position % 64);
        let first = self.occupied[start_word] & (!0u64 << start_bit);
        if first != 0 {
            return Some(start_word * 64 + first.trailing_zeros() as usize);
        }
        for step in 1..=words {
            let word = (start_word + step) % words;
            let mut bits = self.occupied[word];
            if step == words {
                // Back at the starting word: only the slots before `position` are left.
                bits &= (1u64 << start_bit).wrapping_sub(1);
            }
            if bits != 0 {
                return Some(word * 64 + bits.trailing_zeros() as usize);
            }
        }
        None
    }
}

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

/// `Links::level` keeps the array index in this bit.
const ARRAY_BIT: u8 = 0x40;

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

    /// Unlinks and returns the last node of a slot (see [`Slot::pop_last_if`]).
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

/// The slot of level `level` that tick `tick` falls in.
fn slot_index(level: usize, tick: u64) -> usize {
    ((tick >> LEVEL_SHIFT[level]) & ((1 << LEVEL_BITS[level]) - 1)) as usize
}

/// The level holding the highest bit in which `when` differs from `elapsed`.
fn level_for(elapsed: u64, when: u64) -> usize {
    let masked = (elapsed ^ when) | ((1 << LEVEL_BITS[0]) - 1);
    let bit = 63 - masked.leading_zeros();
    LEVEL_SHIFT
        .iter()
        .rposition(|&shift| bit >= shift)
        .unwrap_or(0)
        .min(LEVELS - 1)
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// Nodes for the tests; the vector is never resized, so their addresses are stable.
    fn nodes(n: usize) -> Vec<TimerNode> {
        (0..n).map(|_| TimerNode::new()).collect()
    }

    fn index_of(all: &[TimerNode], node: &TimerNode) -> usize {
        all.iter().position(|n| ptr::eq(n, node)).unwrap()
    }

    /// Advances in steps, collecting (index, tick reached) of every fired node.
    fn run(wheel: &mut Wheel, all: &[TimerNode], until: u64, step: u64) -> Vec<(usize, u64)> {
        run_with(wheel, all, until, step, |_, _| {})
    }

    /// Like `run`, calling `between(wheel, now)` after every step.
    fn run_with(
        wheel: &mut Wheel,
        all: &[TimerNode],
        until: u64,
        step: u64,
        mut between: impl FnMut(&mut Wheel, u64),
    ) -> Vec<(usize, u64)> {
        let mut fired = Vec::new();
        let mut now = 0;
        while now <= until {
            // SAFETY: the nodes outlive the wheel's use of them; single-threaded test.
            while unsafe { wheel.expire(now, 7, |n| fired.push((index_of(all, n), now))) } {}
            between(wheel, now);
            now += step;
        }
        fired
    }

    fn random_ticks(n: usize, max: u64, mut seed: u64) -> Vec<u64> {
        (0..n)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                1 + seed % max
            })
            .collect()
    }

    #[test]
    fn precascade_empties_the_upcoming_slot_ahead_of_time() {
        // Ticks 4096..4196 sit in level 2's slot 1, the one after the slot time is in.
        let all = nodes(100);
        let mut wheel = Wheel::new();
        for (i, node) in all.iter().enumerate() {
            // SAFETY: nodes outlive the test's use of the wheel.
            assert!(unsafe { wheel.insert(node, 4096 + i as u64) });
        }
        assert_eq!(wheel.arrays[2][wheel.current[2]].occupied_slots, 1);
        // SAFETY: as above.
        unsafe {
            assert!(wheel.precascade(60), "a partial move reports more to do");
            assert!(!wheel.precascade(60));
        }
        assert_eq!(
            wheel.arrays[2][wheel.current[2]].occupied_slots, 0,
            "moved out"
        );
        assert!(
            wheel.arrays[1][1 - wheel.current[1]].occupied_slots > 0,
            "into the next turn"
        );
        assert_eq!(wheel.next_expiration(), Some(4096));
        let fired = run(&mut wheel, &all, 4300, 1);
        assert_eq!(fired.len(), 100);
        for (index, at) in fired {
            assert_eq!(at, 4096 + index as u64);
        }
    }

    #[test]
    fn early_moves_keep_every_timer_exact() {
        for (max, step, budget) in [
            (300_000u64, 1u64, 3usize),
            (20_000_000, 97, 50),
            (5_000_000, 1, 1000),
        ] {
            let ticks = random_ticks(3000, max, max ^ 0x5eed);
            let all = nodes(ticks.len());
            let mut wheel = Wheel::new();
            for (node, &tick) in all.iter().zip(&ticks) {
                // SAFETY: nodes outlive the test's use of the wheel.
                assert!(unsafe { wheel.insert(node, tick) });
            }
            let mut removed = Vec::new();
            let fired = run_with(&mut wheel, &all, max + step, step, |wheel, now| {
                // SAFETY: as above.
                unsafe {
                    while wheel.precascade(budget) {}
                    // Now and then cancel a pending timer, wherever it sits.
                    if now % (step * 1000) == 0 {
                        let victim = (now / step) as usize % all.len();
                        if ticks[victim] > now && !removed.contains(&victim) {
                            wheel.remove(&all[victim]);
                            removed.push(victim);
                        }
                    }
                }
            });
            assert_eq!(
                fired.len() + removed.len(),
                ticks.len(),
                "every timer fired or was removed"
            );
            for (index, at) in fired {
                assert!(!removed.contains(&index), "a removed timer fired");
                assert!(at >= ticks[index], "never early");
                assert!(
                    at < ticks[index] + step,
                    "fired at the first step past its tick"
                );
            }
            assert_eq!(wheel.len(), 0);
        }
    }

    #[test]
    fn rounding_never_makes_a_timer_early() {
        assert_eq!(tick_at_or_after(0), 0);
        assert_eq!(tick_at_or_after(1), 1);
        assert_eq!(tick_at_or_after(1000), 1);
        assert_eq!(tick_at_or_after(1001), 2);
        assert_eq!(tick_reached(1999), 1);
        for ns in [1u64, 999, 1000, 1001, 123_456_789] {
            assert!(tick_at_or_after(ns) * 1000 >= ns);
        }
    }

    #[test]
    fn levels_follow_the_highest_differing_group() {
        assert_eq!(level_for(0, 1), 0);
        assert_eq!(level_for(0, 63), 0);
        assert_eq!(level_for(0, 64), 1);
        assert_eq!(level_for(0, 4095), 1);
        assert_eq!(level_for(0, 4096), 2);
        assert_eq!(level_for(0, (1 << 24) - 1), 2);
        assert_eq!(level_for(0, 1 << 24), 3);
        assert_eq!(level_for(0, 1 << 36), 4);
        assert_eq!(level_for(100, 127), 0, "same level-1 slot");
        assert_eq!(level_for(100, 128), 1);
        assert_eq!(level_for(0, SPAN_MASK), LEVELS - 1);
    }

    #[test]
    fn fires_every_timer_exactly_at_its_tick_across_levels() {
        let ticks: Vec<u64> = vec![
            1, 2, 63, 64, 65, 100, 4095, 4096, 4097, 70_000, 300_000, 1_000_000, 5,
        ];
        let all = nodes(ticks.len());
        let mut wheel = Wheel::new();
        for (node, &tick) in all.iter().zip(&ticks) {
            // SAFETY: nodes outlive the test's use of the wheel.
            assert!(unsafe { wheel.insert(node, tick) });
        }
        assert_eq!(wheel.len(), ticks.len());
        let fired = run(&mut wheel, &all, 1_000_000, 1);
        assert_eq!(fired.len(), ticks.len());
        for (index, at) in fired {
            assert_eq!(
                at, ticks[index],
                "timer {index} fired at its tick, not before or after"
            );
        }
        assert_eq!(wheel.len(), 0);
        assert!(wheel.next_expiration().is_none());
    }

    #[test]
    fn coarse_steps_fire_late_timers_at_once_and_never_early() {
        let mut ticks = Vec::new();
        let mut x = 12345u64;
        for _ in 0..2000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ticks.push(1 + x % 5_000_000);
        }
        let all = nodes(ticks.len());
        let mut wheel = Wheel::new();
        for (node, &tick) in all.iter().zip(&ticks) {
            // SAFETY: nodes outlive the test's use of the wheel.
            assert!(unsafe { wheel.insert(node, tick) });
        }
        let fired = run(&mut wheel, &all, 5_000_000 + 997, 997);
        assert_eq!(fired.len(), ticks.len(), "every timer fired once");
        for (index, at) in fired {
            assert!(at >= ticks[index], "never early");
            assert!(
                at < ticks[index] + 997,
                "fired at the first step past its tick"
            );
        }
    }

    #[test]
    fn removed_timers_never_fire_and_others_are_unaffected() {
        let all = nodes(6);
        let mut wheel = Wheel::new();
        for (i, node) in all.iter().enumerate() {
            // SAFETY: nodes outlive the test's use of the wheel.
            unsafe { wheel.insert(node, 10 + i as u64 * 1000) };
        }
        // SAFETY: as above.
        unsafe {
            wheel.remove(&all[1]);
            wheel.remove(&all[4]);
            wheel.remove(&all[4]); // removing twice is harmless
        }
        assert_eq!(wheel.len(), 4);
        let fired: Vec<usize> = run(&mut wheel, &all, 10_000, 7)
            .into_iter()
            .map(|f| f.0)
            .collect();
        assert_eq!(fired, vec![0, 2, 3, 5]);
    }

    #[test]
    fn removal_from_anywhere_in_a_slot_keeps_the_others_findable() {
        // 100 timers in one level-0 slot, removed from the middle and both ends: the
        // others must stay where they say they are, for a later removal to find them.
        let all = nodes(100);
        let mut wheel = Wheel::new();
        for node in &all {
            // SAFETY: nodes outlive the test's use of the wheel.
            assert!(unsafe { wheel.insert(node, 40) });
        }
        let removed = [0, 99, 50, 98, 1, 97, 49, 51, 2];
        for &i in &removed {
            // SAFETY: as above.
            unsafe { wheel.remove(&all[i]) };
            assert_positions(&wheel, &all);
        }
        assert_eq!(wheel.len(), 100 - removed.len());
        assert_eq!(fired_once(&mut wheel, &all, 40), survivors(100, &removed));
    }

    /// Runs the wheel to `until` one tick at a time: the indices of the nodes that fired,
    /// sorted.
    fn fired_once(wheel: &mut Wheel, all: &[TimerNode], until: u64) -> Vec<usize> {
        let mut fired: Vec<usize> = run(wheel, all, until, 1).iter().map(|f| f.0).collect();
        fired.sort_unstable();
        fired
    }

    /// The indices below `n` that are not in `removed`.
    fn survivors(n: usize, removed: &[usize]) -> Vec<usize> {
        (0..n).filter(|i| !removed.contains(i)).collect()
    }

    /// Every linked node is at the position it records.
    fn assert_positions(wheel: &Wheel, all: &[TimerNode]) {
        // SAFETY: every node is still valid; single-threaded test.
        unsafe {
            for (j, node) in all.iter().enumerate() {
                let links = node.links();
                if links.level == UNLINKED {
                    continue;
                }
                let (level, array, slot) = links.place();
                let at = wheel.arrays[level][array].slots[slot].nodes[links.index as usize];
                assert!(ptr::eq(at, node), "node {j} is where it says it is");
            }
        }
    }

    #[test]
    fn a_slot_full_of_holes_is_closed_up_before_it_grows() {
        // 64 timers in one level-0 slot fill its array; removing most of them leaves
        // holes, and the next insertions close them up instead of growing the array.
        let all = nodes(96);
        let mut wheel = Wheel::new();
        for node in &all[..64] {
            // SAFETY: nodes outlive the test's use of the wheel.
            assert!(unsafe { wheel.insert(node, 40) });
        }
        let slot = slot_index(0, 40);
        let capacity = wheel.arrays[0][0].slots[slot].nodes.capacity();
        let removed: Vec<usize> = (0..64).filter(|i| i % 4 != 1).collect();
        for &i in &removed {
            // SAFETY: as above.
            unsafe { wheel.remove(&all[i]) };
        }
        assert_positions(&wheel, &all);
        for node in &all[64..] {
            // SAFETY: as above.
            assert!(unsafe { wheel.insert(node, 40) });
            assert_positions(&wheel, &all);
        }
        let target = &wheel.arrays[0][0].slots[slot];
        assert_eq!(target.live, 96 - removed.len());
        assert_eq!(target.nodes.capacity(), capacity, "closed up, not grown");
        assert_eq!(fired_once(&mut wheel, &all, 40), survivors(96, &removed));
        assert_eq!(wheel.len(), 0);
    }

    #[test]
    fn a_slot_frees_a_large_array_once_it_empties() {
        let all = nodes(1000);
        let mut wheel = Wheel::new();
        for node in &all {
            // SAFETY: nodes outlive the test's use of the wheel.
            assert!(unsafe { wheel.insert(node, 5000) });
        }
        assert_eq!(run(&mut wheel, &all, 5000, 1000).len(), 1000);
        let kept: usize = wheel
            .arrays
            .iter()
            .flatten()
            .flat_map(|level| level.slots.iter())
            .map(|slot| slot.nodes.capacity())
            .max()
            .unwrap();
        assert!(kept <= RETAINED_CAPACITY, "a slot kept {kept} pointers");
    }

    #[test]
    fn a_reached_slot_is_worked_off_in_slices_and_removal_still_works_midway() {
        // 300 timers in one level-2 slot (ticks 8192..8492): reaching it at 8192 fires
        // the first and moves the rest down, 100 per call.
        let all = nodes(300);
        let mut wheel = Wheel::new();
        for (i, node) in all.iter().enumerate() {
            // SAFETY: nodes outlive the test's use of the wheel.
            assert!(unsafe { wheel.insert(node, 8192 + i as u64) });
        }
        let mut fired = Vec::new();
        // SAFETY: as above.
        unsafe {
            assert!(wheel.expire(8192, 100, |n| fired.push(index_of(&all, n))));
            assert_eq!(wheel.next_expiration(), Some(8192), "more work is due now");
            // A node not yet moved can still be cancelled.
            wheel.remove(&all[250]);
            while wheel.expire(8192, 100, |n| fired.push(index_of(&all, n))) {}
        }
        assert_eq!(fired, vec![0], "only the timer at tick 8192 is due");
        assert_eq!(wheel.len(), 298);
        let later = run(&mut wheel, &all, 8192 + 300, 1);
        let mut seen: Vec<usize> = later.iter().map(|f| f.0).collect();
        seen.sort_unstable();
        let expected: Vec<usize> = (1..300).filter(|&i| i != 250).collect();
        assert_eq!(
            seen, expected,
            "every other timer fired once, the removed one never"
        );
        for (index, at) in later {
            assert_eq!(at, 8192 + index as u64);
        }
        assert_eq!(wheel.len(), 0);
    }

    #[test]
    fn next_expiration_is_never_after_the_earliest_deadline() {
        let all = nodes(3);
        let mut wheel = Wheel::new();
        // SAFETY: nodes outlive the test's use of the wheel.
        unsafe {
            wheel.insert(&all[0], 5000);
            wheel.insert(&all[1], 70);
            wheel.insert(&all[2], 1_000_000);
        }
        let next = wheel.next_expiration().unwrap();
        assert!(next <= 70 && next > 0);
        // SAFETY: as above.
        unsafe { wheel.remove(&all[1]) };
        assert!(wheel.next_expiration().unwrap() <= 5000);
    }

    #[test]
    fn a_clock_reading_behind_the_wheel_fires_what_is_due_at_the_wheels_time() {
        // A slice at tick 5 leaves the slot half worked off; a caller whose clock
        // reading (4) was taken before that must still fire the rest, not move them
        // back into the same slot.
        let all = nodes(10);
        let mut wheel = Wheel::new();
        for node in &all {
            // SAFETY: nodes outlive the test's use of the wheel.
            assert!(unsafe { wheel.insert(node, 5) });
        }
        let mut fired = 0;
        // SAFETY: as above.
        unsafe {
            assert!(wheel.expire(5, 3, |_| fired += 1));
            assert!(!wheel.expire(4, 100, |_| fired += 1));
        }
        assert_eq!(fired, 10);
        assert_eq!(wheel.len(), 0);
        assert!(wheel.next_expiration().is_none());
    }

    #[test]
    fn past_deadlines_are_refused() {
        let all = nodes(2);
        let mut wheel = Wheel::new();
        // SAFETY: nodes outlive the test's use of the wheel.
        unsafe {
            wheel.expire(100, usize::MAX, |_| {});
            assert!(!wheel.insert(&all[0], 100), "a reached tick fires at once");
            assert!(wheel.insert(&all[1], 101));
        }
    }

    #[test]
    fn deadlines_beyond_the_span_wait_and_still_fire_on_time() {
        let all = nodes(1);
        let mut wheel = Wheel::new();
        let far = SPAN_MASK * 3 + 12345;
        // SAFETY: nodes outlive the test's use of the wheel.
        unsafe {
            assert!(wheel.insert(&all[0], far));
            let mut fired = false;
            let mut now = 0;
            while !fired {
                now = wheel.next_expiration().unwrap();
                assert!(now <= far, "the wheel never waits past the deadline");
                while wheel.expire(now, usize::MAX, |_| fired = true) {}
            }
            assert_eq!(now, far);
        }
    }
}
