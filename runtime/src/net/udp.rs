//! UDP sockets.

use std::future::Future;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::IntoRawFd;

use socket2::{Domain, Protocol, SockRef, Socket, Type};

use super::fd::{impl_fd_traits, SharedFd};
use super::ops::SendTo;
use super::{connected_datagram_methods, each_addr, no_addresses, recv_from};
use crate::buf::{IoBuf, IoBufMut};
use crate::op::Op;

/// A UDP socket.
///
/// ```
/// use ringtide::net::UdpSocket;
///
/// ringtide::Runtime::new().unwrap().block_on(async {
///     let a = UdpSocket::bind("127.0.0.1:0").unwrap();
///     let b = UdpSocket::bind("127.0.0.1:0").unwrap();
///     let (sent, _) = a.send_to(&b"hello"[..], b.local_addr().unwrap()).await;
///     assert_eq!(sent.unwrap(), 5);
///     let (got, buf) = b.recv_from(vec![0; 16]).await;
///     let (n, from) = got.unwrap();
///     assert_eq!((&buf[..n], from), (&b"hello"[..], a.local_addr().unwrap()));
/// });
/// ```
#[derive(Debug)]
pub struct UdpSocket {
    fd: SharedFd,
}

impl UdpSocket {
    /// Binds a socket to `addr` (each resolved address in turn, until one binds).
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<UdpSocket> {
        each_addr(addr, |addr| {
            let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
            socket.bind(&addr.into())?;
            Ok(UdpSocket {
                fd: SharedFd::new(socket.into_raw_fd()),
            })
        })
    }

    /// Takes over a socket made with the standard library.
    pub fn from_std(socket: std::net::UdpSocket) -> io::Result<UdpSocket> {
        socket.set_nonblocking(false)?;
        Ok(UdpSocket {
            fd: SharedFd::new(socket.into_raw_fd()),
        })
    }

    /// Sets the default peer: [`send`](Self::send) goes there, and only its datagrams
    /// are received.
    pub fn connect<A: ToSocketAddrs>(&self, addr: A) -> io::Result<()> {
        each_addr(addr, |addr| SockRef::from(&self.fd).connect(&addr.into()))
    }

    /// Sends `buf`'s initialized bytes as one datagram to `addr`.
    pub fn send_to<B: IoBuf>(
        &self,
        buf: B,
        addr: SocketAddr,
    ) -> impl Future<Output = (io::Result<usize>, B)> + std::marker::Send + 'static {
        Op::new(SendTo::new(self.fd.clone(), buf, addr.into()))
    }

    /// Receives one datagram into `buf`; gives back the count `n`, the sender and the
    /// buffer, whose data is then `buf[..n]`.
    ///
    /// The datagram fills `buf` from its start, up to its capacity, whatever it held (the
    /// rest of a larger datagram is discarded): a `Vec` comes back with its length set to
    /// exactly `n`, shorter or longer than before; a `Box<[u8]>` keeps its length. See
    /// [`crate::buf`] for why.
    pub fn recv_from<B: IoBufMut>(
        &self,
        buf: B,
    ) -> impl Future<Output = (io::Result<(usize, SocketAddr)>, B)> + std::marker::Send + 'static
    {
        recv_from(&self.fd, buf, |addr| {
            addr.as_socket().ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidData, "datagram from a non-IP address")
            })
        })
    }

    connected_datagram_methods!();

    /// The address the socket is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        let addr = SockRef::from(&self.fd).local_addr()?;
        addr.as_socket().ok_or_else(no_addresses)
    }

    /// The connected peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        let addr = SockRef::from(&self.fd).peer_addr()?;
        addr.as_socket().ok_or_else(no_addresses)
    }
}

impl_fd_traits!(UdpSocket => fd);
