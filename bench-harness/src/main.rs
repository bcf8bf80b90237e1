//! `ringtide-bench`: the measurement harness of ringtide.
//!
//! * `ringtide-bench latency`: scheduling latency of many sleeping tasks on ringtide,
//!   tokio and the OS floor, side by side (see `latency.rs`).
//! * The runtime micro-benchmarks against tokio are criterion benches:
//!   `cargo bench -p ringtide-bench --bench runtime`.

mod deadlines;
mod latency;
mod recorder;
mod report;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use deadlines::{Mode, Schedule};
use latency::{LatencyRun, RuntimeKind};
use report::RunConfig;

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
    /// Do not print progress to stderr.
    #[arg(long)]
    quiet: bool,
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<(LatencyRun, RunConfig), String> {
        let mut argv = vec!["ringtide-bench", "latency"];
        argv.extend_from_slice(args);
        let cli = Cli::try_parse_from(argv).map_err(|e| e.to_string())?;
        let Command::Latency(args) = cli.command;
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
