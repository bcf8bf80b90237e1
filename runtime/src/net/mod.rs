//! TCP, UDP and Unix sockets whose I/O runs through the worker's driver.
//!
//! Every accept, connect, receive, send and close is a request to the driver of the
//! worker that polls it: an io_uring request on its ring, or, on the epoll driver, a
//! non-blocking system call tried at once and again whenever the socket becomes ready.
//! Buffers go in by value and come back with the result (see [`buf`](crate::buf)), so
//! the kernel never writes into memory the caller could free.
//!
//! # Cancellation
//!
//! Dropping an I/O future at any point (directly, through
//! [`timeout`](crate::time::timeout), through a combinator, or because the runtime shuts
//! down) is safe: the request's buffer, address and socket stay owned by the runtime
//! until the kernel reports the request finished, the driver is asked to cancel it, and a
//! connection that a cancelled accept produced anyway is closed. The data a cancelled
//! receive may already have taken from the socket is lost with it, as with any
//! cancelled read.
//!
//! # Poll-style I/O
//!
//! Streams also read into and write from borrowed buffers, one poll at a time
//! ([`TcpStream::poll_read`], [`TcpStream::poll_write`]): the shape of tokio's and
//! futures' `AsyncRead`/`AsyncWrite`, which they implement with the cargo features
//! `tokio-io` and `futures-io`, and of hyper's `rt::Read`/`rt::Write` (feature `hyper`).
//! A poll waits for the socket's readiness (a poll request on the ring, an edge on epoll),
//! then moves the bytes with one non-blocking system call straight into or out of the
//! caller's buffer: no copy, and no byte taken from the socket unless the poll returns
//! it, so abandoning a poll mid-flight (a dropped future, a lost `select!` branch) loses
//! nothing. A write that returns a count has handed those bytes to the kernel.
//!
//! With the traits in scope, call their methods as `AsyncReadExt::read(&mut stream, ..)`:
//! the stream's own owned-buffer [`read`](TcpStream::read) and
//! [`write_all`](TcpStream::write_all) take precedence over trait methods of the same name.
//!
//! # Receive streams and incoming connections
//!
//! [`TcpStream::recv_stream`] receives into buffers the runtime lends ([`RecvBuf`],
//! given back when dropped) instead of one the caller passes in: on io_uring (6.0+) one
//! multishot receive stays armed and picks a buffer from its worker's provided-buffer
//! ring for each arrival, so a connection waiting for data holds no buffer at all, and
//! a busy one costs one request for many messages. [`TcpListener::incoming`] does the
//! same for connections with a multishot accept (5.19+). Elsewhere both fall back to
//! one-shot requests, with the same API.
//! # Unix sockets
//!
//! [`UnixListener`], [`UnixStream`] and [`UnixDatagram`] have TCP's and UDP's API, with
//! std's [`std::os::unix::net::SocketAddr`] as the address: `bind`/`connect`/`send_to`
//! take a path, `bind_addr`/`connect_addr`/`send_to_addr` a `SocketAddr`, which is how
//! Linux abstract names (no file, gone with the last socket) are reached:
//!
//! ```
//! use std::os::linux::net::SocketAddrExt;
//! use std::os::unix::net::SocketAddr;
//! use ringtide::net::{UnixListener, UnixStream};
//!
//! ringtide::Runtime::new()?.block_on(async {
//!     let name = format!("ringtide-doc-net-{}", std::process::id());
//!     let addr = SocketAddr::from_abstract_name(&name)?;
//!     let listener = UnixListener::bind_addr(&addr)?;
//!     let client = UnixStream::connect_addr(&addr).await?;
//!     let (server, _) = listener.accept().await?;
//!     assert_eq!(client.peer_addr()?.as_abstract_name(), Some(name.as_bytes()));
//!     assert_eq!(server.peer_cred()?.uid(), client.peer_cred()?.uid());
//!     Ok::<_, std::io::Error>(())
//! })?;
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! A socket file outlives its socket: a server removes its path when it is done, and a
//! `bind` to a path that still has a file fails with
//! [`AddrInUse`](std::io::ErrorKind::AddrInUse) and a message saying a previous server
//! may have left it (ringtide never deletes it for you). Connecting to a missing path is
//! [`NotFound`](std::io::ErrorKind::NotFound) naming the path, and a path longer than
//! the 107 bytes `sockaddr_un` holds is [`InvalidInput`](std::io::ErrorKind::InvalidInput)
//! naming that limit. These errors keep the OS error's kind, and the OS error as their
//! [`source`](std::error::Error::source).
//!
//! # Example
//!
//! ```
//! use ringtide::net::{TcpListener, TcpStream};
//!
//! ringtide::Runtime::new().unwrap().block_on(async {
//!     let listener = TcpListener::bind("127.0.0.1:0").unwrap();
//!     let addr = listener.local_addr().unwrap();
//!     let server = ringtide::spawn(async move {
//!         let (stream, _peer) = listener.accept().await.unwrap();
//!         let (n, buf) = stream.read(Vec::with_capacity(64)).await;
//!         let n = n.unwrap();
//!         let (res, _) = stream.write_all(buf).await;
//!         res.unwrap();
//!         n
//!     });
//!     let client = TcpStream::connect(addr).await.unwrap();
//!     let (res, _) = client.write_all(&b"ping"[..]).await;
//!     res.unwrap();
//!     let (n, buf) = client.read(vec![0; 64]).await;
//!     assert_eq!(&buf[..n.unwrap()], b"ping");
//!     assert_eq!(server.await.unwrap(), 4);
//! });
//! ```

