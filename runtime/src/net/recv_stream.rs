//! Receive streams: one armed request serving many messages, into buffers the runtime
//! provides, so that a connection waiting for data holds no buffer.
//!
//! # How a stream receives
//!
//! * **Multishot** (io_uring, kernel 6.0+): one `IORING_OP_RECV` with
//!   `IORING_RECV_MULTISHOT`, armed at the first [`next`](RecvStream::next) and kept
//!   armed, picks a buffer from its worker ring's provided-buffer group for each chunk
//!   of data that arrives (see `driver::buf_ring`). The completions queue up in the
//!   request until `next` takes them, each as a [`RecvBuf`] that goes back to the ring
//!   when dropped, on whatever thread.
//! * **One-shot into a pooled buffer** (epoll, older kernels, or
//!   `RINGTIDE_IO_URING_WITHOUT=recv_multishot`): `next` waits for the socket's
//!   readiness with no buffer, then receives with one non-blocking call into a buffer
//!   taken from a small per-thread pool, which the [`RecvBuf`] returns to when dropped.
//!
//! # When the buffers run out
//!
//! A multishot receive that finds its ring empty ends with `ENOBUFS`, taking nothing
//! from the socket. The ring counts it and grows within its bound (see
//! [`Builder::recv_buffers`](crate::Builder::recv_buffers)); the stream takes the next
//! message with one one-shot receive into a pooled buffer, then arms a new multishot
//! receive. Nothing is lost (the data waited in the socket), and nothing spins or hangs
//! when every buffer is held by the user and the ring cannot grow: the one-shot receive
//! needs no ring buffer.
//!
//! # Dropping a stream
//!
//! Buffers it received and did not hand out go back to the ring; an armed request is
//! cancelled, and the request's reference to the socket lives until its last
//! completion, so the descriptor closes when the kernel is done with it.

use std::cell::RefCell;
use std::fmt;
use std::future::poll_fn;
use std::io;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::Ordering;
use std::task::{ready, Context, Poll};

use io_uring::{opcode, squeue, types};

use super::fd::SharedFd;
use super::poll_io::{self, PollWait};
use crate::context;
use crate::driver::buf_ring::{RecvBufferCounters, RingBuf, BUF_GROUP};
use crate::driver::multishot::{self, MultishotOperation, Shot};
use crate::driver::op::{Interest, Readiness};
use crate::driver::uring::Features;
use crate::op::MultiOp;

/// A multishot receive into the ring's provided buffers.
pub(crate) struct RecvMulti {
    fd: SharedFd,
}

impl MultishotOperation for RecvMulti {
    const OPCODE: u8 = opcode::RecvMulti::CODE;

    fn sqe(&self, _: &Features) -> squeue::Entry {
        opcode::RecvMulti::new(types::Fd(self.fd.raw()), BUF_GROUP).build()
    }

    fn readiness(&self) -> Readiness {
        super::ops::readiness(&self.fd, Interest::Read)
    }

    fn runs_on(features: &Features) -> bool {
        features.recv_multishot
    }
}

/// Received bytes, in a buffer the runtime lends: a provided buffer of the worker's ring
/// (multishot receive), or one of a per-thread pool (one-shot receive). Dropping it
/// gives the buffer back, from any thread; it may outlive its runtime.
///
/// Derefs to the bytes received, and can be written back as it is (it is an
/// [`IoBuf`](crate::buf::IoBuf)):
///
/// ```
/// use ringtide::net::{TcpListener, TcpStream};
///
/// ringtide::Runtime::new()?.block_on(async {
///     let listener = TcpListener::bind("127.0.0.1:0")?;
///     let client = TcpStream::connect(listener.local_addr()?).await?;
///     let (server, _) = listener.accept().await?;
///     client.write_all(&b"ping"[..]).await.0?;
///     let mut received = server.recv_stream();
///     let buf = received.next().await.expect("not at end of stream")?;
///     assert_eq!(&buf[..], b"ping");
///     server.write_all(buf).await.0?; // echoed from the same buffer
///     let (n, back) = client.read(vec![0; 8]).await;
///     assert_eq!(&back[..n?], b"ping");
///     Ok::<_, std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct RecvBuf {
    inner: Lent,
}

