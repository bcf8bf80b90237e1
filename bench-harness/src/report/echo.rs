//! Reports of the echo benchmark: a terminal table (and, when ringtide and tokio were both
//! measured, their ratios), and JSON.
//!
//! Round trips are recorded in nanoseconds; every report shows them in microseconds.

use std::io::{self, Write};
use std::path::Path;

use serde::Serialize;

use super::json::write_json_file;
use super::summary::ratio;
use super::table::{name_width, show, show_lateness, show_ratio, write_figures, Column};
use crate::echo::LoadResult;

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
    /// Where the server and the client ran.
    pub pinning: String,
}

/// One measurement: one server under one load.
#[derive(Debug, Clone)]
pub struct EchoRun {
    /// `ringtide`, `tokio`, or `server` for a server the harness did not start.
    pub server: String,
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
            server_cpu_us_per_request: per_request(r.server_cpu),
            server_cpu_percent: percent(r.server_cpu),
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

/// ringtide's figures divided by tokio's, for one load.
#[derive(Debug, Clone, Copy, Serialize)]
struct Ratios {
    connections: usize,
    size: usize,
    /// Requests per second (target: at least 1.3).
    requests_per_s: Option<f64>,
    /// Server CPU time per request (target: at most 0.7).
    server_cpu_per_request: Option<f64>,
    /// p99 round trip (target: at most 1).
    p99: Option<f64>,
}

/// Pairs each ringtide run with the tokio run under the same load.
fn ratios(runs: &[EchoRun]) -> Vec<Ratios> {
    let find = |name: &str, c: usize, s: usize| {
        runs.iter()
            .find(|r| r.server == name && r.connections == c && r.size == s)
            .map(EchoFigures::of)
    };
    runs.iter()
        .filter(|r| r.server == "ringtide")
        .filter_map(|r| {
            let ours = find("ringtide", r.connections, r.size)?;
            let theirs = find("tokio", r.connections, r.size)?;
            Some(Ratios {
                connections: r.connections,
                size: r.size,
                requests_per_s: ratio(Some(ours.requests_per_s), Some(theirs.requests_per_s)),
                server_cpu_per_request: ratio(
                    ours.server_cpu_us_per_request,
                    theirs.server_cpu_us_per_request,
                ),
                p99: ratio(Some(ours.p99_us), Some(theirs.p99_us)),
            })
        })
        .collect()
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
/// both servers ran, with the targets they are held to.
pub fn print_table(config: &EchoConfig, runs: &[EchoRun], out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "echo: {}", describe(config))?;
    if runs.is_empty() {
        return writeln!(out, "no results");
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
    let ratios = ratios(runs);
    if ratios.is_empty() {
        return Ok(());
    }
    writeln!(out)?;
    writeln!(
        out,
        "ringtide / tokio (targets: req/s >= 1.30, CPU/req <= 0.70, p99 <= 1.00)"
    )?;
    writeln!(
        out,
        "{:>7}{:>9}{:>12}{:>12}{:>12}",
        "conns", "size", "req/s", "CPU/req", "p99"
    )?;
    for r in &ratios {
        let cell = |value: Option<f64>, ok: fn(f64) -> bool| match value {
            Some(v) => format!("{}{}", show_ratio(v), if ok(v) { " ok" } else { " X" }),
            None => show(None, show_ratio),
        };
        writeln!(
            out,
            "{:>7}{:>9}{:>12}{:>12}{:>12}",
            r.connections,
            show_size(r.size as f64),
            cell(r.requests_per_s, |v| v >= 1.3),
            cell(r.server_cpu_per_request, |v| v <= 0.7),
            cell(r.p99, |v| v <= 1.0),
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
    /// ringtide's figures divided by tokio's, per load (empty unless both ran).
    ratios_ringtide_to_tokio: Vec<Ratios>,
}

#[derive(Serialize)]
struct JsonRun<'a> {
    server: &'a str,
    #[serde(flatten)]
    figures: EchoFigures,
    window_s: f64,
    errors_by_kind: std::collections::BTreeMap<&'static str, u64>,
    server_cpu_s: Option<f64>,
    client_cpu_s: Option<f64>,
}

/// Writes the settings and every run's figures to `path` as JSON, creating its directory
/// if needed: `config`; `latency_unit` (`"us"`); `results`, one object per run with
/// `server`, `connections`, `size`, `requests`, `requests_per_s`, `mib_per_s`, `p50_us`,
/// `p90_us`, `p99_us`, `p99.9_us`, `max_us`, `mean_us`, `errors`, `errors_by_kind`,
/// `bytes_verified` (equal to `requests * size` when every echo matched), CPU time per
/// request and CPU percent of the server and the client (`null` where unknown),
/// `window_s`, `server_cpu_s`, `client_cpu_s`; and `ratios_ringtide_to_tokio`.
pub fn write_json(path: &Path, config: &EchoConfig, runs: &[EchoRun]) -> io::Result<()> {
    let report = JsonReport {
        config,
        latency_unit: "us",
        results: runs
            .iter()
            .map(|run| JsonRun {
                server: &run.server,
                figures: EchoFigures::of(run),
                window_s: run.result.window.as_secs_f64(),
                errors_by_kind: run
                    .result
                    .errors
                    .iter()
                    .map(|(kind, n)| (kind.name(), *n))
                    .collect(),
                server_cpu_s: run.result.server_cpu,
                client_cpu_s: run.result.client_cpu,
            })
            .collect(),
        ratios_ringtide_to_tokio: ratios(runs),
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

    fn run(server: &str, requests: u64, p99_us: u64, cpu: f64) -> EchoRun {
        let mut latency = Histogram::new(3).unwrap();
        for i in 1..=100 {
            latency.record(i * p99_us * 10).unwrap();
        }
        EchoRun {
            server: server.to_string(),
            connections: 50,
            size: 128,
            result: LoadResult {
                requests,
                bytes_verified: requests * 128,
                latency,
                window: Duration::from_secs(2),
                errors: BTreeMap::new(),
                server_cpu: Some(cpu),
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
            pinning: "server on CPU 0, client on CPU 1".into(),
        }
    }

    #[test]
    fn the_table_shows_both_servers_and_their_ratios() {
        let runs = [
            run("ringtide", 300_000, 400, 1.2),
            run("tokio", 200_000, 500, 2.0),
        ];
        let mut out = Vec::new();
        print_table(&config(), &runs, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("150000"), "{text}");
        assert!(text.contains("1.50 ok"), "req/s ratio: {text}");
        // CPU/request: (1.2/300k) / (2.0/200k) = 0.4.
        assert!(text.contains("0.40 ok"), "CPU ratio: {text}");
        assert!(text.contains("128 B"), "{text}");
        let ratios = ratios(&runs);
        assert_eq!(ratios.len(), 1);
        assert!((ratios[0].p99.unwrap() - 0.8).abs() < 0.01);
    }

    #[test]
    fn errors_are_listed_by_kind_and_the_json_has_every_figure() {
        let mut failed = run("server", 10, 100, 0.1);
        failed.result.errors.insert(ErrorKind::Reset, 2);
        failed.result.errors.insert(ErrorKind::Mismatch, 1);
        let mut out = Vec::new();
        print_table(&config(), std::slice::from_ref(&failed), &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("2 reset, 1 mismatch"), "{text}");
        assert!(!text.contains("ringtide / tokio"), "{text}");

        let dir = std::env::temp_dir().join(format!("echo-report-{}", std::process::id()));
        let path = dir.join("out.json");
        write_json(&path, &config(), &[failed]).unwrap();
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let result = &json["results"][0];
        assert_eq!(result["errors"], 3);
        assert_eq!(result["errors_by_kind"]["reset"], 2);
        assert_eq!(result["requests"], 10);
        assert_eq!(result["bytes_verified"], 1280);
        assert!(result["p99_us"].as_f64().unwrap() > 0.0);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn sizes_read_naturally() {
        assert_eq!(show_size(128.0), "128 B");
        assert_eq!(show_size(4096.0), "4 KiB");
        assert_eq!(show_size(1000.0), "1000 B");
    }
}
