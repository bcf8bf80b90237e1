//! A TCP echo server: the per-connection echo loop and the accept loop around it.
//!
//! Each connection owns one 16 KiB buffer: read into it, write all of it back, clear it,
//! read again. A client that stops reading fills the socket's send buffer, the write
//! waits, and the server stops reading from that client: backpressure with no queue in
//! between. A client that shuts down its write side gets everything it sent echoed, then
//! the server closes. A reset ends just that connection.

use std::fmt;
use std::future::{poll_fn, Future};
use std::io;
use std::net::{Shutdown as Direction, SocketAddr};
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use ringtide::net::{TcpListener, TcpStream};

/// Size of each connection's echo buffer.
pub const ECHO_BUFFER: usize = 16 * 1024;

/// Shortest time between two log lines about failed accepts.
const ACCEPT_LOG_INTERVAL: Duration = Duration::from_secs(1);

/// How one connection's echo loop ended.
#[derive(Debug)]
pub struct Echoed {
    /// Bytes echoed back (read and then written in full).
    pub bytes: u64,
    /// `Ok` when the client closed its side and everything was echoed; the error that
    /// ended the connection otherwise (a reset, most often).
    pub result: io::Result<()>,
}

/// Echoes everything `stream` receives back to it until the client closes its write
/// side, then closes the connection.
///
/// ```
/// use ringtide::net::{TcpListener, TcpStream};
/// use std::net::Shutdown;
///
/// ringtide::Runtime::new().unwrap().block_on(async {
///     let listener = TcpListener::bind("127.0.0.1:0").unwrap();
///     let addr = listener.local_addr().unwrap();
///     let server = ringtide::spawn(async move {
///         let (stream, _) = listener.accept().await.unwrap();
///         ringtide_examples::echo(stream).await
///     });
///     let client = TcpStream::connect(addr).await.unwrap();
///     let (res, _) = client.write_all(&b"hello"[..]).await;
///     res.unwrap();
///     client.shutdown(Shutdown::Write).unwrap();
///     let (n, buf) = client.read(vec![0; 16]).await;
///     assert_eq!(&buf[..n.unwrap()], b"hello");
///     let echoed = server.await.unwrap();
///     assert_eq!(echoed.bytes, 5);
///     assert!(echoed.result.is_ok());
/// });
/// ```
pub async fn echo(stream: TcpStream) -> Echoed {
    let mut buf = Vec::with_capacity(ECHO_BUFFER);
    let mut bytes = 0u64;
    let result = loop {
        let (read, back) = stream.read(buf).await;
        buf = back;
        match read {
            // End of stream: the client shut down its write side (or closed).
            Ok(0) => break Ok(()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => break Err(e),
        }
        let (written, back) = stream.write_all(buf).await;
        buf = back;
        if let Err(e) = written {
            break Err(e);
        }
        bytes += buf.len() as u64;
        buf.clear();
    };
    if result.is_ok() {
        // Everything is echoed: send our end of stream now rather than at the drop, so
        // a half-closed client sees the close even while a stray clone is alive. A
        // peer that already reset makes this fail, which changes nothing.
        let _ = stream.shutdown(Direction::Write);
    }
    Echoed { bytes, result }
}

/// As [`echo`], through [`TcpStream::recv_stream`]: each arrival comes in a buffer the
/// runtime lends (one multishot receive into the worker ring's provided buffers on
/// io_uring 6.0+), is written back from that buffer, and goes back to the runtime. An
/// idle connection holds no buffer, where [`echo`] holds its 16 KiB for as long as the
/// connection lives.
///
/// ```
/// use ringtide::net::{TcpListener, TcpStream};
/// use std::net::Shutdown;
///
/// ringtide::Runtime::new().unwrap().block_on(async {
///     let listener = TcpListener::bind("127.0.0.1:0").unwrap();
///     let addr = listener.local_addr().unwrap();
///     let server = ringtide::spawn(async move {
///         let (stream, _) = listener.accept().await.unwrap();
///         ringtide_examples::echo_lent(stream).await
///     });
///     let client = TcpStream::connect(addr).await.unwrap();
///     client.write_all(&b"hello"[..]).await.0.unwrap();
///     client.shutdown(Shutdown::Write).unwrap();
///     let (n, buf) = client.read(vec![0; 16]).await;
///     assert_eq!(&buf[..n.unwrap()], b"hello");
///     assert_eq!(server.await.unwrap().bytes, 5);
/// });
/// ```
pub async fn echo_lent(stream: TcpStream) -> Echoed {
    let mut received = stream.recv_stream();
    let mut bytes = 0u64;
    let result = loop {
        let buf = match received.next().await {
            // End of stream: the client shut down its write side (or closed).
            None => break Ok(()),
            Some(Ok(buf)) => buf,
            Some(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
            Some(Err(e)) => break Err(e),
        };
        let len = buf.len() as u64;
        if let (Err(e), _) = stream.write_all(buf).await {
            break Err(e);
        }
        bytes += len;
    };
    if result.is_ok() {
        // As in `echo`.
        let _ = stream.shutdown(Direction::Write);
    }
    Echoed { bytes, result }
}

/// What a server has done so far. Counters are touched once per connection (on accept
/// and at its end), never per read or write.
#[derive(Debug, Default)]
pub struct ServerStats {
    accepted: AtomicU64,
    closed: AtomicU64,
    failed: AtomicU64,
    bytes: AtomicU64,
    accept_errors: AtomicU64,
}

impl ServerStats {
    /// Counts an accepted connection.
    pub fn count_accept(&self) {
        self.accepted.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a connection's end: the bytes it echoed, and whether it ended cleanly (the
    /// client closed) or with an error.
    pub fn count_end(&self, bytes: u64, clean: bool) {
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        let counter = if clean { &self.closed } else { &self.failed };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a failed accept.
    pub fn count_accept_error(&self) {
        self.accept_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// A snapshot of the counters.
    pub fn summary(&self) -> Summary {
        let accepted = self.accepted.load(Ordering::Relaxed);
        let closed = self.closed.load(Ordering::Relaxed);
        let failed = self.failed.load(Ordering::Relaxed);
        Summary {
            accepted,
            open: accepted.saturating_sub(closed + failed),
            failed,
            bytes: self.bytes.load(Ordering::Relaxed),
            accept_errors: self.accept_errors.load(Ordering::Relaxed),
        }
    }
}

/// A snapshot of [`ServerStats`]; `Display` writes it as one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Connections accepted.
    pub accepted: u64,
    /// Connections still open.
    pub open: u64,
    /// Connections that ended with an error (a reset, most often).
    pub failed: u64,
    /// Bytes echoed over every finished connection.
    pub bytes: u64,
    /// Accepts that failed.
    pub accept_errors: u64,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} connections accepted ({} still open, {} ended by an error), \
             {:.1} MiB echoed, {} failed accepts",
            self.accepted,
            self.open,
            self.failed,
            self.bytes as f64 / (1024.0 * 1024.0),
            self.accept_errors
        )
    }
}

/// Settings of [`serve`].
#[derive(Debug, Clone, Copy, Default)]
pub struct ServeOptions {
    /// Log every connection's end to stderr.
    pub verbose: bool,
    /// Echo with [`echo_lent`] (runtime-lent receive buffers) instead of [`echo`].
    pub recv_stream: bool,
}

/// Accepts connections on `listener` and echoes each one in its own task, until `stop`
/// resolves; then stops accepting and returns (connections still open are left to the
/// runtime, which cancels them when it is dropped).
///
/// A failed accept is counted and logged (at most one line a second, with the number
/// left unsaid), and the loop goes on: the listener itself pauses between accepts while
/// the process is out of descriptors. Only an error that says the listener itself is
/// unusable (`EBADF`, `EINVAL`, `ENOTSOCK`) ends the loop, as `Err`.
pub async fn serve(
    listener: TcpListener,
    stop: impl Future<Output = ()>,
    stats: Arc<ServerStats>,
    options: ServeOptions,
) -> io::Result<()> {
    let counters = stats.clone();
    accept_loop(listener, stop, &counters, move |stream, peer| {
        let stats = stats.clone();
        async move {
            let echoed = if options.recv_stream {
                echo_lent(stream).await
            } else {
                echo(stream).await
            };
            stats.count_end(echoed.bytes, echoed.result.is_ok());
            if options.verbose {
                match echoed.result {
                    Ok(()) => eprintln!("{peer}: closed after {} bytes", echoed.bytes),
                    Err(e) => eprintln!("{peer}: {e} after {} bytes", echoed.bytes),
                }
            }
        }
    })
    .await
}

/// The accept loop of [`serve`] and [`serve_http`](crate::serve_http): accepts until
/// `stop` resolves, and runs `connection(stream, peer)` for each connection in a task of
/// its own (with `TCP_NODELAY` set: replies are small and latency-bound).
pub(crate) async fn accept_loop<F>(
    listener: TcpListener,
    stop: impl Future<Output = ()>,
    stats: &ServerStats,
    mut connection: impl FnMut(TcpStream, SocketAddr) -> F,
) -> io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let mut stop = pin!(stop);
    let mut log = RateLimitedLog::new(ACCEPT_LOG_INTERVAL);
    loop {
        let mut accept = pin!(listener.accept());
        let accepted = poll_fn(|cx| {
            if stop.as_mut().poll(cx).is_ready() {
                return Poll::Ready(None);
            }
            accept.as_mut().poll(cx).map(Some)
        })
        .await;
        let (stream, peer) = match accepted {
            // Stopping drops the accept in flight; the runtime cancels it and closes
            // a connection it produced anyway.
            None => return Ok(()),
            Some(Ok(connection)) => connection,
            Some(Err(e)) => {
                stats.count_accept_error();
                if listener_unusable(&e) {
                    return Err(e);
                }
                log.log(|suppressed| {
                    eprintln!("accept failed: {e} ({suppressed} more failures not shown)")
                });
                continue;
            }
        };
        stats.count_accept();
        let _ = stream.set_nodelay(true);
        // Detached: the task reports through `stats`, not through its handle.
        drop(ringtide::spawn(connection(stream, peer)));
    }
}

