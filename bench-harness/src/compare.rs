//! `ringtide-bench echo --compare`: the ringtide echo server (once per I/O driver asked
//! for), the tokio echo server and the monoio echo server (io_uring, thread per core)
//! under the same loads, one after the other in one run.
//!
//! Each measurement starts a fresh server process (see [`ServerProcess`]) pinned to the
//! first CPU this process may use, drives it from the second CPU, reads the server's CPU
//! time from `/proc` and (ringtide) its I/O counters over stdin, and stops it. With fewer than two CPUs nothing is pinned (and the
//! report says so): client and server then compete for the same CPU.

use std::io;
use std::time::Duration;

use ringtide::Driver;

use crate::drivers::{self, NotMeasured};
use crate::echo::{self, LoadConfig};
use crate::report::echo::EchoRun;
use crate::serve::{Protocol, Recv, ServerProcess, ServerRuntime, ServerSpec, StartOptions};
use crate::sys;

/// Settings of a comparison.
#[derive(Debug, Clone)]
pub struct CompareConfig {
    /// Worker threads of each server.
    pub workers: usize,
    /// ringtide's I/O drivers: its server runs once per driver, in this order.
    pub drivers: Vec<Driver>,
    /// How ringtide's echo receives: its server runs once per way on each driver.
    pub recvs: Vec<Recv>,
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
            _ => Placement::unpinned(
                "fewer than 2 CPUs available: nothing pinned, server and load generator share \
                 the CPU",
            ),
        }
    }

    /// Nothing pinned; `note` says why.
    pub fn unpinned(note: &str) -> Placement {
        Placement {
            server_cpu: None,
            client_cpu: None,
            note: note.to_string(),
        }
    }
}

/// Measures every server (ringtide on each driver that runs here, then tokio and monoio) under
/// every load (sizes, then connection counts); returns the runs and the drivers left
/// out.
pub fn run(config: &CompareConfig) -> io::Result<(Vec<EchoRun>, Vec<NotMeasured>)> {
    let (servers, not_measured) = servers(
        &config.drivers,
        &config.recvs,
        Protocol::Echo,
        config.progress,
    );
    let mut runs = Vec::new();
    for &size in &config.sizes {
        for &connections in &config.connections {
            for spec in &servers {
                runs.push(measure(config, spec, connections, size)?);
            }
        }
    }
    Ok((runs, not_measured))
}

/// The servers of a comparison: ringtide on each of `drivers` that runs here, in order,
/// once per way of receiving in `recvs`, then tokio, then monoio where it speaks
/// `protocol` (echo only); and the drivers left out (said on stderr as well with
/// `progress`).
pub fn servers(
    drivers: &[Driver],
    recvs: &[Recv],
    protocol: Protocol,
    progress: bool,
) -> (Vec<ServerSpec>, Vec<NotMeasured>) {
    let (ringtide, not_measured) = drivers::check_all(drivers::entries(drivers));
    for skipped in &not_measured {
        if progress {
            eprintln!("{}: not measured: {}", skipped.name, skipped.reason);
        }
    }
    // A server for `auto` is started on the driver `auto` picked here, which the
    // report then names.
    let mut servers: Vec<ServerSpec> = ringtide
        .into_iter()
        .flat_map(|usable| {
            recvs.iter().map(move |&recv| ServerSpec {
                runtime: ServerRuntime::Ringtide,
                driver: Some(usable.runs_on),
                name: match recv {
                    Recv::Owned => usable.entry.name.clone(),
                    Recv::Multishot => format!("{}-multishot", usable.entry.name),
                },
                recv,
            })
        })
        .collect();
    let others: &[ServerRuntime] = match protocol {
        Protocol::Echo => &[ServerRuntime::Tokio, ServerRuntime::Monoio],
        Protocol::Http => &[ServerRuntime::Tokio],
    };
    for &runtime in others {
        servers.push(ServerSpec {
            runtime,
            driver: None,
            name: runtime.name().to_string(),
            recv: Recv::Owned,
        });
    }
    (servers, not_measured)
}

fn measure(
    config: &CompareConfig,
    spec: &ServerSpec,
    connections: usize,
    size: usize,
) -> io::Result<EchoRun> {
    let placement = &config.placement;
    let options = StartOptions {
        workers: config.workers,
        cpu: placement.server_cpu,
        read_buffer: None,
    };
    let server = ServerProcess::start(spec, Protocol::Echo, options)?;
    let load = LoadConfig {
        addr: server.addr(),
        connections,
        size,
        duration: config.duration,
        warmup: config.warmup,
        rate: config.rate,
        server_pid: Some(server.pid()),
        server_io: Some(server.probe()),
        client_cpu: placement.client_cpu,
        client_spin: config.client_spin,
        label: format!("{} ({connections} conns, {size} B)", spec.name),
        progress: config.progress,
    };
    let result = echo::run(&load);
    server.finish(&spec.name);
    let result = result?;
    Ok(EchoRun {
        server: spec.name.clone(),
        driver: spec.driver,
        connections,
        size,
        result,
    })
}
