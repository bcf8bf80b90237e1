//! `ringtide-bench serve` (hidden): runs one server for `echo --compare` or
//! `http --compare`.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Args;
use ringtide::Driver;

use super::values;
use super::MAX_WORKERS;
use crate::serve::{self, Protocol, ServeConfig, ServerRuntime};
use crate::sys;
use ringtide_examples::ECHO_BUFFER;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The runtime to serve on.
    #[arg(long, value_enum)]
    runtime: ServerRuntime,
    /// What to serve: TCP echo, or HTTP/1.1 and h2c on one port.
    #[arg(long, value_enum, default_value_t = Protocol::Echo)]
    protocol: Protocol,
    /// With --runtime ringtide: its I/O driver, io_uring, epoll or auto [default: auto].
    #[arg(long, value_parser = values::DriverName)]
    driver: Option<Driver>,
    /// Address to listen on (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    addr: SocketAddr,
    /// Worker threads.
    #[arg(long, default_value_t = 1, value_parser = values::count(1, MAX_WORKERS))]
    workers: usize,
    /// Pin the whole server to this CPU.
    #[arg(long)]
    cpu: Option<usize>,
    /// Bytes of each echo connection's read buffer, on tokio and monoio (ringtide's
    /// example server reads into 16 KiB) [default: 16 KiB].
    #[arg(long, value_parser = values::size(1, 16 << 20))]
    read_buffer: Option<usize>,
    /// With --runtime ringtide and --protocol echo: how the echo receives, into one
    /// owned buffer per connection, or through `TcpStream::recv_stream` (multishot
    /// receive into provided buffers on io_uring 6.0+, one-shot elsewhere).
    #[arg(long, value_enum, default_value_t = serve::Recv::Owned)]
    recv: serve::Recv,
}

/// Runs `ringtide-bench serve`.
pub fn run(args: &ServeArgs) -> ExitCode {
    if args.driver.is_some() && args.runtime != ServerRuntime::Ringtide {
        eprintln!("error: --driver chooses ringtide's I/O driver, so it goes with --runtime ringtide only");
        return ExitCode::from(2);
    }
    if args.runtime == ServerRuntime::Monoio && args.protocol != Protocol::Echo {
        eprintln!("error: the monoio server speaks echo only");
        return ExitCode::from(2);
    }
    if args.read_buffer.is_some() && args.runtime == ServerRuntime::Ringtide {
        eprintln!(
            "error: --read-buffer sets the tokio and monoio servers' buffer; ringtide's \
             example server reads into its own"
        );
        return ExitCode::from(2);
    }
    if let Some(cpu) = args.cpu {
        if let Err(why) = sys::check_cpu(cpu) {
            eprintln!(
                "error: cannot pin the {} server to CPU {cpu}: {why}; give --cpu one of those",
                args.protocol.name()
            );
            return ExitCode::from(2);
        }
    }
    let config = ServeConfig {
        runtime: args.runtime,
        protocol: args.protocol,
        driver: args.driver.unwrap_or_default(),
        addr: args.addr,
        workers: args.workers,
        cpu: args.cpu,
        read_buffer: args.read_buffer.unwrap_or(ECHO_BUFFER),
        recv: args.recv,
    };
    match serve::run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!(
                "error: {} {} server: {e}",
                args.runtime.name(),
                args.protocol.name()
            );
            ExitCode::FAILURE
        }
    }
}
