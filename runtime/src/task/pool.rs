//! Task memory: each worker carves the tasks it spawns out of large chunks of its own and
//! reuses their blocks.
//!
//! Why not the global allocator: a server spawns on one worker and finishes on another.
//! With glibc's malloc, memory freed by a thread other than the one that allocated it
//! goes back under the allocating thread's arena lock, which the two workers then fight
//! over for every task; and a growing heap is extended a little at a time, a system call
//! per few hundred tasks. Here:
//!
//! * blocks come in size classes 16 bytes apart, up to [`MAX_BLOCK`], as tight as
//!   malloc's. (Classes 64 bytes apart would align each task header to a cache line,
//!   but a typical 264-byte task would take 320 bytes.) A worker
//!   takes a block from its own free list for that class, else from the blocks other
//!   threads freed for it, else from the unused end of its current chunk;
//! * a block freed on its worker's own thread goes back on that free list, with no
//!   atomic operation; freed anywhere else it is pushed onto the worker's remote list for
//!   its class (one compare-and-swap), which the worker takes whole when its own list runs
//!   dry;
//! * chunks are 2 MiB, mapped straight from the kernel (one `mmap` per several thousand
//!   tasks, where glibc's heap grows by `mprotect` every few hundred). They are not
//!   marked for transparent huge pages: with the kernel's usual `defrag=madvise`
//!   setting, a fault in such a region compacts memory on the spot, which cut the spawn
//!   rate by two thirds;
//! * chunks are never returned while the runtime lives: a runtime that once held a
//!   million tasks keeps their memory for the next million. They are unmapped with the
//!   last reference to the runtime's shared state, which every task holds.
//!
//! Tasks spawned outside the workers, and tasks larger than [`MAX_BLOCK`] or aligned to
//! more than [`BLOCK_ALIGN`], use the global allocator. So does every task when the
//! environment has `RINGTIDE_TASK_POOL=off`: a memory checker such as valgrind sees
//! only the pool's chunks, not the tasks carved from them, so it can check tasks'
//! lifetimes only without the pool (CI runs it that way).

use std::alloc::Layout;
use std::cell::Cell;
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::Mutex;

/// Block sizes are multiples of this, which is also every block's alignment.
pub(crate) const BLOCK_ALIGN: usize = 16;

/// Largest block the pool serves.
pub(crate) const MAX_BLOCK: usize = 1024;

const CLASSES: usize = MAX_BLOCK / BLOCK_ALIGN;

/// Bytes of one chunk: one huge page on x86-64 and most arm64 kernels.
const CHUNK: usize = 2 << 20;

/// A free block: its first word links it to the next.
struct FreeBlock {
    next: *mut FreeBlock,
}

/// Whether tasks may come from the pools: unless `RINGTIDE_TASK_POOL=off` (see the
/// module docs). Read once per process.
pub(crate) fn enabled() -> bool {
    static ENABLED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ENABLED.get_or_init(|| std::env::var_os("RINGTIDE_TASK_POOL").is_none_or(|v| v != "off"))
}

/// The size class serving `layout`, if the pool serves it.
pub(crate) fn class_of(layout: Layout) -> Option<usize> {
    if layout.size() > MAX_BLOCK || layout.align() > BLOCK_ALIGN || layout.size() == 0 {
        return None;
    }
    Some(layout.size().div_ceil(BLOCK_ALIGN) - 1)
}

fn block_size(class: usize) -> usize {
    (class + 1) * BLOCK_ALIGN
}

/// The part of a worker's pool that other threads reach: where they return its blocks,
/// and the chunks it owns.
#[derive(Debug)]
pub(crate) struct RemotePool {
    /// On cache lines of their own: other workers push here for every task of this
    /// worker's that they free, and nothing the owner writes often should share them.
    freed: crate::scheduler::CacheAligned<[AtomicPtr<FreeBlock>; CLASSES]>,
    chunks: Mutex<Vec<NonNull<u8>>>,
}

// SAFETY: the chunk pointers are only used to free the chunks when the pool is dropped;
// the free lists are atomics.
unsafe impl Send for RemotePool {}
// SAFETY: as above.
unsafe impl Sync for RemotePool {}

impl RemotePool {
    pub(crate) fn new() -> RemotePool {
        RemotePool {
            freed: crate::scheduler::CacheAligned(std::array::from_fn(|_| {
                AtomicPtr::new(ptr::null_mut())
            })),
            chunks: Mutex::new(Vec::new()),
        }
    }

