//! The requests a ring has in flight, by slot.

/// The operations a ring has in flight: slots of their `user_data`, reused through a free
/// list, so that insertion and removal are O(1) and dropping the ring can cancel them all.
#[derive(Debug)]
pub(crate) struct OpTable {
    /// `user_data` of the operation in each slot; a free slot holds `FREE | next free`.
    slots: Vec<u64>,
    free_head: usize,
    pub(crate) len: usize,
}

/// Marks a free slot. Operation addresses are user-space pointers, below 2^63.
const FREE: u64 = 1 << 63;
/// End of the free list.
const NO_SLOT: usize = usize::MAX >> 1;

impl OpTable {
    pub(crate) fn new() -> OpTable {
        OpTable {
            slots: Vec::new(),
            free_head: NO_SLOT,
            len: 0,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub(crate) fn insert(&mut self, user_data: u64) -> usize {
        self.len += 1;
        if self.free_head != NO_SLOT {
            let slot = self.free_head;
            self.free_head = (self.slots[slot] & !FREE) as usize;
            self.slots[slot] = user_data;
            slot
        } else {
            self.slots.push(user_data);
            self.slots.len() - 1
        }
    }

    pub(crate) fn remove(&mut self, slot: usize) {
        debug_assert!(self.slots[slot] & FREE == 0, "slot {slot} is already free");
        self.slots[slot] = FREE | self.free_head as u64;
        self.free_head = slot;
        self.len -= 1;
    }

    pub(crate) fn contains(&self, slot: usize, user_data: u64) -> bool {
        self.slots.get(slot) == Some(&user_data)
    }

    pub(crate) fn live(&self) -> Vec<u64> {
        self.slots
            .iter()
            .copied()
            .filter(|s| s & FREE == 0)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::OpTable;

    #[test]
    fn op_table_reuses_slots() {
        let mut t = OpTable::new();
        let a = t.insert(0x1000);
        let b = t.insert(0x2000);
        assert!(t.contains(a, 0x1000) && t.contains(b, 0x2000));
        t.remove(a);
        assert!(!t.contains(a, 0x1000));
        assert_eq!(t.live(), vec![0x2000]);
        let c = t.insert(0x3000);
        assert_eq!(c, a, "a freed slot is reused first");
        t.remove(b);
        t.remove(c);
        assert!(t.is_empty());
        assert_eq!(t.insert(0x4000), c);
        assert_eq!(t.insert(0x5000), b);
        assert_eq!(t.insert(0x6000), 2);
    }
}
