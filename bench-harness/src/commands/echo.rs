//! `ringtide-bench echo`: its options, their checks, and the run (one server, or the
//! comparison).

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use ringtide::Driver;

use super::values;
use super::MAX_WORKERS;
use crate::compare::{self, CompareConfig, Placement};
use crate::echo::{self, LoadConfig};
use crate::idle::{self, IdleConfig};
use crate::report;
use crate::report::echo::EchoConfig;
use crate::serve::Recv;
use crate::sys;

#[derive(Debug, Args)]
pub struct EchoArgs {
    /// Address of the echo server to load (not with --compare).
    #[arg(long)]
    addr: Option<String>,
    /// Connections held open at once [default: 50; with --compare: 50,500]. With
    /// --compare, a comma-separated list.
    #[arg(long, value_delimiter = ',', value_parser = values::count(1, MAX_CONNECTIONS))]
    connections: Vec<usize>,
    /// Bytes per message, e.g. 128, 4k, 4KiB [default: 128; with --compare: 128,4k].
    /// With --compare, a comma-separated list.
    #[arg(long, value_delimiter = ',', value_parser = values::size(1, MAX_MESSAGE))]
    size: Vec<usize>,
    /// Length of the measured window (of each measurement, with --compare).
    #[arg(long, default_value = "5s", value_parser = values::positive_duration())]
    duration: Duration,
    /// Load before the measured window, not counted.
    #[arg(long, default_value = "1s", value_parser = values::duration())]
    warmup: Duration,
    /// Total requests per second, spread over the connections on fixed schedules;
    /// round trips are then measured from each request's intended send time. Without
    /// it, every connection sends its next message as soon as the last one is back.
    #[arg(long, value_parser = values::rate())]
    rate: Option<f64>,
    /// How long the load generator keeps looking for work before it sleeps (0: at
    /// once). Spinning keeps it awake when echoes arrive, so that the server does not
    /// pay for waking it and the figures show the server's own costs.
    #[arg(long, default_value = "1ms", value_parser = values::duration())]
    client_spin: Duration,
    /// Write every figure as JSON to this file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Process id of the (local) server, to report its CPU time per request.
    #[arg(long, value_name = "PID")]
    server_pid: Option<u32>,
    /// Pin the load generator to this CPU.
    #[arg(long, value_name = "CPU")]
    client_cpu: Option<usize>,
    /// Start the ringtide (once per --driver), tokio and monoio echo servers (child
    /// processes, the server pinned to one CPU and the load generator to another) and
    /// measure them under the same loads.
    #[arg(long)]
    compare: bool,
    /// With --compare: worker threads of each server [default: 1, as each server is
    /// pinned to one CPU].
    #[arg(long, value_parser = values::count(1, MAX_WORKERS))]
    workers: Option<usize>,
    /// With --compare: the ringtide server's I/O drivers, comma-separated: io_uring,
    /// epoll, auto [default: auto]. The ringtide server runs once per driver listed under
    /// each load, before tokio's, as ringtide-io_uring, ringtide-epoll (as plain ringtide
    /// for auto alone). Each is divided by tokio (io_uring held to req/s >= 1.30, CPU/req
    /// <= 0.70, p99 <= 1.00; epoll to CPU/req <= 1.05), and each after the first by the
    /// first. A driver that does not run here is reported and left out, and the rest is
    /// measured. (The load generator runs on ringtide's default driver.)
    #[arg(long = "driver", value_delimiter = ',', value_parser = values::DriverName)]
    drivers: Vec<Driver>,
    /// With --compare: how ringtide's echo server receives, comma-separated: owned (one
    /// buffer per connection, `TcpStream::read`), multishot (`TcpStream::recv_stream`:
    /// buffers lent by the runtime, multishot receive where the ring has it) [default:
    /// owned]. ringtide's server runs once per way on each driver.
    #[arg(long, value_enum, value_delimiter = ',')]
    recv: Vec<Recv>,
    /// With --compare: instead of a load, open this many idle connections to each server
    /// (from 127.0.0.1-127.0.0.4, each after one 128 B echo) and report the server's
    /// resident memory per connection beyond what it held before. The harness and each
    /// server need a descriptor per connection: at most the hard limit on open files less
    /// 100.
    #[arg(long, value_name = "N", value_parser = values::count(1, MAX_CONNECTIONS))]
    idle: Option<usize>,
    /// Do not print progress to stderr.
    #[arg(long)]
    quiet: bool,
}

/// Largest message the load generator sends (each connection holds two of them).
const MAX_MESSAGE: usize = 16 << 20;
/// Most connections one run opens (they share one client address's ephemeral ports).
const MAX_CONNECTIONS: usize = 50_000;

