//! `ringtide-bench echo`: the load generator of the echo benchmark.
//!
//! Every connection sends a message, reads it back, checks every byte, and goes again
//! (ping-pong). Messages carry a pattern derived from the connection and the message
//! number, so an echo that went to the wrong connection, or a stale one, fails the check.
//!
//! The client runs on ringtide itself with one worker (pinned where the caller pinned the
//! calling thread), so all connections' sends and receives go to the kernel in one
//! `io_uring_enter` per loop of the worker: the client stays cheap and the server, not
//! the client, is what saturates.
//!
//! # Timing
//!
//! 1. All connections are opened first; a failure here ends the run with an error.
//! 2. Warm-up: requests run but are not counted.
//! 3. Measurement: a request counts when its reply completes inside the window; its
//!    round trip goes into the calling worker's histogram (see [`Collector`]), so no
//!    counter is shared between connections.
//! 4. At the end of the window every connection stops, whatever it was waiting for.
//!
//! Closed loop (the default): each connection sends its next message as soon as the
//! previous reply is checked, and the round trip is measured from the send. With a rate
//! (`--rate R` requests/s in total), each connection has a fixed schedule, one message
//! every `C / R` seconds, staggered across connections, and the round trip is measured
//! from the *intended* send time, so a server stall shows up in every request it delayed
//! instead of hiding behind the requests that were never sent (coordinated omission).

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use ringtide::net::TcpStream;
use ringtide::time::{sleep, sleep_until, timeout_at};

use crate::recorder::Collector;
use crate::server_io::{IoProbe, ServerIo};
use crate::sys::{self, CpuTimes};

/// Settings of one load run.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// The echo server.
    pub addr: SocketAddr,
    /// Connections held open at once.
    pub connections: usize,
    /// Bytes per message.
    pub size: usize,
    /// Length of the measured window.
    pub duration: Duration,
    /// Requests before the window, not counted.
    pub warmup: Duration,
    /// Total requests per second over all connections (`None`: closed loop).
    pub rate: Option<f64>,
    /// The server's process, for its CPU time.
    pub server_pid: Option<u32>,
    /// Asks the server for its I/O counters (a server the harness started).
    pub server_io: Option<IoProbe>,
    /// Pin the client to this CPU.
    pub client_cpu: Option<usize>,
    /// How long the client's worker looks for work before it sleeps
    /// (`Builder::spin_before_park`; zero: it sleeps at once).
    pub client_spin: Duration,
    /// Label for progress lines and the report (`ringtide`, `tokio`, `server`).
    pub label: String,
    /// Print progress to stderr.
    pub progress: bool,
}

/// Why a request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ErrorKind {
    /// Opening a connection failed (after the start, when reconnecting).
    Connect,
    /// The server reset the connection (or the send found it gone).
    Reset,
    /// The server closed the connection before echoing the whole message.
    Closed,
    /// The echo differed from what was sent.
    Mismatch,
    /// Any other I/O error.
    Other,
}

impl ErrorKind {
    /// The name used in tables and JSON.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Connect => "connect",
            ErrorKind::Reset => "reset",
            ErrorKind::Closed => "closed",
            ErrorKind::Mismatch => "mismatch",
            ErrorKind::Other => "other",
        }
    }

    fn of(e: &io::Error) -> ErrorKind {
        match e.kind() {
            io::ErrorKind::ConnectionReset
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionAborted => ErrorKind::Reset,
            io::ErrorKind::UnexpectedEof | io::ErrorKind::WriteZero => ErrorKind::Closed,
            _ => ErrorKind::Other,
        }
    }
}

/// What one load run measured.
#[derive(Debug, Clone)]
pub struct LoadResult {
    /// Requests whose reply completed inside the measured window.
    pub requests: u64,
    /// Bytes echoed and checked in those requests (`requests * size` when all is well).
    pub bytes_verified: u64,
    /// Round trips of those requests, in nanoseconds.
    pub latency: Histogram<u64>,
    /// Length of the measured window.
    pub window: Duration,
    /// Failures over the whole run (warm-up included), by kind.
    pub errors: BTreeMap<ErrorKind, u64>,
    /// CPU time the server used over the window, by mode (when its process was given).
    pub server_cpu: Option<CpuTimes>,
    /// What the server's I/O drivers did over the window (a ringtide server the harness
    /// started; `None` for the others).
    pub server_io: Option<ServerIo>,
    /// CPU seconds this client process used over the window.
    pub client_cpu: Option<f64>,
    /// Connections whose last attempt to reconnect had failed when the window closed.
    pub connections_down: usize,
}

