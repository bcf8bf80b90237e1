//! Every live task of a runtime, so that shutdown can cancel all of them.
//!
//! A task is registered the first time it returns `Pending` (before that it is always in a
//! run queue or being polled; see `crate::task`) and removed when its future is dropped
//! (completed, aborted or cancelled). The registry holds one [`Waker`] per task: waking it
//! is how [`JoinHandle::abort`](crate::task::JoinHandle::abort) and runtime shutdown get a
//! task that sits idle (waiting on a timer, a socket, a channel) polled one last time so
//! that it can see it was cancelled.
//!
//! The slab is sharded: each worker inserts into a shard of its own, and other threads
//! spread their insertions over a few more shards round-robin. A task is registered by
//! the worker that first polled it, whose timer wheel and ring hold what the task waits
//! for, so the worker that wakes it, runs it and removes it is usually the same one.
//! Workers remove finished tasks in batches, one lock per batch (see
//! `WorkerCore::unregister`). Each shard counts its
//! own entries under its lock (no counter shared by every thread is touched per task),
//! and each sits on its own cache lines.
//!
//! # Counting during shutdown
//!
//! [`TaskRegistry::len`] adds the shards up one lock at a time, so it is not a snapshot.
//! It is only read by a worker deciding whether shutdown is complete, once every task
//! registered before shutdown began has been woken and every task registered after wakes
//! itself (see `crate::task`). A task it misses was either inserted into a shard after
//! the count passed it (so some other worker is polling it right now and will queue it)
//! or removed before (so it is gone, and anything its destructor spawned is already in a
//! run queue the exiting worker checks, or in another live worker's).

use std::cell::Cell;
use std::task::Waker;

use crate::loom::sync::Mutex;

const SHARD_BITS: u32 = 6;
const SHARD_MASK: usize = (1 << SHARD_BITS) - 1;

/// Key of a task that is not registered (yet).
pub(crate) const NO_KEY: usize = usize::MAX;

#[derive(Debug)]
pub(crate) struct TaskRegistry {
    shards: Box<[Shard]>,
    /// Shards `0..worker_shards` belong to workers (worker `i` inserts into shard
    /// `i % worker_shards`); the rest take insertions from other threads.
    worker_shards: usize,
}

/// Shards for insertions from threads that are not workers (rare: tasks are polled by
/// workers, so only tests or exotic wakers insert elsewhere).
const FOREIGN_SHARDS: usize = 4;

/// One lock and slab, aligned so that neighbouring shards never share a cache line.
type Shard = crate::scheduler::CacheAligned<Mutex<Slab>>;

#[derive(Debug, Default)]
struct Slab {
    entries: Vec<Entry>,
    /// Head of the free list (an index into `entries`), or `NO_KEY`.
    free: usize,
    /// Occupied entries.
    len: usize,
}

impl Slab {
    fn remove(&mut self, index: usize) -> Option<Waker> {
        let entry = self.entries.get_mut(index)?;
        if !matches!(entry, Entry::Occupied(_)) {
            return None;
        }
        let vacant = Entry::Vacant {
            next_free: self.free,
        };
        let Entry::Occupied(waker) = std::mem::replace(entry, vacant) else {
            unreachable!("checked above");
        };
        self.free = index;
        self.len -= 1;
        Some(waker)
    }
}

#[derive(Debug)]
enum Entry {
    Occupied(Waker),
    Vacant { next_free: usize },
}

impl TaskRegistry {
    pub(crate) fn new(workers: usize) -> TaskRegistry {
        let worker_shards = workers.clamp(1, (1 << SHARD_BITS) - FOREIGN_SHARDS);
        TaskRegistry {
            shards: (0..worker_shards + FOREIGN_SHARDS)
                .map(|_| {
                    crate::scheduler::CacheAligned(Mutex::new(Slab {
                        entries: Vec::new(),
                        free: NO_KEY,
                        len: 0,
                    }))
                })
                .collect(),
            worker_shards,
        }
    }

    /// Number of registered tasks (not a snapshot: see "Counting during shutdown").
    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(|s| s.0.lock().unwrap().len).sum()
    }

    /// Registers `waker`; `worker` is the index of the calling worker thread, or `None`
    /// on any other thread. Returns the key to remove it with.
    pub(crate) fn insert(&self, waker: Waker, worker: Option<usize>) -> usize {
        let shard = match worker {
            Some(index) => index % self.worker_shards,
            None => self.worker_shards + next_foreign() % FOREIGN_SHARDS,
        };
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
        slab.len += 1;
        (index << SHARD_BITS) | shard
    }

    /// Removes a task; returns its waker, which the caller drops outside any lock it
    /// holds: dropping the last reference to a task runs its destructor, which may spawn
    /// or remove tasks itself.
    pub(crate) fn remove(&self, key: usize) -> Option<Waker> {
        if key == NO_KEY {
            return None;
        }
        let mut slab = self.shards[key & SHARD_MASK].0.lock().unwrap();
        slab.remove(key >> SHARD_BITS)
    }

    /// Number of shards (every key's shard is below it).
    pub(crate) fn shards(&self) -> usize {
        self.shards.len()
    }

    /// The shard a key belongs to.
    pub(crate) fn shard_of(&self, key: usize) -> usize {
        key & SHARD_MASK
    }

    /// Removes tasks of one shard under one lock acquisition: the waker of each key
    /// registered there goes into `removed` (to be dropped outside any lock, as with
    /// [`TaskRegistry::remove`]).
    pub(crate) fn remove_many(&self, shard: usize, keys: &[usize], removed: &mut Vec<Waker>) {
        let mut slab = self.shards[shard].0.lock().unwrap();
        for &key in keys {
            debug_assert_eq!(key & SHARD_MASK, shard);
            if let Some(waker) = slab.remove(key >> SHARD_BITS) {
                removed.push(waker);
            }
        }
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
        let mut all = Vec::new();
        for shard in self.shards.iter() {
            let slab = shard.0.lock().unwrap();
            all.reserve(slab.len);
            all.extend(slab.entries.iter().filter_map(|e| match e {
                Entry::Occupied(waker) => Some(waker.clone()),
                Entry::Vacant { .. } => None,
            }));
        }
        all
    }
}

/// Which foreign shard the next insertion by this (non-worker) thread takes: round-robin,
/// each thread starting at a different offset.
fn next_foreign() -> usize {
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
            .map(|_| registry.insert(Waker::from(counter.clone()), None))
            .collect();
        assert_eq!(registry.len(), 10);
        assert_eq!(Arc::strong_count(&counter), 11);
        for &k in &keys[..5] {
            drop(registry.remove(k));
        }
        assert!(registry.remove(keys[0]).is_none()); // removing twice is harmless
        assert_eq!(registry.len(), 5);
        assert_eq!(Arc::strong_count(&counter), 6);
        let again = registry.insert(Waker::from(counter.clone()), None);
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
        let first: std::collections::HashSet<_> = (0..1024)
            .map(|_| registry.insert(waker.clone(), None))
            .collect();
        for &k in &first {
            drop(registry.remove(k));
        }
        assert_eq!(registry.len(), 0);
        // Round-robin spreads the same number over every shard again: all slots reused.
        let second: std::collections::HashSet<_> = (0..1024)
            .map(|_| registry.insert(waker.clone(), None))
            .collect();
        assert_eq!(first, second);
    }
}
