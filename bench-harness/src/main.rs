//! `ringtide-bench`: the measurement harness of ringtide.
//!
//! * `ringtide-bench latency`: scheduling latency of many sleeping tasks on ringtide,
//!   tokio and the OS floor, side by side (see `latency.rs`).
//! * `ringtide-bench echo`: a load generator for TCP echo servers (see `echo.rs`), and
//!   with `--compare` the ringtide and tokio echo servers under the same loads (see
//!   `compare.rs`).
//! * The runtime micro-benchmarks against tokio are criterion benches:
//!   `cargo bench -p ringtide-bench --bench runtime`.

mod compare;
mod deadlines;
mod echo;
mod latency;
mod recorder;
mod report;
mod serve;
mod sys;

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use compare::{CompareConfig, Placement};
use deadlines::{Mode, Schedule};
use echo::LoadConfig;
use latency::{LatencyRun, RuntimeKind};
use report::echo::EchoConfig;
use report::RunConfig;
use serve::{ServeConfig, ServerRuntime};

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
    /// Scheduling latency of many sleeping tasks: lateness percentiles per runtime.
    Latency(LatencyArgs),
    /// Load on a TCP echo server: requests/s, round trips, errors, server CPU per
    /// request; with --compare, the ringtide and tokio echo servers side by side.
    Echo(EchoArgs),
    /// Runs an echo server for `echo --compare` (prints its address on stdout).
    #[command(hide = true)]
    Serve(ServeArgs),
}

#[derive(Debug, Args)]
struct LatencyArgs {
    /// Number of tasks.
    #[arg(long, default_value_t = 100_000)]
    tasks: u64,
    /// How deadlines are laid out.
    #[arg(long, value_enum, default_value_t = Mode::Spread)]
    mode: Mode,
    /// Spread mode: deadlines are uniform over this window (e.g. 1s, 500ms, 250us).
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    window: Duration,
    /// Time from the start of spawning to the first deadline.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    lead: Duration,
    /// Periodic mode: time between a task's ticks.
    #[arg(long, default_value = "100ms", value_parser = parse_duration)]
    period: Duration,
    /// Periodic mode: how long each task keeps ticking.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    duration: Duration,
    /// Runtimes to measure, in order, comma-separated.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "ringtide,tokio,floor"
    )]
    runtimes: Vec<RuntimeKind>,
    /// Worker threads for every runtime (default: the CPUs available).
    #[arg(long)]
    workers: Option<usize>,
    /// Pin worker threads to CPUs (the default).
    #[arg(long, overrides_with = "no_pin")]
    pin: bool,
    /// Do not pin worker threads.
    #[arg(long, overrides_with = "pin")]
    no_pin: bool,
    /// Seed of the deadline layout.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Write every figure as JSON to this file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Write each runtime's percentile distribution as DIR/RUNTIME.hgrm.
    #[arg(long, value_name = "DIR")]
    hgrm: Option<PathBuf>,
    /// Draw the lateness percentile curves of all runtimes into this SVG file.
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<PathBuf>,
    /// Set glibc's M_TOP_PAD to this many MiB for the whole run (every runtime): the heap
    /// then grows in steps of that size instead of 128 KiB, each step an mprotect and a
    /// mapping update in the kernel, which spawning 100k tasks otherwise pays for
    /// hundreds of times. Untouched pad is not resident. Default: glibc's setting.
    #[arg(long, value_name = "MIB")]
    malloc_top_pad: Option<u32>,
    /// Do not print progress to stderr.
    #[arg(long)]
    quiet: bool,
}

/// Largest `--malloc-top-pad` (M_TOP_PAD is an `int` of bytes).
const MAX_TOP_PAD_MIB: u32 = 1024;

