//! Owned halves of a stream, for reading in one task and writing in another:
//! [`OwnedReadHalf`] and [`OwnedWriteHalf`], from `TcpStream::into_split` and
//! `UnixStream::into_split`.

use std::fmt;
use std::io::{self, IoSlice};
use std::marker::PhantomData;
use std::net::Shutdown;
use std::task::{Context, Poll};

use super::fd::SharedFd;
use super::stream::{AsStreamSocket, StreamSocket};
use crate::buf::{IoBuf, IoBufMut};

/// A stream type that splits into owned halves and comes back together.
pub(crate) trait Splittable: Sized {
    fn into_socket(self) -> StreamSocket;
    fn from_socket(socket: StreamSocket) -> Self;
}

/// Splits `stream`'s socket: each half has its own readiness wait for its direction.
pub(crate) fn split<S: Splittable>(stream: S) -> (OwnedReadHalf<S>, OwnedWriteHalf<S>) {
    let (read, write) = stream.into_socket().split();
    (
        OwnedReadHalf {
            socket: read,
            stream: PhantomData,
        },
        OwnedWriteHalf {
            socket: Some(write),
            stream: PhantomData,
        },
    )
}

/// The reading half of a stream `S` (a [`TcpStream`](super::TcpStream) or
/// [`UnixStream`](super::UnixStream)), which may be moved to a task of its own.
///
/// It reads as the stream does, with owned buffers ([`read`](Self::read)) or by polling
/// ([`poll_read`](Self::poll_read), and `AsyncRead` with the I/O trait features).
/// [`reunite`](Self::reunite) puts the stream back together.
///
/// ```
/// use ringtide::net::{TcpListener, TcpStream};
///
/// ringtide::Runtime::new()?.block_on(async {
///     let listener = TcpListener::bind("127.0.0.1:0")?;
///     let client = TcpStream::connect(listener.local_addr()?).await?;
///     let (server, _) = listener.accept().await?;
///
///     // The reading half goes to a task of its own; the writing half stays here.
///     let (reader, writer) = server.into_split();
///     let echo = ringtide::spawn(async move {
///         let (n, buf) = reader.read(Vec::with_capacity(64)).await;
///         n.map(|_| (reader, buf))
///     });
///     let (res, _) = client.write_all(&b"ping"[..]).await;
///     res?;
///     let (reader, buf) = echo.await.unwrap()?;
///     let (res, _) = writer.write_all(buf).await;
///     res?;
///     let (n, buf) = client.read(vec![0; 16]).await;
///     assert_eq!(&buf[..n?], b"ping");
///
///     let server = reader.reunite(writer).expect("halves of one stream");
///     assert_eq!(server.peer_addr()?, client.local_addr()?);
///     Ok::<_, std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct OwnedReadHalf<S> {
    socket: StreamSocket,
    stream: PhantomData<fn() -> S>,
}

/// The writing half of a stream `S` (see [`OwnedReadHalf`]).
///
/// Dropping it shuts the stream's write side down, so the peer reads the end of the
/// stream, while the reading half goes on reading; [`forget`](Self::forget) drops it
/// without that, and [`reunite`](OwnedReadHalf::reunite) takes it back into the stream.
pub struct OwnedWriteHalf<S> {
    /// `None` once forgotten or reunited: nothing to shut down at the drop.
    socket: Option<StreamSocket>,
    stream: PhantomData<fn() -> S>,
}

/// The halves given to [`OwnedReadHalf::reunite`] came from two different streams; both
/// are handed back.
pub struct ReuniteError<S>(pub OwnedReadHalf<S>, pub OwnedWriteHalf<S>);

impl<S> fmt::Debug for ReuniteError<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReuniteError(..)")
    }
}

impl<S> fmt::Display for ReuniteError<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("tried to reunite halves that are not from the same stream")
    }
}

impl<S> std::error::Error for ReuniteError<S> {}

