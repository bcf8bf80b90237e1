//! The Rust ecosystem's I/O traits for ringtide's streams, each behind a cargo feature:
//! `tokio-io` ([`tokio::io::AsyncRead`]/[`AsyncWrite`](tokio::io::AsyncWrite)),
//! `futures-io` ([`futures_io::AsyncRead`]/[`AsyncWrite`](futures_io::AsyncWrite)) and
//! `hyper` (`hyper::rt::{Read, Write}`, with [`crate::hyper`]'s executor and timer).
//!
//! Every implementation is a thin layer over the stream's own poll methods
//! ([`TcpStream::poll_read`](crate::net::TcpStream::poll_read) and the rest), so all
//! share their guarantees: no copy, and no byte lost to an abandoned poll.

#[cfg(feature = "futures-io")]
mod futures_io;
#[cfg(feature = "hyper")]
pub(crate) mod hyper;
#[cfg(feature = "tokio-io")]
mod tokio_io;
