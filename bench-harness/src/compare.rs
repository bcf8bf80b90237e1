//! `ringtide-bench echo --compare`: the ringtide and tokio echo servers under the same
//! loads, one after the other in one run.
//!
//! Each measurement starts a fresh server process (see [`ServerProcess`]) pinned to the
//! first CPU this process may use, drives it from the second CPU, reads the server's CPU
//! time from `/proc`, and stops it. With fewer than two CPUs nothing is pinned (and the
//! report says so): client and server then compete for the same CPU.

use std::io;
use std::time::Duration;

use crate::echo::{self, LoadConfig};
use crate::report::echo::EchoRun;
use crate::serve::{ServerProcess, ServerRuntime};
use crate::sys;

/// Settings of a comparison.
#[derive(Debug, Clone)]
pub struct CompareConfig {
    /// Worker threads of each server.
    pub workers: usize,
    /// Connection counts to measure.
    pub connections: Vec<usize>,
    /// Message sizes to measure.
    pub sizes: Vec<usize>,
    pub duration: Duration,
    pub warmup: Duration,
    pub rate: Option<f64>,
    /// How long the load generator looks for work before it sleeps.
    pub client_spin: Duration,
    /// Where servers and the load generator run.
    pub placement: Placement,
    pub progress: bool,
}

/// Where the servers and the load generator run.
#[derive(Debug, Clone)]
pub struct Placement {
    pub server_cpu: Option<usize>,
    pub client_cpu: Option<usize>,
    /// One line that says so, for the report.
    pub note: String,
}

impl Placement {
    /// Server on the first CPU available, client on the second; nothing pinned with
    /// fewer than two.
    pub fn detect() -> Placement {
        match sys::core_ids()[..] {
            [server, client, ..] => Placement {
                server_cpu: Some(server),
                client_cpu: Some(client),
                note: format!("server pinned to CPU {server}, load generator to CPU {client}"),
            },
            _ => Placement {
                server_cpu: None,
                client_cpu: None,
                note: "fewer than 2 CPUs available: nothing pinned, server and load generator \
                       share the CPU"
                    .to_string(),
            },
        }
    }
}

/// The servers compared, in the order they run under each load.
const SERVERS: [ServerRuntime; 2] = [ServerRuntime::Ringtide, ServerRuntime::Tokio];

/// Measures every server under every load (sizes, then connection counts).
pub fn run(config: &CompareConfig) -> io::Result<Vec<EchoRun>> {
    let mut runs = Vec::new();
    for &size in &config.sizes {
        for &connections in &config.connections {
            for runtime in SERVERS {
                runs.push(measure(config, runtime, connections, size)?);
            }
        }
    }
    Ok(runs)
}

fn measure(
    config: &CompareConfig,
    runtime: ServerRuntime,
    connections: usize,
    size: usize,
) -> io::Result<EchoRun> {
    let placement = &config.placement;
    let mut server = ServerProcess::start(runtime, config.workers, placement.server_cpu)?;
    let load = LoadConfig {
        addr: server.addr(),
        connections,
        size,
        duration: config.duration,
        warmup: config.warmup,
        rate: config.rate,
        server_pid: Some(server.pid()),
        client_cpu: placement.client_cpu,
        client_spin: config.client_spin,
        label: format!("{} ({connections} conns, {size} B)", runtime.name()),
        progress: config.progress,
    };
    let result = echo::run(&load);
    let stopped = server.stop();
    let result = result?;
    match stopped {
        Ok(status) if status.success() => {}
        Ok(status) => eprintln!(
            "warning: the {} server exited with {status}",
            runtime.name()
        ),
        Err(e) => eprintln!("warning: stopping the {} server: {e}", runtime.name()),
    }
    Ok(EchoRun {
        server: runtime.name().to_string(),
        connections,
        size,
        result,
    })
}
