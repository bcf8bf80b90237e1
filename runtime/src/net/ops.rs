//! The socket operations: what each submits and what its completion means.

use std::io;
use std::net::SocketAddr;
use std::os::fd::RawFd;

use io_uring::{opcode, squeue, types};
use socket2::{SockAddr, SockAddrStorage};

use super::fd::{close_fd, SharedFd};
use crate::buf::{IoBuf, IoBufMut};
use crate::driver::op::{Completion, Operation};
use crate::driver::Features;

/// `IORING_RECVSEND_POLL_FIRST`: arm the readiness wait before the first attempt.
const RECVSEND_POLL_FIRST: u16 = 1;

/// Largest length one request takes (the SQE's length field is 32 bits).
fn clamp_len(len: usize) -> u32 {
    len.min(u32::MAX as usize) as u32
}

/// `accept4(2)`: a new connection's descriptor and the peer's address.
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
    type Output = io::Result<(SharedFd, SocketAddr)>;

    fn sqe(&mut self, _: &Features) -> squeue::Entry {
        self.len = self.storage.size_of();
        // SAFETY: sockaddr is one of the platform's sockaddr types.
        let addr: *mut libc::sockaddr = unsafe { self.storage.view_as() };
        opcode::Accept::new(types::Fd(self.fd.raw()), addr, &mut self.len)
            .flags(libc::SOCK_CLOEXEC)
            .build()
    }

    fn complete(self, result: io::Result<Completion>) -> Self::Output {
        let fd = SharedFd::new(result?.io_result()? as RawFd);
        // SAFETY: the kernel wrote an address of the socket's family and its length.
        let addr = unsafe { SockAddr::new(self.storage, self.len) };
        let addr = addr.as_socket().ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidData, "accepted a non-IP connection")
        })?;
        Ok((fd, addr))
    }

    fn orphaned(self, completion: Completion) {
        if completion.result >= 0 {
            close_fd(completion.result);
        }
    }
}

/// `connect(2)`.
pub(crate) struct Connect {
    fd: SharedFd,
    addr: SockAddr,
}

impl Connect {
    pub(crate) fn new(fd: SharedFd, addr: SocketAddr) -> Connect {
        Connect {
            fd,
            addr: SockAddr::from(addr),
        }
    }
}

impl Operation for Connect {
    type Output = io::Result<()>;

    fn sqe(&mut self, _: &Features) -> squeue::Entry {
        opcode::Connect::new(
            types::Fd(self.fd.raw()),
            self.addr.as_ptr().cast(),
            self.addr.len(),
        )
        .build()
    }

    fn complete(self, result: io::Result<Completion>) -> io::Result<()> {
        result?.io_result().map(drop)
    }
}

/// `recv(2)` into the start of an owned buffer, up to its capacity; the buffer then holds
/// exactly what was received (see `crate::buf`).
pub(crate) struct Recv<B> {
    fd: SharedFd,
    buf: B,
}

impl<B: IoBufMut> Recv<B> {
    pub(crate) fn new(fd: SharedFd, buf: B) -> Recv<B> {
        Recv { fd, buf }
    }
}

impl<B: IoBufMut> Operation for Recv<B> {
    type Output = (io::Result<usize>, B);

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
    pub(crate) fn new(fd: SharedFd, buf: B, addr: SocketAddr) -> SendTo<B> {
        SendTo {
            fd,
            buf,
            addr: SockAddr::from(addr),
            header: MsgHeader::new(),
        }
    }
}

impl<B: IoBuf> Operation for SendTo<B> {
    type Output = (io::Result<usize>, B);

    fn sqe(&mut self, _: &Features) -> squeue::Entry {
        let msg = self.header.set(
            self.buf.stable_ptr().cast_mut(),
            self.buf.bytes_init(),
            self.addr.as_ptr().cast_mut().cast(),
            self.addr.len(),
        );
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
/// sender's address.
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

impl<B: IoBufMut> Operation for RecvFrom<B> {
    type Output = (io::Result<(usize, SocketAddr)>, B);

    fn sqe(&mut self, _: &Features) -> squeue::Entry {
        let name_len = self.storage.size_of();
        // SAFETY: sockaddr_storage is one of the platform's sockaddr types.
        let name: *mut libc::sockaddr_storage = unsafe { self.storage.view_as() };
        let msg = self.header.set(
            self.buf.stable_mut_ptr(),
            self.buf.bytes_total(),
            name.cast(),
            name_len,
        );
        opcode::RecvMsg::new(types::Fd(self.fd.raw()), msg.cast_mut()).build()
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
        match addr.as_socket() {
            Some(addr) => (Ok((n, addr)), self.buf),
            None => (
                Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "datagram from a non-IP address",
                )),
                self.buf,
            ),
        }
    }
}