    /// Returns a block of class `class` from another thread than its worker's.
    ///
    /// # Safety
    ///
    /// `block` came from this pool's [`LocalPool::alloc`] with this class, and nothing
    /// uses it any more.
    pub(crate) unsafe fn free(&self, block: NonNull<u8>, class: usize) {
        let block = block.as_ptr().cast::<FreeBlock>();
        let list = &self.freed.0[class];
        let mut head = list.load(Ordering::Relaxed);
        loop {
            // SAFETY: the block is ours to write (caller's promise) and large enough.
            unsafe { block.write(FreeBlock { next: head }) };
            // Release: the worker that takes the list reads the links.
            match list.compare_exchange_weak(head, block, Ordering::Release, Ordering::Relaxed) {
                Ok(_) => return,
                Err(actual) => head = actual,
            }
        }
    }
}

impl Drop for RemotePool {
    fn drop(&mut self) {
        let chunks = self.chunks.get_mut().unwrap_or_else(|e| e.into_inner());
        for chunk in chunks.drain(..) {
            // SAFETY: every chunk is a mapping of `CHUNK` bytes made by `map_chunk`, and
            // no block of it is in use: every task holds the runtime's shared state,
            // which owns this pool.
            unsafe { libc::munmap(chunk.as_ptr().cast(), CHUNK) };
        }
    }
}