/// Accept errors after which the listener cannot accept again.
fn listener_unusable(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EBADF | libc::EINVAL | libc::ENOTSOCK | libc::EOPNOTSUPP)
    )
}

/// Lets one message through per interval and counts the ones it holds back.
#[derive(Debug)]
struct RateLimitedLog {
    interval: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl RateLimitedLog {
    fn new(interval: Duration) -> RateLimitedLog {
        RateLimitedLog {
            interval,
            last: None,
            suppressed: 0,
        }
    }

    /// Calls `emit` with the number of messages held back since the last one, unless
    /// the last message went out less than an interval ago.
    fn log(&mut self, emit: impl FnOnce(u64)) -> bool {
        let now = Instant::now();
        if self
            .last
            .is_some_and(|last| now.duration_since(last) < self.interval)
        {
            self.suppressed += 1;
            return false;
        }
        emit(self.suppressed);
        self.suppressed = 0;
        self.last = Some(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_lets_one_message_through_per_interval() {
        let mut log = RateLimitedLog::new(Duration::from_secs(3600));
        let mut seen = Vec::new();
        assert!(log.log(|n| seen.push(n)));
        for _ in 0..5 {
            assert!(!log.log(|n| seen.push(n)));
        }
        assert_eq!(seen, [0]);
        log.last = Some(Instant::now() - Duration::from_secs(7200));
        assert!(log.log(|n| seen.push(n)));
        assert_eq!(seen, [0, 5]);
    }

    #[test]
    fn the_summary_reads_as_one_line() {
        let stats = ServerStats::default();
        stats.accepted.store(3, Ordering::Relaxed);
        stats.closed.store(1, Ordering::Relaxed);
        stats.failed.store(1, Ordering::Relaxed);
        stats.bytes.store(3 << 20, Ordering::Relaxed);
        let line = stats.summary().to_string();
        assert_eq!(
            line,
            "3 connections accepted (1 still open, 1 ended by an error), 3.0 MiB echoed, \
             0 failed accepts"
        );
        assert!(!line.contains('\n'));
    }
}
