//! Reports of the echo benchmark: a terminal table (and, when ringtide and tokio were both
//! measured, their ratios; when ringtide ran on several drivers, theirs), and JSON.
//!
//! Round trips are recorded in nanoseconds; every report shows them in microseconds.

use std::io::{self, Write};
use std::path::Path;

use ringtide::Driver;
use serde::Serialize;

use super::echo_costs::{write_costs, Costs};
use super::json::write_json_file;
use super::summary::ratio;
use super::table::{
    at_least, at_most, name_width, show_lateness, write_figures, write_not_measured, Column,
};
use crate::drivers::{NotMeasured, PLAIN_NAME};
use crate::echo::LoadResult;
use crate::server_io::ServerIo;
use crate::sys::CpuTimes;

/// The settings shared by every measurement of one echo command.
#[derive(Debug, Clone, Serialize)]
pub struct EchoConfig {
    /// The server address (`null` with `--compare`, where each server picks a port).
    pub addr: Option<String>,
    /// Length of each measured window, in seconds.
    pub duration_s: f64,
    /// Warm-up before each window, in seconds.
    pub warmup_s: f64,
    /// Total requests per second (`null`: closed loop).
    pub rate: Option<f64>,
    /// Worker threads of each server (`--compare` only).
    pub server_workers: Option<usize>,
    /// ringtide's I/O drivers asked for (`--compare` only; empty without).
    pub drivers: Vec<String>,
    /// Where the server and the client ran.
    pub pinning: String,
}

/// One measurement: one server under one load.
#[derive(Debug, Clone)]
pub struct EchoRun {
    /// `ringtide` (`ringtide-DRIVER` when drivers were chosen), `tokio`, or `server` for
    /// a server the harness did not start.
    pub server: String,
    /// The I/O driver a ringtide server ran on; `None` for the others.
    pub driver: Option<Driver>,
    /// Connections of the load.
    pub connections: usize,
    /// Bytes per message.
    pub size: usize,
    /// What the load generator measured.
    pub result: LoadResult,
}

/// The figures of one run in the units the reports use.
#[derive(Debug, Clone, Copy, Serialize)]
struct EchoFigures {
    connections: usize,
    size: usize,
    requests: u64,
    requests_per_s: f64,
    mib_per_s: f64,
    p50_us: f64,
    p90_us: f64,
    p99_us: f64,
    #[serde(rename = "p99.9_us")]
    p99_9_us: f64,
    max_us: f64,
    mean_us: f64,
    errors: u64,
    bytes_verified: u64,
    /// Server CPU time per request, in microseconds.
    server_cpu_us_per_request: Option<f64>,
    /// Server CPU use over the window, in percent of one CPU.
    server_cpu_percent: Option<f64>,
    /// Client CPU time per request, in microseconds.
    client_cpu_us_per_request: Option<f64>,
    /// Client CPU use over the window, in percent of one CPU.
    client_cpu_percent: Option<f64>,
}

const NS_PER_US: f64 = 1_000.0;
const MIB: f64 = 1024.0 * 1024.0;

impl EchoFigures {
    fn of(run: &EchoRun) -> EchoFigures {
        let r = &run.result;
        let window = r.window.as_secs_f64().max(1e-9);
        let at = |q: f64| r.latency.value_at_quantile(q) as f64 / NS_PER_US;
        let per_request = |cpu: Option<f64>| {
            cpu.filter(|_| r.requests > 0)
                .map(|s| s * 1e6 / r.requests as f64)
        };
        let percent = |cpu: Option<f64>| cpu.map(|s| s * 100.0 / window);
        EchoFigures {
            connections: run.connections,
            size: run.size,
            requests: r.requests,
            requests_per_s: r.requests_per_second(),
            mib_per_s: (r.requests as f64 * run.size as f64) / MIB / window,
            p50_us: at(0.5),
            p90_us: at(0.9),
            p99_us: at(0.99),
            p99_9_us: at(0.999),
            max_us: r.latency.max() as f64 / NS_PER_US,
            mean_us: r.latency.mean() / NS_PER_US,
            errors: r.error_count(),
            bytes_verified: r.bytes_verified,
            server_cpu_us_per_request: per_request(r.server_cpu.map(CpuTimes::total)),
            server_cpu_percent: percent(r.server_cpu.map(CpuTimes::total)),
            client_cpu_us_per_request: per_request(r.client_cpu),
            client_cpu_percent: percent(r.client_cpu),
        }
    }
}