/// The end of `echo --help`; the 1% is [`echo::ERROR_PERCENT_ALLOWED`].
pub const EXIT_STATUS: &str = "\
Exit status: 0 when every measurement shows an echo server at work; 1 when one does not \
(any echo that differs from what was sent, errors above 1% of the requests measured, no \
request completed in the measured window, or connections that cannot reconnect by its end, \
as when the server stopped), when a driver of --driver does not run here, or when the run \
itself fails; 2 when an option is out of range or does not fit the others. The figures are \
printed either way.";

/// What an `echo` command will do.
#[derive(Debug)]
enum EchoPlan {
    /// Load one server the user started.
    Single(LoadConfig),
    /// Start ringtide's (once per driver), tokio's and monoio's servers and load each in
    /// turn.
    Compare(CompareConfig),
    /// Start each server in turn and hold idle connections to it.
    Idle(IdleConfig),
}

impl EchoArgs {
    /// Checks what clap cannot and builds the plan and the report's settings.
    fn validate(&self) -> Result<(EchoPlan, EchoConfig), String> {
        let config = |addr, server_workers, pinning, drivers: &[Driver]| EchoConfig {
            addr,
            duration_s: self.duration.as_secs_f64(),
            warmup_s: self.warmup.as_secs_f64(),
            rate: self.rate,
            server_workers,
            drivers: drivers.iter().map(Driver::to_string).collect(),
            pinning,
        };
        if self.compare {
            for (given, name) in [
                (self.addr.is_some(), "--addr"),
                (self.server_pid.is_some(), "--server-pid"),
                (self.client_cpu.is_some(), "--client-cpu"),
            ] {
                if given {
                    return Err(format!(
                        "{name} does not go with --compare, which starts its own servers and \
                         places them itself"
                    ));
                }
            }
            let workers = self.workers.unwrap_or(1);
            let drivers = super::drivers(&self.drivers)?;
            let recvs = if self.recv.is_empty() {
                vec![Recv::Owned]
            } else {
                self.recv.clone()
            };
            let placement = Placement::detect();
            let config = config(None, Some(workers), placement.note.clone(), &drivers);
            if let Some(connections) = self.idle {
                for (given, name) in [
                    (!self.connections.is_empty(), "--connections"),
                    (!self.size.is_empty(), "--size"),
                    (self.rate.is_some(), "--rate"),
                ] {
                    if given {
                        return Err(format!(
                            "{name} sets a load, and --idle measures idle connections instead"
                        ));
                    }
                }
                idle::check_fits(connections)?;
                let plan = IdleConfig {
                    connections,
                    workers,
                    drivers,
                    recvs: recvs.clone(),
                    placement,
                    progress: !self.quiet,
                };
                return Ok((EchoPlan::Idle(plan), config));
            }
            let or = |given: &[usize], default: &[usize]| {
                if given.is_empty() {
                    default.to_vec()
                } else {
                    given.to_vec()
                }
            };
            let plan = CompareConfig {
                workers,
                drivers,
                recvs,
                connections: or(&self.connections, &[50, 500]),
                sizes: or(&self.size, &[128, 4096]),
                duration: self.duration,
                warmup: self.warmup,
                rate: self.rate,
                client_spin: self.client_spin,
                placement,
                progress: !self.quiet,
            };
            return Ok((EchoPlan::Compare(plan), config));
        }
        if self.idle.is_some() {
            return Err(
                "--idle measures the servers --compare starts, so it goes with --compare \
                        only"
                    .into(),
            );
        }
        if self.workers.is_some() {
            return Err(
                "--workers sets the servers' threads, so it goes with --compare only".into(),
            );
        }
        if !self.drivers.is_empty() {
            return Err(
                "--driver chooses the drivers of the servers --compare starts, so it goes with \
                 --compare only"
                    .into(),
            );
        }
        if !self.recv.is_empty() {
            return Err(
                "--recv chooses how the ringtide server --compare starts receives, so it goes \
                 with --compare only"
                    .into(),
            );
        }
        let Some(text) = &self.addr else {
            return Err("--addr is required (the echo server to load), or use --compare".into());
        };
        let addr = resolve(text)?;
        let single = |values: &[usize], name: &str, default: usize| match values {
            [] => Ok(default),
            [one] => Ok(*one),
            _ => Err(format!("{name} takes one value unless --compare is given")),
        };
        let connections = single(&self.connections, "--connections", 50)?;
        let size = single(&self.size, "--size", 128)?;
        let pinning = match self.client_cpu {
            Some(cpu) => {
                sys::check_cpu(cpu).map_err(|why| {
                    format!(
                        "cannot pin the load generator to CPU {cpu}: {why}; give --client-cpu \
                         one of those"
                    )
                })?;
                format!("load generator pinned to CPU {cpu}")
            }
            None => "load generator not pinned".to_string(),
        };
        let load = LoadConfig {
            addr,
            connections,
            size,
            duration: self.duration,
            warmup: self.warmup,
            rate: self.rate,
            server_pid: self.server_pid,
            server_io: None,
            client_cpu: self.client_cpu,
            client_spin: self.client_spin,
            label: "server".to_string(),
            progress: !self.quiet,
        };
        Ok((
            EchoPlan::Single(load),
            config(Some(addr.to_string()), None, pinning, &[]),
        ))
    }
}