enum Lent {
    Ring(RingBuf),
    Pooled(Vec<u8>),
}

impl RecvBuf {
    /// Whether the buffer came from the worker ring's provided buffers (a multishot
    /// receive), rather than from the one-shot receives' pool.
    pub fn is_ring_buffer(&self) -> bool {
        matches!(self.inner, Lent::Ring(_))
    }

    /// Keeps the first `len` bytes (no effect if `len` is not shorter).
    pub fn truncate(&mut self, len: usize) {
        match &mut self.inner {
            Lent::Ring(buf) => buf.truncate(len),
            Lent::Pooled(buf) => buf.truncate(len),
        }
    }

    /// How many bytes the buffer can hold.
    pub fn capacity(&self) -> usize {
        match &self.inner {
            Lent::Ring(buf) => buf.capacity(),
            Lent::Pooled(buf) => buf.capacity(),
        }
    }
}

impl Deref for RecvBuf {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match &self.inner {
            Lent::Ring(buf) => buf,
            Lent::Pooled(buf) => buf,
        }
    }
}

impl DerefMut for RecvBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        match &mut self.inner {
            Lent::Ring(buf) => buf,
            Lent::Pooled(buf) => buf,
        }
    }
}

impl AsRef<[u8]> for RecvBuf {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl Drop for RecvBuf {
    fn drop(&mut self) {
        if let Lent::Pooled(buf) = &mut self.inner {
            pool_put(std::mem::take(buf));
        }
    }
}

impl fmt::Debug for RecvBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecvBuf")
            .field("len", &self.len())
            .field("ring_buffer", &self.is_ring_buffer())
            .finish()
    }
}

// SAFETY: the bytes live on the heap (a ring's buffer or a `Vec`'s), which moving the
// value does not move; all of them are initialized.
unsafe impl crate::buf::IoBuf for RecvBuf {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }

    fn bytes_init(&self) -> usize {
        self.len()
    }

    fn bytes_total(&self) -> usize {
        self.len()
    }
}

/// Pooled buffers kept per thread for one-shot receives.
const POOLED_PER_THREAD: usize = 64;

thread_local! {
    static POOL: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// An empty buffer of capacity `size`, from this thread's pool where it has one.
fn pool_take(size: usize) -> Vec<u8> {
    let pooled = POOL
        .try_with(|pool| {
            let mut pool = pool.borrow_mut();
            let at = pool.iter().rposition(|b| b.capacity() == size)?;
            Some(pool.swap_remove(at))
        })
        .ok()
        .flatten();
    pooled.unwrap_or_else(|| Vec::with_capacity(size))
}

/// Gives a buffer back to this thread's pool (dropped if the pool is full).
fn pool_put(mut buf: Vec<u8>) {
    buf.clear();
    let _ = POOL.try_with(|pool| {
        let mut pool = pool.borrow_mut();
        if pool.len() < POOLED_PER_THREAD {
            pool.push(buf);
        }
    });
}

impl poll_io::Moved for RecvBuf {
    fn moved(&self) -> usize {
        self.len()
    }
}

/// One non-blocking receive into a pooled buffer of `size` bytes.
fn recv_pooled(fd: &SharedFd, size: usize) -> io::Result<RecvBuf> {
    let mut buf = pool_take(size);
    match poll_io::recv(fd, &mut buf.spare_capacity_mut()[..size]) {
        Ok(n) => {
            // SAFETY: the kernel initialized the first `n` bytes.
            unsafe { buf.set_len(n) };
            Ok(RecvBuf {
                inner: Lent::Pooled(buf),
            })
        }
        Err(e) => {
            pool_put(buf);
            Err(e)
        }
    }
}

/// Events of a runtime's receive buffer rings, from
/// [`Runtime::recv_buffer_stats`](crate::Runtime::recv_buffer_stats): summed over its
/// workers since it started.
///
/// ```
/// let rt = ringtide::Runtime::new()?;
/// let stats = rt.recv_buffer_stats();
/// assert_eq!(stats.enobufs, 0);
/// assert!(stats.grown <= stats.enobufs);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecvBufferStats {
    /// Multishot receives that found their worker's ring out of buffers (`ENOBUFS`):
    /// each was followed by one one-shot receive, then re-armed.
    pub enobufs: u64,
    /// Times a ring grew after an `ENOBUFS` (each doubles it, up to the maximum).
    pub grown: u64,
    /// Buffers the rings provide, in all.
    pub buffers: u64,
}

