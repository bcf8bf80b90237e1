//! `ringtide-bench http`: its options, their checks, and the comparison.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use ringtide::Driver;

use super::values;
use super::MAX_WORKERS;
use crate::compare::Placement;
use crate::echo::{above_error_allowance, ERROR_PERCENT_ALLOWED};
use crate::http::compare::{self, HttpCompareConfig, HttpRun};
use crate::http::tools::{Load, Tool, INSTALL};
use crate::report;
use crate::report::http::HttpConfig;
use crate::sys;

#[derive(Debug, Args)]
pub struct HttpArgs {
    /// Start the ringtide (once per --driver) and the tokio HTTP servers (child
    /// processes serving the same hyper service) and load each with the same tools.
    /// Required: the command has no other mode yet.
    #[arg(long)]
    compare: bool,
    /// Worker threads of each server. With one worker, tokio runs its current-thread
    /// scheduler, otherwise its multi-thread one.
    #[arg(long, default_value_t = 1, value_parser = values::count(1, MAX_WORKERS))]
    workers: usize,
    /// Pin nothing: by default the server runs on the first CPU available and the load
    /// tool on the second.
    #[arg(long)]
    no_pin: bool,
    /// The ringtide server's I/O drivers, comma-separated: io_uring, epoll, auto
    /// [default: auto]. Each runs as ringtide-DRIVER (plain ringtide for auto alone) and
    /// is divided by tokio. A driver that does not run here is reported and left out.
    #[arg(long = "driver", value_delimiter = ',', value_parser = values::DriverName)]
    drivers: Vec<Driver>,
    /// The load tools, comma-separated, in the order they run: wrk (HTTP/1.1), h2load
    /// (h2c). A tool that is not installed is reported with the command that installs
    /// it, and the others run.
    #[arg(
        long = "tool",
        value_enum,
        value_delimiter = ',',
        default_value = "wrk,h2load"
    )]
    tools: Vec<Tool>,
    /// wrk's connection counts, comma-separated (`wrk -t1 -cC`).
    #[arg(long, value_delimiter = ',', default_value = "50,256",
          value_parser = values::count(1, MAX_CONNECTIONS))]
    connections: Vec<usize>,
    /// h2load's connection counts, comma-separated (`h2load -cC`).
    #[arg(long, value_delimiter = ',', default_value = "50",
          value_parser = values::count(1, MAX_CONNECTIONS))]
    h2_connections: Vec<usize>,
    /// Streams each h2load connection keeps in flight (`h2load -mM`).
    #[arg(long, default_value_t = 10, value_parser = values::count(1, MAX_STREAMS))]
    streams: usize,
    /// Measured runs of each server under each load; the server order alternates from
    /// one run to the next, and the table shows the medians.
    #[arg(long, default_value_t = 3, value_parser = values::count(1, MAX_RUNS))]
    runs: usize,
    /// Length of each measured run, in whole seconds (e.g. 10s, 1m).
    #[arg(long, default_value = "10s", value_parser = values::positive_duration())]
    duration: Duration,
    /// Load before each measured run, not counted, in whole seconds (0s: none).
    #[arg(long, default_value = "1s", value_parser = values::duration())]
    warmup: Duration,
    /// Read h2load's percentiles from its per-request log (`--log-file`). h2load then
    /// makes one write(2) per request, which costs the load tool, not the server.
    #[arg(long)]
    h2load_log: bool,
    /// Write every figure as JSON to this file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Do not print progress to stderr.
    #[arg(long)]
    quiet: bool,
}

/// Most connections one tool opens (below the descriptor limit of most machines).
const MAX_CONNECTIONS: usize = 10_000;
/// Most streams per h2load connection (HTTP/2 servers commonly allow a few hundred).
const MAX_STREAMS: usize = 1_000;
/// Most runs per server and load.
const MAX_RUNS: usize = 100;

/// The end of `http --help`.
pub const EXIT_STATUS: &str = "\
Exit status: 0 when every run shows an HTTP server at work; 1 when one does not (no \
request completed, or errors above 1% of the requests), when a tool or a driver asked for \
is missing here (a tool is then reported with `sudo apt-get install wrk nghttp2-client`, and \
the rest runs), or when the run itself fails; 2 when an option is out of range or does not \
fit the others. The figures are printed either way.";

