//! Helpers shared by the integration tests.
#![allow(dead_code, unused_macros)]

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

pub mod recv;
pub mod streams;

/// A TCP connection on loopback: `(client, server)`.
pub async fn tcp_pair() -> (ringtide::net::TcpStream, ringtide::net::TcpStream) {
    let listener = ringtide::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let client = ringtide::net::TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (server, _) = listener.accept().await.unwrap();
    (client, server)
}

/// A 2-worker io_uring runtime whose rings run none of the operations `names` lists
/// (`RINGTIDE_IO_URING_WITHOUT`), as on a kernel without them. The variable is read once
/// per process, so every runtime of the test binary gets the same list: it is set
/// before the first runtime, and a binary uses one list only.
pub fn ring_runtime_without(names: &str) -> ringtide::Runtime {
    static WITHOUT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let set = WITHOUT.get_or_init(|| {
        std::env::set_var("RINGTIDE_IO_URING_WITHOUT", names);
        names.to_string()
    });
    assert_eq!(
        set, names,
        "one RINGTIDE_IO_URING_WITHOUT list per test binary"
    );
    ringtide::Builder::new()
        .worker_threads(2)
        .pin_workers(false)
        .driver(ringtide::Driver::IoUring)
        .build()
        .expect("runtime")
}

/// The runtime shapes every `rt_test!` body runs on.
pub fn one_worker() -> ringtide::Runtime {
    ringtide::Builder::new()
        .worker_threads(1)
        .pin_workers(false)
        .build()
        .expect("io_uring runtime with 1 worker")
}

pub fn two_workers_pinned() -> ringtide::Runtime {
    ringtide::Builder::new()
        .worker_threads(2)
        .pin_workers(true)
        .build()
        .expect("io_uring runtime with 2 pinned workers")
}

pub fn four_workers() -> ringtide::Runtime {
    ringtide::Builder::new()
        .worker_threads(4)
        .pin_workers(false)
        .ring_entries(64)
        .build()
        .expect("io_uring runtime with 4 workers")
}

