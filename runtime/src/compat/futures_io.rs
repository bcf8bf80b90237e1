//! `futures_io::{AsyncRead, AsyncWrite}` for [`TcpStream`] and [`UnixStream`].

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_io::{AsyncRead, AsyncWrite};

use crate::net::{AsStreamSocket, OwnedReadHalf, OwnedWriteHalf, TcpStream, UnixStream};

/// `AsyncRead` for each stream type.
macro_rules! impl_futures_read {
    ($($stream:ty),*) => {$(
        impl AsyncRead for $stream {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut [u8],
            ) -> Poll<io::Result<usize>> {
                <$stream>::poll_read(self.get_mut(), cx, buf)
            }
        }
    )*};
}

impl_futures_read!(
    TcpStream,
    UnixStream,
    OwnedReadHalf<TcpStream>,
    OwnedReadHalf<UnixStream>
);
impl_poll_write!(AsyncWrite, poll_close; TcpStream);
impl_poll_write!(AsyncWrite, poll_close; UnixStream);
impl_poll_write!(AsyncWrite, poll_close; OwnedWriteHalf<TcpStream>);
impl_poll_write!(AsyncWrite, poll_close; OwnedWriteHalf<UnixStream>);
