//! The socket operations: what each submits to a ring, the non-blocking system call a
//! readiness driver repeats instead, and what the result means.

use std::io;
use std::os::fd::RawFd;

use io_uring::{opcode, squeue, types};
use socket2::{SockAddr, SockAddrStorage};

use super::fd::{close_fd, io_errno, SharedFd};
use crate::buf::{IoBuf, IoBufMut};
use crate::driver::epoll::Epoch;
use crate::driver::op::{Completion, Interest, Operation, Readiness};
use crate::driver::uring::Features;

/// `IORING_RECVSEND_POLL_FIRST`: arm the readiness wait before the first attempt.
const RECVSEND_POLL_FIRST: u16 = 1;

/// Largest length one request takes (the SQE's length field is 32 bits).
fn clamp_len(len: usize) -> u32 {
    len.min(u32::MAX as usize) as u32
}

/// Largest length one attempt passes to the kernel, so that its count fits a completion's
/// `i32` (the kernel caps one call below 2 GiB anyway).
fn attempt_len(len: usize) -> usize {
    len.min(i32::MAX as usize)
}

/// A system call's return as a completion carries it: the count, or the negated errno.
fn syscall_result(rc: isize) -> i32 {
    if rc < 0 {
        -io_errno()
    } else {
        rc.min(i32::MAX as isize) as i32
    }
}

/// What a request on `fd` waits for in direction `interest`.
pub(crate) fn readiness(fd: &SharedFd, interest: Interest) -> Readiness {
    Readiness {
        fd: fd.raw(),
        key: fd.key(),
        interest,
        seen_not_ready: None,
    }
}

/// `accept4(2)`: a new connection's descriptor and the peer's address, as the kernel
/// wrote it (the listener's type reads it as its family's address).
pub(crate) struct Accept {
    fd: SharedFd,
    storage: SockAddrStorage,
    len: libc::socklen_t,
}

impl Accept {
    pub(crate) fn new(fd: SharedFd) -> Accept {
        Accept {
            fd,
            storage: SockAddrStorage::zeroed(),
            len: 0,
        }
    }
}

impl Operation for Accept {
    type Output = io::Result<(SharedFd, SockAddr)>;

    const OPCODE: u8 = opcode::Accept::CODE;

    fn sqe(&mut self, _: &Features) -> squeue::Entry {
        self.len = self.storage.size_of();
        // SAFETY: sockaddr is one of the platform's sockaddr types.
        let addr: *mut libc::sockaddr = unsafe { self.storage.view_as() };
        opcode::Accept::new(types::Fd(self.fd.raw()), addr, &mut self.len)
            .flags(libc::SOCK_CLOEXEC)
            .build()
    }

    fn readiness(&self) -> Readiness {
        readiness(&self.fd, Interest::Read)
    }

    fn attempt(&mut self) -> i32 {
        // Several workers may wait on one listener; those the connection went to another
        // must get EAGAIN, not block.
        if let Err(errno) = self.fd.set_nonblocking() {
            return errno;
        }
        self.len = self.storage.size_of();
        // SAFETY: sockaddr is one of the platform's sockaddr types.
        let addr: *mut libc::sockaddr = unsafe { self.storage.view_as() };
        // SAFETY: `addr` and `len` point into this operation, with `len` the room there.
        let fd = unsafe { libc::accept4(self.fd.raw(), addr, &mut self.len, libc::SOCK_CLOEXEC) };
        syscall_result(fd as isize)
    }

    fn complete(self, result: io::Result<Completion>) -> Self::Output {
        let fd = SharedFd::new(result?.io_result()? as RawFd);
        // SAFETY: the kernel wrote an address of the socket's family and its length.
        let addr = unsafe { SockAddr::new(self.storage, self.len) };
        Ok((fd, addr))
    }

    fn orphaned(self, completion: Completion) {
        if completion.result >= 0 {
            close_fd(completion.result);
        }
    }
}