impl LoadResult {
    /// Requests per second in the window.
    pub fn requests_per_second(&self) -> f64 {
        self.requests as f64 / self.window.as_secs_f64().max(1e-9)
    }

    /// Failures of every kind.
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    /// Why the figures do not measure an echo server at work, or `None` when they do:
    /// any echo that differed from what was sent, connections the server no longer
    /// accepted at the end, no request completed in the window, or more errors than
    /// [`ERROR_PERCENT_ALLOWED`] percent of the requests measured.
    pub fn failure(&self) -> Option<String> {
        let mut reasons = Vec::new();
        let mismatches = self.errors.get(&ErrorKind::Mismatch).copied().unwrap_or(0);
        if mismatches > 0 {
            reasons.push(format!(
                "{mismatches} echoes differed from what was sent (is the server an echo server?)"
            ));
        }
        if self.connections_down > 0 {
            reasons.push(format!(
                "{} connections could not reconnect by the end of the window (did the server \
                 stop?)",
                self.connections_down
            ));
        }
        let errors = self.error_count();
        if self.requests == 0 {
            reasons.push(format!(
                "no request completed in the measured window ({errors} errors)"
            ));
        } else if above_error_allowance(errors, self.requests) {
            reasons.push(format!(
                "{errors} errors for {} requests measured, more than the \
                 {ERROR_PERCENT_ALLOWED}% a run may have",
                self.requests
            ));
        }
        (!reasons.is_empty()).then(|| reasons.join("; "))
    }
}

/// Errors a run may have, in percent of the requests measured, and still count: a
/// healthy server under heavy load may reset a connection now and then; beyond that, the
/// figures measure the failures rather than the server. (`echo --help` says 1%.)
pub const ERROR_PERCENT_ALLOWED: u64 = 1;

/// Whether `errors` are more than [`ERROR_PERCENT_ALLOWED`] percent of `requests`.
pub fn above_error_allowance(errors: u64, requests: u64) -> bool {
    u128::from(errors) * 100 > u128::from(requests) * u128::from(ERROR_PERCENT_ALLOWED)
}

/// What one connection did, returned by its task.
#[derive(Debug, Default)]
struct ConnectionTally {
    requests: u64,
    bytes_verified: u64,
    errors: BTreeMap<ErrorKind, u64>,
    /// The last attempt to reconnect failed (and none has succeeded since).
    down: bool,
}

impl ConnectionTally {
    fn error(&mut self, kind: ErrorKind) {
        *self.errors.entry(kind).or_default() += 1;
    }
}

/// The fixed points of a run, shared by every connection.
#[derive(Debug)]
struct Window {
    /// When counting starts (the end of the warm-up).
    start: Instant,
    /// When every connection stops.
    end: Instant,
}

/// Runs the load described by `config` and returns what it measured.
///
/// # Errors
///
/// When the client runtime cannot start, or the connections cannot be opened (the
/// server is not listening, most often): the error says which address and why.
pub fn run(config: &LoadConfig) -> io::Result<LoadResult> {
    if let Some(cpu) = config.client_cpu {
        // Before the runtime starts: its worker inherits the pinning and keeps to it.
        sys::pin_current_thread(cpu).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot pin the load generator to CPU {cpu}: {e}"),
            )
        })?;
    }
    // A spinning client is awake when each echo arrives, so the server does not pay
    // for waking it (a context switch, and an inter-processor interrupt on a VM): the
    // server's figures then show the server.
    let rt = ringtide::Builder::new()
        .worker_threads(1)
        .spin_before_park(config.client_spin)
        .build()?;
    let label = &config.label;
    progress(
        config,
        format_args!(
            "{label}: opening {} connections to {}",
            config.connections, config.addr
        ),
    );
    let streams = rt.block_on(connect_all(config.addr, config.connections))?;

    let collector: &'static Collector = Box::leak(Box::new(Collector::new()));
    let begin = Instant::now();
    let window = Window {
        start: begin + config.warmup,
        end: begin + config.warmup + config.duration,
    };
    let interval = config
        .rate
        .map(|rate| Duration::from_secs_f64(config.connections as f64 / rate));
    let handles: Vec<_> = streams
        .into_iter()
        .enumerate()
        .map(|(index, stream)| {
            let job = Connection {
                index: index as u64,
                addr: config.addr,
                size: config.size,
                first_send: interval
                    .map(|i| begin + i.mul_f64(index as f64 / config.connections as f64)),
                interval,
                start: window.start,
                end: window.end,
                collector,
            };
            rt.spawn(job.run(stream))
        })
        .collect();

    let measured = rt.block_on(watch(config, &window, collector))?;
    let mut result = LoadResult {
        requests: 0,
        bytes_verified: 0,
        latency: Histogram::new(3).expect("valid histogram"),
        window: config.duration,
        errors: BTreeMap::new(),
        server_cpu: measured.server_cpu,
        server_io: measured.server_io,
        client_cpu: measured.client_cpu,
        connections_down: 0,
    };
    for handle in handles {
        let tally = rt
            .block_on(handle)
            .map_err(|e| io::Error::other(format!("a connection task failed: {e}")))?;
        result.requests += tally.requests;
        result.bytes_verified += tally.bytes_verified;
        for (kind, n) in tally.errors {
            *result.errors.entry(kind).or_default() += n;
        }
        result.connections_down += usize::from(tally.down);
    }
    result.latency = collector.merge().lateness;
    drop(rt);
    progress(
        config,
        format_args!(
            "{label}: {} requests in {:.1} s ({:.0}/s), {} errors",
            result.requests,
            config.duration.as_secs_f64(),
            result.requests_per_second(),
            result.error_count()
        ),
    );
    Ok(result)
}

