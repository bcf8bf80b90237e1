//! A socket descriptor shared by its owner and the operations in flight on it.

use std::os::fd::{AsFd, BorrowedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use crate::context::{self, Current};

/// A descriptor that stays open until its owner and every operation that uses it are
/// gone. So the descriptor number cannot be closed and reused for another socket while
/// the kernel still has a request queued against it (which would then read from or
/// write to the wrong connection).
#[derive(Clone, Debug)]
pub(crate) struct SharedFd(Arc<Owned>);

#[derive(Debug)]
struct Owned {
    fd: RawFd,
    /// Never the same for two descriptors, even with the same number (see `key`).
    key: u64,
    /// `O_NONBLOCK` was set on the descriptor by [`SharedFd::set_nonblocking`].
    nonblocking: AtomicBool,
}

/// The source of descriptor keys; 0 is never handed out.
static NEXT_KEY: AtomicU64 = AtomicU64::new(1);

impl SharedFd {
    /// Takes ownership of `fd`.
    pub(crate) fn new(fd: RawFd) -> SharedFd {
        SharedFd(Arc::new(Owned {
            fd,
            key: NEXT_KEY.fetch_add(1, Ordering::Relaxed),
            nonblocking: AtomicBool::new(false),
        }))
    }

    /// Whether `a` and `b` share one descriptor.
    pub(crate) fn same(a: &SharedFd, b: &SharedFd) -> bool {
        Arc::ptr_eq(&a.0, &b.0)
    }

    pub(crate) fn raw(&self) -> RawFd {
        self.0.fd
    }

    /// Tells this descriptor apart from every other, including later ones that reuse
    /// its number: a readiness driver registers a descriptor again when the key under
    /// its number changes.
    pub(crate) fn key(&self) -> u64 {
        self.0.key
    }

    /// Makes the descriptor non-blocking (once), as a readiness-driven `accept` or
    /// `connect` needs. Returns the negated errno on failure.
    pub(crate) fn set_nonblocking(&self) -> Result<(), i32> {
        if self.0.nonblocking.load(Ordering::Relaxed) {
            return Ok(());
        }
        set_nonblocking(self.0.fd, true)?;
        self.0.nonblocking.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// Makes the descriptor blocking again, if [`set_nonblocking`](Self::set_nonblocking)
    /// made it non-blocking: io_uring requests on a non-blocking socket end in `EAGAIN`
    /// instead of waiting.
    pub(crate) fn restore_blocking(&self) {
        if self.0.nonblocking.swap(false, Ordering::Relaxed) {
            let _ = set_nonblocking(self.0.fd, false);
        }
    }
}

/// Sets or clears `O_NONBLOCK` (`FIONBIO`: one system call); the negated errno on
/// failure.
fn set_nonblocking(fd: RawFd, on: bool) -> Result<(), i32> {
    let mut value = libc::c_int::from(on);
    // SAFETY: FIONBIO reads one int from a valid local.
    if unsafe { libc::ioctl(fd, libc::FIONBIO, &mut value) } < 0 {
        return Err(-io_errno());
    }
    Ok(())
}

/// The calling thread's last OS error number.
pub(crate) fn io_errno() -> i32 {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

impl AsFd for SharedFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        // SAFETY: the descriptor is open for as long as `self` lives.
        unsafe { BorrowedFd::borrow_raw(self.raw()) }
    }
}

impl Drop for Owned {
    fn drop(&mut self) {
        close_fd(self.fd);
    }
}

/// Closes a descriptor: through the current worker's driver where there is one (a ring
/// submits the close with its next batch; epoll forgets the descriptor's registration),
/// else with `close(2)`.
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

/// What holds a socket's [`SharedFd`]: the field [`impl_fd_traits!`] reaches through.
pub(crate) trait SocketFd {
    fn shared_fd(&self) -> &SharedFd;
}

impl SocketFd for SharedFd {
    fn shared_fd(&self) -> &SharedFd {
        self
    }
}

/// `AsRawFd` and `AsFd` for socket types, through a field that holds the descriptor:
/// `impl_fd_traits!(UdpSocket => fd, TcpStream => socket)`.
macro_rules! impl_fd_traits {
    ($($ty:ty => $field:ident),* $(,)?) => {$(
        impl std::os::fd::AsRawFd for $ty {
            fn as_raw_fd(&self) -> std::os::fd::RawFd {
                $crate::net::fd::SocketFd::shared_fd(&self.$field).raw()
            }
        }

        impl std::os::fd::AsFd for $ty {
            fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
                std::os::fd::AsFd::as_fd($crate::net::fd::SocketFd::shared_fd(&self.$field))
            }
        }
    )*};
}
pub(crate) use impl_fd_traits;
