//! Reports of the HTTP comparison: a terminal table per load (medians of the runs), each
//! run's requests/s and CPU, ratios of ringtide to tokio against issue 13's targets,
//! and JSON.
//!
//! Latency is in microseconds throughout. wrk gives p50, p90 and p99; h2load gives its
//! minimum, maximum, mean and standard deviation, and percentiles only when its
//! per-request log was read (`--h2load-log`): its p50, p90 and p99 read `-` otherwise.

use std::io::{self, Write};
use std::path::Path;

use ringtide::Driver;
use serde::Serialize;

use super::json::write_json_file;
use super::summary::ratio;
use super::table::{
    at_least, at_most, name_width, show_lateness, write_figures, write_not_measured, Column,
};
use crate::drivers::NotMeasured;
use crate::http::compare::{per_request_us, HttpRun, ToolMissing};
use crate::http::parse::{Errors, Latency};
use crate::http::tools::Load;

/// The settings of one comparison, echoed into every report.
#[derive(Debug, Clone, Serialize)]
pub struct HttpConfig {
    /// Worker threads of each server.
    pub server_workers: usize,
    /// Measured runs of each server under each load.
    pub runs: usize,
    /// Length of each measured run, in seconds.
    pub duration_s: u64,
    /// Load before each measured run, in seconds.
    pub warmup_s: u64,
    /// ringtide's I/O drivers asked for, in order.
    pub drivers: Vec<String>,
    /// Where the servers and the load tool ran.
    pub pinning: String,
    /// Whether h2load's percentiles came from its per-request log.
    pub h2load_log: bool,
    /// `/proc/loadavg` when the comparison started: other work on the machine shows
    /// here.
    pub load_average: Option<String>,
}

/// The server every ringtide server is divided by.
const TOKIO: &str = "tokio";

/// What ringtide is held to against tokio (issue 13), on every load and driver.
const TARGETS: Targets = Targets {
    requests_per_s: 1.0,
    user_cpu_per_request: 0.8,
    p99: 1.0,
};

struct Targets {
    /// At least.
    requests_per_s: f64,
    /// At most.
    user_cpu_per_request: f64,
    /// At most.
    p99: f64,
}

/// The figures of one run in the units the reports use.
#[derive(Debug, Clone, Serialize)]
struct RunFigures {
    requests: u64,
    duration_s: f64,
    requests_per_s: f64,
    #[serde(flatten)]
    latency: Latency,
    errors: Errors,
    server_user_s: f64,
    server_system_s: f64,
    /// Server user CPU time per request, in µs.
    user_us_per_request: Option<f64>,
    /// Server system CPU time per request, in µs.
    system_us_per_request: Option<f64>,
    /// Server CPU use over the run, in percent of one CPU.
    server_cpu_percent: Option<f64>,
}

impl RunFigures {
    fn of(run: &HttpRun) -> RunFigures {
        let r = &run.report;
        let cpu = run.server_cpu;
        RunFigures {
            requests: r.requests,
            duration_s: r.duration_s,
            requests_per_s: r.requests_per_s,
            latency: r.latency,
            errors: r.errors.clone(),
            server_user_s: cpu.user,
            server_system_s: cpu.system,
            user_us_per_request: per_request_us(cpu.user, r.requests),
            system_us_per_request: per_request_us(cpu.system, r.requests),
            server_cpu_percent: (r.duration_s > 0.0).then(|| cpu.total() * 100.0 / r.duration_s),
        }
    }
}

/// Medians over the runs of one server under one load; errors and requests are summed.
#[derive(Debug, Clone, Serialize)]
struct Medians {
    server: String,
    #[serde(skip)]
    driver: Option<Driver>,
    load: String,
    #[serde(skip)]
    key: Load,
    runs: usize,
    requests: u64,
    errors: u64,
    requests_per_s: Option<f64>,
    p50_us: Option<f64>,
    p90_us: Option<f64>,
    p99_us: Option<f64>,
    mean_us: Option<f64>,
    max_us: Option<f64>,
    user_us_per_request: Option<f64>,
    system_us_per_request: Option<f64>,
    total_us_per_request: Option<f64>,
    server_cpu_percent: Option<f64>,
}

/// The middle value (the mean of the two middle ones for an even count) of the values
/// that are there; `None` when none is.
fn median(values: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    let mut values: Vec<f64> = values.flatten().filter(|v| v.is_finite()).collect();
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    })
}