/// Opens `count` connections at once; the first failure fails them all.
async fn connect_all(addr: SocketAddr, count: usize) -> io::Result<Vec<TcpStream>> {
    let handles: Vec<_> = (0..count)
        .map(|_| ringtide::spawn(TcpStream::connect(addr)))
        .collect();
    let mut streams = Vec::with_capacity(count);
    let mut failed = 0;
    let mut first_error = None;
    for handle in handles {
        match handle.await {
            Ok(Ok(stream)) => {
                let _ = stream.set_nodelay(true);
                streams.push(stream);
            }
            Ok(Err(e)) => {
                failed += 1;
                first_error.get_or_insert(e);
            }
            Err(e) => {
                failed += 1;
                first_error.get_or_insert(io::Error::other(e.to_string()));
            }
        }
    }
    match first_error {
        None => Ok(streams),
        Some(e) => {
            let hint = if e.kind() == io::ErrorKind::ConnectionRefused {
                " (is the echo server running and listening there?)"
            } else {
                ""
            };
            Err(io::Error::new(
                e.kind(),
                format!(
                    "cannot connect to {addr}: {failed} of {count} connections failed: {e}{hint}"
                ),
            ))
        }
    }
}

/// CPU time used, and the server's I/O counters, over the window.
struct Measured {
    server_cpu: Option<CpuTimes>,
    server_io: Option<ServerIo>,
    client_cpu: Option<f64>,
}

/// Asks the server for its counters on a thread of its own: a server busy on its CPU
/// may take a while to answer, and the load must not stall meanwhile.
fn ask_counters(
    probe: &Option<IoProbe>,
) -> Option<std::thread::JoinHandle<io::Result<Option<ServerIo>>>> {
    let probe = probe.clone()?;
    Some(std::thread::spawn(move || probe.read()))
}

/// The answer of [`ask_counters`].
fn counters_answer(
    asked: Option<std::thread::JoinHandle<io::Result<Option<ServerIo>>>>,
) -> io::Result<Option<ServerIo>> {
    match asked {
        None => Ok(None),
        Some(thread) => thread
            .join()
            .map_err(|_| io::Error::other("asking the server for its counters panicked"))?
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("asking the server for its I/O counters: {e}"),
                )
            }),
    }
}

