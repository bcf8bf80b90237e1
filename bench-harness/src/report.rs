//! What one latency run measured, and the ways it is reported: a terminal table
//! (`table.rs`), JSON (`json.rs`), HdrHistogram `.hgrm` files (`hgrm.rs`) and an SVG
//! percentile plot (`plot.rs`), all built on the figures of `summary.rs`. The echo
//! benchmark's reports are in `echo.rs`, the HTTP
//! comparison's in `http.rs`.
//!
//! Lateness is recorded in nanoseconds; every report shows it in microseconds.

pub mod echo;
mod echo_costs;
mod hgrm;
pub mod http;
pub mod idle;
mod json;
mod plot;
mod summary;
mod table;

use std::fs::File;
use std::io;
use std::path::Path;
use std::time::Duration;

use hdrhistogram::Histogram;
use ringtide::Driver;
use serde::Serialize;

pub use hgrm::write_hgrm;
pub use json::write_json;
pub use plot::write_plot;
pub use table::print_table;

/// The settings of a latency run, echoed into every report.
#[derive(Debug, Clone, Serialize)]
pub struct RunConfig {
    /// `spread`, `burst` or `periodic`.
    pub mode: String,
    /// Number of sleeping tasks.
    pub tasks: u64,
    /// Worker threads of every runtime.
    pub workers: usize,
    /// Whether worker threads were pinned to CPUs.
    pub pin: bool,
    /// Spread: deadlines are uniform over this window. Periodic: the tick period.
    pub window_us: u64,
    /// Time between the start of spawning and the first deadline.
    pub lead_us: u64,
    /// Periodic: how long each task keeps ticking.
    pub duration_us: u64,
    /// glibc's `M_TOP_PAD` as set for the run (MiB), or `None` for glibc's default.
    pub malloc_top_pad_mib: Option<u32>,
    /// ringtide's I/O drivers asked for (`--driver`), in order.
    pub drivers: Vec<String>,
}

/// Everything measured for one runtime.
#[derive(Debug, Clone)]
pub struct RuntimeResult {
    /// `ringtide` (`ringtide-DRIVER` when drivers were chosen), `tokio` or `floor`.
    pub name: String,
    /// The I/O driver ringtide ran on; `None` for the other runtimes.
    pub driver: Option<Driver>,
    /// Lateness of every wake (`now - deadline`), in nanoseconds.
    pub lateness: Histogram<u64>,
    /// Wakes observed before their deadline (must be zero).
    pub early_wakes: u64,
    /// Wall time from the first spawn to the last wake.
    pub wall: Duration,
    /// Tasks (or, for the floor, deadlines) handed out per second while spawning.
    pub spawn_rate: f64,
    /// Resident set size before spawning, in bytes.
    pub baseline_rss: u64,
    /// Highest resident set size seen while the tasks were alive, in bytes.
    pub peak_rss: u64,
    /// Number of tasks (floor: deadlines) that took part.
    pub tasks: u64,
    /// Burst mode: time from the shared deadline to the last wake.
    pub drain: Option<Duration>,
}

impl RuntimeResult {
    /// Memory the tasks cost, per task.
    pub fn bytes_per_task(&self) -> f64 {
        self.peak_rss.saturating_sub(self.baseline_rss) as f64 / self.tasks.max(1) as f64
    }
}

