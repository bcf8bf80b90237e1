//! Poll-style reads and writes, the shape `AsyncRead`/`AsyncWrite` traits and hyper ask
//! for: readiness, then a non-blocking system call straight into (or out of) the
//! caller's buffer.
//!
//! # Why readiness, not a completion into an owned buffer
//!
//! A poll-style read borrows the caller's buffer only for the length of one `poll_read`
//! call, so a ring cannot be handed that buffer; it would have to read into one the
//! stream owns and copy out. Waiting for readiness instead (`IORING_OP_POLL_ADD` on a
//! ring, an edge on epoll) and then calling `recv(2)` with `MSG_DONTWAIT` into the
//! caller's buffer costs no copy, and keeps every byte safe by construction: data leaves
//! the kernel only inside a `poll_read` that returns it. A poll abandoned mid-flight
//! (its future dropped, a `select!` branch lost) leaves at most a readiness wait behind,
//! which the next poll picks up; nothing was taken from the socket. Writes are the same
//! the other way: a write reported done was accepted by the kernel's send buffer.
//!
//! Each direction keeps one wait ([`PollWait`]) in the stream. A call that moved fewer
//! bytes than asked ran the socket dry, so the next one waits for readiness first
//! instead of spending a system call to learn `EAGAIN` (an HTTP/1.1 server reads each
//! request that way). On the epoll driver a wait whose caller has just seen `EAGAIN`, or
//! such a short call, on the worker's thread costs no system call at all (see
//! [`Readiness::seen_not_ready`](crate::driver::op::Readiness)).

use std::future::Future;
use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use super::fd::SharedFd;
use super::ops::Ready;
use crate::context;
use crate::coop;
use crate::driver::epoll::Epoch;
use crate::driver::op::Interest;
use crate::op::Op;

/// One direction's readiness wait, kept between polls.
#[derive(Debug, Default)]
pub(crate) enum PollWait {
    /// The next call tries its system call at once.
    #[default]
    Idle,
    /// The last call moved fewer bytes than it asked for, which on a stream socket means
    /// the kernel's queue (or the room in its send buffer) ran out: the next call waits
    /// for readiness first instead of spending a system call on `EAGAIN`. Holds the
    /// readiness epoch read before that call, for which the argument of
    /// [`Readiness::seen_not_ready`](crate::driver::op::Readiness) holds as for an
    /// `EAGAIN`.
    Drained(Option<Epoch>),
    /// Armed when the last attempt found the socket not ready.
    Waiting(Op<Ready>),
}

impl PollWait {
    /// Runs `attempt` (a non-blocking system call in direction `interest`, asked to move
    /// `len` bytes) once the socket may be ready: at once, unless the last call ran the
    /// socket dry, then after each readiness wait for as long as it fails with `EAGAIN`.
    /// Spends one unit of the task's budget per call, so a task whose socket never runs
    /// dry still yields.
    pub(crate) fn poll_io<R: Moved>(
        &mut self,
        cx: &mut Context<'_>,
        fd: &SharedFd,
        interest: Interest,
        len: usize,
        mut attempt: impl FnMut() -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        ready!(coop::poll_proceed(cx));
        if let PollWait::Drained(epoch) = *self {
            // Under a ring the poll checks the socket as the kernel arms it; on epoll an
            // epoch from another worker (or none) makes the wait try `poll(2)` first.
            *self = PollWait::Waiting(Op::new(Ready::new(fd.clone(), interest, epoch)));
        }
        loop {
            if let PollWait::Waiting(wait) = self {
                let result = ready!(Pin::new(wait).poll(cx));
                *self = PollWait::Idle;
                result?;
            }
            let epoch = context::readiness_epoch();
            match attempt() {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    *self = PollWait::Waiting(Op::new(Ready::new(fd.clone(), interest, epoch)));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Ok(moved) => {
                    if (1..len).contains(&moved.moved()) {
                        *self = PollWait::Drained(epoch);
                    }
                    return Poll::Ready(Ok(moved));
                }
                result => return Poll::Ready(result),
            }
        }
    }
}

/// What a successful attempt of [`PollWait::poll_io`] returns: a count of bytes, or
/// something that tells it.
pub(crate) trait Moved {
    /// The bytes the call moved.
    fn moved(&self) -> usize;
}

impl Moved for usize {
    fn moved(&self) -> usize {
        *self
    }
}

/// `recv(2)` without blocking into `buf`; the count, whose bytes are then initialized.
pub(crate) fn recv(fd: &SharedFd, buf: &mut [MaybeUninit<u8>]) -> io::Result<usize> {
    // SAFETY: `buf` is writable for its length; the kernel writes only initialized bytes.
    let n = unsafe {
        libc::recv(
            fd.raw(),
            buf.as_mut_ptr().cast(),
            buf.len(),
            libc::MSG_DONTWAIT,
        )
    };
    count(n)
}

/// `send(2)` without blocking (and without `SIGPIPE`) from `buf`.
pub(crate) fn send(fd: &SharedFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is readable for its length.
    let n = unsafe {
        libc::send(
            fd.raw(),
            buf.as_ptr().cast(),
            buf.len(),
            libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
        )
    };
    count(n)
}

/// `sendmsg(2)` of `bufs` in order, without blocking (and without `SIGPIPE`).
pub(crate) fn send_vectored(fd: &SharedFd, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    // SAFETY: a zeroed msghdr is valid (no address, no control data).
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    // `IoSlice` is ABI-compatible with `iovec`; the kernel takes at most IOV_MAX of them.
    msg.msg_iov = bufs.as_ptr() as *mut libc::iovec;
    msg.msg_iovlen = sent_slices(bufs).len() as _;
    // SAFETY: `msg` points at `bufs`, each readable for its length, for the call.
    let n = unsafe { libc::sendmsg(fd.raw(), &msg, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL) };
    count(n)
}

/// The slices of `bufs` one [`send_vectored`] passes to the kernel.
fn sent_slices<'a, 'b>(bufs: &'a [IoSlice<'b>]) -> &'a [IoSlice<'b>] {
    &bufs[..bufs.len().min(libc::UIO_MAXIOV as usize)]
}

/// How many bytes one [`send_vectored`] of `bufs` asks the kernel to take.
pub(crate) fn vectored_len(bufs: &[IoSlice<'_>]) -> usize {
    sent_slices(bufs).iter().map(|b| b.len()).sum()
}

fn count(n: isize) -> io::Result<usize> {
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Views initialized bytes as possibly uninitialized ones, for [`recv`].
pub(crate) fn as_uninit(buf: &mut [u8]) -> &mut [MaybeUninit<u8>] {
    // SAFETY: same layout; `recv` writes only initialized bytes, so `buf` stays
    // initialized.
    unsafe { &mut *(buf as *mut [u8] as *mut [MaybeUninit<u8>]) }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// A stream carries two of these, and its split halves and `ReuniteError` a few
    /// streams' worth: the drained state costs no room beside the armed wait.
    #[test]
    fn a_poll_wait_is_no_larger_than_its_wait() {
        assert_eq!(
            std::mem::size_of::<PollWait>(),
            std::mem::size_of::<Op<Ready>>()
        );
    }
}
