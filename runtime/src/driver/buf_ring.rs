//! A worker ring's provided-buffer ring (`IORING_REGISTER_PBUF_RING`, 5.19+): the
//! receive buffers a multishot receive picks from, so that an idle connection holds none.
//!
//! # Layout
//!
//! One buffer group ([`BUF_GROUP`]) per worker ring. Its ring of entries is sized once,
//! at registration, for the configured maximum number of buffers (rounded up to a power
//! of two, at most 32,768); the buffers themselves are allocated in chunks: the initial
//! count at registration, then one more chunk each time a receive finds the ring empty
//! (`ENOBUFS`), doubling the count until the maximum. Every buffer is in the ring at most
//! once, so the ring can never overflow.
//!
//! # Who owns a buffer
//!
//! 1. In the ring (between `tail`'s publication and a completion naming its id): the
//!    kernel's. Nothing in user space touches its bytes.
//! 2. From the completion on: the [`RingBuf`] the ring builds from the completion's
//!    buffer id, handed to the receiving future and on to the user. Its bytes are the
//!    user's, readable and writable.
//! 3. When the `RingBuf` is dropped, on any thread: its entry is written at the ring's
//!    tail and the tail is published with a release store, under the pool's lock (the
//!    ring has one producer at a time: whoever holds the lock). Back to 1.
//!
//! # Lifetime of the memory
//!
//! The buffers and the ring of entries live in a [`BufPool`] behind an `Arc`, held by
//! the worker's ring and by every `RingBuf`. The worker's ring unregisters the group only
//! after every request it had in flight has completed (its `Drop`), so the kernel never
//! writes into a buffer after that; a `RingBuf` that outlives its runtime keeps the
//! memory alive, and returning it then writes an entry nobody reads. The memory is freed
//! with the last `Arc`.

use std::fmt;
use std::io;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use io_uring::types::BufRingEntry;
use io_uring::Submitter;

/// The buffer group id of every ring's provided buffers (ids are per ring).
pub(crate) const BUF_GROUP: u16 = 0;

/// The kernel's limit on a buffer ring's entries.
pub(crate) const MAX_BUFFERS: u16 = 32_768;

/// How a worker ring's receive buffers are sized (see `Builder::recv_buffers`).
#[derive(Debug, Clone)]
pub(crate) struct RecvBufferConfig {
    /// Bytes per buffer: the most one receive completion carries.
    pub(crate) size: u32,
    /// Buffers provided when the ring is set up.
    pub(crate) initial: u16,
    /// Buffers the ring may grow to when receives find it empty.
    pub(crate) max: u16,
    /// Shared by every worker of the runtime; bumped only on the rare paths.
    pub(crate) counters: Arc<RecvBufferCounters>,
}

impl Default for RecvBufferConfig {
    fn default() -> RecvBufferConfig {
        RecvBufferConfig {
            size: 4096,
            initial: 128,
            max: 4096,
            counters: Arc::default(),
        }
    }
}

/// Events of the runtime's receive buffer rings, summed over its workers.
#[derive(Debug, Default)]
pub(crate) struct RecvBufferCounters {
    /// Multishot receives that found their ring empty (`ENOBUFS`).
    pub(crate) enobufs: AtomicU64,
    /// Chunks of buffers added after an `ENOBUFS`.
    pub(crate) grown: AtomicU64,
    /// Buffers provided, over every ring.
    pub(crate) buffers: AtomicU64,
}

/// The producer side of the ring of entries: written by whoever holds the lock.
struct Producer {
    /// First entry of the ring (page-aligned, `entries` long); the tail is a field of it.
    ring: *mut BufRingEntry,
    mask: u16,
    /// The next tail to publish (wrapping).
    tail: u16,
    /// The buffers' memory, never moved or freed before the pool.
    chunks: Vec<Box<[u8]>>,
}

/// The memory of one buffer group: the ring of entries and the buffers.
pub(crate) struct BufPool {
    producer: Mutex<Producer>,
    /// Bytes per buffer.
    size: u32,
    /// Length of the ring's mapping.
    ring_bytes: usize,
}