/// One [`Medians`] per server and load, in the order they first ran.
fn medians(runs: &[HttpRun]) -> Vec<Medians> {
    let mut groups: Vec<(&HttpRun, Vec<RunFigures>)> = Vec::new();
    for run in runs {
        let figures = RunFigures::of(run);
        match groups
            .iter_mut()
            .find(|(first, _)| first.server == run.server && first.load == run.load)
        {
            Some((_, all)) => all.push(figures),
            None => groups.push((run, vec![figures])),
        }
    }
    groups
        .into_iter()
        .map(|(first, all)| {
            let m = |value: fn(&RunFigures) -> Option<f64>| median(all.iter().map(value));
            Medians {
                server: first.server.clone(),
                driver: first.driver,
                load: first.load.label(),
                key: first.load,
                runs: all.len(),
                requests: all.iter().map(|f| f.requests).sum(),
                errors: all.iter().map(|f| f.errors.total).sum(),
                requests_per_s: m(|f| Some(f.requests_per_s)),
                p50_us: m(|f| f.latency.p50_us),
                p90_us: m(|f| f.latency.p90_us),
                p99_us: m(|f| f.latency.p99_us),
                mean_us: m(|f| f.latency.mean_us),
                max_us: m(|f| f.latency.max_us),
                user_us_per_request: m(|f| f.user_us_per_request),
                system_us_per_request: m(|f| f.system_us_per_request),
                total_us_per_request: m(|f| {
                    f.user_us_per_request
                        .zip(f.system_us_per_request)
                        .map(|(u, s)| u + s)
                }),
                server_cpu_percent: m(|f| f.server_cpu_percent),
            }
        })
        .collect()
}

/// A ringtide server's medians divided by tokio's under the same load.
#[derive(Debug, Clone, Serialize)]
struct Ratios {
    server: String,
    versus: String,
    load: String,
    requests_per_s: Option<f64>,
    user_cpu_per_request: Option<f64>,
    system_cpu_per_request: Option<f64>,
    p99: Option<f64>,
    mean_latency: Option<f64>,
}

fn ringtide_to_tokio(medians: &[Medians]) -> Vec<Ratios> {
    medians
        .iter()
        .filter(|m| m.driver.is_some())
        .filter_map(|ours| {
            let theirs = medians
                .iter()
                .find(|m| m.server == TOKIO && m.key == ours.key)?;
            Some(Ratios {
                server: ours.server.clone(),
                versus: theirs.server.clone(),
                load: ours.load.clone(),
                requests_per_s: ratio(ours.requests_per_s, theirs.requests_per_s),
                user_cpu_per_request: ratio(ours.user_us_per_request, theirs.user_us_per_request),
                system_cpu_per_request: ratio(
                    ours.system_us_per_request,
                    theirs.system_us_per_request,
                ),
                p99: ratio(ours.p99_us, theirs.p99_us),
                mean_latency: ratio(ours.mean_us, theirs.mean_us),
            })
        })
        .collect()
}

fn columns() -> Vec<Column<Medians>> {
    let whole = |head, width, value: fn(&Medians) -> Option<f64>| Column {
        group: "",
        head,
        width,
        value,
        show: |v| format!("{v:.0}"),
    };
    let latency = |head, value: fn(&Medians) -> Option<f64>| Column {
        group: "latency, µs",
        head,
        width: 9,
        value,
        show: show_lateness,
    };
    let cpu = |head, value: fn(&Medians) -> Option<f64>| Column {
        group: "server CPU, µs/req",
        head,
        width: 8,
        value,
        show: |v| format!("{v:.2}"),
    };
    vec![
        whole("req/s", 10, |m| m.requests_per_s),
        latency("p50", |m| m.p50_us),
        latency("p90", |m| m.p90_us),
        latency("p99", |m| m.p99_us),
        latency("mean", |m| m.mean_us),
        latency("max", |m| m.max_us),
        whole("errors", 8, |m| Some(m.errors as f64)),
        cpu("user", |m| m.user_us_per_request),
        cpu("system", |m| m.system_us_per_request),
        cpu("total", |m| m.total_us_per_request),
        whole("CPU %", 7, |m| m.server_cpu_percent),
    ]
}

