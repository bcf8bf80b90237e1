//! A level of the wheel: its slots, and a bitmap of those that hold timers.

use super::slot::Slot;

#[derive(Debug)]
pub(super) struct Level {
    /// One bit per slot: set when the slot holds a node, except for the slot being worked
    /// off (`Wheel::processing`), which has left the search.
    pub(super) occupied: Box<[u64]>,
    /// Number of set bits in `occupied`, so empty levels are skipped at once.
    pub(super) occupied_slots: usize,
    pub(super) slots: Box<[Slot]>,
}

impl Level {
    pub(super) fn new(bits: u32) -> Level {
        let slots = 1usize << bits;
        Level {
            occupied: vec![0; slots.div_ceil(64)].into_boxed_slice(),
            occupied_slots: 0,
            slots: (0..slots).map(|_| Slot::new()).collect(),
        }
    }

    pub(super) fn mark(&mut self, slot: usize) {
        let (word, bit) = (slot / 64, 1u64 << (slot % 64));
        if self.occupied[word] & bit == 0 {
            self.occupied[word] |= bit;
            self.occupied_slots += 1;
        }
    }

    pub(super) fn unmark(&mut self, slot: usize) {
        let (word, bit) = (slot / 64, 1u64 << (slot % 64));
        if self.occupied[word] & bit != 0 {
            self.occupied[word] &= !bit;
            self.occupied_slots -= 1;
        }
    }

    /// The first occupied slot at or after `position`, wrapping around.
    pub(super) fn next_occupied(&self, position: usize) -> Option<usize> {
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
