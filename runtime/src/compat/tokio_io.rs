//! `tokio::io::{AsyncRead, AsyncWrite}` for [`TcpStream`] and [`UnixStream`].

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::net::{AsStreamSocket, OwnedReadHalf, OwnedWriteHalf, TcpStream, UnixStream};

/// `AsyncRead` for each stream type, through its [`AsStreamSocket`].
macro_rules! impl_tokio_read {
    ($($stream:ty),*) => {$(
        impl AsyncRead for $stream {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut ReadBuf<'_>,
            ) -> Poll<io::Result<()>> {
                // SAFETY: the receive only writes initialized bytes into the unfilled part.
                let unfilled = unsafe { buf.unfilled_mut() };
                let n = ready!(self.get_mut().stream_socket().poll_read_uninit(cx, unfilled))?;
                // SAFETY: the receive initialized the first `n` bytes of the unfilled part.
                unsafe { buf.assume_init(n) };
                buf.advance(n);
                Poll::Ready(Ok(()))
            }
        }
    )*};
}

impl_tokio_read!(
    TcpStream,
    UnixStream,
    OwnedReadHalf<TcpStream>,
    OwnedReadHalf<UnixStream>
);
impl_poll_write!(AsyncWrite, poll_shutdown, is_write_vectored; TcpStream);
impl_poll_write!(AsyncWrite, poll_shutdown, is_write_vectored; UnixStream);
impl_poll_write!(AsyncWrite, poll_shutdown, is_write_vectored; OwnedWriteHalf<TcpStream>);
impl_poll_write!(AsyncWrite, poll_shutdown, is_write_vectored; OwnedWriteHalf<UnixStream>);
