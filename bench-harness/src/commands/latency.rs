//! `ringtide-bench latency`: its options, their checks, and the run.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use ringtide::Driver;

use super::values;
use super::MAX_WORKERS;
use crate::deadlines::{Mode, Schedule};
use crate::latency::{self, LatencyRun, RuntimeKind};
use crate::report::{self, RunConfig};

#[derive(Debug, Args)]
pub struct LatencyArgs {
    /// Number of tasks.
    #[arg(long, default_value_t = 100_000, value_parser = values::count(1, MAX_TASKS))]
    tasks: u64,
    /// How deadlines are laid out.
    #[arg(long, value_enum, default_value_t = Mode::Spread)]
    mode: Mode,
    /// Spread mode: deadlines are uniform over this window (e.g. 1s, 500ms, 250us).
    #[arg(long, default_value = "1s", value_parser = values::duration())]
    window: Duration,
    /// Time from the start of spawning to the first deadline.
    #[arg(long, default_value = "1s", value_parser = values::duration())]
    lead: Duration,
    /// Periodic mode: time between a task's ticks.
    #[arg(long, default_value = "100ms", value_parser = values::duration())]
    period: Duration,
    /// Periodic mode: how long each task keeps ticking.
    #[arg(long, default_value = "1s", value_parser = values::duration())]
    duration: Duration,
    /// Runtimes to measure, in order, comma-separated.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "ringtide,tokio,floor"
    )]
    runtimes: Vec<RuntimeKind>,
    /// ringtide's I/O drivers, comma-separated: io_uring, epoll, auto [default: auto].
    /// ringtide is measured once per driver listed, as ringtide-io_uring,
    /// ringtide-epoll (as plain ringtide for auto alone); the ratios then divide by the
    /// first driver's figures, each driver's figures are also divided by tokio's and the
    /// floor's, and in spread mode epoll's p99 is held to at most 2 times the floor's. A
    /// driver that does not run here is reported and left out, the rest is measured,
    /// and the run exits 1.
    #[arg(long = "driver", value_delimiter = ',', value_parser = values::DriverName)]
    drivers: Vec<Driver>,
    /// Worker threads for every runtime (default: the CPUs available).
    #[arg(long, value_parser = values::count(1, MAX_WORKERS))]
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
    #[arg(long, value_name = "MIB", value_parser = values::mebibytes(MAX_TOP_PAD_MIB))]
    malloc_top_pad: Option<u32>,
    /// Do not print progress to stderr.
    #[arg(long)]
    quiet: bool,
}

/// Largest `--malloc-top-pad` (M_TOP_PAD is an `int` of bytes).
const MAX_TOP_PAD_MIB: u32 = 1024;

/// Most tasks one run spawns: a hundred times the default, a few GiB of tasks.
const MAX_TASKS: u64 = 10_000_000;

/// Most wakes one run records (periodic mode: tasks times ticks per task).
const MAX_WAKES: u64 = 100_000_000;

impl LatencyArgs {
    /// Checks what clap cannot and builds the run.
    fn validate(&self) -> Result<(LatencyRun, RunConfig), String> {
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
            // Every wake is a deadline the floor keeps in memory (8 bytes each).
            let ticks = self.duration.as_nanos() / self.period.as_nanos();
            let wakes = ticks.saturating_mul(u128::from(self.tasks));
            if wakes > u128::from(MAX_WAKES) {
                return Err(format!(
                    "--duration / --period gives each task {ticks} ticks, {wakes} wakes for \
                     --tasks {}; one run measures at most {MAX_WAKES} wakes (lengthen \
                     --period, shorten --duration or lower --tasks)",
                    self.tasks
                ));
            }
        }
        let workers = self
            .workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
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
        if !self.drivers.is_empty() && !runtimes.contains(&RuntimeKind::Ringtide) {
            return Err(
                "--driver chooses ringtide's I/O drivers, but --runtimes leaves \
                        ringtide out"
                    .into(),
            );
        }
        let drivers = super::drivers(&self.drivers)?;
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
            drivers: drivers.iter().map(Driver::to_string).collect(),
        };
        let run = LatencyRun {
            schedule,
            workers,
            pin,
            runtimes,
            drivers,
            progress: !self.quiet,
        };
        Ok((run, config))
    }
}

fn micros(d: Duration) -> u64 {
    d.as_micros() as u64
}
/// Runs `ringtide-bench latency`.
pub fn run(args: &LatencyArgs) -> ExitCode {
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
    let measured = match latency::run(&run) {
        Ok(measured) => measured,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (results, not_measured) = (&measured.results, &measured.not_measured);
    let stdout = std::io::stdout();
    if let Err(e) = report::print_table(&config, results, not_measured, &mut stdout.lock()) {
        eprintln!("error: writing the table: {e}");
        return ExitCode::FAILURE;
    }
    let mut written = Vec::new();
    if let Some(path) = &args.json {
        let json = report::write_json(path, &config, results, not_measured);
        written.push(("JSON", path, json));
    }
    if let Some(dir) = &args.hgrm {
        written.push((
            ".hgrm files",
            dir,
            report::write_hgrm(dir, results).map(drop),
        ));
    }
    if let Some(path) = &args.plot {
        written.push(("plot", path, report::write_plot(path, &config, results)));
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
    let mut status = ExitCode::SUCCESS;
    if results.iter().any(|r| r.early_wakes > 0) {
        eprintln!("error: some wakes came before their deadline (see the early column)");
        status = ExitCode::FAILURE;
    }
    if super::any_not_measured(not_measured) {
        status = ExitCode::FAILURE;
    }
    status
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::{Cli, Command};

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
        assert_eq!(run.drivers, [Driver::Auto]);
        assert_eq!(config.drivers, ["auto"]);
    }

    #[test]
    fn drivers_are_listed_in_order_once_each_and_only_for_ringtide() {
        let (run, config) = parse(&["--driver", "io_uring,epoll"]).unwrap();
        assert_eq!(run.drivers, [Driver::IoUring, Driver::Epoll]);
        assert_eq!(config.drivers, ["io_uring", "epoll"]);
        let unknown = parse(&["--driver", "io_uring,kqueue"]).unwrap_err();
        assert!(
            unknown.contains("--driver") && unknown.contains("io_uring, epoll or auto"),
            "{unknown}"
        );
        assert!(parse(&["--driver", "epoll,io_uring,epoll"])
            .unwrap_err()
            .contains("--driver lists epoll twice"));
        assert!(parse(&["--runtimes", "tokio,floor", "--driver", "epoll"])
            .unwrap_err()
            .contains("leaves ringtide out"));
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
