//! `ringtide-bench`: the measurement harness of ringtide.
//!
//! * `ringtide-bench latency`: scheduling latency of many sleeping tasks on ringtide
//!   (on each I/O driver of `--driver`), tokio and the OS floor, side by side (see
//!   `latency.rs`).
//! * `ringtide-bench echo`: a load generator for TCP echo servers (see `echo.rs`), and
//!   with `--compare` the ringtide (on each I/O driver of `--driver`), tokio and monoio
//!   echo servers under the same loads (see `compare.rs`), with ringtide's I/O counters
//!   per request (see `server_io.rs`); with `--compare --idle N`, their memory per idle
//!   connection (see `idle.rs`).
//! * `ringtide-bench http --compare`: the ringtide (on each I/O driver of `--driver`)
//!   and tokio HTTP servers, one hyper service on both, loaded by wrk and h2load (see
//!   `http.rs`).
//! * `ringtide-bench fs`: 4 KiB random file reads and writes at several queue depths,
//!   page cache warm and `O_DIRECT`, and with `--compare` tokio::fs and fio's io_uring
//!   engine under the same loads (see `fs_load.rs`).
//! * The runtime micro-benchmarks against tokio are criterion benches:
//!   `cargo bench -p ringtide-bench --bench runtime`.

mod commands;
mod compare;
mod deadlines;
mod drivers;
mod echo;
mod fs_load;
mod http;
mod idle;
mod latency;
mod recorder;
mod report;
mod serve;
mod serve_monoio;
mod server_io;
mod sys;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use commands::echo::EchoArgs;
use commands::fs::FsArgs;
use commands::http::HttpArgs;
use commands::latency::LatencyArgs;
use commands::serve::ServeArgs;

#[derive(Debug, Parser)]
#[command(
    name = "ringtide-bench",
    version,
    about = "Measures ringtide side by side with tokio and the OS floor"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Scheduling latency of many sleeping tasks: lateness percentiles per runtime
    /// (ringtide on each --driver).
    Latency(LatencyArgs),
    /// Load on a TCP echo server: requests/s, round trips, errors, server CPU per
    /// request; with --compare, the ringtide (on each --driver), tokio and monoio echo
    /// servers side by side, with user and system CPU and ringtide's io_uring enters and
    /// SQEs per request; with --compare --idle N, their memory per idle connection.
    #[command(after_help = commands::echo::EXIT_STATUS)]
    Echo(EchoArgs),
    /// HTTP load on the ringtide (on each --driver) and tokio servers of one hyper
    /// service, with wrk (HTTP/1.1) and h2load (h2c): requests/s, latency, errors and
    /// server user and system CPU per request, medians of alternating runs and ratios to
    /// tokio.
    #[command(after_help = commands::http::EXIT_STATUS)]
    Http(HttpArgs),
    /// 4 KiB random file reads and writes: IOPS, latency and CPU per operation; with
    /// --compare, tokio::fs and fio's io_uring engine side by side.
    Fs(FsArgs),
    /// Runs a server for `echo --compare` or `http --compare` (prints its address on
    /// stdout).
    #[command(hide = true)]
    Serve(ServeArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Latency(args) => commands::latency::run(&args),
        Command::Echo(args) => commands::echo::run(&args),
        Command::Http(args) => commands::http::run(&args),
        Command::Serve(args) => commands::serve::run(&args),
        Command::Fs(args) => commands::fs::run(&args),
    }
}