/// Runs each test body on a 1-worker runtime, on 2 pinned workers and on 4 unpinned
/// workers (more workers than the CI machine has cores, which shakes out ordering bugs).
macro_rules! rt_test {
    ($($(#[$attr:meta])* fn $name:ident($rt:ident) $body:block)*) => {
        mod one_worker {
            #[allow(unused_imports)]
            use super::*;
            $( $(#[$attr])* #[test] fn $name() { let $rt = crate::support::one_worker(); $body } )*
        }
        mod two_workers_pinned {
            #[allow(unused_imports)]
            use super::*;
            $( $(#[$attr])* #[test] fn $name() { let $rt = crate::support::two_workers_pinned(); $body } )*
        }
        mod four_workers {
            #[allow(unused_imports)]
            use super::*;
            $( $(#[$attr])* #[test] fn $name() { let $rt = crate::support::four_workers(); $body } )*
        }
    };
}
#[allow(unused_imports)]
pub(crate) use rt_test;

/// Counts how often a future is polled and whether it has been dropped.
#[derive(Clone, Default)]
pub struct Probe {
    pub polls: Arc<AtomicUsize>,
    pub drops: Arc<AtomicUsize>,
}

impl Probe {
    pub fn polls(&self) -> usize {
        self.polls.load(Ordering::SeqCst)
    }
    pub fn drops(&self) -> usize {
        self.drops.load(Ordering::SeqCst)
    }
    /// Wraps `fut` so that its polls and its drop are counted.
    pub fn wrap<F: Future>(&self, fut: F) -> Probed<F> {
        Probed {
            fut,
            probe: self.clone(),
        }
    }
}

pub struct Probed<F> {
    fut: F,
    probe: Probe,
}

impl<F: Future> Future for Probed<F> {
    type Output = F::Output;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `fut` is structurally pinned and never moved.
        let this = unsafe { self.get_unchecked_mut() };
        this.probe.polls.fetch_add(1, Ordering::SeqCst);
        // SAFETY: as above.
        unsafe { Pin::new_unchecked(&mut this.fut) }.poll(cx)
    }
}

impl<F> Drop for Probed<F> {
    fn drop(&mut self) {
        self.probe.drops.fetch_add(1, Ordering::SeqCst);
    }
}

/// A 2-worker runtime on each driver, io_uring then epoll (both epoll when
/// `RINGTIDE_DRIVER=epoll` overrides the builder), for tests whose body runs on each.
pub fn runtimes_on_each_driver() -> Vec<ringtide::Runtime> {
    [ringtide::Driver::IoUring, ringtide::Driver::Epoll]
        .into_iter()
        .map(|driver| {
            ringtide::Builder::new()
                .worker_threads(2)
                .pin_workers(false)
                .driver(driver)
                .build()
                .expect("runtime")
        })
        .collect()
}

/// A buffer that counts its drops, to prove the runtime releases each exactly once.
pub struct CountedBuf {
    pub bytes: Vec<u8>,
    pub drops: Arc<AtomicUsize>,
}

impl Drop for CountedBuf {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
    }
}

// SAFETY: delegates to the Vec, whose heap bytes do not move with the struct.
unsafe impl ringtide::buf::IoBuf for CountedBuf {
    fn stable_ptr(&self) -> *const u8 {
        self.bytes.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.bytes.len()
    }
    fn bytes_total(&self) -> usize {
        self.bytes.capacity()
    }
}

// SAFETY: as above.
unsafe impl ringtide::buf::IoBufMut for CountedBuf {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.bytes.as_mut_ptr()
    }
    unsafe fn set_init(&mut self, pos: usize) {
        // SAFETY: forwarded from the caller.
        unsafe { ringtide::buf::IoBufMut::set_init(&mut self.bytes, pos) }
    }
}

/// Polls a future once, then gives it back if it is not done.
pub struct PollOnce<F>(pub Option<F>);

impl<F: Future + Unpin> Future for PollOnce<F> {
    type Output = Result<F::Output, F>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut fut = self.0.take().unwrap();
        match Pin::new(&mut fut).poll(cx) {
            Poll::Ready(v) => Poll::Ready(Ok(v)),
            Poll::Pending => Poll::Ready(Err(fut)),
        }
    }
}

/// A small deterministic PRNG (xorshift64*), so stress tests are reproducible.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The message of a panic whose payload is a string (empty for any other payload).
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

/// Reads an environment variable as a number, for raising stress bounds locally.
pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Open descriptors of this process.
pub fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd is readable")
        .count()
}

/// Raises the soft descriptor limit to `want` (or the hard limit, if lower); returns the
/// limit now in force.
pub fn raise_nofile(want: u64) -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid rlimit to fill.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    if lim.rlim_cur < want {
        lim.rlim_cur = want.min(lim.rlim_max);
        // SAFETY: `lim` is a valid rlimit within the hard limit.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) }, 0);
    }
    lim.rlim_cur
}

/// Echoes everything a connection sends until the peer closes its side, with one
/// buffer (so a peer that does not read stops the echo: backpressure). Returns the bytes
/// echoed.
pub async fn echo(stream: ringtide::net::TcpStream) -> std::io::Result<u64> {
    let mut buf = Vec::with_capacity(16 * 1024);
    let mut total = 0u64;
    loop {
        buf.clear();
        let (n, back) = stream.read(buf).await;
        buf = back;
        let n = n?;
        if n == 0 {
            return Ok(total);
        }
        let (res, back) = stream.write_all(buf).await;
        buf = back;
        res?;
        total += n as u64;
    }
}

/// Deterministic bytes for connection `conn`, so that a misrouted echo is detected.
pub fn pattern(conn: u64, len: usize) -> Vec<u8> {
    let mut rng = Rng::new(conn + 1);
    (0..len).map(|_| rng.next() as u8).collect()
}

/// A `Vec` of length 6 and capacity 16 holding "ABCDEF", for reads into a used buffer.
pub fn used_buffer() -> Vec<u8> {
    let mut buf = Vec::with_capacity(16);
    buf.extend_from_slice(b"ABCDEF");
    buf
}

/// What a test run in a child process came to.
pub struct ChildRun {
    /// `None` when the child ran past its time and was killed.
    pub status: Option<std::process::ExitStatus>,
    pub stdout: String,
    pub stderr: String,
}

impl ChildRun {
    /// The child's exit and output, for assertion messages.
    pub fn report(&self) -> String {
        let status = match self.status {
            Some(status) => status.to_string(),
            None => "killed after running past its time limit".to_string(),
        };
        format!(
            "child {status}\n--- child stdout ---\n{}\n--- child stderr ---\n{}",
            self.stdout, self.stderr
        )
    }

    /// Whether the child exited successfully and printed `marker` on a line of its own,
    /// `count` times (libtest also exits 0 when its filter matched no test, so success
    /// alone proves nothing).
    pub fn passed_with(&self, marker: &str, count: usize) -> bool {
        self.status.is_some_and(|s| s.success())
            && self
                .stdout
                .lines()
                .filter(|l| l.starts_with(marker))
                .count()
                == count
    }
}

/// Re-executes this test binary to run only the test `test` (its full path as libtest
/// prints it), with `env` set to "1" so that the test knows it is the child, and kills
/// the child (by its PID) if it runs longer than `limit`. For tests that change
/// process-wide state (resource limits, seccomp filters) or whose failure is a hang.
pub fn run_test_in_child(test: &str, env: &str, limit: std::time::Duration) -> ChildRun {
    use std::io::Read;
    use std::process::{Command, Stdio};

    let exe = std::env::current_exe().expect("path of the running test binary");
    let mut child = Command::new(exe)
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(env, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("failed to re-execute the test binary");
    // Drained on threads, so that a child writing much cannot block on a full pipe.
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        let mut pipe = pipe.expect("piped");
        std::thread::spawn(move || {
            let mut out = Vec::new();
            let _ = pipe.read_to_end(&mut out);
            String::from_utf8_lossy(&out).into_owned()
        })
    };
    let stdout = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let deadline = std::time::Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for the child") {
            break Some(status);
        }
        if std::time::Instant::now() >= deadline {
            // Our own child, by its PID; then reaped.
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    ChildRun {
        status,
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    }
}
