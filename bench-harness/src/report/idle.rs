//! The report of `echo --compare --idle N`: a row per server with its resident set
//! before and with the idle connections, and the growth per connection; and JSON.

use std::io::{self, Write};
use std::path::Path;

use serde::Serialize;

use super::json::write_json_file;
use crate::drivers::NotMeasured;
use crate::idle::{IdleRun, MESSAGE};

const KIB: f64 = 1024.0;
const MIB: f64 = 1024.0 * 1024.0;

/// Prints the settings, a row per server, and the drivers not measured.
pub fn print_table(
    runs: &[IdleRun],
    not_measured: &[NotMeasured],
    pinning: &str,
    out: &mut impl Write,
) -> io::Result<()> {
    let connections = runs.first().map_or(0, |r| r.connections);
    writeln!(
        out,
        "idle connections: {connections} to each server, from 127.0.0.1-127.0.0.4, each \
         after one {MESSAGE} B echo; server resident set before them (after one connection \
         opened and closed) and with them open; {pinning}"
    )?;
    let width = runs
        .iter()
        .map(|r| r.server.len())
        .chain(["server".len()])
        .max()
        .unwrap_or(6);
    writeln!(out)?;
    writeln!(
        out,
        "{:width$}{:>14}{:>12}{:>12}{:>16}",
        "server", "read buffer", "RSS before", "RSS idle", "per connection"
    )?;
    for r in runs {
        writeln!(
            out,
            "{:width$}{:>14}{:>12}{:>12}{:>16}",
            r.server,
            match r.read_buffer {
                0 => "none, lent".to_string(),
                bytes => format!("{} KiB", bytes / 1024),
            },
            format!("{:.1} MiB", r.baseline_rss as f64 / MIB),
            format!("{:.1} MiB", r.idle_rss as f64 / MIB),
            format!("{:.2} KiB", r.per_connection() / KIB),
        )?;
    }
    for skipped in not_measured {
        writeln!(out, "not measured: {}: {}", skipped.name, skipped.reason)?;
    }
    Ok(())
}

#[derive(Serialize)]
struct JsonRun<'a> {
    server: &'a str,
    driver: Option<String>,
    connections: usize,
    read_buffer: usize,
    baseline_rss_bytes: u64,
    idle_rss_bytes: u64,
    bytes_per_connection: f64,
}

#[derive(Serialize)]
struct JsonReport<'a> {
    mode: &'static str,
    message_bytes: usize,
    pinning: &'a str,
    results: Vec<JsonRun<'a>>,
    not_measured: &'a [NotMeasured],
}

/// Writes every run to `path` as JSON: `mode` (`"idle"`), `message_bytes`, `pinning`,
/// `results` (`server`, `driver`, `connections`, `read_buffer`, `baseline_rss_bytes`,
/// `idle_rss_bytes`, `bytes_per_connection`) and `not_measured`.
pub fn write_json(
    path: &Path,
    runs: &[IdleRun],
    not_measured: &[NotMeasured],
    pinning: &str,
) -> io::Result<()> {
    let report = JsonReport {
        mode: "idle",
        message_bytes: MESSAGE,
        pinning,
        results: runs
            .iter()
            .map(|r| JsonRun {
                server: &r.server,
                driver: r.driver.map(|d| d.to_string()),
                connections: r.connections,
                read_buffer: r.read_buffer,
                baseline_rss_bytes: r.baseline_rss,
                idle_rss_bytes: r.idle_rss,
                bytes_per_connection: r.per_connection(),
            })
            .collect(),
        not_measured,
    };
    write_json_file(path, &report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_server_gets_a_row_with_its_growth_per_connection() {
        let run = |server: &str, buffer, per: u64| IdleRun {
            server: server.into(),
            driver: None,
            connections: 1000,
            read_buffer: buffer,
            baseline_rss: 3 << 20,
            idle_rss: (3 << 20) + per * 1000,
        };
        let runs = [run("ringtide", 16384, 2048), run("tokio", 4096, 8192)];
        let mut out = Vec::new();
        print_table(&runs, &[], "server pinned to CPU 0", &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("1000 to each server"), "{text}");
        let row = |name: &str| {
            text.lines()
                .find(|l| l.starts_with(name))
                .unwrap()
                .to_string()
        };
        assert!(row("ringtide").ends_with("2.00 KiB"), "{text}");
        assert!(row("tokio").contains("4 KiB") && row("tokio").ends_with("8.00 KiB"));

        let path = std::env::temp_dir().join(format!("idle-{}.json", std::process::id()));
        write_json(&path, &runs, &[], "pinned").unwrap();
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let _ = std::fs::remove_file(&path);
        assert_eq!(json["results"][1]["bytes_per_connection"], 8192.0);
        assert_eq!(json["results"][0]["read_buffer"], 16384);
    }
}