/// Describes the settings in one line.
fn describe(config: &HttpConfig) -> String {
    let mut parts = vec![
        format!("{} server worker(s) each", config.server_workers),
        format!(
            "{} run(s) of {} s after {} s of warm-up per server and load, server order \
             alternating",
            config.runs, config.duration_s, config.warmup_s
        ),
        config.pinning.clone(),
    ];
    if let Some(load) = &config.load_average {
        parts.push(format!("load average at start {load}"));
    }
    parts.join("; ")
}

/// Prints, for each load, the servers' medians over the runs (requests/s, latency
/// percentiles, mean and max in µs, errors over all runs, server user, system and total
/// CPU µs per request, server CPU %); then each run's requests/s and user CPU per
/// request; the errors of runs that had some; ringtide-to-tokio ratios of the medians
/// with issue 13's targets; last, the tools and drivers left out, and why.
pub fn print_table(
    config: &HttpConfig,
    runs: &[HttpRun],
    not_measured: &[NotMeasured],
    tools_missing: &[ToolMissing],
    out: &mut impl Write,
) -> io::Result<()> {
    writeln!(out, "http: {}", describe(config))?;
    let medians = medians(runs);
    if medians.is_empty() {
        writeln!(out, "no results")?;
    }
    let width = name_width(medians.iter().map(|m| m.server.as_str())) + 2;
    let columns = columns();
    let mut loads: Vec<Load> = Vec::new();
    for m in &medians {
        if !loads.contains(&m.key) {
            loads.push(m.key);
        }
    }
    for load in &loads {
        let rows: Vec<&Medians> = medians.iter().filter(|m| m.key == *load).collect();
        writeln!(out)?;
        let percentiles = if load.tool == crate::http::tools::Tool::H2load && !config.h2load_log {
            "; h2load gives min, max, mean and sd, no percentiles without --h2load-log"
        } else {
            ""
        };
        writeln!(
            out,
            "{} ({}), medians of {} run(s){percentiles}",
            load.label(),
            load.tool.protocol(),
            rows.first().map_or(0, |m| m.runs)
        )?;
        write_figures(
            out,
            width,
            &columns,
            rows.iter().map(|m| (m.server.as_str(), *m)),
        )?;
    }
    write_each_run(out, runs)?;
    for run in runs.iter().filter(|r| r.report.errors.total > 0) {
        let e = &run.report.errors;
        writeln!(
            out,
            "errors of {} under {}, round {}: {} ({} non-2xx; {})",
            run.server,
            run.load.label(),
            run.round,
            e.total,
            e.non_2xx,
            if e.detail.is_empty() {
                "no socket errors"
            } else {
                &e.detail
            }
        )?;
    }
    let ratios = ringtide_to_tokio(&medians);
    if !ratios.is_empty() {
        write_ratios(out, &ratios)?;
    }
    for missing in tools_missing {
        writeln!(out)?;
        writeln!(out, "not run: {}", missing.reason)?;
    }
    write_not_measured(out, not_measured)
}

/// Each run's requests/s and server user CPU µs per request, in the order of the rounds,
/// so that the spread behind each median shows.
fn write_each_run(out: &mut impl Write, runs: &[HttpRun]) -> io::Result<()> {
    if runs.is_empty() {
        return Ok(());
    }
    writeln!(out)?;
    writeln!(out, "each run, by round: req/s @ server user CPU µs/req")?;
    let width = name_width(runs.iter().map(|r| r.server.as_str())) + 2;
    let mut seen: Vec<(&str, Load)> = Vec::new();
    for run in runs {
        if seen.contains(&(run.server.as_str(), run.load)) {
            continue;
        }
        seen.push((run.server.as_str(), run.load));
        let cells: Vec<String> = runs
            .iter()
            .filter(|r| r.server == run.server && r.load == run.load)
            .map(|r| {
                let f = RunFigures::of(r);
                let user = f
                    .user_us_per_request
                    .map_or("-".into(), |u| format!("{u:.2}"));
                format!("{:.0} @ {user}", f.requests_per_s)
            })
            .collect();
        writeln!(
            out,
            "{:<18}{:width$}{}",
            run.load.label(),
            run.server,
            cells.join("   ")
        )?;
    }
    Ok(())
}