const ROUND_TRIP: &str = "round trip, µs";

fn columns() -> Vec<Column<EchoFigures>> {
    let whole = |v: f64| format!("{v:.0}");
    let round_trip = |head, value: fn(&EchoFigures) -> Option<f64>| Column {
        group: ROUND_TRIP,
        head,
        width: 9,
        value,
        show: show_lateness,
    };
    let cpu = |group, head: &'static str, value: fn(&EchoFigures) -> Option<f64>| Column {
        group,
        head,
        width: if head == "%" { 6 } else { 8 },
        value,
        show: if head == "%" {
            whole
        } else {
            |v| format!("{v:.2}")
        },
    };
    vec![
        Column {
            group: "",
            head: "conns",
            width: 7,
            value: |f| Some(f.connections as f64),
            show: whole,
        },
        Column {
            group: "",
            head: "size",
            width: 7,
            value: |f| Some(f.size as f64),
            show: show_size,
        },
        Column {
            group: "",
            head: "req/s",
            width: 10,
            value: |f| Some(f.requests_per_s),
            show: whole,
        },
        Column {
            group: "",
            head: "MiB/s",
            width: 8,
            value: |f| Some(f.mib_per_s),
            show: |v| format!("{v:.1}"),
        },
        round_trip("p50", |f| Some(f.p50_us)),
        round_trip("p90", |f| Some(f.p90_us)),
        round_trip("p99", |f| Some(f.p99_us)),
        round_trip("p99.9", |f| Some(f.p99_9_us)),
        round_trip("max", |f| Some(f.max_us)),
        Column {
            group: "",
            head: "errors",
            width: 7,
            value: |f| Some(f.errors as f64),
            show: whole,
        },
        cpu("server CPU", "µs/req", |f| f.server_cpu_us_per_request),
        cpu("server CPU", "%", |f| f.server_cpu_percent),
        cpu("client CPU", "µs/req", |f| f.client_cpu_us_per_request),
        cpu("client CPU", "%", |f| f.client_cpu_percent),
    ]
}

/// `128` as `128 B`, `4096` as `4 KiB`.
fn show_size(bytes: f64) -> String {
    let bytes = bytes as u64;
    if bytes >= 1024 && bytes % 1024 == 0 {
        format!("{} KiB", bytes / 1024)
    } else {
        format!("{bytes} B")
    }
}

/// One server's figures divided by another's, under one load.
#[derive(Debug, Clone, Serialize)]
struct Ratios {
    /// The server divided.
    server: String,
    /// The server divided by.
    versus: String,
    /// The driver of the server divided, whose targets apply.
    #[serde(skip)]
    driver: Option<Driver>,
    connections: usize,
    size: usize,
    /// Requests per second.
    requests_per_s: Option<f64>,
    /// Server CPU time per request.
    server_cpu_per_request: Option<f64>,
    /// p99 round trip.
    p99: Option<f64>,
}

impl Ratios {
    fn of(ours: &EchoRun, theirs: &EchoRun) -> Ratios {
        let (f, base) = (EchoFigures::of(ours), EchoFigures::of(theirs));
        Ratios {
            server: ours.server.clone(),
            versus: theirs.server.clone(),
            driver: ours.driver,
            connections: ours.connections,
            size: ours.size,
            requests_per_s: ratio(Some(f.requests_per_s), Some(base.requests_per_s)),
            server_cpu_per_request: ratio(
                f.server_cpu_us_per_request,
                base.server_cpu_us_per_request,
            ),
            p99: ratio(Some(f.p99_us), Some(base.p99_us)),
        }
    }
}