mod addr;
mod fd;
mod incoming;
mod ops;
mod poll_io;
mod recv_stream;
mod socket;
pub(crate) mod split;
mod stream;
mod tcp;
mod udp;
mod unix_addr;
mod unix_datagram;
mod unix_stream;

pub use addr::ToSocketAddrs;
pub use incoming::Incoming;
pub use recv_stream::{RecvBuf, RecvBufferStats, RecvStream};
pub use socket::TcpSocket;
pub use split::{OwnedReadHalf, OwnedWriteHalf, ReuniteError};
pub use tcp::{TcpListener, TcpStream};
pub use udp::UdpSocket;
pub use unix_datagram::UnixDatagram;
pub use unix_stream::{UCred, UnixListener, UnixStream};

#[cfg_attr(
    not(any(feature = "tokio-io", feature = "futures-io", feature = "hyper")),
    allow(unused_imports)
)]
pub(crate) use stream::AsStreamSocket;

use std::future::Future;
use std::io;
use std::net::SocketAddr;

use socket2::SockAddr;

use crate::buf::IoBufMut;
use crate::op::Op;
use fd::SharedFd;
use ops::RecvFrom;

/// Runs `f` on each address `addr` resolves to, until one succeeds; the last error
/// otherwise. Names are resolved on the calling thread, as `std::net` does.
fn each_addr<A: std::net::ToSocketAddrs, T>(
    addr: A,
    mut f: impl FnMut(SocketAddr) -> io::Result<T>,
) -> io::Result<T> {
    let mut last = None;
    for addr in addr.to_socket_addrs()? {
        match f(addr) {
            Ok(v) => return Ok(v),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(no_addresses))
}

fn no_addresses() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "could not resolve to any address",
    )
}

/// Receives one datagram into `buf`, with its sender's address read by `addr` as the
/// socket's family's address type.
fn recv_from<B: IoBufMut, A: 'static>(
    fd: &SharedFd,
    buf: B,
    addr: fn(&SockAddr) -> io::Result<A>,
) -> impl Future<Output = (io::Result<(usize, A)>, B)> + std::marker::Send + 'static {
    let recv = Op::new(RecvFrom::new(fd.clone(), buf));
    async move {
        let (result, buf) = recv.await;
        (result.and_then(|(n, from)| Ok((n, addr(&from)?))), buf)
    }
}

/// `send` and `recv` for a datagram type whose `fd` field is its [`SharedFd`], written
/// once for `UdpSocket` and `UnixDatagram`.
macro_rules! connected_datagram_methods {
    () => {
        /// Sends `buf`'s initialized bytes as one datagram to the connected peer.
        pub fn send<B: $crate::buf::IoBuf>(
            &self,
            buf: B,
        ) -> impl std::future::Future<Output = (std::io::Result<usize>, B)>
               + std::marker::Send
               + 'static {
            $crate::op::Op::new($crate::net::ops::Send::new(self.fd.clone(), buf, 0))
        }

        /// Receives one datagram from the connected peer into `buf`; gives back the count `n`
        /// and the buffer, whose data is then `buf[..n]`.
        ///
        /// As for [`recv_from`](Self::recv_from): filled from its start, up to its capacity,
        /// and a `Vec`'s length becomes exactly `n`.
        pub fn recv<B: $crate::buf::IoBufMut>(
            &self,
            buf: B,
        ) -> impl std::future::Future<Output = (std::io::Result<usize>, B)>
               + std::marker::Send
               + 'static {
            $crate::op::Op::new($crate::net::ops::Recv::datagram(self.fd.clone(), buf))
        }
    };
}
use connected_datagram_methods;
