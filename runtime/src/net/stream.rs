//! What every connection-oriented socket shares, whatever its family: the listening
//! side's accept with its back-off ([`ListenSocket`]), and the connected side's
//! owned-buffer and poll-style I/O ([`StreamSocket`]). `TcpListener`/`TcpStream` and
//! `UnixListener`/`UnixStream` wrap these and add their family's addresses and options.

use std::future::Future;
use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::net::Shutdown;
use std::sync::atomic::{AtomicU32, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use socket2::{SockAddr, SockRef};

use super::fd::{SharedFd, SocketFd};
use super::ops::{Accept, Recv, Send};
use super::poll_io::{self, PollWait};
use crate::buf::{IoBuf, IoBufMut};
use crate::driver::op::Interest;
use crate::op::Op;

/// Connections the kernel queues for a listener before `accept` takes them (capped by
/// `net.core.somaxconn`).
pub(crate) const BACKLOG: i32 = 4096;

/// Longest pause between accepts while the process is out of descriptors.
const MAX_ACCEPT_BACKOFF_MS: u32 = 100;

/// A listening socket's descriptor and its accept back-off.
///
/// When an accept fails because the process or system is out of descriptors (`EMFILE`,
/// `ENFILE`) or memory (`ENOBUFS`, `ENOMEM`), the error is returned, and the next accept
/// first pauses (1 ms, doubling up to 100 ms while the failures go on) so that an
/// accept loop that logs and continues does not spin a core. The first successful
/// accept ends the pauses; pending connections wait in the kernel's queue meanwhile.
#[derive(Debug)]
pub(crate) struct ListenSocket {
    fd: SharedFd,
    /// Pause before the next accept, in milliseconds (0: none).
    backoff_ms: AtomicU32,
}

impl ListenSocket {
    pub(crate) fn new(fd: SharedFd) -> ListenSocket {
        ListenSocket {
            fd,
            backoff_ms: AtomicU32::new(0),
        }
    }

    pub(crate) fn fd(&self) -> &SharedFd {
        &self.fd
    }

    /// Waits for a connection: its descriptor and the peer's address as the kernel
    /// wrote it. Cancel-safe: a connection accepted after the future is dropped is
    /// closed.
    pub(crate) async fn accept(&self) -> io::Result<(SharedFd, SockAddr)> {
        self.pause().await;
        let result = Op::new(Accept::new(self.fd.clone())).await;
        self.record(result.as_ref().map(drop));
        result
    }

    /// The pause the back-off asks for before the next accept, if any.
    pub(crate) async fn pause(&self) {
        let pause = self.backoff_ms.load(Ordering::Relaxed);
        if pause > 0 {
            crate::time::sleep(Duration::from_millis(u64::from(pause))).await;
        }
    }

    /// Updates the back-off with how an accept went.
    pub(crate) fn record(&self, result: Result<(), &io::Error>) {
        let pause = self.backoff_ms.load(Ordering::Relaxed);
        match result {
            Ok(()) if pause > 0 => self.backoff_ms.store(0, Ordering::Relaxed),
            Err(e) if is_resource_exhaustion(e) => {
                let next = (pause * 2).clamp(1, MAX_ACCEPT_BACKOFF_MS);
                self.backoff_ms.store(next, Ordering::Relaxed);
            }
            _ => {}
        }
    }
}

/// Accept failures that mean "out of descriptors or memory", which retrying at once
/// cannot fix.
fn is_resource_exhaustion(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

/// A connected stream socket: its descriptor and one readiness wait per direction for
/// the poll-style calls.
#[derive(Debug)]
pub(crate) struct StreamSocket {
    fd: SharedFd,
    read_wait: PollWait,
    write_wait: PollWait,
}

impl StreamSocket {
    pub(crate) fn new(fd: SharedFd) -> StreamSocket {
        StreamSocket {
            fd,
            read_wait: PollWait::default(),
            write_wait: PollWait::default(),
        }
    }

    pub(crate) fn fd(&self) -> &SharedFd {
        &self.fd
    }

    /// The reading and the writing side, each with its own direction's wait.
    pub(crate) fn split(self) -> (StreamSocket, StreamSocket) {
        let read = StreamSocket {
            fd: self.fd.clone(),
            read_wait: self.read_wait,
            write_wait: PollWait::default(),
        };
        let write = StreamSocket {
            fd: self.fd,
            read_wait: PollWait::default(),
            write_wait: self.write_wait,
        };
        (read, write)
    }

    /// The two sides of one [`split`](Self::split) back together.
    pub(crate) fn join(read: StreamSocket, write: StreamSocket) -> StreamSocket {
        StreamSocket {
            fd: read.fd,
            read_wait: read.read_wait,
            write_wait: write.write_wait,
        }
    }

    /// The stream of what arrives, in buffers the runtime lends (see
    /// `TcpStream::recv_stream`).
    pub(crate) fn recv_stream(&self) -> super::RecvStream {
        super::RecvStream::new(self.fd.clone())
    }

    /// One receive into `buf`, filled from its start (see `TcpStream::read`).
    pub(crate) fn read<B: IoBufMut>(
        &self,
        buf: B,
    ) -> impl Future<Output = (io::Result<usize>, B)> + std::marker::Send + 'static {
        Op::new(Recv::new(self.fd.clone(), buf))
    }

    /// One send of what fits of `buf`'s initialized bytes.
    pub(crate) fn write<B: IoBuf>(
        &self,
        buf: B,
    ) -> impl Future<Output = (io::Result<usize>, B)> + std::marker::Send + 'static {
        Op::new(Send::new(self.fd.clone(), buf, 0))
    }

    /// Sends until all of `buf`'s initialized bytes are sent, or an error.
    pub(crate) fn write_all<B: IoBuf>(
        &self,
        buf: B,
    ) -> impl Future<Output = (io::Result<()>, B)> + std::marker::Send + 'static {
        let fd = self.fd.clone();
        async move {
            let mut buf = buf;
            let mut offset = 0;
            while offset < buf.bytes_init() {
                let (result, back) = Op::new(Send::new(fd.clone(), buf, offset)).await;
                buf = back;
                match result {
                    Ok(0) => return (Err(io::ErrorKind::WriteZero.into()), buf),
                    Ok(n) => offset += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return (Err(e), buf),
                }
            }
            (Ok(()), buf)
        }
    }

    /// The poll behind `AsyncRead`, into memory that need not be initialized: on
    /// `Ready(Ok(n))` the first `n` bytes of `buf` are.
    pub(crate) fn poll_read_uninit(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut [MaybeUninit<u8>],
    ) -> Poll<io::Result<usize>> {
        let fd = &self.fd;
        let len = buf.len();
        self.read_wait
            .poll_io(cx, fd, Interest::Read, len, || poll_io::recv(fd, buf))
    }

    /// The poll behind `AsyncRead`, into initialized memory.
    pub(crate) fn poll_read(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_read_uninit(cx, poll_io::as_uninit(buf))
    }

    /// The poll behind `AsyncWrite`.
    pub(crate) fn poll_write(
        &mut self,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let fd = &self.fd;
        self.write_wait
            .poll_io(cx, fd, Interest::Write, buf.len(), || {
                poll_io::send(fd, buf)
            })
    }

    /// [`poll_write`](Self::poll_write) of several buffers with one `sendmsg(2)`.
    pub(crate) fn poll_write_vectored(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let fd = &self.fd;
        let len = poll_io::vectored_len(bufs);
        self.write_wait.poll_io(cx, fd, Interest::Write, len, || {
            poll_io::send_vectored(fd, bufs)
        })
    }

    /// `shutdown(2)`.
    pub(crate) fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        SockRef::from(&self.fd).shutdown(how)
    }

    /// Shuts the write side down for the poll-style traits; a connection the peer
    /// already reset has no write side left to shut, which is what was asked.
    #[cfg_attr(
        not(any(feature = "tokio-io", feature = "futures-io", feature = "hyper")),
        allow(dead_code)
    )]
    pub(crate) fn shutdown_write(&self) -> io::Result<()> {
        match self.shutdown(Shutdown::Write) {
            Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => Ok(()),
            result => result,
        }
    }
}

