//! TCP and UDP sockets whose I/O runs through the worker's driver.
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
mod ops;
mod poll_io;
mod socket;
mod tcp;
mod udp;

pub use addr::ToSocketAddrs;
pub use socket::TcpSocket;
pub use tcp::{TcpListener, TcpStream};
pub use udp::UdpSocket;

use std::io;
use std::net::SocketAddr;

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
