//! A small `sync` facade so the concurrent state machines can be model-checked.
//!
//! Under `--cfg loom` the atomics and locks come from `loom`, which explores every
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

/// `spin_loop`, which under loom lets the other threads run.
pub(crate) mod hint {
    #[cfg(loom)]
    pub(crate) use loom::hint::spin_loop;
    #[cfg(not(loom))]
    pub(crate) use std::hint::spin_loop;
}

/// `UnsafeCell` with loom's closure-based interface, so that loom can check who touches
/// the contents when; outside loom a plain `std::cell::UnsafeCell`.
pub(crate) mod cell {
    #[cfg(loom)]
    pub(crate) use loom::cell::UnsafeCell;

    #[cfg(not(loom))]
    #[derive(Debug)]
    pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

    #[cfg(not(loom))]
    impl<T> UnsafeCell<T> {
        pub(crate) const fn new(value: T) -> Self {
            UnsafeCell(std::cell::UnsafeCell::new(value))
        }

        pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0.get())
        }
    }
}

/// A waker slot that a future registers into and another thread takes from:
/// `atomic_waker::AtomicWaker`, or under loom a lock-based stand-in loom can see through.
pub(crate) mod waker {
    #[cfg(not(loom))]
    pub(crate) use atomic_waker::AtomicWaker;

    #[cfg(loom)]
    #[derive(Debug)]
    pub(crate) struct AtomicWaker(loom::sync::Mutex<Option<std::task::Waker>>);

    #[cfg(loom)]
    impl AtomicWaker {
        pub(crate) fn new() -> Self {
            AtomicWaker(loom::sync::Mutex::new(None))
        }
        pub(crate) fn register(&self, waker: &std::task::Waker) {
            *self.0.lock().unwrap() = Some(waker.clone());
        }
        pub(crate) fn take(&self) -> Option<std::task::Waker> {
            self.0.lock().unwrap().take()
        }
    }
}

/// Runs a loom model with a default preemption bound of 2, which keeps CI quick;
/// `LOOM_MAX_PREEMPTIONS=N` explores deeper.
#[cfg(all(test, loom))]
pub(crate) fn model<F: Fn() + Sync + Send + 'static>(f: F) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(2);
    }
    builder.check(f);
}
