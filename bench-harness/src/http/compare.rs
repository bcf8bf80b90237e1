//! The comparison loop of `ringtide-bench http --compare`.
//!
//! For each load, in rounds: each round starts every server once (ringtide on each
//! driver, then tokio; in odd rounds the other way round, so that neither side always
//! runs first or last), and for each server:
//!
//! 1. starts a fresh server process (see [`ServerProcess`]) with `--protocol http`;
//! 2. runs the load tool for the warm-up, figures thrown away;
//! 3. reads the server's user and system CPU time (`/proc/PID/stat`);
//! 4. runs the load tool for the measured duration;
//! 5. reads the server's CPU time again, and stops the server.
//!
//! The server is idle before and after the tool runs, so the CPU time between the two
//! reads is the cost of the requests the tool counted (plus the tool's connecting).

use std::io;
use std::path::{Path, PathBuf};

use ringtide::Driver;

use super::parse::ToolReport;
use super::tools::{self, Load, Tool};
use crate::compare::{self, Placement};
use crate::drivers::NotMeasured;
use crate::serve::{Protocol, Recv, ServerProcess, ServerSpec, StartOptions};
use crate::sys::{self, CpuTimes};

/// Settings of a comparison.
#[derive(Debug, Clone)]
pub struct HttpCompareConfig {
    /// Worker threads of each server.
    pub workers: usize,
    /// ringtide's I/O drivers: its server runs once per driver in each round.
    pub drivers: Vec<Driver>,
    /// The loads, measured one after the other.
    pub loads: Vec<Load>,
    /// Rounds per load.
    pub runs: usize,
    /// Length of each measured run, in whole seconds (what both tools take).
    pub seconds: u64,
    /// Load before each measured run, not counted (0: none).
    pub warmup_seconds: u64,
    /// Take h2load's percentiles from its per-request log.
    pub h2load_log: bool,
    /// Where the servers and the load tool run.
    pub placement: Placement,
    pub progress: bool,
}

/// One measured run: one server under one load.
#[derive(Debug, Clone)]
pub struct HttpRun {
    /// `ringtide` (`ringtide-DRIVER` when drivers were chosen) or `tokio`.
    pub server: String,
    /// The I/O driver of a ringtide server; `None` for tokio.
    pub driver: Option<Driver>,
    pub load: Load,
    /// The round it ran in, from 1.
    pub round: usize,
    /// What the load tool reported.
    pub report: ToolReport,
    /// CPU time the server used over the measured run.
    pub server_cpu: CpuTimes,
}

/// A load tool that is not installed, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolMissing {
    pub tool: Tool,
    pub reason: String,
}

/// What a comparison measured and what it left out.
#[derive(Debug, Default)]
pub struct Measured {
    pub runs: Vec<HttpRun>,
    pub not_measured: Vec<NotMeasured>,
    pub tools_missing: Vec<ToolMissing>,
}

/// Measures every server under every load whose tool is installed; the loads of a
/// missing tool are left out and said so in [`Measured::tools_missing`].
pub fn run(config: &HttpCompareConfig) -> io::Result<Measured> {
    let mut measured = Measured::default();
    let mut programs: Vec<(Tool, PathBuf)> = Vec::new();
    for load in &config.loads {
        let tool = load.tool;
        if programs.iter().any(|(t, _)| *t == tool)
            || measured.tools_missing.iter().any(|m| m.tool == tool)
        {
            continue;
        }
        match tool.locate() {
            Ok(program) => programs.push((tool, program)),
            Err(reason) => {
                if config.progress {
                    eprintln!("{}: not run: {reason}", tool.name());
                }
                measured.tools_missing.push(ToolMissing { tool, reason });
            }
        }
    }
    let (servers, not_measured) = compare::servers(
        &config.drivers,
        &[Recv::Owned],
        Protocol::Http,
        config.progress,
    );
    measured.not_measured = not_measured;
    let log = config.h2load_log.then(|| {
        std::env::temp_dir().join(format!("ringtide-bench-h2load-{}.tsv", std::process::id()))
    });
    for load in &config.loads {
        let Some((_, program)) = programs.iter().find(|(t, _)| *t == load.tool) else {
            continue;
        };
        for round in 1..=config.runs {
            for spec in round_order(&servers, round) {
                let run = measure(config, program, log.as_deref(), spec, load, round)?;
                measured.runs.push(run);
            }
        }
    }
    Ok(measured)
}