/// `connect(2)`.
///
/// A non-blocking `connect` that fails with `EAGAIN` did not start: a Unix listener's
/// backlog was full. No readiness edge announces room in another socket's backlog, so a
/// readiness driver must not wait for one: the request completes with
/// [`WouldBlock`](io::ErrorKind::WouldBlock) instead, and the caller tries again later
/// (see [`Connect::not_started`]). A ring's `connect` waits for the room in the kernel.
pub(crate) struct Connect {
    fd: SharedFd,
    addr: SockAddr,
    /// An attempt has called `connect`: the next ones ask how it went.
    started: bool,
    /// The attempt's `connect` failed with `EAGAIN`: nothing was started.
    not_started: bool,
}

impl Connect {
    pub(crate) fn new(fd: SharedFd, addr: SockAddr) -> Connect {
        Connect {
            fd,
            addr,
            started: false,
            not_started: false,
        }
    }

    /// Whether `e`, from a connect request, means the connection was not started because
    /// the listener's backlog was full: the caller may try again on the same socket.
    pub(crate) fn not_started(e: &io::Error) -> bool {
        e.kind() == io::ErrorKind::WouldBlock
    }

    /// Where a non-blocking connect stands: 0 connected, `-EAGAIN` still in progress,
    /// else the negated errno it failed with.
    fn progress(&self) -> i32 {
        let mut error: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: SO_ERROR writes one int into a valid local of `len` bytes.
        let rc = unsafe {
            libc::getsockopt(
                self.fd.raw(),
                libc::SOL_SOCKET,
                libc::SO_ERROR,
                (&mut error as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        if rc < 0 {
            return -io_errno();
        }
        if error != 0 {
            return -error;
        }
        let mut peer = SockAddrStorage::zeroed();
        let mut peer_len = peer.size_of();
        // SAFETY: sockaddr is one of the platform's sockaddr types; `peer_len` is its room.
        let rc = unsafe { libc::getpeername(self.fd.raw(), peer.view_as(), &mut peer_len) };
        match rc {
            0 => 0,
            _ if io_errno() == libc::ENOTCONN => -libc::EAGAIN,
            _ => -io_errno(),
        }
    }
}

impl Operation for Connect {
    type Output = io::Result<()>;

    const OPCODE: u8 = opcode::Connect::CODE;

    fn sqe(&mut self, _: &Features) -> squeue::Entry {
        opcode::Connect::new(
            types::Fd(self.fd.raw()),
            self.addr.as_ptr().cast(),
            self.addr.len(),
        )
        .build()
    }

    fn readiness(&self) -> Readiness {
        readiness(&self.fd, Interest::Write)
    }

    fn attempt(&mut self) -> i32 {
        let result = if self.started {
            self.progress()
        } else {
            // A blocking connect would hold the worker for a round trip or more.
            if let Err(errno) = self.fd.set_nonblocking() {
                return errno;
            }
            self.started = true;
            // SAFETY: the address lives in this operation, `len` bytes of it.
            let rc =
                unsafe { libc::connect(self.fd.raw(), self.addr.as_ptr().cast(), self.addr.len()) };
            match rc {
                0 => 0,
                _ => match io_errno() {
                    libc::EINPROGRESS => -libc::EAGAIN,
                    libc::EAGAIN => {
                        // Any code but EAGAIN ends the request; `complete` reports it.
                        self.not_started = true;
                        -libc::EBUSY
                    }
                    errno => -errno,
                },
            }
        };
        if result != -libc::EAGAIN {
            // The stream's later requests may go to a ring, which needs it blocking.
            self.fd.restore_blocking();
        }
        result
    }

    fn complete(self, result: io::Result<Completion>) -> io::Result<()> {
        if self.not_started {
            return Err(io::Error::from_raw_os_error(libc::EAGAIN));
        }
        result?.io_result().map(drop)
    }
}

/// `recv(2)` into the start of an owned buffer, up to its capacity; the buffer then holds
/// exactly what was received (see `crate::buf`).
pub(crate) struct Recv<B> {
    fd: SharedFd,
    buf: B,
    /// A stream socket, which hands over all it has up to the length asked for (a
    /// datagram socket hands over one datagram).
    stream: bool,
}

impl<B: IoBufMut> Recv<B> {
    /// A receive from a stream socket.
    pub(crate) fn new(fd: SharedFd, buf: B) -> Recv<B> {
        Recv {
            fd,
            buf,
            stream: true,
        }
    }

    /// A receive of one datagram from a connected datagram socket.
    pub(crate) fn datagram(fd: SharedFd, buf: B) -> Recv<B> {
        Recv {
            fd,
            buf,
            stream: false,
        }
    }
}

impl<B: IoBufMut> Operation for Recv<B> {
    type Output = (io::Result<usize>, B);

    const OPCODE: u8 = opcode::Recv::CODE;

    fn readiness(&self) -> Readiness {
        readiness(&self.fd, Interest::Read)
    }

    fn attempt(&mut self) -> i32 {
        let len = attempt_len(self.buf.bytes_total());
        // SAFETY: the buffer is writable for `bytes_total` bytes from `stable_mut_ptr`,
        // and nothing else uses it while the operation holds it.
        let n = unsafe {
            libc::recv(
                self.fd.raw(),
                self.buf.stable_mut_ptr().cast(),
                len,
                libc::MSG_DONTWAIT,
            )
        };
        syscall_result(n)
    }

    fn exhausted(&self, result: i32) -> bool {
        // A short read of a stream took everything the socket had.
        self.stream && result > 0 && (result as usize) < attempt_len(self.buf.bytes_total())
    }

    fn sqe(&mut self, features: &Features) -> squeue::Entry {
        let len = clamp_len(self.buf.bytes_total());
        // A stream is read when its task wants the next message, usually before the peer
        // has sent it: wait for readiness first rather than try a receive that fails.
        let ioprio = if features.poll_first {
            RECVSEND_POLL_FIRST
        } else {
            0
        };
        opcode::Recv::new(types::Fd(self.fd.raw()), self.buf.stable_mut_ptr(), len)
            .ioprio(ioprio)
            .build()
    }

    fn complete(mut self, result: io::Result<Completion>) -> Self::Output {
        let n = match result.and_then(|c| c.io_result()) {
            Ok(n) => n as usize,
            Err(e) => return (Err(e), self.buf),
        };
        // SAFETY: the kernel wrote `n` bytes from the start of the buffer.
        unsafe { self.buf.set_init(n) };
        (Ok(n), self.buf)
    }
}

/// `send(2)` of an owned buffer's initialized bytes from `offset`.
pub(crate) struct Send<B> {
    fd: SharedFd,
    buf: B,
    offset: usize,
}

impl<B: IoBuf> Send<B> {
    pub(crate) fn new(fd: SharedFd, buf: B, offset: usize) -> Send<B> {
        Send { fd, buf, offset }
    }
}

impl<B: IoBuf> Operation for Send<B> {
    type Output = (io::Result<usize>, B);

    const OPCODE: u8 = opcode::Send::CODE;

    fn readiness(&self) -> Readiness {
        readiness(&self.fd, Interest::Write)
    }

    fn attempt(&mut self) -> i32 {
        let init = self.buf.bytes_init();
        let offset = self.offset.min(init);
        // SAFETY: `offset <= bytes_init`, within the buffer, whose `bytes_init` bytes are
        // initialized.
        let n = unsafe {
            libc::send(
                self.fd.raw(),
                self.buf.stable_ptr().add(offset).cast(),
                attempt_len(init - offset),
                libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
            )
        };
        syscall_result(n)
    }

    fn exhausted(&self, result: i32) -> bool {
        // A short send filled the socket's buffer (a datagram is sent whole or not at all).
        let init = self.buf.bytes_init();
        result >= 0 && (result as usize) < attempt_len(init - self.offset.min(init))
    }

    fn sqe(&mut self, _: &Features) -> squeue::Entry {
        let init = self.buf.bytes_init();
        let offset = self.offset.min(init);
        // SAFETY: `offset <= bytes_init`, within the buffer.
        let ptr = unsafe { self.buf.stable_ptr().add(offset) };
        opcode::Send::new(types::Fd(self.fd.raw()), ptr, clamp_len(init - offset))
            // A peer that went away gives EPIPE, not a process-killing SIGPIPE.
            .flags(libc::MSG_NOSIGNAL)
            .build()
    }

    fn complete(self, result: io::Result<Completion>) -> Self::Output {
        let n = result.and_then(|c| c.io_result()).map(|n| n as usize);
        (n, self.buf)
    }
}

/// The `msghdr` of a datagram operation, pointing into the operation itself.
struct MsgHeader {
    iov: libc::iovec,
    msg: libc::msghdr,
}

// SAFETY: the pointers refer to the buffer and address stored next to the header in the
// same operation, which moves between threads as a whole.
unsafe impl std::marker::Send for MsgHeader {}

impl MsgHeader {
    fn new() -> MsgHeader {
        // SAFETY: all-zero is a valid iovec and msghdr (null pointers, zero lengths).
        unsafe { std::mem::zeroed() }
    }

    /// Points the header at `len` bytes at `base` and at the address `name`.
    fn set(
        &mut self,
        base: *mut u8,
        len: usize,
        name: *mut libc::c_void,
        name_len: libc::socklen_t,
    ) -> *const libc::msghdr {
        self.iov = libc::iovec {
            iov_base: base.cast(),
            iov_len: len,
        };
        self.msg.msg_iov = &mut self.iov;
        self.msg.msg_iovlen = 1;
        self.msg.msg_name = name;
        self.msg.msg_namelen = name_len;
        &self.msg
    }
}

/// `sendmsg(2)` of a datagram to an address.
pub(crate) struct SendTo<B> {
    fd: SharedFd,
    buf: B,
    addr: SockAddr,
    header: MsgHeader,
}

impl<B: IoBuf> SendTo<B> {
    pub(crate) fn new(fd: SharedFd, buf: B, addr: SockAddr) -> SendTo<B> {
        SendTo {
            fd,
            buf,
            addr,
            header: MsgHeader::new(),
        }
    }
}

impl<B: IoBuf> SendTo<B> {
    fn msg(&mut self) -> *const libc::msghdr {
        self.header.set(
            self.buf.stable_ptr().cast_mut(),
            self.buf.bytes_init(),
            self.addr.as_ptr().cast_mut().cast(),
            self.addr.len(),
        )
    }
}

impl<B: IoBuf> Operation for SendTo<B> {
    type Output = (io::Result<usize>, B);

    const OPCODE: u8 = opcode::SendMsg::CODE;

    fn readiness(&self) -> Readiness {
        readiness(&self.fd, Interest::Write)
    }

    fn attempt(&mut self) -> i32 {
        let msg = self.msg();
        // SAFETY: the header points at the buffer's initialized bytes and the address,
        // all inside this operation.
        let n =
            unsafe { libc::sendmsg(self.fd.raw(), msg, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL) };
        syscall_result(n)
    }

    fn sqe(&mut self, _: &Features) -> squeue::Entry {
        let msg = self.msg();
        opcode::SendMsg::new(types::Fd(self.fd.raw()), msg)
            .flags(libc::MSG_NOSIGNAL as u32)
            .build()
    }

    fn complete(self, result: io::Result<Completion>) -> Self::Output {
        let n = result.and_then(|c| c.io_result()).map(|n| n as usize);
        (n, self.buf)
    }
}

/// `recvmsg(2)` of a datagram, into the start of an owned buffer as for [`Recv`], and its
/// sender's address as the kernel wrote it (a Unix datagram's unnamed sender leaves it
/// empty).
pub(crate) struct RecvFrom<B> {
    fd: SharedFd,
    buf: B,
    storage: SockAddrStorage,
    header: MsgHeader,
}

impl<B: IoBufMut> RecvFrom<B> {
    pub(crate) fn new(fd: SharedFd, buf: B) -> RecvFrom<B> {
        RecvFrom {
            fd,
            buf,
            storage: SockAddrStorage::zeroed(),
            header: MsgHeader::new(),
        }
    }
}

impl<B: IoBufMut> RecvFrom<B> {
    fn msg(&mut self) -> *mut libc::msghdr {
        let name_len = self.storage.size_of();
        // SAFETY: sockaddr_storage is one of the platform's sockaddr types.
        let name: *mut libc::sockaddr_storage = unsafe { self.storage.view_as() };
        self.header
            .set(
                self.buf.stable_mut_ptr(),
                attempt_len(self.buf.bytes_total()),
                name.cast(),
                name_len,
            )
            .cast_mut()
    }
}

impl<B: IoBufMut> Operation for RecvFrom<B> {
    type Output = (io::Result<(usize, SockAddr)>, B);

    const OPCODE: u8 = opcode::RecvMsg::CODE;

    fn sqe(&mut self, _: &Features) -> squeue::Entry {
        let msg = self.msg();
        opcode::RecvMsg::new(types::Fd(self.fd.raw()), msg).build()
    }

    fn readiness(&self) -> Readiness {
        readiness(&self.fd, Interest::Read)
    }

    fn attempt(&mut self) -> i32 {
        let msg = self.msg();
        // SAFETY: the header points at the writable buffer and the address storage, all
        // inside this operation.
        let n = unsafe { libc::recvmsg(self.fd.raw(), msg, libc::MSG_DONTWAIT) };
        syscall_result(n)
    }

    fn complete(mut self, result: io::Result<Completion>) -> Self::Output {
        let n = match result.and_then(|c| c.io_result()) {
            Ok(n) => n as usize,
            Err(e) => return (Err(e), self.buf),
        };
        // SAFETY: the kernel wrote `n` bytes from the start of the buffer.
        unsafe { self.buf.set_init(n) };
        // SAFETY: the kernel wrote the sender's address and its length into the header.
        let addr = unsafe { SockAddr::new(self.storage, self.header.msg.msg_namelen) };
        (Ok((n, addr)), self.buf)
    }
}

/// A wait for a socket to become ready in one direction, taking nothing from it: the
/// poll-style reads and writes make their own non-blocking system call into the caller's
/// buffer once it is (see [`super::poll_io`]).
pub(crate) struct Ready {
    fd: SharedFd,
    interest: Interest,
    /// The readiness driver's epoch when the caller found the socket not ready.
    seen_not_ready: Option<Epoch>,
}

impl Ready {
    pub(crate) fn new(fd: SharedFd, interest: Interest, seen_not_ready: Option<Epoch>) -> Ready {
        Ready {
            fd,
            interest,
            seen_not_ready,
        }
    }
}

impl Operation for Ready {
    type Output = io::Result<()>;

    const OPCODE: u8 = opcode::PollAdd::CODE;

    const WAIT_ONLY: bool = true;

    fn sqe(&mut self, _: &Features) -> squeue::Entry {
        // The kernel checks the socket as it arms the poll: one that is ready already
        // completes at once.
        opcode::PollAdd::new(types::Fd(self.fd.raw()), self.interest.poll_events() as u32).build()
    }

    fn readiness(&self) -> Readiness {
        Readiness {
            seen_not_ready: self.seen_not_ready,
            ..readiness(&self.fd, self.interest)
        }
    }

    fn attempt(&mut self) -> i32 {
        let mut pollfd = libc::pollfd {
            fd: self.fd.raw(),
            events: self.interest.poll_events(),
            revents: 0,
        };
        // SAFETY: one valid pollfd, no timeout.
        match unsafe { libc::poll(&mut pollfd, 1, 0) } {
            rc if rc < 0 => -io_errno(),
            0 => -libc::EAGAIN,
            _ => 0,
        }
    }

    fn complete(self, result: io::Result<Completion>) -> io::Result<()> {
        result?.io_result().map(drop)
    }
}
