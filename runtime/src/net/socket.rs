//! [`TcpSocket`]: a TCP socket set up before it connects or listens.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, IntoRawFd, RawFd};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

use super::fd::SharedFd;
use super::ops::Connect;
use super::tcp::sock_addr;
use super::{TcpListener, TcpStream};
use crate::op::Op;

/// A TCP socket not yet connected or listening: for options that must be set first
/// (binding a client to a local address, `SO_REUSEPORT` for several listeners on one
/// port, buffer sizes, a listen backlog of your choosing).
///
/// ```
/// use ringtide::net::TcpSocket;
///
/// ringtide::Runtime::new()?.block_on(async {
///     let socket = TcpSocket::new_v4()?;
///     socket.set_reuseaddr(true)?;
///     socket.set_reuseport(true)?;
///     socket.bind("127.0.0.1:0".parse().unwrap())?;
///     let listener = socket.listen(128)?;
///     let addr = listener.local_addr()?;
///
///     let client = TcpSocket::new_v4()?;
///     client.set_recv_buffer_size(256 * 1024)?;
///     let stream = client.connect(addr).await?;
///     assert_eq!(stream.peer_addr()?, addr);
///     Ok::<_, std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct TcpSocket {
    socket: Socket,
}

impl TcpSocket {
    /// An IPv4 TCP socket.
    pub fn new_v4() -> io::Result<TcpSocket> {
        TcpSocket::new(Domain::IPV4)
    }

    /// An IPv6 TCP socket.
    pub fn new_v6() -> io::Result<TcpSocket> {
        TcpSocket::new(Domain::IPV6)
    }

    /// A TCP socket of `addr`'s family (IPv4 or IPv6).
    pub fn new_for(addr: SocketAddr) -> io::Result<TcpSocket> {
        TcpSocket::new(Domain::for_address(addr))
    }

    fn new(domain: Domain) -> io::Result<TcpSocket> {
        Ok(TcpSocket {
            socket: Socket::new(domain, Type::STREAM, Some(Protocol::TCP))?,
        })
    }

    /// Sets `SO_REUSEADDR`: bind to a port whose earlier connections are still in
    /// `TIME_WAIT` (what a restarting server wants).
    pub fn set_reuseaddr(&self, reuse: bool) -> io::Result<()> {
        self.socket.set_reuse_address(reuse)
    }

    /// Whether `SO_REUSEADDR` is set.
    pub fn reuseaddr(&self) -> io::Result<bool> {
        self.socket.reuse_address()
    }

    /// Sets `SO_REUSEPORT`: several sockets (of the same user) bind the same address and
    /// port, and the kernel spreads incoming connections over their listeners.
    pub fn set_reuseport(&self, reuse: bool) -> io::Result<()> {
        self.socket.set_reuse_port(reuse)
    }

    /// Whether `SO_REUSEPORT` is set.
    pub fn reuseport(&self) -> io::Result<bool> {
        self.socket.reuse_port()
    }

    /// Sets `SO_SNDBUF`, the send buffer's size (the kernel doubles the value, and caps
    /// it at `net.core.wmem_max`).
    pub fn set_send_buffer_size(&self, size: u32) -> io::Result<()> {
        self.socket.set_send_buffer_size(size as usize)
    }

    /// The send buffer's size.
    pub fn send_buffer_size(&self) -> io::Result<u32> {
        self.socket.send_buffer_size().map(saturate)
    }

    /// Sets `SO_RCVBUF`, the receive buffer's size (doubled by the kernel, capped at
    /// `net.core.rmem_max`).
    pub fn set_recv_buffer_size(&self, size: u32) -> io::Result<()> {
        self.socket.set_recv_buffer_size(size as usize)
    }

    /// The receive buffer's size.
    pub fn recv_buffer_size(&self) -> io::Result<u32> {
        self.socket.recv_buffer_size().map(saturate)
    }

    /// Sets `SO_KEEPALIVE`: the kernel probes an idle connection and reports a dead
    /// peer as an error.
    pub fn set_keepalive(&self, keepalive: bool) -> io::Result<()> {
        self.socket.set_keepalive(keepalive)
    }

    /// Sets `TCP_NODELAY` on the connection to come.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.socket.set_tcp_nodelay(nodelay)
    }

    /// Sets `SO_LINGER` (see [`TcpStream::set_linger`]).
    pub fn set_linger(&self, linger: Option<Duration>) -> io::Result<()> {
        self.socket.set_linger(linger)
    }

    /// Binds the socket to a local address: a listener's, or the one a client connects
    /// from (port 0: any free port).
    pub fn bind(&self, addr: SocketAddr) -> io::Result<()> {
        self.socket.bind(&addr.into())
    }

    /// The address the socket is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        sock_addr(self.socket.local_addr()?)
    }

    /// Connects to `addr`, from the bound address if [`bind`](Self::bind) set one.
    pub async fn connect(self, addr: SocketAddr) -> io::Result<TcpStream> {
        let fd = SharedFd::new(self.socket.into_raw_fd());
        Op::new(Connect::new(fd.clone(), addr.into())).await?;
        Ok(TcpStream::from_fd(fd))
    }

    /// Listens for connections, with up to `backlog` of them queued by the kernel before
    /// they are accepted (capped by `net.core.somaxconn`).
    pub fn listen(self, backlog: u32) -> io::Result<TcpListener> {
        self.socket
            .listen(i32::try_from(backlog).unwrap_or(i32::MAX))?;
        Ok(TcpListener::from_socket(self.socket))
    }
}

fn saturate(size: usize) -> u32 {
    u32::try_from(size).unwrap_or(u32::MAX)
}

impl AsRawFd for TcpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }
}

impl AsFd for TcpSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }
}
