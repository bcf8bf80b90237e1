//! The servers that `ringtide-bench echo --compare` and `http --compare` measure, and
//! the child processes they run in.
//!
//! `ringtide-bench serve --runtime ringtide|tokio|monoio --protocol echo|http` (hidden)
//! serves with the same code on each runtime (ringtide on the I/O driver `--driver`
//! names; monoio, for echo only, on its io_uring driver, see `serve_monoio.rs`):
//!
//! * `echo`: one read buffer per connection (16 KiB, or `--read-buffer` on tokio and
//!   monoio), read, write all of it back, repeat.
//! * `http`: `ringtide_examples::route` (hello, streamed echo, timer sleep, 404) through
//!   hyper-util's auto builder (HTTP/1.1 and h2c on one port), on ringtide with
//!   `ringtide_examples::serve_http`, on tokio with the same builder settings over
//!   `TokioIo`, `TokioExecutor` and `TokioTimer`, and `tokio::time::sleep` as the timer.
//!
//! Both sides set `TCP_NODELAY` on every connection. A server prints the address it
//! listens on as the first line of stdout, and stops cleanly on SIGTERM or SIGINT, with a
//! summary on stderr that names the runtime and the driver. While it runs it answers
//! `io` on stdin with its I/O counters (see `server_io.rs`). Each server runs in its own
//! process so that its CPU time (`/proc/PID/stat`) is its own and nothing of one runtime
//! lingers into the next.

use std::future::Future;
use std::io::{self, BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::ChildStdin;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use ringtide::Driver;
use ringtide_examples::{
    route, serve, serve_http, HttpOptions, ServeOptions, ServerStats, Shutdown,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::server_io::{self, IoProbe};
use crate::sys;

/// The runtimes a server can run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ServerRuntime {
    Ringtide,
    Tokio,
    /// monoio on its io_uring driver (echo only).
    Monoio,
}

impl ServerRuntime {
    pub fn name(self) -> &'static str {
        match self {
            ServerRuntime::Ringtide => "ringtide",
            ServerRuntime::Tokio => "tokio",
            ServerRuntime::Monoio => "monoio",
        }
    }
}

/// What a server speaks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Protocol {
    /// Raw TCP echo.
    #[default]
    Echo,
    /// HTTP/1.1 and HTTP/2 with prior knowledge (h2c), on one port.
    Http,
}

impl Protocol {
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Echo => "echo",
            Protocol::Http => "http",
        }
    }
}

/// One server of a comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSpec {
    pub runtime: ServerRuntime,
    /// ringtide's I/O driver, never `auto` (`None` for tokio).
    pub driver: Option<Driver>,
    /// The name it is reported under: `tokio`, `ringtide`, `ringtide-DRIVER`, or
    /// `ringtide-DRIVER-multishot` for `recv`.
    pub name: String,
    /// How ringtide's echo receives (always owned for the others).
    pub recv: Recv,
}

/// Settings of one server process.
#[derive(Debug, Clone, Copy)]
pub struct ServeConfig {
    pub runtime: ServerRuntime,
    pub protocol: Protocol,
    /// ringtide's I/O driver.
    pub driver: Driver,
    pub addr: SocketAddr,
    pub workers: usize,
    /// Pin the whole server (every thread) to this CPU.
    pub cpu: Option<usize>,
    /// Bytes of each echo connection's read buffer on tokio and monoio (ringtide's
    /// example server always reads into
    /// [`ECHO_BUFFER`](ringtide_examples::ECHO_BUFFER)).
    pub read_buffer: usize,
    /// How ringtide's echo receives.
    pub recv: Recv,
}

/// How ringtide's echo server receives (`serve --recv`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Recv {
    /// One owned 16 KiB buffer per connection (`TcpStream::read`).
    #[default]
    Owned,
    /// `TcpStream::recv_stream`: runtime-lent buffers, multishot where the ring has it.
    Multishot,
}

/// Runs a server until SIGTERM or SIGINT; prints its address on stdout first.
pub fn run(config: ServeConfig) -> io::Result<()> {
    // Before any thread starts, so that every thread has the signals blocked.
    let shutdown = Shutdown::on_signals()?;
    if let Some(cpu) = config.cpu {
        sys::pin_current_thread(cpu).map_err(|e| {
            io::Error::new(e.kind(), format!("cannot pin the server to CPU {cpu}: {e}"))
        })?;
    }
    sys::raise_descriptor_limit();
    let stats = Arc::new(ServerStats::default());
    let protocol = config.protocol.name();
    let server = match config.runtime {
        ServerRuntime::Ringtide => {
            let driver = serve_ringtide(config, &shutdown, stats.clone())?;
            format!("ringtide {protocol} server on {driver}")
        }
        ServerRuntime::Tokio => {
            server_io::answer_requests(None)?;
            serve_tokio(config, &shutdown, stats.clone())?;
            format!("tokio {protocol} server")
        }
        ServerRuntime::Monoio => {
            server_io::answer_requests(None)?;
            crate::serve_monoio::serve(config, &shutdown, stats.clone())?;
            format!("monoio {protocol} server on io_uring")
        }
    };
    eprintln!("{server}: {}", stats.summary());
    Ok(())
}

