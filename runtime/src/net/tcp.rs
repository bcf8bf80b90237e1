//! TCP listeners and streams.

use std::future::Future;
use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::net::{Shutdown, SocketAddr, ToSocketAddrs};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, IntoRawFd, RawFd};
use std::sync::atomic::{AtomicU32, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use socket2::{Domain, Protocol, SockRef, Socket, Type};

use super::fd::SharedFd;
use super::ops::{Accept, Recv, Send};
use super::poll_io::{self, PollWait};
use super::{each_addr, no_addresses};
use crate::buf::{IoBuf, IoBufMut};
use crate::driver::op::Interest;
use crate::op::Op;

/// Connections the kernel queues for a listener before `accept` takes them (capped by
/// `net.core.somaxconn`).
const BACKLOG: i32 = 4096;

/// Longest pause between accepts while the process is out of descriptors.
const MAX_ACCEPT_BACKOFF_MS: u32 = 100;

/// A TCP socket listening for connections.
///
/// # Running out of descriptors
///
/// When an accept fails because the process or system is out of descriptors (`EMFILE`,
/// `ENFILE`) or memory (`ENOBUFS`, `ENOMEM`), [`accept`](TcpListener::accept) returns
/// the error, and the next call first pauses (1 ms, doubling up to 100 ms while the
/// failures go on) so that an accept loop that logs and continues does not spin a core.
/// The first successful accept ends the pauses; pending connections wait in the
/// kernel's queue meanwhile.
///
/// ```
/// use ringtide::net::TcpListener;
///
/// ringtide::Runtime::new().unwrap().block_on(async {
///     let listener = TcpListener::bind("127.0.0.1:0").unwrap();
///     assert!(listener.local_addr().unwrap().port() > 0);
/// });
/// ```
#[derive(Debug)]
pub struct TcpListener {
    fd: SharedFd,
    /// Pause before the next accept, in milliseconds (0: none).
    backoff_ms: AtomicU32,
}

impl TcpListener {
    /// Binds a listener to `addr` (each resolved address in turn, until one binds).
    ///
    /// The socket has `SO_REUSEADDR` set, as `std::net::TcpListener` does, so a server
    /// can restart on its port at once. Binding needs no runtime, and a host name
    /// (`"localhost:8080"`) is looked up on the calling thread, as `std::net` does: bind
    /// before the runtime's tasks depend on this thread, or bind a numeric address. For
    /// other options (`SO_REUSEPORT`, the backlog), use a
    /// [`TcpSocket`](super::TcpSocket).
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<TcpListener> {
        each_addr(addr, |addr| {
            let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
            socket.set_reuse_address(true)?;
            socket.bind(&addr.into())?;
            socket.listen(BACKLOG)?;
            Ok(TcpListener::from_socket(socket))
        })
    }

    /// Takes over a listener made with the standard library.
    pub fn from_std(listener: std::net::TcpListener) -> io::Result<TcpListener> {
        // io_uring waits for readiness itself; a non-blocking socket only adds retries.
        listener.set_nonblocking(false)?;
        Ok(TcpListener::from_socket(Socket::from(listener)))
    }

    pub(crate) fn from_socket(socket: Socket) -> TcpListener {
        TcpListener {
            fd: SharedFd::new(socket.into_raw_fd()),
            backoff_ms: AtomicU32::new(0),
        }
    }

    /// Waits for a connection and returns it with the peer's address.
    ///
    /// Cancel-safe: dropping the future never loses a connection to a descriptor leak;
    /// a connection accepted after the drop is closed. See the type's docs for what
    /// happens when descriptors run out.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let pause = self.backoff_ms.load(Ordering::Relaxed);
        if pause > 0 {
            crate::time::sleep(Duration::from_millis(u64::from(pause))).await;
        }
        let result = Op::new(Accept::new(self.fd.clone())).await;
        match &result {
            Ok(_) if pause > 0 => self.backoff_ms.store(0, Ordering::Relaxed),
            Err(e) if is_resource_exhaustion(e) => {
                let next = (pause * 2).clamp(1, MAX_ACCEPT_BACKOFF_MS);
                self.backoff_ms.store(next, Ordering::Relaxed);
            }
            _ => {}
        }
        result.map(|(fd, addr)| (TcpStream::from_fd(fd), addr))
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        sock_addr(SockRef::from(&self.fd).local_addr()?)
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

pub(crate) fn sock_addr(addr: socket2::SockAddr) -> io::Result<SocketAddr> {
    addr.as_socket().ok_or_else(no_addresses)
}

/// A TCP connection.
///
/// Reads and writes take the buffer by value and give it back with the result. The
/// futures they return own what they need (they do not borrow the stream), so a stream
/// can be read in one task and written in another through an `Arc<TcpStream>`. The
/// descriptor is closed once the stream and every operation on it are gone.
///
/// # Poll-style I/O
///
/// [`poll_read`](TcpStream::poll_read) and [`poll_write`](TcpStream::poll_write) read
/// into and write from a borrowed buffer, the shape of tokio's and futures' I/O traits,
/// which the stream implements with the cargo features `tokio-io` and `futures-io`
/// (and hyper's with `hyper`). They wait for the socket's readiness, then move the bytes
/// with one non-blocking system call: no copy, and a poll abandoned mid-flight loses
/// nothing (see [`net`](crate::net#poll-style-io)).
#[derive(Debug)]
pub struct TcpStream {
    fd: SharedFd,
    read_wait: PollWait,
    write_wait: PollWait,
}

impl TcpStream {
    /// Opens a connection to `addr` (each address it stands for in turn, until one
    /// connects). A host name is looked up on a blocking thread, not on the worker (see
    /// [`ToSocketAddrs`](super::ToSocketAddrs)); to set socket options before
    /// connecting, use a [`TcpSocket`](super::TcpSocket).
    pub async fn connect<A: super::ToSocketAddrs>(addr: A) -> io::Result<TcpStream> {
        let mut last = None;
        for addr in super::addr::resolve(&addr).await? {
            let socket = super::TcpSocket::new_for(addr)?;
            match socket.connect(addr).await {
                Ok(stream) => return Ok(stream),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(no_addresses))
    }

    /// Takes over a connection made with the standard library.
    pub fn from_std(stream: std::net::TcpStream) -> io::Result<TcpStream> {
        stream.set_nonblocking(false)?;
        Ok(TcpStream::from_fd(SharedFd::new(stream.into_raw_fd())))
    }

    pub(crate) fn from_fd(fd: SharedFd) -> TcpStream {
        TcpStream {
            fd,
            read_wait: PollWait::default(),
            write_wait: PollWait::default(),
        }
    }

    /// Receives into `buf`; gives back the count `n` and the buffer, whose data is then
    /// `buf[..n]`.
    ///
    /// The read fills `buf` from its start, up to its capacity, whatever it held: a `Vec`
    /// comes back with its length set to exactly `n` (shorter or longer than before), so
    /// a buffer reused in a loop needs no `clear()`, and `vec![0; N]` reads as much as
    /// `Vec::with_capacity(N)`. A `Box<[u8]>` keeps its length. `Ok(0)` always means the
    /// peer closed its side (or `buf` has a capacity of 0). See [`crate::buf`] for why.
    pub fn read<B: IoBufMut>(
        &self,
        buf: B,
    ) -> impl Future<Output = (io::Result<usize>, B)> + std::marker::Send + 'static {
        Op::new(Recv::new(self.fd.clone(), buf))
    }

    /// Sends what it can of `buf`'s initialized bytes; gives back the count and the
    /// buffer.
    pub fn write<B: IoBuf>(
        &self,
        buf: B,
    ) -> impl Future<Output = (io::Result<usize>, B)> + std::marker::Send + 'static {
        Op::new(Send::new(self.fd.clone(), buf, 0))
    }

    /// Sends all of `buf`'s initialized bytes, in as many sends as it takes. When the
    /// peer is slow to read, this waits (the socket's send buffer applies backpressure).
    pub fn write_all<B: IoBuf>(
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

    /// Reads what the socket has, up to `buf.len()` bytes, into `buf`, or registers the
    /// task to be woken when there is something: the poll behind `AsyncRead`.
    /// `Ready(Ok(0))` means the peer closed its side (or `buf` is empty).
    ///
    /// Nothing is taken from the socket unless this returns it: a poll that returns
    /// `Pending` and is never repeated loses no byte.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::future::poll_fn;
    /// use ringtide::net::{TcpListener, TcpStream};
    ///
    /// ringtide::Runtime::new()?.block_on(async {
    ///     let listener = TcpListener::bind("127.0.0.1:0")?;
    ///     let mut client = TcpStream::connect(listener.local_addr()?).await?;
    ///     let (mut server, _) = listener.accept().await?;
    ///     poll_fn(|cx| client.poll_write(cx, b"hello")).await?;
    ///     let mut buf = [0; 16];
    ///     let n = poll_fn(|cx| server.poll_read(cx, &mut buf)).await?;
    ///     assert_eq!(&buf[..n], b"hello");
    ///     Ok::<_, std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.poll_read_uninit(cx, poll_io::as_uninit(buf))
    }

    /// [`poll_read`](Self::poll_read) into memory that need not be initialized: on
    /// `Ready(Ok(n))` the first `n` bytes of `buf` are.
    pub(crate) fn poll_read_uninit(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut [MaybeUninit<u8>],
    ) -> Poll<io::Result<usize>> {
        let fd = &self.fd;
        self.read_wait
            .poll_io(cx, fd, Interest::Read, || poll_io::recv(fd, buf))
    }

    /// Writes what the socket's send buffer has room for of `buf`, or registers the task
    /// to be woken when there is room: the poll behind `AsyncWrite`. A count returned is
    /// in the kernel's hands; `Pending` wrote nothing.
    pub fn poll_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let fd = &self.fd;
        self.write_wait
            .poll_io(cx, fd, Interest::Write, || poll_io::send(fd, buf))
    }

    /// [`poll_write`](Self::poll_write) of several buffers in order, with one
    /// `sendmsg(2)`.
    pub fn poll_write_vectored(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let fd = &self.fd;
        self.write_wait
            .poll_io(cx, fd, Interest::Write, || poll_io::send_vectored(fd, bufs))
    }

    /// Shuts down the read side, the write side, or both (`shutdown(2)`). Shutting
    /// down the write side sends the peer an end of stream once pending data is sent.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
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

    /// Sets `TCP_NODELAY`: small writes go out at once instead of waiting to be merged.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        SockRef::from(&self.fd).set_tcp_nodelay(nodelay)
    }

    /// Whether `TCP_NODELAY` is set.
    pub fn nodelay(&self) -> io::Result<bool> {
        SockRef::from(&self.fd).tcp_nodelay()
    }

    /// Sets `SO_LINGER`. `Some(Duration::ZERO)` makes dropping the stream reset the
    /// connection instead of closing it gracefully.
    pub fn set_linger(&self, linger: Option<Duration>) -> io::Result<()> {
        SockRef::from(&self.fd).set_linger(linger)
    }

    /// The address of the peer.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        sock_addr(SockRef::from(&self.fd).peer_addr()?)
    }

    /// The local address of the connection.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        sock_addr(SockRef::from(&self.fd).local_addr()?)
    }
}

impl AsRawFd for TcpStream {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.raw()
    }
}

impl AsFd for TcpStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for TcpListener {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.raw()
    }
}

impl AsFd for TcpListener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