/// Waits out the run, reading CPU times at the window's edges and printing progress.
async fn watch(
    config: &LoadConfig,
    window: &Window,
    collector: &Collector,
) -> io::Result<Measured> {
    let label = &config.label;
    progress(
        config,
        format_args!(
            "{label}: warming up for {:.1} s",
            config.warmup.as_secs_f64()
        ),
    );
    sleep_until(window.start).await;
    let io_before = ask_counters(&config.server_io);
    let server_before = config.server_pid.map(|pid| sys::cpu_times(Some(pid)));
    let client_before = sys::cpu_seconds(None).ok();
    let mut last = (Instant::now(), collector.wakes());
    while Instant::now() < window.end {
        let next = (Instant::now() + Duration::from_secs(1)).min(window.end);
        sleep_until(next).await;
        let now = Instant::now();
        let done = collector.wakes();
        let rate = (done - last.1) as f64 / now.duration_since(last.0).as_secs_f64().max(1e-9);
        progress(
            config,
            format_args!(
                "{label}: {:.1}/{:.1} s, {done} requests, {rate:.0}/s",
                now.saturating_duration_since(window.start).as_secs_f64(),
                config.duration.as_secs_f64()
            ),
        );
        last = (now, done);
    }
    let server_cpu = match (server_before, config.server_pid) {
        (Some(Ok(before)), Some(pid)) => {
            let after = sys::cpu_times(Some(pid)).map_err(|e| {
                io::Error::new(e.kind(), format!("reading server {pid}'s CPU time: {e}"))
            })?;
            Some(after.since(before))
        }
        (Some(Err(e)), Some(pid)) => {
            return Err(io::Error::new(
                e.kind(),
                format!("reading server {pid}'s CPU time (is it a local process?): {e}"),
            ))
        }
        _ => None,
    };
    let client_cpu = match (client_before, sys::cpu_seconds(None).ok()) {
        (Some(before), Some(after)) => Some(after - before),
        _ => None,
    };
    // The window is over: the connections stop, so waiting here holds nothing up.
    let io_after = ask_counters(&config.server_io);
    let server_io = match (counters_answer(io_before)?, counters_answer(io_after)?) {
        (Some(before), Some(after)) => Some(after.since(before)),
        _ => None,
    };
    Ok(Measured {
        server_cpu,
        server_io,
        client_cpu,
    })
}

/// One connection's part of the load.
struct Connection {
    index: u64,
    addr: SocketAddr,
    size: usize,
    /// Rate mode: when the first message is due.
    first_send: Option<Instant>,
    /// Rate mode: time between this connection's messages.
    interval: Option<Duration>,
    start: Instant,
    end: Instant,
    collector: &'static Collector,
}

impl Connection {
    /// Runs until the end of the window; counts what it did.
    async fn run(self, stream: TcpStream) -> ConnectionTally {
        let mut tally = ConnectionTally::default();
        // Whatever the connection waits for when the window closes, it stops there.
        let _ = timeout_at(self.end, self.exchange(stream, &mut tally)).await;
        tally
    }

