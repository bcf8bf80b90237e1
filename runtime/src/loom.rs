//! A small `sync` facade so the concurrent state machines can be model-checked.
//!
//! Under `--cfg loom` the atomics and locks come from [loom], which explores every
//! interleaving the memory model allows; otherwise they are the `std` types.

#[cfg(loom)]
pub(crate) use loom::sync;

#[cfg(not(loom))]
pub(crate) mod sync {
    pub(crate) use std::sync::Mutex;

    pub(crate) mod atomic {
        pub(crate) use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
    }
}