/// The servers in the order of `round` (from 1): as given in odd rounds, reversed in
/// even ones.
fn round_order(servers: &[ServerSpec], round: usize) -> Vec<&ServerSpec> {
    let mut order: Vec<&ServerSpec> = servers.iter().collect();
    if round % 2 == 0 {
        order.reverse();
    }
    order
}

fn measure(
    config: &HttpCompareConfig,
    program: &Path,
    log: Option<&Path>,
    spec: &ServerSpec,
    load: &Load,
    round: usize,
) -> io::Result<HttpRun> {
    let placement = &config.placement;
    let label = format!(
        "{} ({}, round {round}/{})",
        spec.name,
        load.label(),
        config.runs
    );
    let options = StartOptions {
        workers: config.workers,
        cpu: placement.server_cpu,
        read_buffer: None,
    };
    let server = ServerProcess::start(spec, Protocol::Http, options)?;
    let (addr, pid) = (server.addr(), server.pid());
    let tool_cpu = placement.client_cpu;
    let measured = (|| {
        if config.warmup_seconds > 0 {
            if config.progress {
                eprintln!("{label}: warming up for {} s", config.warmup_seconds);
            }
            tools::run(program, load, addr, config.warmup_seconds, tool_cpu, None)?;
        }
        let read_cpu = || {
            sys::cpu_times(Some(pid)).map_err(|e| {
                io::Error::new(e.kind(), format!("reading server {pid}'s CPU time: {e}"))
            })
        };
        let before = read_cpu()?;
        let report = tools::run(program, load, addr, config.seconds, tool_cpu, log)?;
        let after = read_cpu()?;
        Ok((report, after.since(before)))
    })();
    server.finish(&spec.name);
    let (report, server_cpu) =
        measured.map_err(|e: io::Error| io::Error::new(e.kind(), format!("{label}: {e}")))?;
    if config.progress {
        eprintln!(
            "{label}: {:.0} req/s, server CPU {:.2} µs/req user + {:.2} system, {} errors",
            report.requests_per_s,
            per_request_us(server_cpu.user, report.requests).unwrap_or(f64::NAN),
            per_request_us(server_cpu.system, report.requests).unwrap_or(f64::NAN),
            report.errors.total
        );
    }
    Ok(HttpRun {
        server: spec.name.clone(),
        driver: spec.driver,
        load: *load,
        round,
        report,
        server_cpu,
    })
}

/// `seconds` of CPU time spread over `requests`, in µs each (`None` without requests).
pub fn per_request_us(seconds: f64, requests: u64) -> Option<f64> {
    (requests > 0).then(|| seconds * 1e6 / requests as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::ServerRuntime;

    fn spec(name: &str) -> ServerSpec {
        ServerSpec {
            runtime: if name == "tokio" {
                ServerRuntime::Tokio
            } else {
                ServerRuntime::Ringtide
            },
            driver: None,
            name: name.to_string(),
            recv: Recv::Owned,
        }
    }

    #[test]
    fn rounds_alternate_the_server_order() {
        let servers = [
            spec("ringtide-io_uring"),
            spec("ringtide-epoll"),
            spec("tokio"),
        ];
        let names = |round| -> Vec<&str> {
            round_order(&servers, round)
                .iter()
                .map(|s| s.name.as_str())
                .collect()
        };
        assert_eq!(names(1), ["ringtide-io_uring", "ringtide-epoll", "tokio"]);
        assert_eq!(names(2), ["tokio", "ringtide-epoll", "ringtide-io_uring"]);
        assert_eq!(names(3), names(1));
    }

    #[test]
    fn cpu_per_request_needs_requests() {
        assert_eq!(per_request_us(2.0, 1_000_000), Some(2.0));
        assert_eq!(per_request_us(2.0, 0), None);
    }
}