/// Pairs each run that `divided` picks with the run of `versus` under the same load.
fn ratios(runs: &[EchoRun], divided: impl Fn(&EchoRun) -> bool, versus: &str) -> Vec<Ratios> {
    runs.iter()
        .filter(|r| divided(r))
        .filter_map(|ours| {
            let theirs = runs.iter().find(|r| {
                r.server == versus && r.connections == ours.connections && r.size == ours.size
            })?;
            Some(Ratios::of(ours, theirs))
        })
        .collect()
}

/// The name of the server every ringtide server is divided by.
const TOKIO: &str = "tokio";

/// Each ringtide run divided by tokio's under the same load.
fn ringtide_to_tokio(runs: &[EchoRun]) -> Vec<Ratios> {
    ratios(runs, |r| r.driver.is_some(), TOKIO)
}

/// Each ringtide driver's runs divided by the first driver's under the same load (empty
/// unless ringtide ran on more than one).
fn between_drivers(runs: &[EchoRun]) -> Vec<Ratios> {
    let Some(first) = runs.iter().find(|r| r.driver.is_some()) else {
        return Vec::new();
    };
    ratios(
        runs,
        |r| r.driver.is_some() && r.server != first.server,
        &first.server,
    )
}

/// What a ringtide server is held to against tokio: each bound is `None` where its
/// driver has none.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Targets {
    /// Requests per second: at least this.
    requests_per_s: Option<f64>,
    /// Server CPU time per request: at most this.
    server_cpu_per_request: Option<f64>,
    /// p99 round trip: at most this.
    p99: Option<f64>,
}

impl Targets {
    /// No bounds at all.
    const NONE: Targets = Targets {
        requests_per_s: None,
        server_cpu_per_request: None,
        p99: None,
    };

    /// io_uring's targets are the ones ringtide was built for; epoll, the fallback where
    /// io_uring is blocked, is held only to costing no more CPU than tokio, give or take.
    fn of(driver: Option<Driver>) -> Targets {
        match driver {
            Some(Driver::Epoll) => Targets {
                server_cpu_per_request: Some(1.05),
                ..Targets::NONE
            },
            _ => Targets {
                requests_per_s: Some(1.3),
                server_cpu_per_request: Some(0.7),
                p99: Some(1.0),
            },
        }
    }

    /// `req/s >= 1.30, CPU/req <= 0.70, p99 <= 1.00`, naming only the bounds there are.
    fn describe(&self) -> String {
        let bounds = [
            ("req/s >=", self.requests_per_s),
            ("CPU/req <=", self.server_cpu_per_request),
            ("p99 <=", self.p99),
        ];
        let named: Vec<String> = bounds
            .iter()
            .filter_map(|(what, bound)| bound.map(|b| format!("{what} {b:.2}")))
            .collect();
        named.join(", ")
    }
}

/// The targets of the drivers of `ratios`, for the heading: as they always read when
/// every server ran on io_uring, else for each driver in turn.
fn describe_targets(ratios: &[Ratios]) -> String {
    let mut drivers: Vec<Driver> = Vec::new();
    for driver in ratios.iter().filter_map(|r| r.driver) {
        if !drivers.contains(&driver) {
            drivers.push(driver);
        }
    }
    if drivers == [Driver::IoUring] {
        return Targets::of(Some(Driver::IoUring)).describe();
    }
    let each: Vec<String> = drivers
        .iter()
        .map(|&driver| format!("{driver}: {}", Targets::of(Some(driver)).describe()))
        .collect();
    each.join("; ")
}

/// Describes the settings in one line.
fn describe(config: &EchoConfig) -> String {
    let mut parts = Vec::new();
    if let Some(addr) = &config.addr {
        parts.push(addr.clone());
    }
    if let Some(workers) = config.server_workers {
        parts.push(format!("{workers} server worker(s) each"));
    }
    parts.push(format!(
        "{:.1} s measured after {:.1} s warm-up",
        config.duration_s, config.warmup_s
    ));
    parts.push(match config.rate {
        Some(rate) => format!("fixed rate {rate:.0} req/s, round trip from the intended send"),
        None => "closed loop (ping-pong)".to_string(),
    });
    parts.push(config.pinning.clone());
    parts.join("; ")
}

