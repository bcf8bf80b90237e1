//! A listener's incoming connections as a stream: one multishot accept
//! (`IORING_ACCEPT_MULTISHOT`, 5.19+) armed for as long as the stream lives, or a loop of
//! one-shot accepts where the ring lacks it (and on epoll).
//!
//! # Why `accept()` stays one-shot
//!
//! A multishot accept takes every connection the kernel queues, whether or not anyone
//! waits for one. Armed behind [`TcpListener::accept`](super::TcpListener::accept), it would have to stay armed
//! between calls to be worth anything, pulling connections out of the kernel's backlog
//! into the listener while nobody accepts: they would wait where neither another worker
//! nor the kernel's `SO_REUSEPORT` balancing could reach them, and be lost with the
//! listener. [`Incoming`] is the explicit form: the caller says it will keep accepting,
//! and the request lives exactly as long as the stream. Dropping the stream cancels the
//! request and closes every connection it had accepted and not handed out.

use std::fmt;
use std::future::poll_fn;
use std::io;

use io_uring::{opcode, squeue, types};

use super::fd::{close_fd, SharedFd};
use super::stream::ListenSocket;
use super::TcpStream;
use crate::context;
use crate::driver::multishot::{self, MultishotOperation, Shot};
use crate::driver::op::{Interest, Readiness};
use crate::driver::uring::Features;
use crate::op::MultiOp;

/// A multishot accept: each completion a new connection's descriptor.
pub(crate) struct AcceptMulti {
    fd: SharedFd,
}

impl MultishotOperation for AcceptMulti {
    const OPCODE: u8 = opcode::AcceptMulti::CODE;

    fn sqe(&self, _: &Features) -> squeue::Entry {
        opcode::AcceptMulti::new(types::Fd(self.fd.raw()))
            .flags(libc::SOCK_CLOEXEC)
            .build()
    }

    fn readiness(&self) -> Readiness {
        super::ops::readiness(&self.fd, Interest::Read)
    }

    fn runs_on(features: &Features) -> bool {
        features.accept_multishot
    }

    fn orphaned(&self, shot: &Shot) {
        if shot.completion.result >= 0 {
            close_fd(shot.completion.result);
        }
    }
}

/// The connections coming in on a [`TcpListener`](super::TcpListener), from
/// [`TcpListener::incoming`](super::TcpListener::incoming).
///
/// On io_uring (5.19+) one multishot accept stays armed while the stream lives and
/// accepts every connection; elsewhere each [`next`](Incoming::next) is one
/// [`accept`](super::TcpListener::accept). Both keep `accept`'s back-off when
/// descriptors run out. `next` is cancel-safe: a connection accepted while nobody
/// awaits it waits in the stream; dropping the stream closes those.
///
/// ```
/// use ringtide::net::{TcpListener, TcpStream};
///
/// ringtide::Runtime::new()?.block_on(async {
///     let listener = TcpListener::bind("127.0.0.1:0")?;
///     let addr = listener.local_addr()?;
///     let clients: Vec<_> = (0..3)
///         .map(|_| ringtide::spawn(TcpStream::connect(addr)))
///         .collect();
///     let mut incoming = listener.incoming();
///     for _ in 0..3 {
///         let stream = incoming.next().await.expect("a listener never ends")?;
///         assert_eq!(stream.local_addr()?, addr);
///     }
///     for client in clients {
///         client.await.unwrap()?;
///     }
///     Ok::<_, std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Incoming<'a> {
    listener: &'a ListenSocket,
    /// Whether accepts are multishot: read at the first `next`, from its runtime.
    multishot: Option<bool>,
    armed: Option<MultiOp<AcceptMulti>>,
    /// A multishot accept has delivered a connection (so an `EINVAL` is not the
    /// kernel's lack of the multishot flag).
    accepted: bool,
}

impl<'a> Incoming<'a> {
    pub(crate) fn new(listener: &'a ListenSocket) -> Incoming<'a> {
        Incoming {
            listener,
            multishot: None,
            armed: None,
            accepted: false,
        }
    }

    /// The next connection, or the error an accept ended with (the stream goes on after
    /// one). Never `None`: a listener has no end; the `Option` is the shape of a stream.
    pub async fn next(&mut self) -> Option<io::Result<TcpStream>> {
        let multishot = *self.multishot.get_or_insert_with(|| {
            context::with_runtime(|shared| shared.is_some_and(|s| s.recv.multishot.accept))
        });
        if !multishot {
            return Some(self.accept_one().await);
        }
        loop {
            if self.armed.is_none() {
                self.listener.pause().await;
            }
            let fd = self.listener.fd();
            let armed = self
                .armed
                .get_or_insert_with(|| MultiOp::new(AcceptMulti { fd: fd.clone() }));
            let shot = match poll_fn(|cx| armed.poll_next(cx)).await {
                None => {
                    self.armed = None;
                    continue;
                }
                Some(Err(e)) => {
                    self.armed = None;
                    return Some(Err(e));
                }
                Some(Ok(shot)) => shot,
            };
            if !io_uring::cqueue::more(shot.completion.flags) {
                self.armed = None;
            }
            match shot.completion.result {
                fd if fd >= 0 => {
                    self.accepted = true;
                    self.listener.record(Ok(()));
                    return Some(Ok(TcpStream::from_fd(SharedFd::new(fd))));
                }
                e if multishot::unsupported(e, self.accepted) => {
                    // This worker's ring cannot run it: one-shot accepts from now on.
                    self.multishot = Some(false);
                    return Some(self.accept_one().await);
                }
                e if e == -libc::EINTR || e == -libc::EAGAIN || e == -libc::ECANCELED => {
                    // EAGAIN: a non-blocking listener; the next request waits in the
                    // kernel once it is blocking again. ECANCELED: its ring cancelled it
                    // for connections not taken (see `driver::multishot`); a new one is
                    // armed.
                    fd.restore_blocking();
                }
                e => {
                    let error = io::Error::from_raw_os_error(-e);
                    self.listener.record(Err(&error));
                    return Some(Err(error));
                }
            }
        }
    }
}

impl Incoming<'_> {
    /// One one-shot accept.
    async fn accept_one(&self) -> io::Result<TcpStream> {
        let (fd, _) = self.listener.accept().await?;
        Ok(TcpStream::from_fd(fd))
    }
}

impl fmt::Debug for Incoming<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Incoming")
            .field("listener", &self.listener.fd().raw())
            .field("armed", &self.armed.is_some())
            .finish()
    }
}