/// Parses `1s`, `1.5s`, `250ms`, `40us`, `100ns` (a bare number is seconds).
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| c.is_ascii_alphabetic() || c == 'µ')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration; use e.g. 1s, 500ms, 250us"))?;
    let scale = match unit {
        "" | "s" => 1.0,
        "ms" => 1e-3,
        "us" | "µs" => 1e-6,
        "ns" => 1e-9,
        other => {
            return Err(format!(
                "unknown unit `{other}` in `{text}`; use s, ms, us or ns"
            ))
        }
    };
    let seconds = value * scale;
    if !seconds.is_finite() || seconds < 0.0 {
        return Err(format!("`{text}` is not a non-negative duration"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

impl LatencyArgs {
    /// Checks what clap cannot and builds the run.
    fn validate(&self) -> Result<(LatencyRun, RunConfig), String> {
        if self.tasks == 0 {
            return Err("--tasks must be at least 1".into());
        }
        if self.mode == Mode::Spread && self.window.is_zero() {
            return Err("--window must be longer than zero in spread mode (use --mode burst for identical deadlines)".into());
        }
        if self.mode == Mode::Periodic {
            if self.period.is_zero() {
                return Err("--period must be longer than zero".into());
            }
            if self.duration < self.period {
                return Err("--duration must be at least one --period".into());
            }
        }
        let workers = match self.workers {
            Some(0) => return Err("--workers must be at least 1".into()),
            Some(n) => n,
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        if self.runtimes.is_empty() {
            return Err("--runtimes needs at least one of ringtide, tokio, floor".into());
        }
        let mut runtimes = Vec::new();
        for r in &self.runtimes {
            if runtimes.contains(r) {
                return Err(format!("--runtimes lists {} twice", r.name()));
            }
            runtimes.push(*r);
        }
        if self.malloc_top_pad.is_some_and(|mib| mib > MAX_TOP_PAD_MIB) {
            return Err(format!(
                "--malloc-top-pad must be at most {MAX_TOP_PAD_MIB} (MiB)"
            ));
        }
        let pin = !self.no_pin;
        let schedule = Schedule {
            mode: self.mode,
            tasks: self.tasks,
            lead: self.lead,
            window: self.window,
            period: self.period,
            duration: self.duration,
            seed: self.seed,
        };
        let config = RunConfig {
            mode: self.mode.name().to_string(),
            tasks: self.tasks,
            workers,
            pin,
            window_us: micros(if self.mode == Mode::Periodic {
                self.period
            } else {
                self.window
            }),
            lead_us: micros(self.lead),
            duration_us: micros(if self.mode == Mode::Periodic {
                self.duration
            } else {
                Duration::ZERO
            }),
            malloc_top_pad_mib: self.malloc_top_pad,
        };
        let run = LatencyRun {
            schedule,
            workers,
            pin,
            runtimes,
            progress: !self.quiet,
        };
        Ok((run, config))
    }
}

fn micros(d: Duration) -> u64 {
    d.as_micros() as u64
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Latency(args) => latency_command(&args),
        Command::Echo(args) => echo_command(&args),
        Command::Serve(args) => serve_command(&args),
    }
}

fn latency_command(args: &LatencyArgs) -> ExitCode {
    let (run, config) = match args.validate() {
        Ok(v) => v,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    if let Some(mib) = config.malloc_top_pad_mib {
        if let Err(e) = latency::set_malloc_top_pad(mib) {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    }
    let results = match latency::run(&run) {
        Ok(results) => results,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let stdout = std::io::stdout();
    if let Err(e) = report::print_table(&config, &results, &mut stdout.lock()) {
        eprintln!("error: writing the table: {e}");
        return ExitCode::FAILURE;
    }
    let mut written = Vec::new();
    if let Some(path) = &args.json {
        written.push(("JSON", path, report::write_json(path, &config, &results)));
    }
    if let Some(dir) = &args.hgrm {
        written.push((
            ".hgrm files",
            dir,
            report::write_hgrm(dir, &results).map(drop),
        ));
    }
    if let Some(path) = &args.plot {
        written.push(("plot", path, report::write_plot(path, &config, &results)));
    }
    for (what, path, result) in written {
        match result {
            Ok(()) => eprintln!("wrote {what}: {}", path.display()),
            Err(e) => {
                eprintln!("error: writing {what} to {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
        }
    }
    if results.iter().any(|r| r.early_wakes > 0) {
        eprintln!("error: some wakes came before their deadline (see the early column)");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

#[derive(Debug, Args)]
struct EchoArgs {
    /// Address of the echo server to load (not with --compare).
    #[arg(long)]
    addr: Option<String>,
    /// Connections held open at once [default: 50; with --compare: 50,500]. With
    /// --compare, a comma-separated list.
    #[arg(long, value_delimiter = ',')]
    connections: Vec<usize>,
    /// Bytes per message, e.g. 128, 4k, 4KiB [default: 128; with --compare: 128,4k].
    /// With --compare, a comma-separated list.
    #[arg(long, value_delimiter = ',', value_parser = parse_size)]
    size: Vec<usize>,
    /// Length of the measured window (of each measurement, with --compare).
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    duration: Duration,
    /// Load before the measured window, not counted.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    warmup: Duration,
    /// Total requests per second, spread over the connections on fixed schedules;
    /// round trips are then measured from each request's intended send time. Without
    /// it, every connection sends its next message as soon as the last one is back.
    #[arg(long)]
    rate: Option<f64>,
    /// How long the load generator keeps looking for work before it sleeps (0: at
    /// once). Spinning keeps it awake when echoes arrive, so that the server does not
    /// pay for waking it and the figures show the server's own costs.
    #[arg(long, default_value = "1ms", value_parser = parse_duration)]
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
    /// Start the ringtide and the tokio echo servers (child processes, the server
    /// pinned to one CPU and the load generator to another) and measure both under the
    /// same loads.
    #[arg(long)]
    compare: bool,
    /// With --compare: worker threads of each server [default: 1, as each server is
    /// pinned to one CPU].
    #[arg(long)]
    workers: Option<usize>,
    /// Do not print progress to stderr.
    #[arg(long)]
    quiet: bool,
}

/// Largest message the load generator sends (each connection holds two of them).
const MAX_MESSAGE: usize = 16 << 20;
/// Most connections one run opens (they share one client address's ephemeral ports).
const MAX_CONNECTIONS: usize = 50_000;

/// What an `echo` command will do.
#[derive(Debug)]
enum EchoPlan {
    /// Load one server the user started.
    Single(LoadConfig),
    /// Start ringtide's and tokio's servers and load each in turn.
    Compare(CompareConfig),
}

/// Parses `128`, `4k`, `4K`, `4KiB`, `1m`, `1MiB` as a byte count.
fn parse_size(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: usize = number
        .parse()
        .map_err(|_| format!("`{text}` is not a size; use e.g. 128, 4k, 4KiB"))?;
    let scale = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        _ => return Err(format!("unknown unit in `{text}`; use B, KiB or MiB")),
    };
    value
        .checked_mul(scale)
        .ok_or_else(|| format!("`{text}` is too large"))
}

impl EchoArgs {
    /// Checks what clap cannot and builds the plan and the report's settings.
    fn validate(&self) -> Result<(EchoPlan, EchoConfig), String> {
        if self.connections.contains(&0) {
            return Err("--connections must be at least 1".into());
        }
        if let Some(&n) = self.connections.iter().find(|&&n| n > MAX_CONNECTIONS) {
            return Err(format!(
                "--connections {n} is more than the {MAX_CONNECTIONS} one run can open"
            ));
        }
        if self.size.contains(&0) {
            return Err("--size must be at least 1 byte".into());
        }
        if self.size.iter().any(|&s| s > MAX_MESSAGE) {
            return Err("--size must be at most 16 MiB".into());
        }
        if self.duration.is_zero() {
            return Err("--duration must be longer than zero".into());
        }
        if let Some(rate) = self.rate {
            if !(rate.is_finite() && rate > 0.0) {
                return Err("--rate must be a positive number of requests per second".into());
            }
        }
        let config = |addr, server_workers, pinning| EchoConfig {
            addr,
            duration_s: self.duration.as_secs_f64(),
            warmup_s: self.warmup.as_secs_f64(),
            rate: self.rate,
            server_workers,
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
            let workers = match self.workers {
                Some(0) => return Err("--workers must be at least 1".into()),
                Some(n) => n,
                None => 1,
            };
            let or = |given: &[usize], default: &[usize]| {
                if given.is_empty() {
                    default.to_vec()
                } else {
                    given.to_vec()
                }
            };
            let placement = Placement::detect();
            let plan = CompareConfig {
                workers,
                connections: or(&self.connections, &[50, 500]),
                sizes: or(&self.size, &[128, 4096]),
                duration: self.duration,
                warmup: self.warmup,
                rate: self.rate,
                client_spin: self.client_spin,
                placement,
                progress: !self.quiet,
            };
            let note = plan.placement.note.clone();
            return Ok((EchoPlan::Compare(plan), config(None, Some(workers), note)));
        }
        if self.workers.is_some() {
            return Err(
                "--workers sets the servers' threads, so it goes with --compare only".into(),
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
            Some(cpu) => format!("load generator pinned to CPU {cpu}"),
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
            client_cpu: self.client_cpu,
            client_spin: self.client_spin,
            label: "server".to_string(),
            progress: !self.quiet,
        };
        Ok((
            EchoPlan::Single(load),
            config(Some(addr.to_string()), None, pinning),
        ))
    }
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

fn echo_command(args: &EchoArgs) -> ExitCode {
    let (plan, config) = match args.validate() {
        Ok(v) => v,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    sys::raise_descriptor_limit();
    let runs = match &plan {
        EchoPlan::Single(load) => echo::run(load).map(|result| {
            vec![report::echo::EchoRun {
                server: load.label.clone(),
                connections: load.connections,
                size: load.size,
                result,
            }]
        }),
        EchoPlan::Compare(compare) => {
            if !args.quiet {
                eprintln!(
                    "comparing ringtide and tokio echo servers with {} worker(s) each; {}",
                    compare.workers, config.pinning
                );
            }
            compare::run(compare)
        }
    };
    let runs = match runs {
        Ok(runs) => runs,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let stdout = std::io::stdout();
    if let Err(e) = report::echo::print_table(&config, &runs, &mut stdout.lock()) {
        eprintln!("error: writing the table: {e}");
        return ExitCode::FAILURE;
    }
    if let Some(path) = &args.json {
        match report::echo::write_json(path, &config, &runs) {
            Ok(()) => eprintln!("wrote JSON: {}", path.display()),
            Err(e) => {
                eprintln!("error: writing JSON to {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// The runtime to serve on.
    #[arg(long, value_enum)]
    runtime: ServerRuntime,
    /// Address to listen on (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    addr: SocketAddr,
    /// Worker threads.
    #[arg(long, default_value_t = 1)]
    workers: usize,
    /// Pin the whole server to this CPU.
    #[arg(long)]
    cpu: Option<usize>,
}

fn serve_command(args: &ServeArgs) -> ExitCode {
    if args.workers == 0 {
        eprintln!("error: --workers must be at least 1");
        return ExitCode::from(2);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<(LatencyRun, RunConfig), String> {
        let mut argv = vec!["ringtide-bench", "latency"];
        argv.extend_from_slice(args);
        let cli = Cli::try_parse_from(argv).map_err(|e| e.to_string())?;
        let Command::Latency(args) = cli.command else {
            unreachable!("parsed as latency");
        };
        args.validate()
    }

    #[test]
    fn durations_parse_in_every_unit() {
        assert_eq!(parse_duration("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("40us"), Ok(Duration::from_micros(40)));
        assert_eq!(parse_duration("40µs"), Ok(Duration::from_micros(40)));
        assert_eq!(parse_duration("100ns"), Ok(Duration::from_nanos(100)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert!(parse_duration("1h").unwrap_err().contains("unknown unit"));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let (run, config) = parse(&[]).unwrap();
        assert_eq!(run.schedule.tasks, 100_000);
        assert_eq!(run.schedule.mode, Mode::Spread);
        assert_eq!(run.schedule.window, Duration::from_secs(1));
        assert_eq!(run.schedule.lead, Duration::from_secs(1));
        assert_eq!(
            run.runtimes,
            vec![
                RuntimeKind::Ringtide,
                RuntimeKind::Tokio,
                RuntimeKind::Floor
            ]
        );
        assert!(run.pin && config.pin);
    }

    #[test]
    fn bad_arguments_get_clear_messages() {
        assert!(parse(&["--tasks", "0"])
            .unwrap_err()
            .contains("--tasks must be at least 1"));
        assert!(parse(&["--window", "0s"])
            .unwrap_err()
            .contains("--window must be longer than zero"));
        assert!(parse(&["--workers", "0"])
            .unwrap_err()
            .contains("--workers"));
        assert!(parse(&["--runtimes", "ringtide,ringtide"])
            .unwrap_err()
            .contains("twice"));
        assert!(parse(&["--mode", "periodic", "--period", "0ms"])
            .unwrap_err()
            .contains("--period"));
        let unknown = parse(&["--runtimes", "ringtide,glommio"]).unwrap_err();
        assert!(
            unknown.contains("glommio") && unknown.contains("possible values"),
            "{unknown}"
        );
        let mode = parse(&["--mode", "sideways"]).unwrap_err();
        assert!(mode.contains("sideways"), "{mode}");
        assert!(parse(&["--tasks", "many"]).is_err());
    }

    #[test]
    fn burst_accepts_a_zero_window_and_no_pin_turns_pinning_off() {
        let (run, _) = parse(&["--mode", "burst", "--window", "0s", "--no-pin"]).unwrap();
        assert_eq!(run.schedule.mode, Mode::Burst);
        assert!(!run.pin);
    }
}

#[cfg(test)]
mod echo_tests {
    use super::*;

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
    fn sizes_parse_in_bytes_kib_and_mib() {
        assert_eq!(parse_size("128"), Ok(128));
        assert_eq!(parse_size("4k"), Ok(4096));
        assert_eq!(parse_size("4KiB"), Ok(4096));
        assert_eq!(parse_size("1MiB"), Ok(1 << 20));
        assert_eq!(parse_size("64B"), Ok(64));
        assert!(parse_size("4x").unwrap_err().contains("unknown unit"));
        assert!(parse_size("big").is_err());
        assert!(parse_size("").is_err());
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
