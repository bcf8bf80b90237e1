//! Unix stream sockets: listeners, connections and the peer's credentials.

use std::future::Future;
use std::io;
use std::os::fd::IntoRawFd;
use std::os::unix::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use socket2::{Domain, SockAddr, SockRef, Socket, Type};

use super::fd::{impl_fd_traits, SharedFd};
use super::ops::Connect;
use super::stream::{stream_io_methods, AsStreamSocket, ListenSocket, StreamSocket, BACKLOG};
use super::unix_addr::{bound_socket, connect_error, from_std, path_sockaddr, to_std};
use crate::op::Op;

/// Longest pause between connects while the listener's backlog is full.
const MAX_CONNECT_BACKOFF: Duration = Duration::from_millis(100);

/// A Unix stream socket listening for connections, on a path or a Linux abstract name.
///
/// Dropping the listener does not remove its socket file (no Unix socket API does):
/// remove it when the server is done, or the next [`bind`](UnixListener::bind) to that
/// path fails with an error that says so. Accepts pause while descriptors run out, as
/// [`TcpListener`](super::TcpListener)'s do.
///
/// ```
/// use std::os::linux::net::SocketAddrExt;
/// use std::os::unix::net::SocketAddr;
/// use ringtide::net::{UnixListener, UnixStream};
///
/// ringtide::Runtime::new()?.block_on(async {
///     // An abstract name: no file to clean up.
///     let name = format!("ringtide-doc-listener-{}", std::process::id());
///     let addr = SocketAddr::from_abstract_name(&name)?;
///     let listener = UnixListener::bind_addr(&addr)?;
///     let client = UnixStream::connect_addr(&addr).await?;
///     let (server, _peer) = listener.accept().await?;
///     let (res, _) = client.write_all(&b"hello"[..]).await;
///     res?;
///     let (n, buf) = server.read(vec![0; 16]).await;
///     assert_eq!(&buf[..n?], b"hello");
///     Ok::<_, std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct UnixListener {
    socket: ListenSocket,
}

impl UnixListener {
    /// Binds a listener to the socket file `path`, which must not exist yet.
    ///
    /// # Errors
    ///
    /// A file already at `path` (often a socket a previous server did not remove) is
    /// [`AddrInUse`](io::ErrorKind::AddrInUse), with a message that says so; the file
    /// is never removed for you. A path of more than 107 bytes (what `sockaddr_un`
    /// holds) is [`InvalidInput`](io::ErrorKind::InvalidInput), naming the limit.
    ///
    /// Binding needs no runtime.
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixListener> {
        UnixListener::bind_sockaddr(path_sockaddr(path.as_ref())?)
    }

    /// Binds a listener to `addr`: a path, or an abstract name made with
    /// [`from_abstract_name`](std::os::linux::net::SocketAddrExt::from_abstract_name).
    pub fn bind_addr(addr: &SocketAddr) -> io::Result<UnixListener> {
        UnixListener::bind_sockaddr(from_std(addr)?)
    }

    fn bind_sockaddr(addr: SockAddr) -> io::Result<UnixListener> {
        let socket = bound_socket(Type::STREAM, &addr)?;
        socket.listen(BACKLOG)?;
        Ok(UnixListener {
            socket: ListenSocket::new(SharedFd::new(socket.into_raw_fd())),
        })
    }

    /// Takes over a listener made with the standard library.
    pub fn from_std(listener: std::os::unix::net::UnixListener) -> io::Result<UnixListener> {
        // io_uring waits for readiness itself; a non-blocking socket only adds retries.
        listener.set_nonblocking(false)?;
        Ok(UnixListener {
            socket: ListenSocket::new(SharedFd::new(listener.into_raw_fd())),
        })
    }

    /// Waits for a connection and returns it with the peer's address (unnamed, unless
    /// the peer bound its socket before connecting).
    ///
    /// Cancel-safe: a connection accepted after the future is dropped is closed.
    pub async fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        let (fd, addr) = self.socket.accept().await?;
        let addr = to_std(&addr)?;
        Ok((UnixStream::from_fd(fd), addr))
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        to_std(&SockRef::from(self.socket.fd()).local_addr()?)
    }
}

/// A Unix stream connection.
///
/// The same I/O as [`TcpStream`](super::TcpStream): reads and writes take owned buffers
/// and return them with the result, the futures own what they need (so one task can read
/// while another writes, through an `Arc<UnixStream>`), and the poll-style methods and
/// trait implementations (cargo features `tokio-io`, `futures-io`, `hyper`) wait for
/// readiness and then move bytes straight between the socket and the caller's buffer.
///
/// ```
/// use ringtide::net::UnixStream;
///
/// ringtide::Runtime::new()?.block_on(async {
///     let (a, b) = UnixStream::pair()?;
///     let (res, _) = a.write_all(&b"ping"[..]).await;
///     res?;
///     let (n, buf) = b.read(Vec::with_capacity(16)).await;
///     assert_eq!(&buf[..n?], b"ping");
///     assert_eq!(b.peer_cred()?.pid(), Some(std::process::id() as i32));
///     Ok::<_, std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct UnixStream {
    socket: StreamSocket,
}

