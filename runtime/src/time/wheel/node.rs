//! A timer as the wheel sees it: the [`TimerNode`] inside each
//! [`Sleep`](crate::time::Sleep), and the links through which the wheel finds it in its
//! slot.

use std::cell::UnsafeCell;
use std::marker::PhantomPinned;

use crate::time::entry::TimerEntry;

/// Marks a node that is in no slot.
pub(super) const UNLINKED: u8 = u8::MAX;
/// `Links::level` keeps the array index in this bit.
pub(super) const ARRAY_BIT: u8 = 0x40;

/// One timer: the links the wheel owns and the entry shared with the future.
#[derive(Debug)]
pub(crate) struct TimerNode {
    /// Read and written only by the wheel, with its lock held.
    links: UnsafeCell<Links>,
    pub(crate) entry: TimerEntry,
    _pinned: PhantomPinned,
}

#[derive(Debug)]
pub(super) struct Links {
    pub(super) tick: u64,
    /// Position in its slot's array.
    pub(super) index: u32,
    pub(super) slot: u16,
    pub(super) level: u8,
}

impl Links {
    /// Where a linked node is: (level, array, slot).
    pub(super) fn place(&self) -> (usize, usize, usize) {
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
    pub(super) unsafe fn links(&self) -> &mut Links {
        // SAFETY: the caller guarantees exclusive access through the wheel's lock.
        unsafe { &mut *self.links.get() }
    }
}