fn write_ratios(out: &mut impl Write, ratios: &[Ratios]) -> io::Result<()> {
    let width = name_width(ratios.iter().map(|r| r.server.as_str())) + 2;
    writeln!(out)?;
    writeln!(
        out,
        "ringtide / tokio, medians (targets: req/s >= {:.2}, user CPU/req <= {:.2}, p99 <= {:.2})",
        TARGETS.requests_per_s, TARGETS.user_cpu_per_request, TARGETS.p99
    )?;
    writeln!(
        out,
        "{:<18}{:width$}{:>10}{:>14}{:>12}{:>10}{:>8}",
        "load", "server", "req/s", "user CPU/req", "sys CPU/req", "p99", "mean"
    )?;
    for r in ratios {
        writeln!(
            out,
            "{:<18}{:width$}{:>10}{:>14}{:>12}{:>10}{:>8}",
            r.load,
            r.server,
            at_least(r.requests_per_s, Some(TARGETS.requests_per_s)),
            at_most(r.user_cpu_per_request, Some(TARGETS.user_cpu_per_request)),
            at_most(r.system_cpu_per_request, None),
            at_most(r.p99, Some(TARGETS.p99)),
            at_most(r.mean_latency, None),
        )?;
    }
    Ok(())
}

#[derive(Serialize)]
struct JsonReport<'a> {
    config: &'a HttpConfig,
    /// Unit of every latency figure.
    latency_unit: &'static str,
    runs: Vec<JsonRun<'a>>,
    medians: Vec<Medians>,
    ratios_ringtide_to_tokio: Vec<Ratios>,
    not_measured: &'a [NotMeasured],
    tools_missing: Vec<&'a str>,
}

#[derive(Serialize)]
struct JsonRun<'a> {
    server: &'a str,
    driver: Option<String>,
    load: String,
    tool: &'static str,
    connections: usize,
    streams: Option<usize>,
    round: usize,
    #[serde(flatten)]
    figures: RunFigures,
}

