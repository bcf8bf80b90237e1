//! `ringtide-bench serve` (hidden): runs one echo server for `echo --compare`.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Args;

use super::values;
use super::MAX_WORKERS;
use crate::serve::{self, ServeConfig, ServerRuntime};
use crate::sys;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The runtime to serve on.
    #[arg(long, value_enum)]
    runtime: ServerRuntime,
    /// Address to listen on (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    addr: SocketAddr,
    /// Worker threads.
    #[arg(long, default_value_t = 1, value_parser = values::count(1, MAX_WORKERS))]
    workers: usize,
    /// Pin the whole server to this CPU.
    #[arg(long)]
    cpu: Option<usize>,
}

/// Runs `ringtide-bench serve`.
pub fn run(args: &ServeArgs) -> ExitCode {
    if let Some(cpu) = args.cpu {
        if let Err(why) = sys::check_cpu(cpu) {
            eprintln!(
                "error: cannot pin the echo server to CPU {cpu}: {why}; give --cpu one of those"
            );
            return ExitCode::from(2);
        }
    }
    let config = ServeConfig {
        runtime: args.runtime,
        addr: args.addr,
        workers: args.workers,
        cpu: args.cpu,
    };
    match serve::run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {} echo server: {e}", args.runtime.name());
            ExitCode::FAILURE
        }
    }
}