/// Prints one row per run (requests/s, MiB/s of echoed payload, round-trip percentiles
/// in µs, errors, CPU time per request and CPU use of the server and the client), then
/// failures by kind if there were any, then ringtide-to-tokio ratios for each load that
/// both servers ran, with the targets they are held to (which depend on the driver);
/// when ringtide ran on several drivers, each driver's ratios to the first's; last, the
/// drivers that were not measured, and why.
pub fn print_table(
    config: &EchoConfig,
    runs: &[EchoRun],
    not_measured: &[NotMeasured],
    out: &mut impl Write,
) -> io::Result<()> {
    writeln!(out, "echo: {}", describe(config))?;
    if runs.is_empty() {
        writeln!(out, "no results")?;
        return write_not_measured(out, not_measured);
    }
    let figures: Vec<EchoFigures> = runs.iter().map(EchoFigures::of).collect();
    let names = || runs.iter().map(|r| r.server.as_str());
    writeln!(out)?;
    write_figures(out, name_width(names()), &columns(), names().zip(&figures))?;
    for run in runs.iter().filter(|r| r.result.error_count() > 0) {
        let kinds: Vec<String> = run
            .result
            .errors
            .iter()
            .map(|(kind, n)| format!("{n} {}", kind.name()))
            .collect();
        writeln!(
            out,
            "errors of {} at {} connections, {}: {}",
            run.server,
            run.connections,
            show_size(run.size as f64),
            kinds.join(", ")
        )?;
    }
    write_costs(out, runs)?;
    let to_tokio = ringtide_to_tokio(runs);
    // Named after their drivers when drivers were chosen: the tables then say which.
    let with_server = runs
        .iter()
        .any(|r| r.driver.is_some() && r.server != PLAIN_NAME);
    if !to_tokio.is_empty() {
        let heading = format!(
            "{PLAIN_NAME} / {TOKIO} (targets: {})",
            describe_targets(&to_tokio)
        );
        write_ratios(out, &heading, &to_tokio, with_server, true)?;
    }
    let drivers = between_drivers(runs);
    if let Some(first) = drivers.first() {
        let heading = format!(
            "{PLAIN_NAME} drivers / {} (below 1: less than {0})",
            first.versus
        );
        write_ratios(out, &heading, &drivers, with_server, false)?;
    }
    write_not_measured(out, not_measured)
}

/// Writes a block of ratios under `heading`, a row per load (and server, named when
/// `with_server`), each ratio marked ` ok` or ` X` against its server's targets when
/// `with_targets`.
fn write_ratios(
    out: &mut impl Write,
    heading: &str,
    ratios: &[Ratios],
    with_server: bool,
    with_targets: bool,
) -> io::Result<()> {
    let width = if with_server {
        name_width(ratios.iter().map(|r| r.server.as_str())) + 2
    } else {
        0
    };
    writeln!(out)?;
    writeln!(out, "{heading}")?;
    let server = if with_server { "server" } else { "" };
    writeln!(
        out,
        "{server:width$}{:>7}{:>9}{:>12}{:>12}{:>12}",
        "conns", "size", "req/s", "CPU/req", "p99"
    )?;
    for r in ratios {
        let targets = if with_targets {
            Targets::of(r.driver)
        } else {
            Targets::NONE
        };
        let server = if with_server { r.server.as_str() } else { "" };
        writeln!(
            out,
            "{server:width$}{:>7}{:>9}{:>12}{:>12}{:>12}",
            r.connections,
            show_size(r.size as f64),
            at_least(r.requests_per_s, targets.requests_per_s),
            at_most(r.server_cpu_per_request, targets.server_cpu_per_request),
            at_most(r.p99, targets.p99),
        )?;
    }
    Ok(())
}