impl SocketFd for ListenSocket {
    fn shared_fd(&self) -> &SharedFd {
        &self.fd
    }
}

impl SocketFd for StreamSocket {
    fn shared_fd(&self) -> &SharedFd {
        &self.fd
    }
}

/// A stream type's [`StreamSocket`], which the poll-style trait implementations in
/// [`compat`](crate::compat) work through, one macro for every stream type.
#[cfg_attr(
    not(any(feature = "tokio-io", feature = "futures-io", feature = "hyper")),
    allow(dead_code)
)]
pub(crate) trait AsStreamSocket {
    fn stream_socket(&mut self) -> &mut StreamSocket;
}

/// The owned-buffer and poll-style I/O methods of a stream type whose `socket` field is
/// a [`StreamSocket`], written once for `TcpStream` and `UnixStream`: `read`, `write`,
/// `write_all`, `poll_read`, `poll_write`, `poll_write_vectored` and `shutdown`. The
/// doc attributes given are appended to `poll_read`'s (an example in the type's terms).
macro_rules! stream_io_methods {
    ($(#[$poll_read_doc:meta])*) => {
        /// Receives into `buf`; gives back the count `n` and the buffer, whose data is then
        /// `buf[..n]`.
        ///
        /// The read fills `buf` from its start, up to its capacity, whatever it held: a `Vec`
        /// comes back with its length set to exactly `n` (shorter or longer than before), so
        /// a buffer reused in a loop needs no `clear()`, and `vec![0; N]` reads as much as
        /// `Vec::with_capacity(N)`. A `Box<[u8]>` keeps its length. `Ok(0)` always means the
        /// peer closed its side (or `buf` has a capacity of 0). See [`crate::buf`] for why.
        pub fn read<B: $crate::buf::IoBufMut>(
            &self,
            buf: B,
        ) -> impl std::future::Future<Output = (std::io::Result<usize>, B)>
               + std::marker::Send
               + 'static {
            self.socket.read(buf)
        }

        /// The bytes that arrive from now on, one runtime-lent buffer at a time, with no
        /// buffer held while none arrive: a multishot receive into the worker's provided
        /// buffers on io_uring (6.0+), else readiness and one receive into a pooled
        /// buffer per [`next`]($crate::net::RecvStream::next). See
        /// [`RecvStream`]($crate::net::RecvStream) for an example.
        pub fn recv_stream(&self) -> $crate::net::RecvStream {
            self.socket.recv_stream()
        }

        /// Sends what it can of `buf`'s initialized bytes; gives back the count and the
        /// buffer.
        pub fn write<B: $crate::buf::IoBuf>(
            &self,
            buf: B,
        ) -> impl std::future::Future<Output = (std::io::Result<usize>, B)>
               + std::marker::Send
               + 'static {
            self.socket.write(buf)
        }

        /// Sends all of `buf`'s initialized bytes, in as many sends as it takes. When the
        /// peer is slow to read, this waits (the socket's send buffer applies backpressure).
        pub fn write_all<B: $crate::buf::IoBuf>(
            &self,
            buf: B,
        ) -> impl std::future::Future<Output = (std::io::Result<()>, B)>
               + std::marker::Send
               + 'static {
            self.socket.write_all(buf)
        }

        /// Reads what the socket has, up to `buf.len()` bytes, into `buf`, or registers the
        /// task to be woken when there is something: the poll behind `AsyncRead`.
        /// `Ready(Ok(0))` means the peer closed its side (or `buf` is empty).
        ///
        /// Nothing is taken from the socket unless this returns it: a poll that returns
        /// `Pending` and is never repeated loses no byte.
        ///
        $(#[$poll_read_doc])*
        pub fn poll_read(
            &mut self,
            cx: &mut std::task::Context<'_>,
            buf: &mut [u8],
        ) -> std::task::Poll<std::io::Result<usize>> {
            self.socket.poll_read(cx, buf)
        }

        /// Writes what the socket's send buffer has room for of `buf`, or registers the task
        /// to be woken when there is room: the poll behind `AsyncWrite`. A count returned is
        /// in the kernel's hands; `Pending` wrote nothing.
        pub fn poll_write(
            &mut self,
            cx: &mut std::task::Context<'_>,
            buf: &[u8],
        ) -> std::task::Poll<std::io::Result<usize>> {
            self.socket.poll_write(cx, buf)
        }

        /// [`poll_write`](Self::poll_write) of several buffers in order, with one
        /// `sendmsg(2)`.
        pub fn poll_write_vectored(
            &mut self,
            cx: &mut std::task::Context<'_>,
            bufs: &[std::io::IoSlice<'_>],
        ) -> std::task::Poll<std::io::Result<usize>> {
            self.socket.poll_write_vectored(cx, bufs)
        }

        /// Shuts down the read side, the write side, or both (`shutdown(2)`). Shutting
        /// down the write side sends the peer an end of stream once pending data is sent.
        pub fn shutdown(&self, how: std::net::Shutdown) -> std::io::Result<()> {
            self.socket.shutdown(how)
        }

        /// Splits the stream into a reading and a writing half that can move to two
        /// tasks, on any workers; [`OwnedReadHalf::reunite`](crate::net::OwnedReadHalf::reunite)
        /// puts it back together. Dropping the writing half shuts the write side down
        /// (see [`OwnedWriteHalf`](crate::net::OwnedWriteHalf)).
        pub fn into_split(
            self,
        ) -> (
            $crate::net::OwnedReadHalf<Self>,
            $crate::net::OwnedWriteHalf<Self>,
        ) {
            $crate::net::split::split(self)
        }
    };
}
pub(crate) use stream_io_methods;