impl UnixStream {
    /// Connects to the socket file `path`.
    ///
    /// The future owns the address (it does not borrow `path`). When the listener's
    /// backlog is full, it tries again after a pause (1 ms, doubling up to 100 ms) until
    /// there is room, on either driver.
    ///
    /// # Errors
    ///
    /// No file at `path` is [`NotFound`](io::ErrorKind::NotFound), a socket file no
    /// server has open is [`ConnectionRefused`](io::ErrorKind::ConnectionRefused), each
    /// with a message naming the path; a path over the 107 bytes `sockaddr_un` holds is
    /// [`InvalidInput`](io::ErrorKind::InvalidInput).
    pub fn connect<P: AsRef<Path>>(
        path: P,
    ) -> impl Future<Output = io::Result<UnixStream>> + std::marker::Send + 'static {
        UnixStream::connect_sockaddr(path_sockaddr(path.as_ref()))
    }

    /// Connects to `addr`: a path, or an abstract name made with
    /// [`from_abstract_name`](std::os::linux::net::SocketAddrExt::from_abstract_name).
    pub fn connect_addr(
        addr: &SocketAddr,
    ) -> impl Future<Output = io::Result<UnixStream>> + std::marker::Send + 'static {
        UnixStream::connect_sockaddr(from_std(addr))
    }

    async fn connect_sockaddr(addr: io::Result<SockAddr>) -> io::Result<UnixStream> {
        let addr = addr?;
        let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
        let fd = SharedFd::new(socket.into_raw_fd());
        let mut pause = Duration::from_millis(1);
        loop {
            match Op::new(Connect::new(fd.clone(), addr.clone())).await {
                Ok(()) => return Ok(UnixStream::from_fd(fd)),
                // The readiness driver's connect found the backlog full: nothing announces
                // room there, so look again later.
                Err(e) if Connect::not_started(&e) => {
                    crate::time::sleep(pause).await;
                    pause = (pause * 2).min(MAX_CONNECT_BACKOFF);
                }
                Err(e) => return Err(connect_error(e, &addr)),
            }
        }
    }

    /// A pair of connected streams (`socketpair(2)`), for talking between tasks or with
    /// a child process. Needs no runtime.
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = Socket::pair(Domain::UNIX, Type::STREAM, None)?;
        let stream = |s: Socket| UnixStream::from_fd(SharedFd::new(s.into_raw_fd()));
        Ok((stream(a), stream(b)))
    }

    /// Takes over a connection made with the standard library.
    pub fn from_std(stream: std::os::unix::net::UnixStream) -> io::Result<UnixStream> {
        stream.set_nonblocking(false)?;
        Ok(UnixStream::from_fd(SharedFd::new(stream.into_raw_fd())))
    }

    fn from_fd(fd: SharedFd) -> UnixStream {
        UnixStream {
            socket: StreamSocket::new(fd),
        }
    }

    stream_io_methods! {
        /// # Examples
        ///
        /// ```
        /// use std::future::poll_fn;
        /// use ringtide::net::UnixStream;
        ///
        /// ringtide::Runtime::new()?.block_on(async {
        ///     let (mut a, mut b) = UnixStream::pair()?;
        ///     poll_fn(|cx| a.poll_write(cx, b"hello")).await?;
        ///     let mut buf = [0; 16];
        ///     let n = poll_fn(|cx| b.poll_read(cx, &mut buf)).await?;
        ///     assert_eq!(&buf[..n], b"hello");
        ///     Ok::<_, std::io::Error>(())
        /// })?;
        /// # Ok::<(), std::io::Error>(())
        /// ```
    }

    /// The connection's own address (unnamed for a client that did not bind).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        to_std(&SockRef::from(self.socket.fd()).local_addr()?)
    }

    /// The peer's address (the listener's, for a client).
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        to_std(&SockRef::from(self.socket.fd()).peer_addr()?)
    }

    /// The peer process's credentials (`SO_PEERCRED`), as they were when it connected
    /// (or made the pair).
    pub fn peer_cred(&self) -> io::Result<UCred> {
        let mut cred = libc::ucred {
            pid: 0,
            uid: 0,
            gid: 0,
        };
        let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
        // SAFETY: SO_PEERCRED writes one `ucred` into a valid local of `len` bytes.
        let rc = unsafe {
            libc::getsockopt(
                self.socket.fd().raw(),
                libc::SOL_SOCKET,
                libc::SO_PEERCRED,
                (&mut cred as *mut libc::ucred).cast(),
                &mut len,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(UCred {
            pid: cred.pid,
            uid: cred.uid,
            gid: cred.gid,
        })
    }
}

impl_fd_traits!(UnixStream => socket, UnixListener => socket);

impl super::split::Splittable for UnixStream {
    fn into_socket(self) -> StreamSocket {
        self.socket
    }

    fn from_socket(socket: StreamSocket) -> UnixStream {
        UnixStream { socket }
    }
}

impl AsStreamSocket for UnixStream {
    fn stream_socket(&mut self) -> &mut StreamSocket {
        &mut self.socket
    }
}

/// The credentials of a Unix socket's peer process, from [`UnixStream::peer_cred`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UCred {
    pid: libc::pid_t,
    uid: libc::uid_t,
    gid: libc::gid_t,
}

impl UCred {
    /// The peer's process ID, or `None` where the kernel could not give one (a process
    /// in a PID namespace this one cannot see into).
    pub fn pid(&self) -> Option<libc::pid_t> {
        (self.pid != 0).then_some(self.pid)
    }

    /// The peer's effective user ID.
    pub fn uid(&self) -> libc::uid_t {
        self.uid
    }

    /// The peer's effective group ID.
    pub fn gid(&self) -> libc::gid_t {
        self.gid
    }
}
