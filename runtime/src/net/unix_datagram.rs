//! Unix datagram sockets.

use std::future::Future;
use std::io;
use std::net::Shutdown;
use std::os::fd::IntoRawFd;
use std::os::unix::net::SocketAddr;
use std::path::Path;

use socket2::{Domain, SockAddr, SockRef, Socket, Type};

use super::fd::{impl_fd_traits, SharedFd};
use super::ops::SendTo;
use super::unix_addr::{bound_socket, connect_error, from_std, path_sockaddr, to_std};
use super::{connected_datagram_methods, recv_from};
use crate::buf::{IoBuf, IoBufMut};
use crate::op::Op;

/// A Unix datagram socket: messages kept whole and in order, and never dropped in
/// transit as UDP's may be.
///
/// Bind it to a path or an abstract name to receive from anyone, or use
/// [`unbound`](UnixDatagram::unbound) for a socket that only sends (its datagrams then
/// come from the unnamed address, which cannot be answered). As with
/// [`UnixListener`](super::UnixListener), a socket file stays after the socket is
/// dropped: remove it when done.
///
/// ```
/// use ringtide::net::UnixDatagram;
///
/// ringtide::Runtime::new()?.block_on(async {
///     let dir = std::env::temp_dir().join(format!("ringtide-doc-dgram-{}", std::process::id()));
///     std::fs::create_dir_all(&dir)?;
///     let server = UnixDatagram::bind(dir.join("server.sock"))?;
///     let client = UnixDatagram::bind(dir.join("client.sock"))?;
///     let (sent, _) = client.send_to(&b"hello"[..], dir.join("server.sock")).await;
///     sent?;
///     let (got, buf) = server.recv_from(vec![0; 64]).await;
///     let (n, from) = got?;
///     assert_eq!(&buf[..n], b"hello");
///     assert_eq!(from.as_pathname(), Some(dir.join("client.sock").as_path()));
///     std::fs::remove_dir_all(&dir)?;
///     Ok::<_, std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct UnixDatagram {
    fd: SharedFd,
}

impl UnixDatagram {
    /// Binds a socket to the socket file `path`, which must not exist yet. The errors
    /// are [`UnixListener::bind`](super::UnixListener::bind)'s.
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixDatagram> {
        UnixDatagram::bind_sockaddr(path_sockaddr(path.as_ref())?)
    }

    /// Binds a socket to `addr`: a path, or an abstract name made with
    /// [`from_abstract_name`](std::os::linux::net::SocketAddrExt::from_abstract_name).
    pub fn bind_addr(addr: &SocketAddr) -> io::Result<UnixDatagram> {
        UnixDatagram::bind_sockaddr(from_std(addr)?)
    }

    fn bind_sockaddr(addr: SockAddr) -> io::Result<UnixDatagram> {
        Ok(UnixDatagram::from_socket(bound_socket(Type::DGRAM, &addr)?))
    }

    /// A socket bound to no address.
    pub fn unbound() -> io::Result<UnixDatagram> {
        Ok(UnixDatagram::from_socket(Socket::new(
            Domain::UNIX,
            Type::DGRAM,
            None,
        )?))
    }

    /// A pair of sockets connected to each other (`socketpair(2)`).
    pub fn pair() -> io::Result<(UnixDatagram, UnixDatagram)> {
        let (a, b) = Socket::pair(Domain::UNIX, Type::DGRAM, None)?;
        Ok((UnixDatagram::from_socket(a), UnixDatagram::from_socket(b)))
    }

    /// Takes over a socket made with the standard library.
    pub fn from_std(socket: std::os::unix::net::UnixDatagram) -> io::Result<UnixDatagram> {
        socket.set_nonblocking(false)?;
        Ok(UnixDatagram {
            fd: SharedFd::new(socket.into_raw_fd()),
        })
    }

    fn from_socket(socket: Socket) -> UnixDatagram {
        UnixDatagram {
            fd: SharedFd::new(socket.into_raw_fd()),
        }
    }

    /// Sets the default peer to the socket file `path`: [`send`](Self::send) goes
    /// there, and only its datagrams are received. A missing `path` is
    /// [`NotFound`](io::ErrorKind::NotFound), with a message naming it.
    pub fn connect<P: AsRef<Path>>(&self, path: P) -> io::Result<()> {
        self.connect_sockaddr(path_sockaddr(path.as_ref())?)
    }

    /// Sets the default peer to `addr`, a path or an abstract name.
    pub fn connect_addr(&self, addr: &SocketAddr) -> io::Result<()> {
        self.connect_sockaddr(from_std(addr)?)
    }

    fn connect_sockaddr(&self, addr: SockAddr) -> io::Result<()> {
        SockRef::from(&self.fd)
            .connect(&addr)
            .map_err(|e| connect_error(e, &addr))
    }

    /// Sends `buf`'s initialized bytes as one datagram to the socket file `path`; gives
    /// back the count and the buffer. The future owns the address.
    pub fn send_to<B: IoBuf, P: AsRef<Path>>(
        &self,
        buf: B,
        path: P,
    ) -> impl Future<Output = (io::Result<usize>, B)> + std::marker::Send + 'static {
        self.send_to_sockaddr(buf, path_sockaddr(path.as_ref()))
    }

    /// Sends `buf`'s initialized bytes as one datagram to `addr`, a path or an abstract
    /// name.
    pub fn send_to_addr<B: IoBuf>(
        &self,
        buf: B,
        addr: &SocketAddr,
    ) -> impl Future<Output = (io::Result<usize>, B)> + std::marker::Send + 'static {
        self.send_to_sockaddr(buf, from_std(addr))
    }

    fn send_to_sockaddr<B: IoBuf>(
        &self,
        buf: B,
        addr: io::Result<SockAddr>,
    ) -> impl Future<Output = (io::Result<usize>, B)> + std::marker::Send + 'static {
        let fd = self.fd.clone();
        async move {
            let addr = match addr {
                Ok(addr) => addr,
                Err(e) => return (Err(e), buf),
            };
            let (result, buf) = Op::new(SendTo::new(fd, buf, addr.clone())).await;
            (result.map_err(|e| connect_error(e, &addr)), buf)
        }
    }

    /// Receives one datagram into `buf`; gives back the count `n`, the sender's address
    /// and the buffer, whose data is then `buf[..n]`.
    ///
    /// The datagram fills `buf` from its start, up to its capacity (the rest of a larger
    /// datagram is discarded), and a `Vec`'s length becomes `n`. The sender is unnamed
    /// when it did not bind.
    pub fn recv_from<B: IoBufMut>(
        &self,
        buf: B,
    ) -> impl Future<Output = (io::Result<(usize, SocketAddr)>, B)> + std::marker::Send + 'static
    {
        recv_from(&self.fd, buf, to_std)
    }

    connected_datagram_methods!();

    /// Shuts down receiving, sending, or both: a shut side fails or reads the end at
    /// once, instead of waiting.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        SockRef::from(&self.fd).shutdown(how)
    }

    /// The address the socket is bound to (unnamed if none).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        to_std(&SockRef::from(&self.fd).local_addr()?)
    }

    /// The connected peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        to_std(&SockRef::from(&self.fd).peer_addr()?)
    }
}

impl_fd_traits!(UnixDatagram => fd);