    /// Ping-pong until the end, reconnecting after a failure.
    async fn exchange(&self, stream: TcpStream, tally: &mut ConnectionTally) {
        let mut stream = Some(stream);
        let mut send = vec![0u8; self.size];
        let mut recv = Vec::with_capacity(self.size);
        let mut sequence = 0u64;
        loop {
            let due = match (self.first_send, self.interval) {
                (Some(first), Some(interval)) => {
                    let due = first + interval.mul_f64(sequence as f64);
                    if due >= self.end {
                        return;
                    }
                    sleep_until(due).await;
                    due
                }
                _ => Instant::now(),
            };
            let conn = match stream.take() {
                Some(conn) => conn,
                None => match TcpStream::connect(self.addr).await {
                    Ok(conn) => {
                        tally.down = false;
                        let _ = conn.set_nodelay(true);
                        conn
                    }
                    Err(_) => {
                        tally.down = true;
                        tally.error(ErrorKind::Connect);
                        // Do not hammer a server that refuses; the end still applies.
                        sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                },
            };
            fill_message(&mut send, self.index, sequence);
            sequence += 1;
            let outcome;
            (outcome, send, recv) = round_trip(&conn, send, recv).await;
            match outcome {
                Ok(()) => {
                    let now = Instant::now();
                    if now >= self.start && now < self.end {
                        self.collector.record(due);
                        tally.requests += 1;
                        tally.bytes_verified += self.size as u64;
                    }
                    stream = Some(conn);
                }
                // The connection is dropped: its state is unknown after a failure.
                Err(kind) => tally.error(kind),
            }
        }
    }
}

/// Sends `send`, reads the same number of bytes back and checks them against it.
async fn round_trip(
    stream: &TcpStream,
    send: Vec<u8>,
    mut recv: Vec<u8>,
) -> (Result<(), ErrorKind>, Vec<u8>, Vec<u8>) {
    let (written, send) = stream.write_all(send).await;
    if let Err(e) = written {
        return (Err(ErrorKind::of(&e)), send, recv);
    }
    let mut got = 0;
    while got < send.len() {
        recv.clear();
        let (read, back) = stream.read(recv).await;
        recv = back;
        let n = match read {
            Ok(0) => return (Err(ErrorKind::Closed), send, recv),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return (Err(ErrorKind::of(&e)), send, recv),
        };
        if got + n > send.len() || recv[..n] != send[got..got + n] {
            return (Err(ErrorKind::Mismatch), send, recv);
        }
        got += n;
    }
    (Ok(()), send, recv)
}

/// Fills `message` with the pattern of message `sequence` on connection `connection`:
/// 64-bit words of a sequence seeded by both, so messages differ between connections
/// and from one message to the next, at every position.
pub fn fill_message(message: &mut [u8], connection: u64, sequence: u64) {
    let mut state = mix(connection.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ sequence);
    let mut words = message.chunks_exact_mut(8);
    for word in &mut words {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        word.copy_from_slice(&(state ^ (state >> 29)).to_le_bytes());
    }
    let tail = words.into_remainder();
    let last = mix(state).to_le_bytes();
    tail.copy_from_slice(&last[..tail.len()]);
}

/// splitmix64's finalizer: every input bit affects every output bit.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn progress(config: &LoadConfig, message: std::fmt::Arguments<'_>) {
    if config.progress {
        let _ = writeln!(io::stderr(), "{message}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(connection: u64, sequence: u64, size: usize) -> Vec<u8> {
        let mut m = vec![0; size];
        fill_message(&mut m, connection, sequence);
        m
    }

    #[test]
    fn messages_differ_between_connections_and_sequence_numbers() {
        for size in [1, 7, 8, 128, 4096] {
            let base = message(3, 10, size);
            assert_eq!(base, message(3, 10, size), "deterministic");
            assert_ne!(base, message(3, 11, size), "next message, size {size}");
            assert_ne!(base, message(4, 10, size), "other connection, size {size}");
        }
        // Not a constant fill: every 8-byte word differs from its neighbour.
        let m = message(0, 0, 4096);
        assert!(m.chunks(8).zip(m.chunks(8).skip(1)).all(|(a, b)| a != b));
    }

    fn result(requests: u64, errors: &[(ErrorKind, u64)], connections_down: usize) -> LoadResult {
        LoadResult {
            requests,
            bytes_verified: requests * 64,
            latency: Histogram::new(3).unwrap(),
            window: Duration::from_secs(1),
            errors: errors.iter().copied().collect(),
            server_cpu: None,
            server_io: None,
            client_cpu: None,
            connections_down,
        }
    }

    #[test]
    fn a_run_fails_on_any_mismatch_and_on_errors_above_one_percent() {
        assert_eq!(result(1_000, &[], 0).failure(), None);
        assert_eq!(result(1_000, &[(ErrorKind::Reset, 10)], 0).failure(), None);
        let over = result(1_000, &[(ErrorKind::Reset, 6), (ErrorKind::Connect, 5)], 0);
        let why = over.failure().unwrap();
        assert!(
            why.contains("11 errors for 1000 requests") && why.contains("1%"),
            "{why}"
        );
        let mismatch = result(1_000_000, &[(ErrorKind::Mismatch, 2)], 0);
        let why = mismatch.failure().unwrap();
        assert!(
            why.contains("2 echoes differed from what was sent"),
            "{why}"
        );
    }

    #[test]
    fn a_run_fails_when_nothing_was_measured_or_the_server_went_away() {
        let why = result(0, &[], 0).failure().unwrap();
        assert_eq!(
            why,
            "no request completed in the measured window (0 errors)"
        );
        let why = result(50_000, &[(ErrorKind::Connect, 3)], 2)
            .failure()
            .unwrap();
        assert!(why.contains("2 connections could not reconnect"), "{why}");
        // Every reason is given, on one line.
        let why = result(0, &[(ErrorKind::Mismatch, 7)], 1).failure().unwrap();
        assert_eq!(why.matches("; ").count(), 2, "{why}");
        assert!(!why.contains('\n'));
    }

    #[test]
    fn errors_are_sorted_into_kinds() {
        let kind = |k| ErrorKind::of(&io::Error::from(k));
        assert_eq!(kind(io::ErrorKind::ConnectionReset), ErrorKind::Reset);
        assert_eq!(kind(io::ErrorKind::BrokenPipe), ErrorKind::Reset);
        assert_eq!(kind(io::ErrorKind::UnexpectedEof), ErrorKind::Closed);
        assert_eq!(kind(io::ErrorKind::TimedOut), ErrorKind::Other);
    }
}
