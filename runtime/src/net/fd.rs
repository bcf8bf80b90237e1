//! A socket descriptor shared by its owner and the operations in flight on it.

use std::os::fd::{AsFd, BorrowedFd, RawFd};
use std::sync::Arc;

use crate::context::{self, Current};

/// A descriptor that stays open until its owner and every operation that uses it are
/// gone. So the descriptor number cannot be closed and reused for another socket while
/// the kernel still has a request queued against it (which would then read from or
/// write to the wrong connection).
#[derive(Clone, Debug)]
pub(crate) struct SharedFd(Arc<Owned>);

#[derive(Debug)]
struct Owned(RawFd);

impl SharedFd {
    /// Takes ownership of `fd`.
    pub(crate) fn new(fd: RawFd) -> SharedFd {
        SharedFd(Arc::new(Owned(fd)))
    }

    pub(crate) fn raw(&self) -> RawFd {
        self.0 .0
    }
}

impl AsFd for SharedFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        // SAFETY: the descriptor is open for as long as `self` lives.
        unsafe { BorrowedFd::borrow_raw(self.raw()) }
    }
}

impl Drop for Owned {
    fn drop(&mut self) {
        close_fd(self.0);
    }
}

/// Closes a descriptor: through the current worker's ring where there is one (no
/// syscall now; the close is submitted with the next batch), else with `close(2)`.
pub(crate) fn close_fd(fd: RawFd) {
    let queued = context::with_current(|current| match current {
        Current::Worker(core) => core.close_fd(fd),
        _ => false,
    });
    if !queued {
        // SAFETY: the caller owns `fd` and gives it up.
        unsafe { libc::close(fd) };
    }
}