#[derive(Serialize)]
struct JsonReport<'a> {
    config: &'a EchoConfig,
    /// Unit of the round-trip figures.
    latency_unit: &'static str,
    results: Vec<JsonRun<'a>>,
    /// ringtide's figures divided by tokio's, per server and load (empty unless both ran).
    ratios_ringtide_to_tokio: Vec<Ratios>,
    /// Each ringtide driver's figures divided by the first driver's, per load.
    ratios_between_drivers: Vec<Ratios>,
    not_measured: &'a [NotMeasured],
}

#[derive(Serialize)]
struct JsonRun<'a> {
    server: &'a str,
    driver: Option<String>,
    #[serde(flatten)]
    figures: EchoFigures,
    window_s: f64,
    errors_by_kind: std::collections::BTreeMap<&'static str, u64>,
    server_cpu_s: Option<f64>,
    server_user_cpu_s: Option<f64>,
    server_system_cpu_s: Option<f64>,
    client_cpu_s: Option<f64>,
    /// The server's I/O counters over the window (ringtide only).
    server_io: Option<ServerIo>,
    /// Per request: server user and system CPU (ns) and ringtide's I/O counters.
    costs: Costs,
}

/// Writes the settings and every run's figures to `path` as JSON, creating its directory
/// if needed: `config`; `latency_unit` (`"us"`); `results`, one object per run with
/// `server`, `driver` (the I/O driver of a ringtide server, else `null`), `connections`,
/// `size`, `requests`, `requests_per_s`, `mib_per_s`, `p50_us`, `p90_us`, `p99_us`,
/// `p99.9_us`, `max_us`, `mean_us`, `errors`, `errors_by_kind`, `bytes_verified` (equal
/// to `requests * size` when every echo matched), CPU time per request and CPU percent
/// of the server and the client (`null` where unknown), `window_s`, `server_cpu_s`,
/// `client_cpu_s`; `ratios_ringtide_to_tokio` and `ratios_between_drivers` (each ringtide
/// driver divided by the first), one object per server and load with `server`, `versus`
/// (the server divided by), `connections`, `size`, `requests_per_s`,
/// `server_cpu_per_request` and `p99`; and `not_measured`, the ringtide drivers left out
/// (`name`, `driver`, `reason`).
pub fn write_json(
    path: &Path,
    config: &EchoConfig,
    runs: &[EchoRun],
    not_measured: &[NotMeasured],
) -> io::Result<()> {
    let report = JsonReport {
        config,
        latency_unit: "us",
        results: runs
            .iter()
            .map(|run| JsonRun {
                server: &run.server,
                driver: run.driver.map(|d| d.to_string()),
                figures: EchoFigures::of(run),
                window_s: run.result.window.as_secs_f64(),
                errors_by_kind: run
                    .result
                    .errors
                    .iter()
                    .map(|(kind, n)| (kind.name(), *n))
                    .collect(),
                server_cpu_s: run.result.server_cpu.map(CpuTimes::total),
                server_user_cpu_s: run.result.server_cpu.map(|c| c.user),
                server_system_cpu_s: run.result.server_cpu.map(|c| c.system),
                client_cpu_s: run.result.client_cpu,
                server_io: run.result.server_io,
                costs: Costs::of(run),
            })
            .collect(),
        ratios_ringtide_to_tokio: ringtide_to_tokio(runs),
        ratios_between_drivers: between_drivers(runs),
        not_measured,
    };
    write_json_file(path, &report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::echo::ErrorKind;
    use hdrhistogram::Histogram;
    use std::collections::BTreeMap;
    use std::time::Duration;

    /// A run of `server`: ringtide's (`ringtide` or `ringtide-DRIVER`) on io_uring unless
    /// its name says epoll.
    fn run(server: &str, requests: u64, p99_us: u64, cpu: f64) -> EchoRun {
        let mut latency = Histogram::new(3).unwrap();
        for i in 1..=100 {
            latency.record(i * p99_us * 10).unwrap();
        }
        let driver = server.strip_prefix("ringtide").map(|rest| match rest {
            "-epoll" => Driver::Epoll,
            _ => Driver::IoUring,
        });
        EchoRun {
            server: server.to_string(),
            driver,
            connections: 50,
            size: 128,
            result: LoadResult {
                requests,
                bytes_verified: requests * 128,
                latency,
                window: Duration::from_secs(2),
                errors: BTreeMap::new(),
                server_cpu: Some(CpuTimes {
                    user: cpu * 0.25,
                    system: cpu * 0.75,
                }),
                server_io: driver.map(|_| ServerIo {
                    enters: requests / 2,
                    submitted: requests * 2,
                    completions: requests * 2,
                    syscalls: requests / 2,
                }),
                client_cpu: Some(1.0),
                connections_down: 0,
            },
        }
    }

    fn config() -> EchoConfig {
        EchoConfig {
            addr: None,
            duration_s: 2.0,
            warmup_s: 1.0,
            rate: None,
            server_workers: Some(1),
            drivers: vec!["auto".into()],
            pinning: "server on CPU 0, client on CPU 1".into(),
        }
    }

    fn table(runs: &[EchoRun], not_measured: &[NotMeasured]) -> String {
        let mut out = Vec::new();
        print_table(&config(), runs, not_measured, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn json(runs: &[EchoRun], not_measured: &[NotMeasured], tag: &str) -> serde_json::Value {
        let dir = std::env::temp_dir().join(format!("echo-report-{}-{tag}", std::process::id()));
        let path = dir.join("out.json");
        write_json(&path, &config(), runs, not_measured).unwrap();
        let json = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let _ = std::fs::remove_dir_all(dir);
        json
    }

    #[test]
    fn the_table_shows_both_servers_and_their_ratios() {
        let runs = [
            run("ringtide", 300_000, 400, 1.2),
            run("tokio", 200_000, 500, 2.0),
        ];
        let text = table(&runs, &[]);
        assert!(text.contains("150000"), "{text}");
        // As before drivers could be chosen: no server column, no drivers block.
        assert!(
            text.contains(
                "ringtide / tokio (targets: req/s >= 1.30, CPU/req <= 0.70, p99 <= 1.00)\n  \
                 conns     size       req/s     CPU/req         p99\n"
            ),
            "{text}"
        );
        assert!(!text.contains("drivers"), "{text}");
        assert!(text.contains("1.50 ok"), "req/s ratio: {text}");
        // CPU/request: (1.2/300k) / (2.0/200k) = 0.4.
        assert!(text.contains("0.40 ok"), "CPU ratio: {text}");
        assert!(text.contains("128 B"), "{text}");
        let ratios = ringtide_to_tokio(&runs);
        assert_eq!(ratios.len(), 1);
        assert!((ratios[0].p99.unwrap() - 0.8).abs() < 0.01);
        // Costs per request: ringtide's CPU 1.2 s (a quarter user) over 300k requests,
        // and its I/O counters; tokio's CPU only.
        let costs = |server: &str| -> Vec<String> {
            let block = &text[text.find("server costs per request").expect(&text)..];
            let line = block.lines().find(|l| l.starts_with(server)).expect(&text);
            line.split_whitespace().skip(3).map(String::from).collect()
        };
        assert_eq!(
            costs("ringtide "),
            ["1000", "3000", "0.50", "2.00", "2.00", "0.50"],
            "{text}"
        );
        assert_eq!(
            costs("tokio "),
            ["2500", "7500", "-", "-", "-", "-"],
            "{text}"
        );
    }

    #[test]
    fn errors_are_listed_by_kind_and_the_json_has_every_figure() {
        let mut failed = run("server", 10, 100, 0.1);
        failed.result.errors.insert(ErrorKind::Reset, 2);
        failed.result.errors.insert(ErrorKind::Mismatch, 1);
        let text = table(std::slice::from_ref(&failed), &[]);
        assert!(text.contains("2 reset, 1 mismatch"), "{text}");
        assert!(!text.contains("ringtide / tokio"), "{text}");

        let json = json(&[failed], &[], "errors");
        let result = &json["results"][0];
        assert_eq!(result["errors"], 3);
        assert_eq!(result["errors_by_kind"]["reset"], 2);
        assert_eq!(result["requests"], 10);
        assert_eq!(result["bytes_verified"], 1280);
        assert!(result["p99_us"].as_f64().unwrap() > 0.0);
        assert!(result["driver"].is_null());
    }

    #[test]
    fn each_driver_is_divided_by_tokio_against_its_targets_and_by_the_first_driver() {
        let runs = [
            run("ringtide-io_uring", 300_000, 400, 1.2),
            run("ringtide-epoll", 210_000, 600, 2.0),
            run("tokio", 200_000, 500, 2.0),
        ];
        let skipped = NotMeasured {
            name: "ringtide-kqueue".into(),
            driver: "kqueue".into(),
            reason: "not here".into(),
        };
        let text = table(&runs, std::slice::from_ref(&skipped));
        assert!(
            text.contains(
                "ringtide / tokio (targets: io_uring: req/s >= 1.30, CPU/req <= 0.70, \
                 p99 <= 1.00; epoll: CPU/req <= 1.05)"
            ),
            "{text}"
        );
        let row = |block: &str, server: &str| -> Vec<String> {
            let start = text
                .find(block)
                .unwrap_or_else(|| panic!("no {block:?}: {text}"));
            let line = text[start..]
                .lines()
                .find(|l| l.starts_with(server))
                .unwrap_or_else(|| panic!("no {server} after {block:?}: {text}"));
            line.split_whitespace().map(String::from).collect()
        };
        // server, conns, size (2 words), then each ratio and its mark, if any.
        let io_uring = row("ringtide / tokio", "ringtide-io_uring ");
        assert_eq!(io_uring[4..], ["1.50", "ok", "0.40", "ok", "0.80", "ok"]);
        // CPU/request: (2.0/210k) / (2.0/200k) = 0.95, under epoll's 1.05; epoll has no
        // target for req/s or p99.
        let epoll = row("ringtide / tokio", "ringtide-epoll ");
        assert_eq!(epoll[4..], ["1.05", "0.95", "ok", "1.20"], "{text}");

        let heading = "ringtide drivers / ringtide-io_uring (below 1: less than ringtide-io_uring)";
        assert!(text.contains(heading), "{text}");
        let epoll = row(heading, "ringtide-epoll ");
        // req/s 210k/300k; CPU/req (2.0/210k) / (1.2/300k) = 2.38; p99 600/400.
        assert_eq!(epoll[4..], ["0.70", "2.38", "1.50"], "{text}");
        assert!(
            text.ends_with("\nnot measured: ringtide-kqueue: not here\n"),
            "{text}"
        );

        let json = json(&runs, &[skipped], "drivers");
        let drivers: Vec<_> = json["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["driver"].clone())
            .collect();
        assert_eq!(
            drivers,
            ["io_uring".into(), "epoll".into(), serde_json::Value::Null]
        );
        let to_tokio = json["ratios_ringtide_to_tokio"].as_array().unwrap();
        let pairs: Vec<_> = to_tokio
            .iter()
            .map(|r| (r["server"].as_str().unwrap(), r["versus"].as_str().unwrap()))
            .collect();
        assert_eq!(
            pairs,
            [("ringtide-io_uring", "tokio"), ("ringtide-epoll", "tokio")]
        );
        let between = json["ratios_between_drivers"].as_array().unwrap();
        assert_eq!(between.len(), 1, "{json}");
        assert_eq!(between[0]["server"], "ringtide-epoll");
        assert_eq!(between[0]["versus"], "ringtide-io_uring");
        assert_eq!(json["not_measured"][0]["name"], "ringtide-kqueue");
        assert_eq!(json["not_measured"][0]["reason"], "not here");
    }

    #[test]
    fn sizes_read_naturally() {
        assert_eq!(show_size(128.0), "128 B");
        assert_eq!(show_size(4096.0), "4 KiB");
        assert_eq!(show_size(1000.0), "1000 B");
    }
}