// SAFETY: the raw pointers in `Producer` point into memory this pool owns (the mapping
// and the chunks), reached only under the lock; buffer bytes are reached only by the
// `RingBuf` that owns them (see the module docs).
unsafe impl Send for BufPool {}
// SAFETY: as above.
unsafe impl Sync for BufPool {}

impl BufPool {
    /// Puts buffer `bid` at `addr` in the ring and publishes it to the kernel.
    fn provide(&self, producer: &mut Producer, addr: *mut u8, bid: u16) {
        let index = usize::from(producer.tail & producer.mask);
        // SAFETY: `index` is within the ring's `mask + 1` entries; the entry at the tail
        // is not one the kernel reads until the tail moves past it, and the lock makes
        // this thread the only writer. Only the buffer fields are written: entry 0's
        // reserved field is the tail itself.
        let entry = unsafe { &mut *producer.ring.add(index) };
        entry.set_addr(addr as u64);
        entry.set_len(self.size);
        entry.set_bid(bid);
        producer.tail = producer.tail.wrapping_add(1);
        // SAFETY: the tail is a `u16` field of the ring's first entry, which the kernel
        // reads with acquire ordering; `AtomicU16` has the same layout, and the release
        // store orders the entry's writes before it.
        let tail = unsafe { &*BufRingEntry::tail(producer.ring).cast::<AtomicU16>() };
        tail.store(producer.tail, Ordering::Release);
    }

    /// A buffer the user is done with goes back to the ring (from any thread).
    fn give_back(&self, addr: *mut u8, bid: u16) {
        let mut producer = self.producer.lock().unwrap_or_else(|e| e.into_inner());
        self.provide(&mut producer, addr, bid);
    }
}

impl Drop for BufPool {
    fn drop(&mut self) {
        let producer = self.producer.get_mut().unwrap_or_else(|e| e.into_inner());
        // SAFETY: the mapping was made in `BufRing::register` with this length, and the
        // kernel no longer reads it (the group was unregistered, or its ring closed).
        unsafe { libc::munmap(producer.ring.cast(), self.ring_bytes) };
    }
}

/// A worker ring's buffer group, as its ring thread uses it.
pub(crate) struct BufRing {
    pool: Arc<BufPool>,
    /// The address of each buffer, by id; grows only on the ring's thread.
    addrs: Vec<*mut u8>,
    max: u16,
    counters: Arc<RecvBufferCounters>,
    /// The group was withdrawn from the kernel (see [`unregister`](Self::unregister)).
    unregistered: bool,
}

impl Drop for BufRing {
    /// Leaks the buffers unless the kernel has given the group back: a receive still in
    /// flight, or a ring dropped while unwinding, may write any of them.
    fn drop(&mut self) {
        if !self.unregistered {
            std::mem::forget(self.pool.clone());
        }
    }
}

impl BufRing {
    /// Maps a ring of entries for `config.max` buffers, registers it with the ring of
    /// `submitter` as [`BUF_GROUP`], and provides `config.initial` buffers. Fails where
    /// the kernel has no buffer rings (before 5.19).
    pub(crate) fn register(
        submitter: &Submitter<'_>,
        config: &RecvBufferConfig,
    ) -> io::Result<BufRing> {
        let entries = config.max.clamp(1, MAX_BUFFERS).next_power_of_two();
        let ring_bytes = usize::from(entries) * std::mem::size_of::<BufRingEntry>();
        // SAFETY: an anonymous private mapping; no pointer is passed in.
        let ring = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                ring_bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ring == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let pool = Arc::new(BufPool {
            producer: Mutex::new(Producer {
                ring: ring.cast(),
                mask: entries - 1,
                tail: 0,
                chunks: Vec::new(),
            }),
            size: config.size,
            ring_bytes,
        });
        // SAFETY: the mapping is page-aligned, `entries` entries long (a power of two),
        // zeroed (tail 0), and stays mapped until the pool is dropped, which the ring's
        // `Drop` does only after unregistering the group (see the module docs).
        unsafe { submitter.register_buf_ring_with_flags(ring as u64, entries, BUF_GROUP, 0)? };
        let mut this = BufRing {
            pool,
            addrs: Vec::new(),
            max: config.max.clamp(1, MAX_BUFFERS),
            counters: config.counters.clone(),
            unregistered: false,
        };
        this.add_buffers(config.initial.clamp(1, this.max));
        Ok(this)
    }