/// Writes the settings and every figure to `path` as JSON, creating its directory if
/// needed: `config`; `latency_unit` (`"us"`); `runs`, one object per measured run with
/// `server`, `driver`, `load`, `tool`, `connections`, `streams`, `round`, `requests`,
/// `duration_s`, `requests_per_s`, `p50_us` to `max_us` (`null` where the tool gives
/// none), `errors` (`total`, `non_2xx`, `detail`), `server_user_s`, `server_system_s`,
/// `user_us_per_request`, `system_us_per_request`, `server_cpu_percent`; `medians`, one
/// object per server and load; `ratios_ringtide_to_tokio`; `not_measured` (drivers) and
/// `tools_missing` (why each missing tool did not run).
pub fn write_json(
    path: &Path,
    config: &HttpConfig,
    runs: &[HttpRun],
    not_measured: &[NotMeasured],
    tools_missing: &[ToolMissing],
) -> io::Result<()> {
    let medians = medians(runs);
    let report = JsonReport {
        config,
        latency_unit: "us",
        runs: runs
            .iter()
            .map(|run| JsonRun {
                server: &run.server,
                driver: run.driver.map(|d| d.to_string()),
                load: run.load.label(),
                tool: run.load.tool.name(),
                connections: run.load.connections,
                streams: run.load.streams,
                round: run.round,
                figures: RunFigures::of(run),
            })
            .collect(),
        ratios_ringtide_to_tokio: ringtide_to_tokio(&medians),
        medians,
        not_measured,
        tools_missing: tools_missing.iter().map(|m| m.reason.as_str()).collect(),
    };
    write_json_file(path, &report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::parse::ToolReport;
    use crate::http::tools::Tool;
    use crate::sys::CpuTimes;

    const WRK: Load = Load {
        tool: Tool::Wrk,
        connections: 50,
        streams: None,
    };
    const H2LOAD: Load = Load {
        tool: Tool::H2load,
        connections: 50,
        streams: Some(10),
    };

    /// A 10 s run of `server` under `load`: `rate` req/s, p99 of `p99_us` (wrk only),
    /// `user` and `system` CPU seconds.
    fn run(
        server: &str,
        load: Load,
        round: usize,
        rate: f64,
        p99_us: f64,
        user: f64,
        system: f64,
    ) -> HttpRun {
        let requests = (rate * 10.0) as u64;
        let latency = Latency {
            p50_us: (load.tool == Tool::Wrk).then_some(p99_us / 4.0),
            p90_us: (load.tool == Tool::Wrk).then_some(p99_us / 2.0),
            p99_us: (load.tool == Tool::Wrk).then_some(p99_us),
            mean_us: Some(p99_us / 3.0),
            stdev_us: Some(10.0),
            min_us: None,
            max_us: Some(p99_us * 2.0),
        };
        HttpRun {
            server: server.to_string(),
            driver: server.strip_prefix("ringtide").map(|rest| match rest {
                "-epoll" => Driver::Epoll,
                _ => Driver::IoUring,
            }),
            load,
            round,
            report: ToolReport {
                requests,
                duration_s: 10.0,
                requests_per_s: rate,
                latency,
                errors: Errors::default(),
            },
            server_cpu: CpuTimes { user, system },
        }
    }

    fn config() -> HttpConfig {
        HttpConfig {
            server_workers: 1,
            runs: 3,
            duration_s: 10,
            warmup_s: 1,
            drivers: vec!["io_uring".into()],
            pinning: "server pinned to CPU 0, load generator to CPU 1".into(),
            h2load_log: false,
            load_average: Some("0.10 0.20 0.30 1/100 42".into()),
        }
    }

    /// Three rounds of ringtide on io_uring and tokio under wrk -c50 and h2load: ringtide
    /// at 110k/120k/100k req/s (median 110k) with 4 s user CPU, tokio at 100k with 5 s
    /// (ringtide: 4 s / 1.1M req = 3.64 µs; tokio: 5 µs; ratio 0.73).
    fn runs() -> Vec<HttpRun> {
        let mut runs = Vec::new();
        for load in [WRK, H2LOAD] {
            for (round, rate) in [(1, 110_000.0), (2, 120_000.0), (3, 100_000.0)] {
                let io_uring = run(
                    "ringtide-io_uring",
                    load,
                    round,
                    rate,
                    800.0,
                    4.0 * rate / 110_000.0,
                    1.0,
                );
                let tokio = run("tokio", load, round, 100_000.0, 1_000.0, 5.0, 1.0);
                if round % 2 == 0 {
                    runs.extend([tokio, io_uring]);
                } else {
                    runs.extend([io_uring, tokio]);
                }
            }
        }
        runs
    }

    fn table(runs: &[HttpRun], missing: &[ToolMissing]) -> String {
        let mut out = Vec::new();
        print_table(&config(), runs, &[], missing, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    /// The cells of the first line that starts with `start`, after `after`.
    fn cells<'a>(text: &'a str, after: &str, start: &str) -> Vec<&'a str> {
        let from = text
            .find(after)
            .unwrap_or_else(|| panic!("no {after:?} in {text}"));
        text[from..]
            .lines()
            .find(|l| l.starts_with(start))
            .unwrap_or_else(|| panic!("no line {start:?} after {after:?} in {text}"))
            .split_whitespace()
            .collect()
    }

    #[test]
    fn medians_take_the_middle_run_and_the_mean_of_two() {
        assert_eq!(
            median([Some(3.0), Some(1.0), Some(2.0)].into_iter()),
            Some(2.0)
        );
        assert_eq!(median([Some(4.0), None, Some(1.0)].into_iter()), Some(2.5));
        assert_eq!(median([None, None].into_iter()), None);
    }

    #[test]
    fn each_load_shows_the_medians_of_its_runs() {
        let text = table(&runs(), &[]);
        assert!(
            text.starts_with("http: 1 server worker(s) each; 3 run(s) of 10 s"),
            "{text}"
        );
        assert!(text.contains("load average at start 0.10"), "{text}");
        let heading = "wrk -c50 (HTTP/1.1), medians of 3 run(s)\n";
        assert!(text.contains(heading), "{text}");
        // req/s, p50, p90, p99, mean, max, errors, user, system, total, CPU %.
        let row = cells(&text, heading, "ringtide-io_uring");
        assert_eq!(row[1], "110000", "{text}");
        assert_eq!(row[4], "800.0", "{text}");
        assert_eq!(row[8], "3.64", "{text}");
        // 1 s of system CPU over 1.1M requests.
        assert_eq!(row[9], "0.91", "{text}");
        assert_eq!(row[10], "4.55", "{text}");
        assert_eq!(row[11], "50", "{text}");
        let h2 = "h2load -c50 -m10 (h2c), medians of 3 run(s); h2load gives min, max, mean and sd";
        assert!(text.contains(h2), "{text}");
        let row = cells(&text, h2, "tokio");
        assert_eq!(row[2..5], ["-", "-", "-"], "{text}");
        assert_eq!(row[5], "333.3", "{text}");
        let each = cells(&text, "each run", "wrk -c50");
        assert_eq!(
            each[3..],
            ["110000", "@", "3.64", "120000", "@", "3.64", "100000", "@", "3.64"]
        );
    }

    #[test]
    fn ratios_divide_the_medians_and_are_marked_against_the_targets() {
        let text = table(&runs(), &[]);
        let heading = "ringtide / tokio, medians (targets: req/s >= 1.00, user CPU/req <= 0.80, \
                       p99 <= 1.00)";
        assert!(text.contains(heading), "{text}");
        let wrk = cells(&text, heading, "wrk -c50");
        // load (2 words), server, req/s, user/req, sys/req, p99, mean.
        assert_eq!(
            wrk[3..],
            ["1.10", "ok", "0.73", "ok", "0.91", "0.80", "ok", "0.80"],
            "{text}"
        );
        let h2 = cells(&text, heading, "h2load -c50 -m10");
        assert_eq!(
            h2[4..],
            ["1.10", "ok", "0.73", "ok", "0.91", "-", "0.80"],
            "{text}"
        );
    }

    #[test]
    fn errors_missing_tools_and_a_slow_server_are_said() {
        let mut runs = runs();
        runs[0].report.errors = Errors {
            total: 53,
            non_2xx: 3,
            detail: "connect 0, read 50, write 0, timeout 0".into(),
        };
        // tokio twice as fast: ringtide misses its req/s target.
        for r in runs.iter_mut().filter(|r| r.server == TOKIO) {
            r.report.requests_per_s *= 2.0;
        }
        let missing = ToolMissing {
            tool: Tool::H2load,
            reason: "h2load is not installed; install it with `sudo apt-get install wrk \
                     nghttp2-client`"
                .into(),
        };
        let text = table(&runs, std::slice::from_ref(&missing));
        assert!(
            text.contains(
                "errors of ringtide-io_uring under wrk -c50, round 1: 53 (3 non-2xx; connect 0, \
                 read 50, write 0, timeout 0)"
            ),
            "{text}"
        );
        let wrk = cells(&text, "ringtide / tokio", "wrk -c50");
        assert_eq!(wrk[3..5], ["0.55", "X"], "{text}");
        assert!(
            text.contains("\nnot run: h2load is not installed"),
            "{text}"
        );
        assert!(table(&[], &[]).contains("no results"));
    }

    #[test]
    fn the_json_has_every_run_the_medians_and_the_ratios() {
        let dir = std::env::temp_dir().join(format!("http-report-{}", std::process::id()));
        let path = dir.join("http.json");
        write_json(&path, &config(), &runs(), &[], &[]).unwrap();
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(json["latency_unit"], "us");
        assert_eq!(json["config"]["runs"], 3);
        let runs = json["runs"].as_array().unwrap();
        assert_eq!(runs.len(), 12);
        assert_eq!(runs[0]["server"], "ringtide-io_uring");
        assert_eq!(runs[0]["driver"], "io_uring");
        assert_eq!(runs[0]["tool"], "wrk");
        assert_eq!(runs[0]["p99_us"], 800.0);
        assert_eq!(runs[0]["server_user_s"], 4.0);
        assert_eq!(runs[0]["errors"]["total"], 0);
        assert!(
            runs[6]["p99_us"].is_null(),
            "h2load has no p99: {}",
            runs[6]
        );
        assert_eq!(runs[6]["streams"], 10);
        let medians = json["medians"].as_array().unwrap();
        assert_eq!(medians.len(), 4);
        assert_eq!(medians[0]["requests_per_s"], 110_000.0);
        let ratios = json["ratios_ringtide_to_tokio"].as_array().unwrap();
        assert_eq!(ratios.len(), 2);
        assert_eq!(ratios[0]["versus"], "tokio");
        assert!((ratios[0]["requests_per_s"].as_f64().unwrap() - 1.1).abs() < 1e-9);
        assert!(ratios[1]["p99"].is_null());
    }
}