impl RecvBufferStats {
    pub(crate) fn read(counters: &RecvBufferCounters) -> RecvBufferStats {
        RecvBufferStats {
            enobufs: counters.enobufs.load(Ordering::Relaxed),
            grown: counters.grown.load(Ordering::Relaxed),
            buffers: counters.buffers.load(Ordering::Relaxed),
        }
    }
}

/// How the current runtime receives: multishot or not, and the buffer size.
fn recv_settings() -> (bool, usize) {
    context::with_runtime(|shared| {
        shared.map_or((false, 4096), |s| {
            (s.recv.multishot.recv, s.recv.buffer_size)
        })
    })
}

/// The messages arriving on a stream socket, each in a [`RecvBuf`] the runtime lends;
/// from [`TcpStream::recv_stream`](super::TcpStream::recv_stream) or
/// [`UnixStream::recv_stream`](super::UnixStream::recv_stream).
///
/// On io_uring (kernel 6.0+) one multishot receive stays armed while the stream lives
/// and serves every message; elsewhere each [`next`](RecvStream::next) waits for
/// readiness and receives once. Either way a connection waiting for data holds no
/// buffer. What users see:
///
/// * Each `next` returns the bytes that arrived next, in order (a TCP stream has no
///   message boundaries: one `RecvBuf` may hold part of a write, or several), at most
///   [`Builder::recv_buffer_size`](crate::Builder::recv_buffer_size) of them; `None` at
///   the end of the stream.
/// * Cancel-safe: dropping a `next` future loses nothing, since what arrives waits in
///   the stream. Dropping the stream cancels its request; bytes it had received and not
///   handed out are dropped with it, as a dropped read's would be.
/// * Other reads of the same socket while the stream lives take bytes the stream
///   would have had: use one or the other.
///
/// ```
/// use ringtide::net::{TcpListener, TcpStream};
///
/// ringtide::Runtime::new()?.block_on(async {
///     let listener = TcpListener::bind("127.0.0.1:0")?;
///     let client = TcpStream::connect(listener.local_addr()?).await?;
///     let (server, _) = listener.accept().await?;
///     client.write_all(&b"hello"[..]).await.0?;
///     drop(client);
///     let mut received = Vec::new();
///     let mut stream = server.recv_stream();
///     while let Some(buf) = stream.next().await {
///         received.extend_from_slice(&buf?);
///     }
///     assert_eq!(received, b"hello");
///     Ok::<_, std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct RecvStream {
    fd: SharedFd,
    /// Multishot or not, and the buffer size: read at the first poll, from the runtime
    /// polling it.
    settings: Option<(bool, usize)>,
    /// The armed multishot receive.
    armed: Option<MultiOp<RecvMulti>>,
    /// The next receive is one-shot (the multishot receive ended for want of buffers).
    one_shot_next: bool,
    /// A multishot receive has delivered data (so an `EINVAL` is not the kernel's lack
    /// of the multishot flag).
    received: bool,
    /// The readiness wait of one-shot receives.
    wait: PollWait,
    /// The end of the stream was seen.
    eof: bool,
}