/// Maps a fresh chunk of `CHUNK` bytes aligned to `CHUNK` (so that a kernel running
/// transparent huge pages for every mapping can back it with one).
fn map_chunk() -> NonNull<u8> {
    // Twice the size, to cut an aligned chunk out of it.
    let span = 2 * CHUNK;
    // SAFETY: an anonymous private mapping with no address hint touches no existing
    // memory.
    let base = unsafe {
        libc::mmap(
            ptr::null_mut(),
            span,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if base == libc::MAP_FAILED {
        // Out of memory (or of mappings): the same outcome as a failed allocation.
        std::alloc::handle_alloc_error(Layout::from_size_align(CHUNK, CHUNK).unwrap());
    }
    let base = base as usize;
    let start = base.next_multiple_of(CHUNK);
    let end = start + CHUNK;
    // SAFETY: both ranges lie within the mapping just made, which nothing else uses;
    // unmapping or advising a page range never touches other memory.
    unsafe {
        if start > base {
            libc::munmap(base as *mut libc::c_void, start - base);
        }
        if base + span > end {
            libc::munmap(end as *mut libc::c_void, base + span - end);
        }
        NonNull::new_unchecked(start as *mut u8)
    }
}

/// The worker-thread-only part of a worker's pool.
#[derive(Debug)]
pub(crate) struct LocalPool {
    free: [Cell<*mut FreeBlock>; CLASSES],
    /// The unused part of the current chunk.
    next: Cell<*mut u8>,
    end: Cell<*mut u8>,
}

impl LocalPool {
    pub(crate) fn new() -> LocalPool {
        LocalPool {
            free: std::array::from_fn(|_| Cell::new(ptr::null_mut())),
            next: Cell::new(ptr::null_mut()),
            end: Cell::new(ptr::null_mut()),
        }
    }

    /// A block of class `class`, aligned to [`BLOCK_ALIGN`].
    pub(crate) fn alloc(&self, remote: &RemotePool, class: usize) -> NonNull<u8> {
        let mut head = self.free[class].get();
        if head.is_null() {
            // Acquire: the links were written by the threads that freed the blocks.
            head = remote.freed.0[class].swap(ptr::null_mut(), Ordering::Acquire);
        }
        if let Some(block) = NonNull::new(head) {
            // SAFETY: a listed block is free and starts with its link.
            self.free[class].set(unsafe { block.as_ref().next });
            return block.cast();
        }
        self.carve(remote, block_size(class))
    }

    /// Returns a block on its worker's own thread.
    ///
    /// # Safety
    ///
    /// `block` came from this pool's [`alloc`](Self::alloc) with this class, and nothing
    /// uses it any more.
    pub(crate) unsafe fn free(&self, block: NonNull<u8>, class: usize) {
        let block = block.as_ptr().cast::<FreeBlock>();
        // SAFETY: the block is ours to write (caller's promise) and large enough.
        unsafe {
            block.write(FreeBlock {
                next: self.free[class].get(),
            })
        };
        self.free[class].set(block);
    }

    fn carve(&self, remote: &RemotePool, size: usize) -> NonNull<u8> {
        let next = self.next.get();
        if (self.end.get() as usize).saturating_sub(next as usize) < size {
            return self.grow(remote, size);
        }
        // SAFETY: `next + size` is within the current chunk (checked above).
        self.next.set(unsafe { next.add(size) });
        // SAFETY: `next` is a non-null pointer into a chunk.
        unsafe { NonNull::new_unchecked(next) }
    }

    /// Starts a new chunk (the rest of the current one is left unused) and carves from it.
    fn grow(&self, remote: &RemotePool, size: usize) -> NonNull<u8> {
        let chunk = map_chunk();
        remote
            .chunks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(chunk);
        // SAFETY: `size <= MAX_BLOCK < CHUNK`, within the new chunk.
        self.next.set(unsafe { chunk.as_ptr().add(size) });
        // SAFETY: one past the end of the chunk.
        self.end.set(unsafe { chunk.as_ptr().add(CHUNK) });
        chunk
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(size: usize) -> Layout {
        Layout::from_size_align(size, 8).unwrap()
    }

    #[test]
    fn classes_round_up_to_the_block_alignment() {
        assert_eq!(class_of(layout(1)), Some(0));
        assert_eq!(class_of(layout(BLOCK_ALIGN)), Some(0));
        assert_eq!(class_of(layout(BLOCK_ALIGN + 1)), Some(1));
        assert_eq!(block_size(class_of(layout(264)).unwrap()), 272);
        assert_eq!(class_of(layout(MAX_BLOCK)), Some(CLASSES - 1));
        assert_eq!(class_of(layout(MAX_BLOCK + 1)), None);
        let overaligned = Layout::from_size_align(64, 2 * BLOCK_ALIGN).unwrap();
        assert_eq!(class_of(overaligned), None);
        assert_eq!(class_of(layout(0)), None);
    }

    #[test]
    fn blocks_are_aligned_disjoint_and_reused_after_free() {
        let remote = RemotePool::new();
        let local = LocalPool::new();
        let mut blocks: Vec<(usize, NonNull<u8>)> = Vec::new();
        // Enough to need several chunks.
        for i in 0..(3 * CHUNK / 512) {
            let class = i % CLASSES;
            let block = local.alloc(&remote, class);
            assert_eq!(block.as_ptr() as usize % BLOCK_ALIGN, 0);
            // SAFETY: the block is ours and `block_size(class)` long.
            unsafe { block.as_ptr().write_bytes(class as u8, block_size(class)) };
            blocks.push((class, block));
        }
        let chunks = remote.chunks.lock().unwrap().clone();
        assert!(chunks.len() >= 3);
        assert!(chunks.iter().all(|c| c.as_ptr() as usize % CHUNK == 0));
        for &(class, block) in &blocks {
            // SAFETY: written above; nothing else wrote it since, so blocks do not overlap.
            let bytes = unsafe { std::slice::from_raw_parts(block.as_ptr(), block_size(class)) };
            assert!(bytes.iter().all(|&b| b == class as u8));
        }
        let (class, block) = blocks[7];
        // SAFETY: allocated above with this class, no longer used.
        unsafe { local.free(block, class) };
        assert_eq!(local.alloc(&remote, class), block);
    }

    #[test]
    fn blocks_freed_on_other_threads_come_back_to_their_worker() {
        let remote = RemotePool::new();
        let local = LocalPool::new();
        let blocks: Vec<usize> = (0..100)
            .map(|_| local.alloc(&remote, 2).as_ptr() as usize)
            .collect();
        std::thread::scope(|s| {
            for half in blocks.chunks(50) {
                let remote = &remote;
                s.spawn(move || {
                    for &block in half {
                        // SAFETY: allocated above with class 2 and no longer used.
                        unsafe { remote.free(NonNull::new(block as *mut u8).unwrap(), 2) };
                    }
                });
            }
        });
        let mut again: Vec<usize> = (0..100)
            .map(|_| local.alloc(&remote, 2).as_ptr() as usize)
            .collect();
        again.sort_unstable();
        let mut blocks = blocks;
        blocks.sort_unstable();
        assert_eq!(again, blocks, "every freed block is reused, none twice");
    }
}