impl HttpArgs {
    /// Checks what clap cannot and builds the comparison and the report's settings.
    fn validate(&self) -> Result<(HttpCompareConfig, HttpConfig), String> {
        if !self.compare {
            return Err("http measures the servers it starts: give --compare (see --help)".into());
        }
        let whole_seconds = |d: Duration, name: &str| {
            if d.subsec_nanos() == 0 {
                Ok(d.as_secs())
            } else {
                Err(format!(
                    "{name} must be a whole number of seconds (wrk and h2load take seconds); \
                     got {d:?}"
                ))
            }
        };
        let seconds = whole_seconds(self.duration, "--duration")?;
        let warmup_seconds = whole_seconds(self.warmup, "--warmup")?;
        let mut tools = Vec::new();
        for &tool in &self.tools {
            if tools.contains(&tool) {
                return Err(format!("--tool lists {} twice", tool.name()));
            }
            tools.push(tool);
        }
        let mut loads = Vec::new();
        for &tool in &tools {
            match tool {
                Tool::Wrk => loads.extend(self.connections.iter().map(|&connections| Load {
                    tool,
                    connections,
                    streams: None,
                })),
                Tool::H2load => loads.extend(self.h2_connections.iter().map(|&connections| Load {
                    tool,
                    connections,
                    streams: Some(self.streams),
                })),
            }
        }
        let drivers = super::drivers(&self.drivers)?;
        let placement = if self.no_pin {
            Placement::unpinned("nothing pinned (--no-pin)")
        } else {
            Placement::detect()
        };
        let report = HttpConfig {
            server_workers: self.workers,
            runs: self.runs,
            duration_s: seconds,
            warmup_s: warmup_seconds,
            drivers: drivers.iter().map(Driver::to_string).collect(),
            pinning: placement.note.replace("load generator", "load tool"),
            h2load_log: self.h2load_log,
            load_average: std::fs::read_to_string("/proc/loadavg")
                .ok()
                .map(|l| l.trim().to_string()),
        };
        let compare = HttpCompareConfig {
            workers: self.workers,
            drivers,
            loads,
            runs: self.runs,
            seconds,
            warmup_seconds,
            h2load_log: self.h2load_log,
            placement,
            progress: !self.quiet,
        };
        Ok((compare, report))
    }
}

/// Why a run's figures do not show an HTTP server at work, or `None` when they do.
fn failure(run: &HttpRun) -> Option<String> {
    let r = &run.report;
    if r.requests == 0 {
        return Some(format!("no request completed ({} errors)", r.errors.total));
    }
    above_error_allowance(r.errors.total, r.requests).then(|| {
        format!(
            "{} errors for {} requests, more than the {ERROR_PERCENT_ALLOWED}% a run may have",
            r.errors.total, r.requests
        )
    })
}

