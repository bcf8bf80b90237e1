//! Every live task of a runtime, so that shutdown can cancel all of them.
//!
//! A task is registered the first time it returns `Pending` (before that it is always in a
//! run queue or being polled; see `crate::task`) and removed when its future is dropped
//! (completed, aborted or cancelled). The registry holds one [`Waker`] per task: waking it
//! is how [`JoinHandle::abort`](crate::task::JoinHandle::abort) and runtime shutdown get a
//! task that sits idle (waiting on a timer, a socket, a channel) polled one last time so
//! that it can see it was cancelled.
//!
//! The slab is sharded, and each thread spreads its insertions over the shards round-robin,
//! so that one thread spawning many tasks while workers complete them rarely contends on
//! a lock; each shard sits on its own cache lines.

use std::cell::Cell;
use std::task::Waker;

use crate::loom::sync::atomic::{AtomicUsize, Ordering};
use crate::loom::sync::Mutex;

const SHARD_BITS: u32 = 6;
const SHARD_MASK: usize = (1 << SHARD_BITS) - 1;

/// Key of a task that is not registered (yet).
pub(crate) const NO_KEY: usize = usize::MAX;

#[derive(Debug)]
pub(crate) struct TaskRegistry {
    shards: Box<[Shard]>,
    len: AtomicUsize,
}

/// One lock and slab, aligned so that neighbouring shards never share a cache line.
type Shard = crate::scheduler::CacheAligned<Mutex<Slab>>;

#[derive(Debug, Default)]
struct Slab {
    entries: Vec<Entry>,
    /// Head of the free list (an index into `entries`), or `NO_KEY`.
    free: usize,
}

#[derive(Debug)]
enum Entry {
    Occupied(Waker),
    Vacant { next_free: usize },
}

impl TaskRegistry {
    pub(crate) fn new(workers: usize) -> TaskRegistry {
        let shards = (workers * 8).next_power_of_two().min(1 << SHARD_BITS);
        TaskRegistry {
            shards: (0..shards)
                .map(|_| {
                    crate::scheduler::CacheAligned(Mutex::new(Slab {
                        entries: Vec::new(),
                        free: NO_KEY,
                    }))
                })
                .collect(),
            len: AtomicUsize::new(0),
        }
    }

    /// Number of registered tasks.
    pub(crate) fn len(&self) -> usize {
        self.len.load(Ordering::SeqCst)
    }

    pub(crate) fn insert(&self, waker: Waker) -> usize {
        let shard = next_shard() & (self.shards.len() - 1);
        let mut slab = self.shards[shard].0.lock().unwrap();
        let index = if slab.free != NO_KEY {
            let index = slab.free;
            match std::mem::replace(&mut slab.entries[index], Entry::Occupied(waker)) {
                Entry::Vacant { next_free } => slab.free = next_free,
                Entry::Occupied(_) => unreachable!("free list points at an occupied entry"),
            }
            index
        } else {
            slab.entries.push(Entry::Occupied(waker));
            slab.entries.len() - 1
        };
        self.len.fetch_add(1, Ordering::SeqCst);
        (index << SHARD_BITS) | shard
    }

    pub(crate) fn remove(&self, key: usize) {
        if key == NO_KEY {
            return;
        }
        let removed = {
            let mut slab = self.shards[key & SHARD_MASK].0.lock().unwrap();
            let index = key >> SHARD_BITS;
            let next_free = slab.free;
            match slab.entries.get_mut(index) {
                Some(entry @ Entry::Occupied(_)) => {
                    let old = std::mem::replace(entry, Entry::Vacant { next_free });
                    slab.free = index;
                    Some(old)
                }
                _ => None,
            }
        };
        // The waker is dropped outside the lock: dropping the last reference to a task
        // runs its destructor, which may spawn or remove tasks itself.
        if removed.is_some() {
            self.len.fetch_sub(1, Ordering::SeqCst);
        }
        drop(removed);
    }

    /// The waker of a registered task.
    pub(crate) fn waker(&self, key: usize) -> Option<Waker> {
        if key == NO_KEY {
            return None;
        }
        let slab = self.shards[key & SHARD_MASK].0.lock().unwrap();
        match slab.entries.get(key >> SHARD_BITS) {
            Some(Entry::Occupied(waker)) => Some(waker.clone()),
            _ => None,
        }
    }

    /// Clones of every registered task's waker (the tasks stay registered).
    pub(crate) fn wakers(&self) -> Vec<Waker> {
        let mut all = Vec::with_capacity(self.len());
        for shard in self.shards.iter() {
            let slab = shard.0.lock().unwrap();
            all.extend(slab.entries.iter().filter_map(|e| match e {
                Entry::Occupied(waker) => Some(waker.clone()),
                Entry::Vacant { .. } => None,
            }));
        }
        all
    }
}

/// The shard for the next insertion by this thread: round-robin, each thread starting at
/// a different offset.
fn next_shard() -> usize {
    static THREADS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    thread_local! {
        static NEXT: Cell<usize> = const { Cell::new(usize::MAX) };
    }
    NEXT.with(|next| {
        let mut shard = next.get();
        if shard == usize::MAX {
            // Odd multiples spread the starting points of successive threads apart.
            shard = THREADS
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                .wrapping_mul(0x9E37_79B9);
        }
        next.set(shard.wrapping_add(1));
        shard
    })
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::task::Wake;

    struct CountingWaker(std::sync::atomic::AtomicUsize);
    impl Wake for CountingWaker {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    #[test]
    fn insert_remove_reuses_slots_and_drops_wakers() {
        let registry = TaskRegistry::new(2);
        let counter = Arc::new(CountingWaker(Default::default()));
        let keys: Vec<_> = (0..10)
            .map(|_| registry.insert(Waker::from(counter.clone())))
            .collect();
        assert_eq!(registry.len(), 10);
        assert_eq!(Arc::strong_count(&counter), 11);
        for &k in &keys[..5] {
            registry.remove(k);
        }
        registry.remove(keys[0]); // removing twice is harmless
        assert_eq!(registry.len(), 5);
        assert_eq!(Arc::strong_count(&counter), 6);
        let again = registry.insert(Waker::from(counter.clone()));
        assert!(
            !keys[5..].contains(&again),
            "live keys are never handed out twice"
        );
        assert_eq!(registry.wakers().len(), 6);
        registry.waker(again).unwrap().wake();
        assert_eq!(counter.0.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert!(registry.waker(keys[1]).is_none());
    }

    #[test]
    fn freed_slots_are_reused() {
        let registry = TaskRegistry::new(2);
        let waker = Waker::noop();
        let first: std::collections::HashSet<_> =
            (0..1024).map(|_| registry.insert(waker.clone())).collect();
        for &k in &first {
            registry.remove(k);
        }
        assert_eq!(registry.len(), 0);
        // Round-robin spreads the same number over every shard again: all slots reused.
        let second: std::collections::HashSet<_> =
            (0..1024).map(|_| registry.insert(waker.clone())).collect();
        assert_eq!(first, second);
    }
}