/// The histograms hold nanoseconds; reports speak microseconds.
pub(super) const NS_PER_US: f64 = 1_000.0;
/// Creates `path`, and the directories above it: a missing output directory should not
/// throw away a run that took minutes.
pub(super) fn create(path: &Path) -> io::Result<File> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    File::create(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drivers::NotMeasured;

    /// A histogram holding `count` values spread evenly over `1..=top_us` microseconds.
    pub(super) fn spread_histogram(top_us: u64, count: u64) -> Histogram<u64> {
        let mut h = Histogram::new_with_bounds(1, 600_000_000_000, 3).unwrap();
        for i in 1..=count {
            h.record(i * top_us * 1_000 / count).unwrap();
        }
        h
    }

    /// A result whose lateness runs evenly up to `top_us` over 1,000 wakes; ringtide's
    /// (`ringtide` or `ringtide-DRIVER`) ran on io_uring unless its name says epoll.
    pub(super) fn result(name: &str, top_us: u64) -> RuntimeResult {
        let driver = name.strip_prefix("ringtide").map(|rest| match rest {
            "-epoll" => Driver::Epoll,
            _ => Driver::IoUring,
        });
        RuntimeResult {
            name: name.to_string(),
            driver,
            lateness: spread_histogram(top_us, 1_000),
            early_wakes: 0,
            wall: Duration::from_millis(1_500),
            spawn_rate: 2.5e6,
            baseline_rss: 8 << 20,
            peak_rss: (8 << 20) + 1_000 * 512,
            tasks: 1_000,
            drain: None,
        }
    }

    pub(super) fn config(mode: &str) -> RunConfig {
        RunConfig {
            mode: mode.to_string(),
            tasks: 1_000,
            workers: 4,
            pin: true,
            window_us: 1_000_000,
            lead_us: 200_000,
            duration_us: 0,
            malloc_top_pad_mib: None,
            drivers: vec!["auto".to_string()],
        }
    }

    pub(super) fn three() -> Vec<RuntimeResult> {
        vec![
            result("ringtide", 1_000),
            result("tokio", 2_000),
            result("floor", 500),
        ]
    }

    /// ringtide on io_uring and on epoll (late by half as much again), tokio and the floor.
    pub(super) fn with_drivers() -> Vec<RuntimeResult> {
        vec![
            result("ringtide-io_uring", 1_000),
            result("ringtide-epoll", 1_500),
            result("tokio", 2_000),
            result("floor", 500),
        ]
    }

    pub(super) fn scratch_dir(tag: &str) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("ringtide-report-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    pub(super) fn table(config: &RunConfig, results: &[RuntimeResult]) -> String {
        table_with(config, results, &[])
    }

    pub(super) fn table_with(
        config: &RunConfig,
        results: &[RuntimeResult],
        not_measured: &[NotMeasured],
    ) -> String {
        let mut out = Vec::new();
        print_table(config, results, not_measured, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    /// A ringtide driver left out of a run.
    pub(super) fn not_measured(driver: &str) -> NotMeasured {
        NotMeasured {
            name: format!("ringtide-{driver}"),
            driver: driver.to_string(),
            reason: format!("no {driver} here"),
        }
    }

    /// The lines of the block that starts with `heading`, up to the next blank line.
    pub(super) fn block<'a>(text: &'a str, heading: &str) -> Vec<&'a str> {
        let start = text
            .find(heading)
            .unwrap_or_else(|| panic!("no {heading:?}"));
        text[start..]
            .lines()
            .take_while(|l| !l.is_empty())
            .collect()
    }

    /// The cells of `name`'s row in the block that starts with `block`.
    pub(super) fn row<'a>(text: &'a str, block: &str, name: &str) -> Vec<&'a str> {
        let start = text.find(block).unwrap_or_else(|| panic!("no {block:?}"));
        let line = text[start..]
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no row for {name} after {block:?}"));
        line.split_whitespace().collect()
    }
    pub(super) fn json(
        config: &RunConfig,
        results: &[RuntimeResult],
        tag: &str,
    ) -> serde_json::Value {
        json_with(config, results, &[], tag)
    }

    pub(super) fn json_with(
        config: &RunConfig,
        results: &[RuntimeResult],
        not_measured: &[NotMeasured],
        tag: &str,
    ) -> serde_json::Value {
        let dir = scratch_dir(tag);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("latency.json");
        write_json(&path, config, results, not_measured).unwrap();
        let value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        value
    }
    #[test]
    fn ringtide_is_the_reference_wherever_it_stands() {
        let results = vec![result("tokio", 2_000), result("ringtide", 1_000)];
        let text = table(&config("spread"), &results);
        assert!(text.contains("ratio to ringtide"), "{text}");
        assert_eq!(row(&text, "ratio to", "tokio")[1], "2.00", "{text}");
        assert_eq!(row(&text, "ratio to", "ringtide")[1], "1.00", "{text}");

        let value = json(&config("spread"), &results, "json-order");
        assert_eq!(value["ratio_reference"], "ringtide");
        assert_eq!(value["results"][1]["ratio_to_ringtide"]["p99"], 1.0);
        let tokio = value["results"][0]["ratio_to_ringtide"]["p99"].as_f64();
        assert!((tokio.unwrap() - 2.0).abs() < 1e-3, "{tokio:?}");
    }

    #[test]
    fn the_first_ringtide_driver_is_the_reference_wherever_it_stands() {
        let mut results = with_drivers();
        results.rotate_left(1);
        let text = table(&config("spread"), &results);
        assert!(text.contains("ratio to ringtide-epoll"), "{text}");
        let value = json(&config("spread"), &results, "json-driver-order");
        assert_eq!(value["ratio_reference"], "ringtide-epoll");
    }
}