/// Runs `ringtide-bench http`.
pub fn run(args: &HttpArgs) -> ExitCode {
    let (compare, config) = match args.validate() {
        Ok(v) => v,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    sys::raise_descriptor_limit();
    if !args.quiet {
        let loads: Vec<String> = compare.loads.iter().map(Load::label).collect();
        eprintln!(
            "comparing ringtide ({}) and tokio HTTP servers with {} worker(s) each under {}; {}",
            config.drivers.join(", "),
            compare.workers,
            loads.join(", "),
            config.pinning
        );
    }
    let measured = match compare::run(&compare) {
        Ok(measured) => measured,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let stdout = std::io::stdout();
    let table = report::http::print_table(
        &config,
        &measured.runs,
        &measured.not_measured,
        &measured.tools_missing,
        &mut stdout.lock(),
    );
    if let Err(e) = table {
        eprintln!("error: writing the table: {e}");
        return ExitCode::FAILURE;
    }
    if let Some(path) = &args.json {
        let written = report::http::write_json(
            path,
            &config,
            &measured.runs,
            &measured.not_measured,
            &measured.tools_missing,
        );
        match written {
            Ok(()) => eprintln!("wrote JSON: {}", path.display()),
            Err(e) => {
                eprintln!("error: writing JSON to {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
        }
    }
    // The figures are out first: they show what went wrong.
    let mut status = ExitCode::SUCCESS;
    for run in &measured.runs {
        if let Some(why) = failure(run) {
            eprintln!(
                "error: {} under {}, round {}: {why}",
                run.server,
                run.load.label(),
                run.round
            );
            status = ExitCode::FAILURE;
        }
    }
    for missing in &measured.tools_missing {
        eprintln!(
            "error: {} was not run: {}",
            missing.tool.name(),
            missing.reason
        );
        status = ExitCode::FAILURE;
    }
    if !measured.tools_missing.is_empty() {
        eprintln!("hint: `{INSTALL}` installs both tools");
    }
    if super::any_not_measured(&measured.not_measured) {
        status = ExitCode::FAILURE;
    }
    status
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::http::parse::{Errors, Latency, ToolReport};
    use crate::sys::CpuTimes;
    use crate::{Cli, Command};

    fn parse(args: &[&str]) -> Result<(HttpCompareConfig, HttpConfig), String> {
        let mut argv = vec!["ringtide-bench", "http"];
        argv.extend_from_slice(args);
        let cli = Cli::try_parse_from(argv).map_err(|e| e.to_string())?;
        let Command::Http(args) = cli.command else {
            unreachable!("parsed as http");
        };
        args.validate()
    }

    fn error(args: &[&str]) -> String {
        parse(args).expect_err("refused")
    }

    #[test]
    fn the_defaults_are_the_issues_loads_on_one_pinned_worker() {
        let (compare, config) = parse(&["--compare"]).unwrap();
        let labels: Vec<String> = compare.loads.iter().map(Load::label).collect();
        assert_eq!(labels, ["wrk -c50", "wrk -c256", "h2load -c50 -m10"]);
        assert_eq!((compare.workers, compare.runs), (1, 3));
        assert_eq!((compare.seconds, compare.warmup_seconds), (10, 1));
        assert_eq!(compare.drivers, [Driver::Auto]);
        assert!(!compare.h2load_log);
        assert_eq!(config.drivers, ["auto"]);
        assert!(
            !config.pinning.contains("load generator"),
            "{}",
            config.pinning
        );
    }

    #[test]
    fn options_choose_tools_drivers_loads_and_placement() {
        let (compare, config) = parse(&[
            "--compare",
            "--workers",
            "2",
            "--no-pin",
            "--driver",
            "io_uring,epoll",
            "--tool",
            "h2load",
            "--h2-connections",
            "10,20",
            "--streams",
            "4",
            "--runs",
            "5",
            "--duration",
            "2s",
            "--warmup",
            "0s",
        ])
        .unwrap();
        let labels: Vec<String> = compare.loads.iter().map(Load::label).collect();
        assert_eq!(labels, ["h2load -c10 -m4", "h2load -c20 -m4"]);
        assert_eq!(compare.drivers, [Driver::IoUring, Driver::Epoll]);
        assert_eq!((compare.workers, compare.runs, compare.seconds), (2, 5, 2));
        assert_eq!(compare.warmup_seconds, 0);
        assert_eq!(compare.placement.server_cpu, None);
        assert_eq!(compare.placement.client_cpu, None);
        assert_eq!(config.pinning, "nothing pinned (--no-pin)");
    }

    #[test]
    fn bad_arguments_get_clear_messages() {
        assert!(error(&[]).contains("give --compare"));
        assert!(error(&["--compare", "--duration", "1500ms"]).contains("whole number of seconds"));
        assert!(error(&["--compare", "--warmup", "0.5s"]).contains("--warmup"));
        assert!(error(&["--compare", "--tool", "wrk,wrk"]).contains("twice"));
        assert!(error(&["--compare", "--tool", "ab"]).contains("ab"));
        assert!(error(&["--compare", "--driver", "epoll,epoll"]).contains("twice"));
        assert!(error(&["--compare", "--runs", "0"]).contains("--runs"));
        assert!(error(&["--compare", "--connections", "0"]).contains("--connections"));
        assert!(error(&["--compare", "--streams", "0"]).contains("--streams"));
    }

    #[test]
    fn a_run_fails_without_requests_or_with_too_many_errors() {
        let mut run = HttpRun {
            server: "tokio".into(),
            driver: None,
            load: Load {
                tool: Tool::Wrk,
                connections: 50,
                streams: None,
            },
            round: 1,
            report: ToolReport {
                requests: 1_000,
                duration_s: 10.0,
                requests_per_s: 100.0,
                latency: Latency::default(),
                errors: Errors::default(),
            },
            server_cpu: CpuTimes::default(),
        };
        assert_eq!(failure(&run), None);
        run.report.errors.total = 10;
        assert_eq!(failure(&run), None);
        run.report.errors.total = 11;
        assert!(failure(&run).unwrap().contains("more than the 1%"));
        run.report.requests = 0;
        assert!(failure(&run).unwrap().contains("no request completed"));
    }

    #[test]
    fn the_help_states_the_install_command_and_the_error_fraction() {
        assert!(EXIT_STATUS.contains(INSTALL), "{EXIT_STATUS}");
        let percent = format!("errors above {ERROR_PERCENT_ALLOWED}%");
        assert!(EXIT_STATUS.contains(&percent), "{EXIT_STATUS}");
    }
}
