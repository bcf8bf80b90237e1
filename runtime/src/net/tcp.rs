//! TCP listeners and streams.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::IntoRawFd;
use std::time::Duration;

use socket2::{Domain, Protocol, SockRef, Socket, Type};

use super::fd::{impl_fd_traits, SharedFd};
use super::stream::{stream_io_methods, ListenSocket, StreamSocket, BACKLOG};
use super::{each_addr, no_addresses};

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
    socket: ListenSocket,
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
            socket: ListenSocket::new(SharedFd::new(socket.into_raw_fd())),
        }
    }

    /// Waits for a connection and returns it with the peer's address.
    ///
    /// Cancel-safe: dropping the future never loses a connection to a descriptor leak;
    /// a connection accepted after the drop is closed. See the type's docs for what
    /// happens when descriptors run out.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (fd, addr) = self.socket.accept().await?;
        let addr = addr.as_socket().ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidData, "accepted a non-IP connection")
        })?;
        Ok((TcpStream::from_fd(fd), addr))
    }

    /// The connections coming in, as a stream whose [`next`](super::Incoming::next)
    /// yields each: one multishot accept serves them all on io_uring (5.19+), a loop of
    /// [`accept`](Self::accept)s elsewhere. Streams come without their peer's address
    /// (a multishot accept does not ask for it): see
    /// [`TcpStream::peer_addr`]. See [`Incoming`](super::Incoming) for an example, and
    /// why `accept` itself stays one-shot.
    pub fn incoming(&self) -> super::Incoming<'_> {
        super::Incoming::new(&self.socket)
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        sock_addr(SockRef::from(self.socket.fd()).local_addr()?)
    }
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
    socket: StreamSocket,
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
            socket: StreamSocket::new(fd),
        }
    }

    stream_io_methods! {
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
    }

    /// Sets `TCP_NODELAY`: small writes go out at once instead of waiting to be merged.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        SockRef::from(self.socket.fd()).set_tcp_nodelay(nodelay)
    }

    /// Whether `TCP_NODELAY` is set.
    pub fn nodelay(&self) -> io::Result<bool> {
        SockRef::from(self.socket.fd()).tcp_nodelay()
    }

    /// Sets `SO_LINGER`. `Some(Duration::ZERO)` makes dropping the stream reset the
    /// connection instead of closing it gracefully.
    pub fn set_linger(&self, linger: Option<Duration>) -> io::Result<()> {
        SockRef::from(self.socket.fd()).set_linger(linger)
    }

    /// The address of the peer.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        sock_addr(SockRef::from(self.socket.fd()).peer_addr()?)
    }

    /// The local address of the connection.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        sock_addr(SockRef::from(self.socket.fd()).local_addr()?)
    }
}

impl_fd_traits!(TcpStream => socket, TcpListener => socket);

impl super::split::Splittable for TcpStream {
    fn into_socket(self) -> StreamSocket {
        self.socket
    }

    fn from_socket(socket: StreamSocket) -> TcpStream {
        TcpStream { socket }
    }
}

impl super::stream::AsStreamSocket for TcpStream {
    fn stream_socket(&mut self) -> &mut StreamSocket {
        &mut self.socket
    }
}
