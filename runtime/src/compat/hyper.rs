//! hyper 1.x on ringtide: [`RingtideExecutor`] spawns hyper's background tasks,
//! [`RingtideTimer`] runs its timeouts on ringtide's microsecond timers, and the streams
//! implement `hyper::rt::{Read, Write}`.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use ::hyper::rt::{self, ReadBufCursor};

use crate::net::{AsStreamSocket, TcpStream, UnixStream};
use crate::time::Sleep;

/// Spawns the tasks hyper runs in the background (an HTTP/2 connection's streams, a
/// client connection's driver) onto the current ringtide runtime, with
/// [`ringtide::spawn`](crate::spawn()).
///
/// Give it to hyper's builders: `http2::Builder::new(RingtideExecutor)`, hyper-util's
/// `auto::Builder::new(RingtideExecutor)`.
///
/// # Panics
///
/// hyper calls it from the connection's task, so it always runs inside the runtime;
/// called outside one, it panics as `ringtide::spawn` does.
#[derive(Debug, Clone, Copy, Default)]
pub struct RingtideExecutor;

impl<F> rt::Executor<F> for RingtideExecutor
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, future: F) {
        drop(crate::spawn(future));
    }
}

/// hyper's timeouts (`header_read_timeout`, HTTP/2 keep-alive pings, a client pool's idle
/// timeout) on ringtide's timers, precise to microseconds.
///
/// Give it to hyper's builders: `http1::Builder::new().timer(RingtideTimer)`.
#[derive(Debug, Clone, Copy, Default)]
pub struct RingtideTimer;

impl rt::Timer for RingtideTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn rt::Sleep>> {
        Box::pin(crate::time::sleep(duration))
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn rt::Sleep>> {
        Box::pin(crate::time::sleep_until(deadline))
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn rt::Sleep>>, deadline: Instant) {
        match sleep.as_mut().downcast_mut_pin::<Sleep>() {
            Some(ours) => ours.reset(deadline),
            None => *sleep = self.sleep_until(deadline),
        }
    }
}

impl rt::Sleep for Sleep {}

/// `hyper::rt::Read` for each stream type, through its [`AsStreamSocket`].
macro_rules! impl_hyper_read {
    ($($stream:ty),*) => {$(
        impl rt::Read for $stream {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                mut buf: ReadBufCursor<'_>,
            ) -> Poll<io::Result<()>> {
                // SAFETY: the receive only writes initialized bytes into the cursor's room.
                let room = unsafe { buf.as_mut() };
                let n = ready!(self.get_mut().stream_socket().poll_read_uninit(cx, room))?;
                // SAFETY: the receive initialized the first `n` bytes of that room.
                unsafe { buf.advance(n) };
                Poll::Ready(Ok(()))
            }
        }
    )*};
}

impl_hyper_read!(TcpStream, UnixStream);
impl_poll_write!(rt::Write, poll_shutdown, is_write_vectored; TcpStream);
impl_poll_write!(rt::Write, poll_shutdown, is_write_vectored; UnixStream);