impl RecvStream {
    pub(crate) fn new(fd: SharedFd) -> RecvStream {
        RecvStream {
            fd,
            settings: None,
            armed: None,
            one_shot_next: false,
            received: false,
            wait: PollWait::default(),
            eof: false,
        }
    }

    /// The next bytes received, `None` at the end of the stream, or the error a receive
    /// ended with (the stream goes on after one: a later `next` receives again).
    pub async fn next(&mut self) -> Option<io::Result<RecvBuf>> {
        poll_fn(|cx| self.poll_next(cx)).await
    }

    /// [`next`](Self::next) as a poll: registers `cx`'s waker when nothing has arrived.
    pub fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<RecvBuf>>> {
        loop {
            if self.eof {
                return Poll::Ready(None);
            }
            let (multishot, size) = *self.settings.get_or_insert_with(recv_settings);
            if !multishot || self.one_shot_next {
                let fd = &self.fd;
                let result = ready!(self
                    .wait
                    .poll_io(cx, fd, Interest::Read, size, || recv_pooled(fd, size)));
                self.one_shot_next = false;
                return Poll::Ready(match result {
                    Ok(buf) if buf.is_empty() => {
                        self.eof = true;
                        None
                    }
                    other => Some(other),
                });
            }
            let fd = &self.fd;
            let armed = self
                .armed
                .get_or_insert_with(|| MultiOp::new(RecvMulti { fd: fd.clone() }));
            let shot = match ready!(armed.poll_next(cx)) {
                // The last completion was taken: arm a new request.
                None => {
                    self.armed = None;
                    continue;
                }
                Some(Err(e)) => {
                    self.armed = None;
                    return Poll::Ready(Some(Err(e)));
                }
                Some(Ok(shot)) => shot,
            };
            let more = io_uring::cqueue::more(shot.completion.flags);
            if !more {
                self.armed = None;
            }
            if let Some(ready) = self.take_shot(shot, more) {
                return Poll::Ready(ready);
            }
        }
    }

    /// What one completion of the multishot receive means for the caller; `None` to go
    /// on receiving. `more`: the request is still armed.
    fn take_shot(&mut self, shot: Shot, more: bool) -> Option<Option<io::Result<RecvBuf>>> {
        match (shot.completion.result, shot.buf) {
            (n, Some(buf)) if n > 0 => {
                self.received = true;
                Some(Some(Ok(RecvBuf {
                    inner: Lent::Ring(buf),
                })))
            }
            (0, _) => {
                self.eof = true;
                Some(None)
            }
            (n, _) if n > 0 => Some(Some(Err(io::Error::other(
                "a multishot receive completed without a buffer",
            )))),
            (e, _) if e == -libc::ENOBUFS || e == -libc::EAGAIN => {
                // Nothing was taken from the socket: receive once without the ring,
                // then re-arm. (EAGAIN: a non-blocking socket; make it blocking again
                // so that the next request waits in the kernel.) Never beside an armed
                // request, which could take later bytes first.
                self.fd.restore_blocking();
                self.one_shot_next = !more;
                None
            }
            (e, _) if multishot::unsupported(e, self.received) => {
                // This worker's ring cannot run it: one-shot receives from now on.
                self.settings = self.settings.map(|(_, size)| (false, size));
                None
            }
            // EINTR, or cancelled by its ring because this stream fell behind (see
            // `driver::multishot`): arm a new request.
            (e, _) if e == -libc::EINTR || (e == -libc::ECANCELED && !more) => None,
            (e, _) => Some(Some(Err(io::Error::from_raw_os_error(-e)))),
        }
    }
}

impl fmt::Debug for RecvStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecvStream")
            .field("fd", &self.fd.raw())
            .field("armed", &self.armed.is_some())
            .field("eof", &self.eof)
            .finish()
    }
}