/// `reunite` for each stream type that splits.
macro_rules! reunite {
    ($($stream:ty),*) => {$(
        impl OwnedReadHalf<$stream> {
            /// Puts the stream back together with its writing half; an error, handing
            /// both back, if `writer` is another stream's.
            pub fn reunite(
                self,
                writer: OwnedWriteHalf<$stream>,
            ) -> Result<$stream, ReuniteError<$stream>> {
                reunite(self, writer)
            }
        }
    )*};
}

reunite!(super::TcpStream, super::UnixStream);

fn reunite<S: Splittable>(
    reader: OwnedReadHalf<S>,
    mut writer: OwnedWriteHalf<S>,
) -> Result<S, ReuniteError<S>> {
    let same = writer
        .socket
        .as_ref()
        .is_some_and(|w| SharedFd::same(w.fd(), reader.socket.fd()));
    if !same {
        return Err(ReuniteError(reader, writer));
    }
    let write = writer.socket.take().expect("checked above");
    Ok(S::from_socket(StreamSocket::join(reader.socket, write)))
}

impl<S> OwnedReadHalf<S> {
    /// Receives into `buf`, as the stream's own `read` does.
    pub fn read<B: IoBufMut>(
        &self,
        buf: B,
    ) -> impl std::future::Future<Output = (io::Result<usize>, B)> + std::marker::Send + 'static
    {
        self.socket.read(buf)
    }

    /// Reads into `buf` by polling, as the stream's own `poll_read` does: nothing is taken
    /// from the socket unless this returns it.
    pub fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.socket.poll_read(cx, buf)
    }
}

impl<S> OwnedWriteHalf<S> {
    fn socket(&self) -> &StreamSocket {
        self.socket
            .as_ref()
            .expect("a write half is used only before it is forgotten or reunited")
    }

    fn socket_mut(&mut self) -> &mut StreamSocket {
        self.socket
            .as_mut()
            .expect("a write half is used only before it is forgotten or reunited")
    }

    /// Sends what it can of `buf`'s initialized bytes, as the stream's own `write` does.
    pub fn write<B: IoBuf>(
        &self,
        buf: B,
    ) -> impl std::future::Future<Output = (io::Result<usize>, B)> + std::marker::Send + 'static
    {
        self.socket().write(buf)
    }

    /// Sends all of `buf`'s initialized bytes, as the stream's own `write_all` does.
    pub fn write_all<B: IoBuf>(
        &self,
        buf: B,
    ) -> impl std::future::Future<Output = (io::Result<()>, B)> + std::marker::Send + 'static {
        self.socket().write_all(buf)
    }

    /// Writes from `buf` by polling, as the stream's own `poll_write` does.
    pub fn poll_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.socket_mut().poll_write(cx, buf)
    }

    /// Writes several buffers in order by polling, with one `sendmsg(2)`.
    pub fn poll_write_vectored(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.socket_mut().poll_write_vectored(cx, bufs)
    }

    /// Shuts the write side down now: the peer reads the end of the stream after what was
    /// sent. The reading half is not affected.
    pub fn shutdown(&self) -> io::Result<()> {
        self.socket().shutdown_write()
    }

    /// Drops the half without shutting the write side down (the stream stays open for
    /// writing until the reading half, too, is gone).
    pub fn forget(mut self) {
        self.socket = None;
    }
}

impl<S> Drop for OwnedWriteHalf<S> {
    fn drop(&mut self) {
        if let Some(socket) = &self.socket {
            // A peer that already reset leaves nothing to shut down.
            let _ = socket.shutdown(Shutdown::Write);
        }
    }
}

impl<S> AsStreamSocket for OwnedReadHalf<S> {
    fn stream_socket(&mut self) -> &mut StreamSocket {
        &mut self.socket
    }
}

impl<S> AsStreamSocket for OwnedWriteHalf<S> {
    fn stream_socket(&mut self) -> &mut StreamSocket {
        self.socket_mut()
    }
}

impl<S> fmt::Debug for OwnedReadHalf<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedReadHalf")
            .field("fd", &self.socket.fd().raw())
            .finish()
    }
}

impl<S> fmt::Debug for OwnedWriteHalf<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedWriteHalf")
            .field("fd", &self.socket.as_ref().map(|s| s.fd().raw()))
            .finish()
    }
}
