//! A TCP echo server: every byte a client sends comes back to it.
//!
//! ```text
//! cargo run --release --example echo_server -- --addr 127.0.0.1:7000 --workers 2
//! ```
//!
//! `--recv-stream` echoes through `TcpStream::recv_stream` (buffers the runtime lends,
//! from one multishot receive per connection on io_uring 6.0+) instead of one owned
//! buffer per connection.
//!
//! It logs nothing per connection unless `--verbose` is given, keeps accepting after
//! failed accepts (logged at most once a second), and on Ctrl-C (SIGINT) or SIGTERM stops
//! accepting, prints a one-line summary and exits. Try it with
//! `ringtide-bench echo --addr 127.0.0.1:7000 --connections 50 --size 128 --duration 5s`.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use clap::Parser;
use ringtide::net::TcpListener;
use ringtide_examples::{serve, ServeOptions, ServerStats, Shutdown};

/// A TCP echo server on ringtide.
#[derive(Debug, Parser)]
#[command(name = "echo_server")]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:7000")]
    addr: SocketAddr,
    /// Worker threads (default: one per CPU available).
    #[arg(long)]
    workers: Option<usize>,
    /// Do not pin worker threads to CPUs.
    #[arg(long)]
    no_pin: bool,
    /// Log the end of every connection to stderr.
    #[arg(long)]
    verbose: bool,
    /// Receive into runtime-lent buffers (`TcpStream::recv_stream`: multishot receive on
    /// io_uring 6.0+) instead of one 16 KiB buffer per connection.
    #[arg(long)]
    recv_stream: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.workers == Some(0) {
        eprintln!("error: --workers must be at least 1");
        return ExitCode::from(2);
    }
    // First, before the runtime starts its threads (see `Shutdown::on_signals`).
    let shutdown = match Shutdown::on_signals() {
        Ok(shutdown) => shutdown,
        Err(e) => return fail(format_args!("cannot watch for SIGINT and SIGTERM: {e}")),
    };
    let mut builder = ringtide::Builder::new();
    builder.pin_workers(!args.no_pin);
    if let Some(workers) = args.workers {
        builder.worker_threads(workers);
    }
    let rt = match builder.build() {
        Ok(rt) => rt,
        Err(e) => return fail(format_args!("cannot start the runtime: {e}")),
    };
    let listener = match TcpListener::bind(args.addr) {
        Ok(listener) => listener,
        Err(e) => return fail(format_args!("cannot listen on {}: {e}", args.addr)),
    };
    let local = listener.local_addr().unwrap_or(args.addr);
    eprintln!(
        "echo server listening on {local} with {} workers; Ctrl-C stops it",
        rt.worker_threads()
    );

    let started = Instant::now();
    let stats = Arc::new(ServerStats::default());
    let stop = shutdown.clone();
    let options = ServeOptions {
        verbose: args.verbose,
        recv_stream: args.recv_stream,
    };
    let server = serve(
        listener,
        async move { stop.wait().await },
        stats.clone(),
        options,
    );
    let served = rt.block_on(rt.spawn(server));
    let cause = shutdown.signal_name().unwrap_or("an error");
    println!(
        "echo server stopped by {cause} after {:.1} s: {}",
        started.elapsed().as_secs_f64(),
        stats.summary()
    );
    match served {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => fail(format_args!("the listener failed: {e}")),
        Err(e) => fail(format_args!("the accept loop failed: {e}")),
    }
}

fn fail(message: std::fmt::Arguments<'_>) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::FAILURE
}
