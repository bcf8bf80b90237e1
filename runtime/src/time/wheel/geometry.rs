//! The wheel's geometry: how a tick (a microsecond) maps to a level and a slot, and how
//! deadlines and clock readings in nanoseconds become ticks.
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
//! slices (see [`Wheel::expire`](super::Wheel::expire)).
//!
//! # Never early
//!
//! A deadline in nanoseconds becomes the tick `ceil(ns / 1000)`, and a timer fires only
//! when the tick of the current time (`floor(now / 1000)`) has reached it, so a timer is
//! at most one microsecond late for rounding and never early.

/// Levels of the wheel.
pub(super) const LEVELS: usize = 5;
/// Tick bits indexed by each level (its number of slots is `2^bits`).
pub(super) const LEVEL_BITS: [u32; LEVELS] = [6, 6, 12, 12, 12];
/// Lowest tick bit indexed by each level. (A slot index must fit the `u16` in `Links`.)
pub(super) const LEVEL_SHIFT: [u32; LEVELS] = [0, 6, 12, 24, 36];
/// Ticks covered by the whole wheel.
pub(super) const SPAN_MASK: u64 = (1 << 48) - 1;

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

/// The tick (microsecond) at or after a deadline in nanoseconds.
pub(crate) fn tick_at_or_after(nanos: u64) -> u64 {
    nanos.div_ceil(1000)
}

/// The tick that a clock reading in nanoseconds has reached.
pub(crate) fn tick_reached(nanos: u64) -> u64 {
    nanos / 1000
}

/// The slot of level `level` that tick `tick` falls in.
pub(super) fn slot_index(level: usize, tick: u64) -> usize {
    ((tick >> LEVEL_SHIFT[level]) & ((1 << LEVEL_BITS[level]) - 1)) as usize
}

/// The level holding the highest bit in which `when` differs from `elapsed`.
pub(super) fn level_for(elapsed: u64, when: u64) -> usize {
    let masked = (elapsed ^ when) | ((1 << LEVEL_BITS[0]) - 1);
    let bit = 63 - masked.leading_zeros();
    LEVEL_SHIFT
        .iter()
        .rposition(|&shift| bit >= shift)
        .unwrap_or(0)
        .min(LEVELS - 1)
}
