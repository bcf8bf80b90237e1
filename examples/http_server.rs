//! An HTTP server: hyper on ringtide, HTTP/1.1 and HTTP/2 with prior knowledge (h2c) on
//! one port.
//!
//! ```text
//! cargo run --release --example http_server -- --addr 127.0.0.1:8080 --workers 2
//! ```
//!
//! Routes (see `ringtide_examples::route`): `GET /` says hello, `POST /echo` streams the
//! request body back, `GET /sleep?ms=N` answers after N ms on ringtide's timer, anything
//! else is a 404. Try it with:
//!
//! ```text
//! curl http://127.0.0.1:8080/
//! curl --data-binary @Cargo.toml http://127.0.0.1:8080/echo
//! curl 'http://127.0.0.1:8080/sleep?ms=5'
//! curl --http2-prior-knowledge http://127.0.0.1:8080/
//! wrk -t2 -c64 -d5s http://127.0.0.1:8080/
//! h2load -n100000 -c16 -m10 http://127.0.0.1:8080/
//! ```
//!
//! (`h2load` speaks h2c with prior knowledge to an `http://` address by default.)
//!
//! A client that takes longer than `--header-read-timeout` (default 30 s) to send a
//! request's headers over HTTP/1.1 is disconnected (one that sends nothing at all is
//! not: see `HttpOptions::header_read_timeout`). The server logs nothing per
//! connection unless `--verbose` is given; on Ctrl-C (SIGINT) or SIGTERM it stops
//! accepting, prints a one-line summary and exits. Bad arguments exit with status 2, a
//! runtime or listener that cannot start with status 1.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use ringtide::net::TcpListener;
use ringtide::Driver;
use ringtide_examples::{serve_http, HttpOptions, ServerStats, Shutdown};

/// An HTTP/1.1 and h2c server on ringtide and hyper.
#[derive(Debug, Parser)]
#[command(name = "http_server")]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// Worker threads (default: one per CPU available).
    #[arg(long)]
    workers: Option<usize>,
    /// Do not pin worker threads to CPUs.
    #[arg(long)]
    no_pin: bool,
    /// I/O driver: auto (io_uring where allowed, else epoll), io_uring or epoll.
    #[arg(long, default_value = "auto")]
    driver: Driver,
    /// Longest time a client may take to send a request's headers: 30s, 500ms, or a
    /// number of seconds.
    #[arg(long, default_value = "30s", value_parser = parse_timeout)]
    header_read_timeout: Duration,
    /// Log the end of every connection to stderr.
    #[arg(long)]
    verbose: bool,
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
    builder.pin_workers(!args.no_pin).driver(args.driver);
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
        "http server (HTTP/1.1 and h2c) listening on http://{local} with {} workers on {}; \
         Ctrl-C stops it",
        rt.worker_threads(),
        rt.driver()
    );
    if let Some(why) = rt.io_uring_error() {
        eprintln!("note: io_uring is unavailable, so epoll serves instead: {why}");
    }

    let started = Instant::now();
    let stats = Arc::new(ServerStats::default());
    let stop = shutdown.clone();
    let options = HttpOptions {
        header_read_timeout: args.header_read_timeout,
        verbose: args.verbose,
    };
    let server = serve_http(
        listener,
        async move { stop.wait().await },
        stats.clone(),
        options,
    );
    let served = rt.block_on(rt.spawn(server));
    let cause = shutdown.signal_name().unwrap_or("an error");
    let summary = stats.summary();
    println!(
        "http server stopped by {cause} after {:.1} s: {} connections accepted \
         ({} still open, {} ended by an error), {} failed accepts",
        started.elapsed().as_secs_f64(),
        summary.accepted,
        summary.open,
        summary.failed,
        summary.accept_errors
    );
    match served {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => fail(format_args!("the listener failed: {e}")),
        Err(e) => fail(format_args!("the accept loop failed: {e}")),
    }
}

/// Reads `30s`, `500ms` or a bare number of seconds (`1.5`); refuses zero, which would
/// cut every connection before its first request.
fn parse_timeout(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, seconds_per_unit) = if let Some(ms) = text.strip_suffix("ms") {
        (ms, 1e-3)
    } else {
        (text.strip_suffix('s').unwrap_or(text), 1.0)
    };
    let seconds = number
        .trim()
        .parse::<f64>()
        .ok()
        .map(|n| n * seconds_per_unit)
        .filter(|s| s.is_finite())
        .ok_or_else(|| format!("`{text}` is not a duration; use e.g. 30s, 500ms or 2.5"))?;
    match Duration::try_from_secs_f64(seconds) {
        Ok(timeout) if !timeout.is_zero() => Ok(timeout),
        _ => Err(format!("`{text}` must be a duration above zero")),
    }
}

fn fail(message: std::fmt::Arguments<'_>) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::FAILURE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_read_as_seconds_or_milliseconds() {
        assert_eq!(parse_timeout("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_timeout("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_timeout(" 2.5 "), Ok(Duration::from_millis(2500)));
        assert!(parse_timeout("0").unwrap_err().contains("above zero"));
        assert!(parse_timeout("-1s").unwrap_err().contains("above zero"));
        assert!(parse_timeout("5m").unwrap_err().contains("not a duration"));
        assert!(parse_timeout("infs")
            .unwrap_err()
            .contains("not a duration"));
    }

    #[test]
    fn the_arguments_parse_and_bad_ones_are_refused() {
        let args = Args::try_parse_from(["http_server"]).unwrap();
        assert_eq!(args.addr, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(args.driver, Driver::Auto);
        assert_eq!(args.header_read_timeout, Duration::from_secs(30));
        let args = Args::try_parse_from([
            "http_server",
            "--driver",
            "epoll",
            "--header-read-timeout",
            "200ms",
            "--no-pin",
        ])
        .unwrap();
        assert_eq!(args.driver, Driver::Epoll);
        assert_eq!(args.header_read_timeout, Duration::from_millis(200));
        assert!(args.no_pin);
        for bad in [
            &["http_server", "--driver", "kqueue"][..],
            &["http_server", "--addr", "nowhere"],
            &["http_server", "--header-read-timeout", "soon"],
        ] {
            let e = Args::try_parse_from(bad).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{bad:?}");
        }
    }
}