/// Runs `echo --compare --idle N` and prints its table (and JSON).
fn run_idle(args: &EchoArgs, config: &IdleConfig, pinning: &str) -> ExitCode {
    let (runs, not_measured) = match idle::run(config) {
        Ok(measured) => measured,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let stdout = std::io::stdout();
    if let Err(e) = report::idle::print_table(&runs, &not_measured, pinning, &mut stdout.lock()) {
        eprintln!("error: writing the table: {e}");
        return ExitCode::FAILURE;
    }
    if let Some(path) = &args.json {
        match report::idle::write_json(path, &runs, &not_measured, pinning) {
            Ok(()) => eprintln!("wrote JSON: {}", path.display()),
            Err(e) => {
                eprintln!("error: writing JSON to {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
        }
    }
    if super::any_not_measured(&not_measured) {
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// The first address `text` names.
fn resolve(text: &str) -> Result<SocketAddr, String> {
    let mut addrs = text
        .to_socket_addrs()
        .map_err(|e| format!("--addr `{text}` is not an address (use e.g. 127.0.0.1:7000): {e}"))?;
    addrs
        .next()
        .ok_or_else(|| format!("--addr `{text}` resolves to no address"))
}

/// Runs `ringtide-bench echo`.
pub fn run(args: &EchoArgs) -> ExitCode {
    let (plan, config) = match args.validate() {
        Ok(v) => v,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    sys::raise_descriptor_limit();
    if let EchoPlan::Idle(idle) = &plan {
        return run_idle(args, idle, &config.pinning);
    }
    let measured = match &plan {
        EchoPlan::Single(load) => echo::run(load).map(|result| {
            let run = report::echo::EchoRun {
                server: load.label.clone(),
                driver: None,
                connections: load.connections,
                size: load.size,
                result,
            };
            (vec![run], Vec::new())
        }),
        EchoPlan::Compare(compare) => {
            if !args.quiet {
                let drivers = match &compare.drivers[..] {
                    [Driver::Auto] => String::new(),
                    drivers => {
                        let names: Vec<String> = drivers.iter().map(Driver::to_string).collect();
                        format!(" (on {})", names.join(", "))
                    }
                };
                eprintln!(
                    "comparing ringtide{drivers}, tokio and monoio echo servers with {} \
                     worker(s) each; {}",
                    compare.workers, config.pinning
                );
            }
            compare::run(compare)
        }
        EchoPlan::Idle(_) => unreachable!("measured above"),
    };
    let (runs, not_measured) = match measured {
        Ok(measured) => measured,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let stdout = std::io::stdout();
    let table = report::echo::print_table(&config, &runs, &not_measured, &mut stdout.lock());
    if let Err(e) = table {
        eprintln!("error: writing the table: {e}");
        return ExitCode::FAILURE;
    }
    if let Some(path) = &args.json {
        match report::echo::write_json(path, &config, &runs, &not_measured) {
            Ok(()) => eprintln!("wrote JSON: {}", path.display()),
            Err(e) => {
                eprintln!("error: writing JSON to {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
        }
    }
    // The figures are out first: they show what went wrong.
    let mut status = ExitCode::SUCCESS;
    for run in &runs {
        if let Some(why) = run.result.failure() {
            eprintln!(
                "error: {} ({} connections, {} B): {why}",
                run.server, run.connections, run.size
            );
            status = ExitCode::FAILURE;
        }
    }
    if super::any_not_measured(&not_measured) {
        status = ExitCode::FAILURE;
    }
    status
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::{Cli, Command};

    fn parse(args: &[&str]) -> Result<(EchoPlan, EchoConfig), String> {
        let mut argv = vec!["ringtide-bench", "echo"];
        argv.extend_from_slice(args);
        let cli = Cli::try_parse_from(argv).map_err(|e| e.to_string())?;
        let Command::Echo(args) = cli.command else {
            unreachable!("parsed as echo");
        };
        args.validate()
    }

    fn error(args: &[&str]) -> String {
        parse(args).expect_err("refused")
    }

    #[test]
    fn the_help_states_the_error_fraction_the_run_allows() {
        let percent = format!("errors above {}%", echo::ERROR_PERCENT_ALLOWED);
        assert!(EXIT_STATUS.contains(&percent), "{EXIT_STATUS}");
    }

    #[test]
    fn single_runs_default_to_50_connections_of_128_bytes() {
        let (plan, config) = parse(&["--addr", "127.0.0.1:7000"]).unwrap();
        let EchoPlan::Single(load) = plan else {
            panic!("a single run");
        };
        assert_eq!((load.connections, load.size), (50, 128));
        assert_eq!(load.duration, Duration::from_secs(5));
        assert_eq!(load.warmup, Duration::from_secs(1));
        assert_eq!(load.rate, None);
        assert_eq!(config.addr.as_deref(), Some("127.0.0.1:7000"));
    }

    #[test]
    fn compare_defaults_to_four_loads_on_one_worker() {
        let (plan, config) = parse(&["--compare"]).unwrap();
        let EchoPlan::Compare(compare) = plan else {
            panic!("a comparison");
        };
        assert_eq!(compare.connections, [50, 500]);
        assert_eq!(compare.sizes, [128, 4096]);
        assert_eq!(compare.workers, 1);
        assert_eq!(config.server_workers, Some(1));
        let (plan, _) = parse(&["--compare", "--size", "1k,2k", "--workers", "2"]).unwrap();
        let EchoPlan::Compare(compare) = plan else {
            panic!("a comparison");
        };
        assert_eq!((compare.sizes, compare.workers), (vec![1024, 2048], 2));
        assert_eq!(compare.drivers, [Driver::Auto]);
        assert_eq!(config.drivers, ["auto"]);
    }

    #[test]
    fn compare_runs_ringtide_on_each_driver_listed() {
        let (plan, config) = parse(&["--compare", "--driver", "epoll,io_uring"]).unwrap();
        let EchoPlan::Compare(compare) = plan else {
            panic!("a comparison");
        };
        assert_eq!(compare.drivers, [Driver::Epoll, Driver::IoUring]);
        assert_eq!(config.drivers, ["epoll", "io_uring"]);
        assert!(error(&["--compare", "--driver", "auto,auto"]).contains("twice"));
        let unknown = error(&["--compare", "--driver", "kqueue"]);
        assert!(
            unknown.contains("--driver: unknown ringtide driver `kqueue`"),
            "{unknown}"
        );
        assert!(
            error(&["--addr", "127.0.0.1:7000", "--driver", "epoll"]).contains("--compare only")
        );
    }

    #[test]
    fn idle_goes_with_compare_and_without_a_load() {
        let (plan, config) = parse(&["--compare", "--idle", "100"]).unwrap();
        let EchoPlan::Idle(idle) = plan else {
            panic!("an idle run");
        };
        assert_eq!((idle.connections, idle.workers), (100, 1));
        assert_eq!(idle.drivers, [Driver::Auto]);
        assert_eq!(config.server_workers, Some(1));
        assert!(error(&["--addr", "127.0.0.1:7000", "--idle", "10"]).contains("--compare only"));
        for load in [["--size", "4k"], ["--connections", "5"], ["--rate", "100"]] {
            let refused = error(&[&["--compare", "--idle", "10"][..], &load[..]].concat());
            assert!(
                refused.contains(load[0]) && refused.contains("idle"),
                "{refused}"
            );
        }
        // More than a process may hold here (where the hard limit is below 50,100).
        if sys::descriptor_limits().is_some_and(|(_, hard)| hard < 50_100) {
            assert!(error(&["--compare", "--idle", "50000"]).contains("hard limit"));
        }
    }

    #[test]
    fn bad_arguments_get_clear_messages() {
        fn with(extra: &[&'static str]) -> Vec<&'static str> {
            [&["--addr", "127.0.0.1:7000"][..], extra].concat()
        }
        assert!(error(&with(&["--connections", "0"])).contains("--connections must be at least 1"));
        assert!(error(&with(&["--size", "0"])).contains("--size must be at least 1 byte"));
        assert!(error(&with(&["--size", "1g"])).contains("unknown unit"));
        assert!(error(&with(&["--duration", "0s"])).contains("--duration must be longer"));
        assert!(error(&with(&["--rate", "0"])).contains("--rate must be a positive"));
        assert!(error(&with(&["--rate=-5"])).contains("--rate"));
        assert!(error(&with(&["--connections", "1,2"])).contains("one value"));
        assert!(error(&with(&["--workers", "2"])).contains("--compare only"));
        assert!(error(&with(&["--connections", "many"])).contains("many"));
        assert!(error(&["--addr", "nowhere"]).contains("is not an address"));
        assert!(error(&["--addr", "127.0.0.1"]).contains("is not an address"));
        assert!(error(&[]).contains("--addr is required"));
        assert!(error(&["--compare", "--addr", "127.0.0.1:1"]).contains("--compare"));
        assert!(error(&["--compare", "--workers", "0"]).contains("--workers"));
    }
}