/// Tells the parent where the server listens: the first line of stdout.
pub(crate) fn announce(addr: SocketAddr) -> io::Result<()> {
    let mut stdout = io::stdout().lock();
    writeln!(stdout, "{addr}")?;
    stdout.flush()
}

/// Serves on ringtide until shut down; returns the driver it ran on.
fn serve_ringtide(
    config: ServeConfig,
    shutdown: &Shutdown,
    stats: Arc<ServerStats>,
) -> io::Result<Driver> {
    let rt = Arc::new(
        ringtide::Builder::new()
            .worker_threads(config.workers)
            // Placement is the harness's, the same for every runtime: the whole process is
            // pinned (--cpu) or nothing is, as with tokio, whose workers are never pinned.
            .pin_workers(false)
            .driver(config.driver)
            .build()?,
    );
    server_io::answer_requests(Some(Arc::downgrade(&rt)))?;
    let listener = ringtide::net::TcpListener::bind(config.addr)?;
    announce(listener.local_addr()?)?;
    let stop = shutdown.clone();
    let stop = async move { stop.wait().await };
    let served = match config.protocol {
        Protocol::Echo => {
            let options = ServeOptions {
                recv_stream: config.recv == Recv::Multishot,
                ..ServeOptions::default()
            };
            rt.block_on(rt.spawn(serve(listener, stop, stats, options)))
        }
        Protocol::Http => {
            rt.block_on(rt.spawn(serve_http(listener, stop, stats, HttpOptions::default())))
        }
    };
    served.map_err(|e| io::Error::other(e.to_string()))??;
    Ok(rt.driver())
}

/// The tokio twin of the examples' servers: the same accept loop, and for each
/// connection the same echo loop or the same HTTP service and builder settings.
fn serve_tokio(
    config: ServeConfig,
    shutdown: &Shutdown,
    stats: Arc<ServerStats>,
) -> io::Result<()> {
    // HTTP on one worker runs on tokio's current-thread scheduler, the shape a one-core
    // tokio + hyper server would take. The echo comparison keeps the multi-thread
    // scheduler its published figures were measured on.
    let rt = if config.protocol == Protocol::Http && config.workers == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(config.workers)
            .enable_all()
            .build()?
    };
    let listener = rt.block_on(tokio::net::TcpListener::bind(config.addr))?;
    announce(listener.local_addr()?)?;
    let stop = shutdown.clone();
    let counters = stats.clone();
    let server = async move {
        match config.protocol {
            Protocol::Echo => {
                tokio_accept_loop(listener, &stop, &counters, move |stream| {
                    let stats = stats.clone();
                    async move {
                        let (bytes, result) = tokio_echo(stream, config.read_buffer).await;
                        stats.count_end(bytes, result.is_ok());
                    }
                })
                .await
            }
            Protocol::Http => {
                let options = HttpOptions::default();
                tokio_accept_loop(listener, &stop, &counters, move |stream| {
                    let stats = stats.clone();
                    async move {
                        let served = tokio_http(stream, options).await;
                        stats.count_end(0, served.is_ok());
                    }
                })
                .await
            }
        }
    };
    rt.block_on(rt.spawn(server))
        .map_err(|e| io::Error::other(e.to_string()))
}

/// The tokio twin of the examples' accept loop: accepts until `shutdown`, and runs
/// `connection(stream)` for each connection in a task of its own, with `TCP_NODELAY`.
async fn tokio_accept_loop<F>(
    listener: tokio::net::TcpListener,
    shutdown: &Shutdown,
    stats: &ServerStats,
    mut connection: impl FnMut(tokio::net::TcpStream) -> F,
) where
    F: Future<Output = ()> + Send + 'static,
{
    loop {
        let accepted = tokio::select! {
            _ = shutdown.wait() => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, _)) => {
                stats.count_accept();
                let _ = stream.set_nodelay(true);
                tokio::spawn(connection(stream));
            }
            Err(e) => {
                stats.count_accept_error();
                eprintln!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    }
}

async fn tokio_echo(mut stream: tokio::net::TcpStream, buffer: usize) -> (u64, io::Result<()>) {
    let mut buf = vec![0u8; buffer];
    let mut bytes = 0;
    loop {
        let n = match stream.read(&mut buf).await {
            Ok(0) => return (bytes, Ok(())),
            Ok(n) => n,
            Err(e) => return (bytes, Err(e)),
        };
        if let Err(e) = stream.write_all(&buf[..n]).await {
            return (bytes, Err(e));
        }
        bytes += n as u64;
    }
}

