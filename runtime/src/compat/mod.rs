//! The Rust ecosystem's I/O traits for ringtide's streams, each behind a cargo feature:
//! `tokio-io` (`tokio::io::{AsyncRead, AsyncWrite}`),
//! `futures-io` (`futures_io::{AsyncRead, AsyncWrite}`) and
//! `hyper` (`hyper::rt::{Read, Write}`, with `ringtide::hyper`'s executor and timer).
//!
//! The streams are [`TcpStream`](crate::net::TcpStream) and
//! [`UnixStream`](crate::net::UnixStream). Every implementation is a thin layer over the
//! poll methods they share ([`TcpStream::poll_read`](crate::net::TcpStream::poll_read)
//! and the rest), so all share their guarantees: no copy, and no byte lost to an
//! abandoned poll.

/// The write half of an `AsyncWrite`-shaped trait for a stream type, through its
/// [`AsStreamSocket`](crate::net::AsStreamSocket): the three traits differ only in their
/// path, the name of the method that shuts the write side, and whether they ask
/// `is_write_vectored` (named when they do).
#[cfg(any(feature = "tokio-io", feature = "futures-io", feature = "hyper"))]
macro_rules! impl_poll_write {
    ($write:path, $shutdown:ident $(, $vectored:ident)?; $stream:ty) => {
        impl $write for $stream {
            fn poll_write(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.get_mut().stream_socket().poll_write(cx, buf)
            }

            fn poll_write_vectored(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.get_mut().stream_socket().poll_write_vectored(cx, bufs)
            }

            $(fn $vectored(&self) -> bool {
                true
            })?

            /// Nothing to flush: a write is in the kernel's send buffer once it returns.
            fn poll_flush(
                self: std::pin::Pin<&mut Self>,
                _: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::task::Poll::Ready(Ok(()))
            }

            /// Shuts the write side down: the peer reads the end of the stream once the
            /// data sent before it.
            fn $shutdown(
                self: std::pin::Pin<&mut Self>,
                _: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::task::Poll::Ready(self.get_mut().stream_socket().shutdown_write())
            }
        }
    };
}

#[cfg(feature = "futures-io")]
mod futures_io;
#[cfg(feature = "hyper")]
pub(crate) mod hyper;
#[cfg(feature = "tokio-io")]
mod tokio_io;