    /// Withdraws the group from the kernel, once no request of the ring is in flight;
    /// the buffers are then freed when the last one lent out comes back.
    pub(crate) fn unregister(mut self, submitter: &Submitter<'_>) {
        self.unregistered = submitter.unregister_buf_ring(BUF_GROUP).is_ok();
    }

    /// Allocates `count` more buffers and provides them.
    fn add_buffers(&mut self, count: u16) {
        let size = self.pool.size as usize;
        let mut chunk = vec![0u8; size * usize::from(count)].into_boxed_slice();
        let base = chunk.as_mut_ptr();
        let mut producer = self.pool.producer.lock().unwrap_or_else(|e| e.into_inner());
        for i in 0..usize::from(count) {
            let bid = self.addrs.len() as u16;
            // SAFETY: `i * size` is within the chunk of `count * size` bytes.
            let addr = unsafe { base.add(i * size) };
            self.addrs.push(addr);
            self.pool.provide(&mut producer, addr, bid);
        }
        // Moving the box does not move its heap bytes.
        producer.chunks.push(chunk);
        self.counters
            .buffers
            .fetch_add(u64::from(count), Ordering::Relaxed);
    }

    /// Counts a receive that found the ring empty.
    pub(crate) fn count_enobufs(&self) {
        self.counters.enobufs.fetch_add(1, Ordering::Relaxed);
    }

    /// Adds a chunk of buffers (as many as there are, up to the maximum), once for every
    /// pass over the completions in which receives found the ring empty.
    pub(crate) fn grow(&mut self) {
        let have = self.addrs.len() as u16;
        let more = have.min(self.max - have);
        if more == 0 {
            return;
        }
        self.add_buffers(more);
        self.counters.grown.fetch_add(1, Ordering::Relaxed);
    }

    /// The buffer a completion named, holding its first `len` bytes.
    pub(crate) fn take(&self, bid: u16, len: u32) -> RingBuf {
        let ptr = self.addrs[usize::from(bid)];
        RingBuf {
            pool: self.pool.clone(),
            ptr,
            len: len.min(self.pool.size),
            bid,
        }
    }
}

impl fmt::Debug for BufRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BufRing")
            .field("buffers", &self.addrs.len())
            .field("max", &self.max)
            .field("size", &self.pool.size)
            .finish()
    }
}

/// A provided buffer the kernel filled, owned until dropped, when it goes back to its
/// ring.
pub(crate) struct RingBuf {
    pool: Arc<BufPool>,
    ptr: *mut u8,
    len: u32,
    bid: u16,
}

// SAFETY: the buffer's bytes belong to this value alone until it is dropped (see the
// module docs); the pool is `Send + Sync`.
unsafe impl Send for RingBuf {}
// SAFETY: as above; `&RingBuf` only reads.
unsafe impl Sync for RingBuf {}

impl RingBuf {
    /// How many bytes the buffer can hold.
    pub(crate) fn capacity(&self) -> usize {
        self.pool.size as usize
    }

    /// Keeps the first `len` bytes (at most the current length).
    pub(crate) fn truncate(&mut self, len: usize) {
        if let Ok(len) = u32::try_from(len) {
            self.len = self.len.min(len);
        }
    }
}

impl Deref for RingBuf {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        // SAFETY: `ptr` is a buffer of `capacity` bytes this value owns, of which the
        // kernel wrote the first `len` (and the rest were zeroed or written before).
        unsafe { std::slice::from_raw_parts(self.ptr, self.len as usize) }
    }
}

impl DerefMut for RingBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `deref`; `&mut self` makes the access exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len as usize) }
    }
}

impl Drop for RingBuf {
    fn drop(&mut self) {
        self.pool.give_back(self.ptr, self.bid);
    }
}

impl fmt::Debug for RingBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RingBuf")
            .field("bid", &self.bid)
            .field("len", &self.len)
            .finish()
    }
}