/// Serves one connection as `ringtide_examples::serve_http` does on ringtide: the same
/// builder settings and the same service, on tokio's executor, timer and sleep.
async fn tokio_http(
    stream: tokio::net::TcpStream,
    options: HttpOptions,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout);
    builder.http2().timer(TokioTimer::new());
    let service = service_fn(|request| route(request, tokio::time::sleep));
    builder
        .serve_connection(TokioIo::new(stream), service)
        .await
}

/// How long a server may take to say where it listens, and to exit once told to.
const START_TIMEOUT: Duration = Duration::from_secs(10);
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// A server running as a child process of the harness (this same binary, with the
/// hidden `serve` subcommand). Dropping it kills the process if it still runs.
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    addr: SocketAddr,
    probe: IoProbe,
}

/// How a server process is started, beyond what it serves.
#[derive(Debug, Clone, Copy)]
pub struct StartOptions {
    pub workers: usize,
    /// Pin the server to this CPU.
    pub cpu: Option<usize>,
    /// Read buffer per echo connection on tokio and monoio (`None`:
    /// [`ECHO_BUFFER`](ringtide_examples::ECHO_BUFFER)).
    pub read_buffer: Option<usize>,
}

impl ServerProcess {
    /// Starts `spec`'s `protocol` server listening on a free loopback port, pinned to
    /// `cpu`, and waits until it says where it listens.
    pub fn start(
        spec: &ServerSpec,
        protocol: Protocol,
        options: StartOptions,
    ) -> io::Result<ServerProcess> {
        let StartOptions {
            workers,
            cpu,
            read_buffer,
        } = options;
        let exe = std::env::current_exe()?;
        let mut command = Command::new(exe);
        command
            .args([
                "serve",
                "--runtime",
                spec.runtime.name(),
                "--protocol",
                protocol.name(),
                "--addr",
                "127.0.0.1:0",
            ])
            .args(["--workers", &workers.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(driver) = spec.driver {
            command.args(["--driver", &driver.to_string()]);
        }
        if let Some(cpu) = cpu {
            command.args(["--cpu", &cpu.to_string()]);
        }
        if let Some(bytes) = read_buffer {
            command.args(["--read-buffer", &bytes.to_string()]);
        }
        if spec.recv == Recv::Multishot {
            command.args(["--recv", "multishot"]);
        }
        let mut child = command.spawn()?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let stdin: ChildStdin = child.stdin.take().expect("stdin is piped");
        let (tx, rx) = mpsc::channel();
        let (line_tx, line_rx) = mpsc::channel();
        // Reads the address line, then hands on the other lines (answers to `io`) until
        // the child exits.
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let _ = tx.send(lines.next());
            for line in lines.map_while(Result::ok) {
                let _ = line_tx.send(line);
            }
        });
        let mut server = ServerProcess {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            probe: IoProbe::new(stdin, line_rx),
        };
        let line = match rx.recv_timeout(START_TIMEOUT) {
            Ok(Some(Ok(line))) => line,
            Ok(_) | Err(_) => {
                let status = server.stop().ok();
                return Err(io::Error::other(format!(
                    "the {} {} server did not report its address (exit: {status:?})",
                    spec.name,
                    protocol.name()
                )));
            }
        };
        server.addr = line.trim().parse().map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "the {} {} server printed `{line}`, not an address",
                    spec.name,
                    protocol.name()
                ),
            )
        })?;
        Ok(server)
    }

    /// Where the server listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Asks the server for its I/O counters.
    pub fn probe(&self) -> IoProbe {
        self.probe.clone()
    }

    /// Stops the server as [`stop`](Self::stop) does, and warns on stderr if it did not
    /// exit cleanly: by then its figures are in, so that is worth a line, not a failure.
    pub fn finish(mut self, name: &str) {
        match self.stop() {
            Ok(status) if status.success() => {}
            Ok(status) => eprintln!("warning: the {name} server exited with {status}"),
            Err(e) => eprintln!("warning: stopping the {name} server: {e}"),
        }
    }

    /// Asks the server to stop (SIGTERM), waits for it (killing it after a few seconds)
    /// and returns how it exited.
    pub fn stop(&mut self) -> io::Result<ExitStatus> {
        if let Some(status) = self.child.try_wait()? {
            return Ok(status);
        }
        // SAFETY: kill has no memory preconditions; the pid is our own child's, which we
        // have not reaped yet, so it cannot name another process.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.child.kill()?;
        self.child.wait()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
