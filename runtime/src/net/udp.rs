//! UDP sockets.

use std::future::Future;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, IntoRawFd, RawFd};

use socket2::{Domain, Protocol, SockRef, Socket, Type};

use super::fd::SharedFd;
use super::ops::{Recv, RecvFrom, Send, SendTo};
use super::{each_addr, no_addresses};
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
        Op::new(SendTo::new(self.fd.clone(), buf, addr))
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
        Op::new(RecvFrom::new(self.fd.clone(), buf))
    }

    /// Sends `buf`'s initialized bytes as one datagram to the connected peer.
    pub fn send<B: IoBuf>(
        &self,
        buf: B,
    ) -> impl Future<Output = (io::Result<usize>, B)> + std::marker::Send + 'static {
        Op::new(Send::new(self.fd.clone(), buf, 0))
    }

    /// Receives one datagram from the connected peer into `buf`; gives back the count `n`
    /// and the buffer, whose data is then `buf[..n]`.
    ///
    /// As for [`recv_from`](Self::recv_from): filled from its start, up to its capacity,
    /// and a `Vec`'s length becomes exactly `n`.
    pub fn recv<B: IoBufMut>(
        &self,
        buf: B,
    ) -> impl Future<Output = (io::Result<usize>, B)> + std::marker::Send + 'static {
        Op::new(Recv::datagram(self.fd.clone(), buf))
    }

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

impl AsRawFd for UdpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.raw()
    }
}

impl AsFd for UdpSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
