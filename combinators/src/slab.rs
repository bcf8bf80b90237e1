//! [`Slab`]: values stored under small integer keys, inserted and removed in O(1).
//!
//! Vacant entries form a free list, so a removed key is reused by the next insertion.
//! The owner of a key is the only one that removes it, which is what makes a stored key
//! a safe handle: nobody else can free the entry and let it be reused under it.

/// A free list ends here.
const END: usize = usize::MAX;

#[derive(Debug)]
pub(crate) struct Slab<T> {
    entries: Vec<Entry<T>>,
    /// The first vacant entry, or [`END`].
    free: usize,
}

#[derive(Debug)]
enum Entry<T> {
    Occupied(T),
    /// The next vacant entry, or [`END`].
    Vacant(usize),
}

impl<T> Slab<T> {
    pub(crate) const fn new() -> Slab<T> {
        Slab {
            entries: Vec::new(),
            free: END,
        }
    }

    /// Stores `value` and returns its key.
    pub(crate) fn insert(&mut self, value: T) -> usize {
        if self.free == END {
            self.entries.push(Entry::Occupied(value));
            return self.entries.len() - 1;
        }
        let key = self.free;
        match std::mem::replace(&mut self.entries[key], Entry::Occupied(value)) {
            Entry::Vacant(next) => self.free = next,
            Entry::Occupied(_) => unreachable!("the free list holds only vacant entries"),
        }
        key
    }

    /// Removes and returns the value under `key`, if there is one.
    pub(crate) fn remove(&mut self, key: usize) -> Option<T> {
        let entry = self.entries.get_mut(key)?;
        if matches!(entry, Entry::Vacant(_)) {
            return None;
        }
        let Entry::Occupied(value) = std::mem::replace(entry, Entry::Vacant(self.free)) else {
            unreachable!("checked above");
        };
        self.free = key;
        Some(value)
    }

    /// The value under `key`, if there is one.
    pub(crate) fn get_mut(&mut self, key: usize) -> Option<&mut T> {
        match self.entries.get_mut(key)? {
            Entry::Occupied(value) => Some(value),
            Entry::Vacant(_) => None,
        }
    }

    /// How many values are stored (a walk over every entry: for tests).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        let occupied = |entry: &&Entry<T>| matches!(entry, Entry::Occupied(_));
        self.entries.iter().filter(occupied).count()
    }

    /// Every stored value, in key order, consuming the slab.
    pub(crate) fn into_values(self) -> impl Iterator<Item = T> {
        self.entries.into_iter().filter_map(|entry| match entry {
            Entry::Occupied(value) => Some(value),
            Entry::Vacant(_) => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Slab;

    #[test]
    fn keys_are_reused_after_removal() {
        let mut slab = Slab::new();
        let a = slab.insert('a');
        let b = slab.insert('b');
        let c = slab.insert('c');
        assert_eq!(slab.remove(b), Some('b'));
        assert_eq!(slab.remove(b), None);
        assert_eq!(slab.len(), 2);
        assert_eq!(slab.insert('d'), b);
        *slab.get_mut(a).unwrap() = 'e';
        assert_eq!(slab.remove(c), Some('c'));
        assert_eq!(slab.into_values().collect::<String>(), "ed");
    }
}
