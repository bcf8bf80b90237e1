//! A hint that memory is about to be read.
//!
//! Firing a batch of timers walks lists of nodes that live in the tasks' own memory, and
//! waking them touches each task's header: with many tasks, every step is a cache miss,
//! and each one waits for the last. Asking for the next node (or the next few tasks)
//! while handling the current one overlaps those misses.

/// Hints that the cache line at `ptr` will be read soon. Never faults, whatever `ptr`
/// points at (null, freed or unmapped memory included), and does nothing on targets
/// without a prefetch instruction.
#[inline(always)]
pub(crate) fn prefetch<T>(ptr: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is only a hint: it never faults or changes memory, whatever
    // the address, and SSE (which provides it) is part of the x86_64 baseline.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(ptr.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = ptr;
}
